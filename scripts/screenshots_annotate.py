"""The annotate page's screenshot for the README (the reviewer's pages and the dashboard
come from scripts/screenshots.py).

    python scripts/screenshots_annotate.py [--out docs/img]

Builds a small sentiment project in a temporary directory (a rules annotator suggests,
two people answer, one disagreement waits for review), serves it with uvicorn on a free
port and photographs the pages in Debian's chromium through Playwright (never
``playwright install``). Writes ``annotate.png``.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from labelquorum import init_project
from labelquorum.web import create_app
from labelquorum.web.auth import Accounts

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "screenshot password"
CONFIG = '''
[project]
name = "product-reviews"

[task]
kind = "classification"
fields = ["text"]
guidelines = """Label the reviewer's overall opinion of the product.
Sarcasm counts as what it means, not what it says. A review that only describes the
product, with no opinion, is neutral."""
[[task.labels]]
name = "positive"
description = "Praise, a recommendation, or satisfaction overall."
[[task.labels]]
name = "negative"
description = "Complaints, a warning to others, or a return."
[[task.labels]]
name = "neutral"
description = "Facts only, or opinions that cancel out."

[annotators.rules]
type = "rules"
confidence = 0.62
rules = [{ label = "positive", keywords = ["love", "great"] },
         { label = "negative", keywords = ["broke", "refund"] }]

[annotators.people]
type = "human"
overlap = 2
cost_per_hour = 24.0

[policy]
type = "cascade"
aggregator = "majority"
[[policy.tiers]]
annotators = ["rules"]
min_confidence = 0.99
[[policy.tiers]]
annotators = ["people"]

[web]
gold_rate = 0.0
'''
TEXTS = [
    "I love how light it is, but the strap broke after two weeks. Asked for a refund.",
    "Great battery. Great screen. Great way to waste 400 dollars, it never connects.",
    "Arrived on Tuesday in a brown box. Comes with a charger and a manual.",
    "Does exactly what it says. I'd buy it again.",
    "The lid cracked the first time I dropped it from the table.",
    "Works fine with my old laptop; the cable is a bit short.",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_in(page, url: str, name: str) -> None:
    page.goto(f"{url}/login")
    page.fill("[data-testid=login-name]", name)
    page.fill("[data-testid=login-password]", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_load_state()


def _answer(url: str, name: str, labels: list[str]) -> None:
    import httpx

    with httpx.Client(base_url=url) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
        csrf = c.get("/api/me").json()["csrf"]
        for label in labels:
            item = c.get("/api/next").json()["item"]
            if item is None:
                return
            c.post("/api/submit", json={"id": item["id"], "label": label},
                   headers={"X-CSRF-Token": csrf})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = ap.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="lq-screenshots-"))
    p = init_project(root, config_text=CONFIG)
    p.import_dataframe(pd.DataFrame({"id": [f"r{i}" for i in range(len(TEXTS))],
                                     "text": TEXTS}), id_column="id")
    p.run()
    acc = Accounts(p.store)
    for name, role in [("ana", "annotator"), ("ben", "annotator"), ("cy", "annotator"),
                       ("rita", "reviewer")]:
        acc.add_user(name, role, PASSWORD)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(p), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        _answer(url, "ben", ["negative", "negative", "neutral"])
        _answer(url, "cy", ["positive", "negative", "neutral"])
        p.run()
        args.out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 760})
            _log_in(page, url, "ana")
            page.wait_for_selector("body[data-ready=true]")
            page.keyboard.press("2")
            page.screenshot(path=str(args.out / "annotate.png"))
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        p.close()
    print(args.out / "annotate.png")


if __name__ == "__main__":
    main()
