"""Do golden questions take longer to serve than real work? (a timing side channel)

    python benchmarks/gold_timing.py [--items 20000] [--answers 1500] [--url postgresql+psycopg://...]

Builds a project whose items all go to people, a random 10 % of them control gold, served
at ``web.gold_rate = 0.2``. One annotator works through ``--answers`` items in-process
(FastAPI's TestClient: the server's own time, without a network in between): each
preload (``GET /api/next?after=ID``, the request that claims the next item) and each
submit is timed, and afterwards sorted by whether the item was a golden question. Prints
the medians and the 90th percentiles of both, and how often a golden preload was slower
than a random real one (0.5 is no difference).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from labelquorum import init_project
from labelquorum.quality import mark_gold
from labelquorum.store import schema
from labelquorum.web import create_app
from labelquorum.web.auth import Accounts

CONFIG = """
[project]
name = "gold-timing"
{store}

[task]
kind = "classification"
fields = ["text"]
[[task.labels]]
name = "pos"
[[task.labels]]
name = "neg"

[annotators.rules]
type = "rules"
confidence = 0.6
rules = [{{ label = "pos", keywords = ["good"] }}]

[annotators.people]
type = "human"
overlap = 1

[policy]
type = "cascade"
aggregator = "majority"
[[policy.tiers]]
annotators = ["rules"]
min_confidence = 0.99
[[policy.tiers]]
annotators = ["people"]

[quality]
control_rate = 0.2  # every control item probed by the rules, so every one can be golden

[web]
gold_rate = 0.2
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--answers", type=int, default=1_500)
    ap.add_argument("--url", default=None, help="a SQLAlchemy URL (default: SQLite)")
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    root = Path(tempfile.mkdtemp(prefix="lq-gold-timing-"))
    store = f'[store]\nurl = "{args.url}"' if args.url else ""
    p = init_project(root, config_text=CONFIG.format(store=store))
    n = args.items
    p.import_dataframe(pd.DataFrame({"id": [f"i{i:07d}" for i in range(n)],
                                     "text": [f"item {i} is {'good' if i % 2 else 'bad'}"
                                              for i in range(n)]}), id_column="id")
    rng = random.Random(0)
    for i in rng.sample(range(n), n // 10):
        mark_gold(p, f"i{i:07d}", "pos" if i % 2 else "neg")
    p.run()
    Accounts(p.store).add_user("ann", "annotator", "benchmark password")
    client = TestClient(create_app(p))
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"name": "ann", "password": "benchmark password",
                                "csrf_token": token})
    csrf = client.get("/api/me").json()["csrf"]
    current = client.get("/api/next").json()["item"]
    preload: dict[str, float] = {}
    submit: dict[str, float] = {}
    for _ in range(args.answers):
        t0 = time.perf_counter()
        nxt = client.get(f"/api/next?after={current['id']}").json()["item"]
        if nxt is not None:
            preload[nxt["id"]] = time.perf_counter() - t0
        t0 = time.perf_counter()
        client.post("/api/submit", json={"id": current["id"], "label": "pos"},
                    headers={"X-CSRF-Token": csrf})
        submit[current["id"]] = time.perf_counter() - t0
        if nxt is None:
            break
        current = nxt
    a = schema.assignments
    with p.store.connect() as conn:
        control = dict(conn.execute(select(a.c.public_id, a.c.control)).all())
    print(f"{n:,} items ({'PostgreSQL' if args.url else 'SQLite'}), {len(submit):,} answers, "
          f"{sum(control.values()):,} golden questions")
    for name, times in [("preload (GET /api/next?after=)", preload),
                        ("submit (POST /api/submit)", submit)]:
        golden = sorted(1000 * t for k, t in times.items() if control.get(k))
        real = sorted(1000 * t for k, t in times.items() if not control.get(k))
        slower = sum(g > r for g in golden for r in rng.sample(real, min(len(real), 200)))
        share = slower / (len(golden) * min(len(real), 200))
        print(f"{name:>32}: golden median {statistics.median(golden):.2f} ms, p90 "
              f"{golden[int(0.9 * (len(golden) - 1))]:.2f} ms (n={len(golden)}); real median "
              f"{statistics.median(real):.2f} ms, p90 {real[int(0.9 * (len(real) - 1))]:.2f} ms "
              f"(n={len(real)}); P(golden slower than real) = {share:.2f}")
    p.close()


if __name__ == "__main__":
    main()
