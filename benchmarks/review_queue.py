"""How long the reviewer's pages take with a large review backlog.

    python benchmarks/review_queue.py [--items 5000] [--repeat 5]

Builds a SQLite project of ``--items`` items that all go to two people, who answer every
item through the web app's assigner (disagreeing on every other item) and flag 1 % of
them; then times, in-process through the ASGI app, the review queue's first and last
page (HTML and JSON), the flagged queue, an item page (which finds the item's place in
the queue) and the data browser's last page of disagreements. Prints the median of
``--repeat`` requests per page.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from labelquorum import init_project
from labelquorum.web import create_app
from labelquorum.web.auth import Accounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "web"))
from helpers import CONFIG, PASSWORD, Session  # the tests' project template and login


def build(root: Path, n: int):
    labels = "[[task.labels]]\nname = \"pos\"\n\n[[task.labels]]\nname = \"neg\"\n"
    text = CONFIG.format(kind="classification", labels=labels, first="pos", overlap=2,
                         gold_rate=0.0, lease=900.0, store="", media="",
                         guidelines="Pick the sentiment.", suggestions="true")
    p = init_project(root, config_text=text)
    p.import_dataframe(pd.DataFrame({"id": [f"i{i:06d}" for i in range(n)],
                                     "text": [f"item {i} is {'good' if i % 2 else 'bad'}"
                                              for i in range(n)]}), id_column="id")
    p.run()
    accounts = Accounts(p.store)
    for name, role in (("ann", "annotator"), ("bob", "annotator"), ("rev", "reviewer")):
        accounts.add_user(name, role, PASSWORD)
    app = create_app(p)
    web = app.state.web
    started = time.perf_counter()
    for name in ("ann", "bob"):
        uid = next(u["id"] for u in web.accounts.users() if u["name"] == name)
        person = web.accounts.get(uid)
        k = 0
        while (lease := web.assigner.next(person)) is not None:
            if name == "ann" and k % 100 == 0:
                web.review.comment(person, lease.item_id, "please look", flag=True)
            label = "neg" if name == "bob" and k % 2 == 0 else "pos"
            web.assigner.submit(person, lease.public_id, label, 2.0)
            k += 1
    print(f"built {n:,} items, {2 * n:,} answers in {time.perf_counter() - started:.0f} s")
    return p, app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p, app = build(Path(tmp) / "p", args.items)
        rev = Session(app, "rev")
        total = rev.get("/api/review?limit=1").json()["total"]
        last = (total - 1) // 50
        dis = rev.get("/api/items?disagreement=true&limit=1").json()["total"]
        middle = rev.get(f"/api/review?offset={total // 2}&limit=1").json()["items"][0]["item"]
        pages = {"/review (first page)": "/review",
                 "/review (last page)": f"/review?page={last}",
                 "/review?show=flagged": "/review?show=flagged",
                 "/api/review (first 50)": "/api/review",
                 f"/item (#{total // 2 + 1} of the queue)": f"/item?id={middle}",
                 "/browse?disagreement (last page)":
                     f"/browse?disagreement=true&page={(dis - 1) // 50}"}
        print(f"review backlog: {total:,} items; disagreements: {dis:,}")
        for name, url in pages.items():
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                r = rev.get(url)
                times.append(time.perf_counter() - started)
                assert r.status_code == 200, (url, r.status_code)
            print(f"{name:40s} median {1000 * statistics.median(times):8.1f} ms")
        p.close()


if __name__ == "__main__":
    main()
