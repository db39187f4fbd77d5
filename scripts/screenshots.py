"""Screenshots of the reviewer's pages for the README: builds a demo project, serves it and
saves PNGs to docs/img/.

    python scripts/screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]

Two small projects in a temporary directory: film-review sentences from the packaged
SST-2 sample (a VADER model unsure of every item, three people of different accuracy who
answer through the web app's assigner, a few flags and comments, golden questions), and
a named-entity task for the span editor. Nothing is downloaded; Chromium is the system's
(Debian's ``chromium``), driven by Playwright. Writes review.png, item-spans.png and
dashboard.png.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Self

import pandas as pd

from labelquorum import init_project
from labelquorum.web import create_app
from labelquorum.web.auth import Accounts

PASSWORD = "screenshots only"
FILM = """
[project]
name = "film-reviews"
seed = 0

[task]
kind = "classification"
guidelines = "Is the sentence, a snippet of a film review, positive or negative?"
fields = ["text"]

[[task.labels]]
name = "negative"
description = "The reviewer dislikes the film."

[[task.labels]]
name = "positive"
description = "The reviewer likes the film."

[annotators.vader]
type = "vader"

[annotators.people]
type = "human"
overlap = 2
cost_per_hour = 24.0

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "models"
annotators = ["vader"]
min_confidence = 0.99
min_votes = 2

[[policy.tiers]]
name = "people"
annotators = ["people"]

[web]
gold_rate = 0.15
gold_min_answers = 3
accuracy_threshold = 0.8
"""
NER = """
[project]
name = "news-entities"
seed = 0

[task]
kind = "spans"
guidelines = "Mark people (PER), places (LOC) and organisations (ORG)."
labels = ["PER", "LOC", "ORG"]

[annotators.people]
type = "human"
overlap = 2

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "people"
annotators = ["people"]

[web]
gold_rate = 0.0
"""
NER_TEXT = "Angela Merkel met Emmanuel Macron in Paris to discuss the Airbus order."
FLAGS = ["Sarcasm? Hard to tell from one sentence.", "The sentence is cut off.",
         "Mixed: praises the actors, pans the plot."]


def _users(project, names_roles: dict[str, str]) -> None:
    accounts = Accounts(project.store)
    for name, role in names_roles.items():
        accounts.add_user(name, role, PASSWORD)


def _person(web, name: str):
    uid = next(u["id"] for u in web.accounts.users() if u["name"] == name)
    return web.accounts.get(uid)


def film_project(root: Path):
    project = init_project(root, config_text=FILM)
    with resources.as_file(resources.files("labelquorum") / "data" / "sst2_sample.csv") as data:
        df = pd.read_csv(data).head(80)
    project.import_dataframe(df, id_column="id", gold_column="label", gold_role="evaluation",
                             split="control=12")
    project.run()
    _users(project, {"alice": "annotator", "bruno": "annotator", "chen": "annotator",
                     "rita": "reviewer"})
    app = create_app(project)
    web = app.state.web
    gold = dict(zip(df["text"], df["label"]))
    rng = random.Random(0)
    accuracy = {"alice": 0.93, "bruno": 0.7, "chen": 0.86}
    flags = iter(FLAGS)
    for name, acc in accuracy.items():
        person = _person(web, name)
        for n in range(32):
            lease = web.assigner.next(person)
            if lease is None:
                break
            truth = gold[lease.fields["text"]]
            label = truth if rng.random() < acc else (
                "positive" if truth == "negative" else "negative")
            if n % 12 == 5:
                text = next(flags, None)
                if text:
                    web.review.comment(person, lease.item_id, text, flag=True)
            web.assigner.submit(person, lease.public_id, label, rng.uniform(3, 25))
    project.run()
    rita = _person(web, "rita")
    for item_id, _ in web.review.backlog()[-3:]:  # the flagged ones stay open
        view = web.review.item(item_id)
        web.review.adjudicate(rita, item_id, gold[view.fields["text"]], "checked the film")
    return project, app


def ner_project(root: Path):
    project = init_project(root, config_text=NER)
    project.import_dataframe(pd.DataFrame({"id": ["n1"], "text": [NER_TEXT]}), id_column="id")
    project.run()
    _users(project, {"alice": "annotator", "bruno": "annotator", "rita": "reviewer"})
    app = create_app(project)
    web = app.state.web
    answers = {"alice": [[0, 13, "PER"], [18, 33, "PER"], [37, 42, "LOC"], [58, 64, "ORG"]],
               "bruno": [[0, 13, "PER"], [18, 33, "PER"], [37, 42, "ORG"]]}
    for name, spans in answers.items():
        person = _person(web, name)
        lease = web.assigner.next(person)
        web.assigner.submit(person, lease.public_id, spans, 41.0)
    project.run()
    return project, app


class Served:
    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise SystemExit("the demo server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def shoot(browser, url: str, path: str, out: Path, *, full: bool = True) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  device_scale_factor=1)
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("[data-testid=login-name]", "rita")
    page.fill("[data-testid=login-password]", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_load_state()
    page.goto(url + path)
    page.wait_for_load_state()
    page.screenshot(path=str(out), full_page=full)
    context.close()
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("playwright is not installed: pip install playwright (no browser download "
                 "needed; the system's chromium is used)")
    if not Path(args.chromium).exists():
        sys.exit(f"no chromium at {args.chromium}: apt-get install chromium, or pass --chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        film, film_app = film_project(Path(tmp) / "film")
        ner, ner_app = ner_project(Path(tmp) / "ner")
        try:
            with Served(film_app) as a, Served(ner_app) as b, sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
                shoot(browser, a.url, "/review", args.out / "review.png", full=False)
                shoot(browser, a.url, "/dashboard", args.out / "dashboard.png")
                shoot(browser, b.url, "/item?id=n1", args.out / "item-spans.png")
                browser.close()
        finally:
            film.close()
            ner.close()


if __name__ == "__main__":
    main()
