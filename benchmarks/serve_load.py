"""Load on ``labelquorum serve``: scripted annotators against the real server.

    python benchmarks/serve_load.py [--items 100000] [--people 20] [--seconds 60]
    python benchmarks/serve_load.py --postgres --items 1000000 --think-people 200 \
        --people 20 --seconds 60 --no-export

``--postgres`` starts a throwaway PostgreSQL server (``tests/pg_server.py``: Debian's
``postgresql`` binaries) and puts the project there; ``--url`` names an existing database
instead; the default is SQLite. ``--think-people`` annotators work in the think-time
scenario and ``--people`` in the no-think one (both ``--people`` unless given).

Builds a project of ``--items`` synthetic items whose policy sends every item to people
(overlap 3), runs it once (the people's tasks), creates ``--people`` annotators and starts
``labelquorum serve`` as a child process on 127.0.0.1. Each scripted annotator logs in
through the form, then loops: ``GET /api/next`` (timed: the next-item latency), think,
``POST /api/submit``. Each keeps one HTTP connection open (an ``httpx.Client`` with
keep-alive), so latencies are over kept-open connections. Two scenarios: think time drawn
uniformly from 1-3 s, and no think time (the ceiling). Afterwards it counts items with
more than 3 human judgements (must be zero), and times the JSONL export of the same number
of labelled items (a second project whose rules label everything).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from labelquorum import init_project
from labelquorum.store import schema
from labelquorum.web.auth import Accounts

PASSWORD = "benchmark password"
CONFIG = """
[project]
name = "serve-load"

[task]
kind = "classification"
fields = ["text"]
[[task.labels]]
name = "pos"
[[task.labels]]
name = "neg"

[annotators.people]
type = "human"
overlap = 3
cost_per_hour = 20.0

[annotators.rules]
type = "rules"
rules = [{ label = "pos", keywords = ["item"] }]

[policy]
type = "cascade"
aggregator = "majority"
[[policy.tiers]]
annotators = ["%s"]

[web]
gold_rate = 0.0
"""
STORE = """
[store]
url = "%s"
"""


def build(root: Path, n: int, annotator: str, url: str | None = None):
    p = init_project(root, config_text=CONFIG % annotator + (STORE % url if url else ""))
    df = pd.DataFrame({"id": [f"x{i:06d}" for i in range(n)],
                       "text": [f"item {i}: some text to label, number {i * 7919 % n}"
                                for i in range(n)]})
    p.import_dataframe(df, id_column="id")
    t0 = time.perf_counter()
    p.run()
    return p, time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login(client: httpx.Client, name: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token})
    me = client.get("/api/me")
    assert me.status_code == 200, me.text
    return me.json()["csrf"]


def annotator(url: str, name: str, start: threading.Barrier, stop: list[float],
              think: tuple[float, float] | None, latencies: list[float],
              submitted: list[int], errors: list[str]) -> None:
    """Log in (scrypt: slow on purpose, so before the clock starts), wait for everyone,
    then loop next -> think -> submit until the scenario's time is up."""
    rng = random.Random(name)
    with httpx.Client(base_url=url, timeout=60) as client:
        csrf = login(client, name)
        headers = {"X-CSRF-Token": csrf}
        start.wait()
        if think:  # people do not all start at the same instant
            time.sleep(rng.uniform(0, think[1]))
        while time.monotonic() < stop[0]:
            t0 = time.perf_counter()
            r = client.get("/api/next")
            latencies.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors.append(f"next {r.status_code}: {r.text[:200]}")
                continue
            item = r.json()["item"]
            if item is None:
                errors.append("queue empty")
                time.sleep(0.5)
                continue
            if think:
                time.sleep(rng.uniform(*think))
            r = client.post("/api/submit", headers=headers,
                            json={"id": item["id"], "label": rng.choice(["pos", "neg"]),
                                  "seconds": 2.0})
            if r.status_code == 200:
                submitted.append(1)
            else:
                errors.append(f"submit {r.status_code}: {r.text[:200]}")


def scenario(url: str, people: list[str], seconds: float, think) -> dict:
    latencies: list[float] = []
    submitted: list[int] = []
    errors: list[str] = []
    stop = [math.inf]
    start = threading.Barrier(len(people) + 1)
    threads = [threading.Thread(target=annotator, args=(url, name, start, stop, think,
                                                        latencies, submitted, errors))
               for name in people]
    for t in threads:
        t.start()
    start.wait()  # everyone has logged in
    t0 = time.perf_counter()
    stop[0] = time.monotonic() + seconds
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    return {"requests": len(lat), "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
            "max_ms": 1000 * lat[-1], "submissions": len(submitted),
            "submissions_per_s": len(submitted) / wall, "errors": len(errors),
            "first_error": errors[0] if errors else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=20)
    ap.add_argument("--think-people", type=int, default=None,
                    help="annotators in the think-time scenario (default: --people)")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--url", default=None, help="SQLAlchemy URL of an empty database")
    ap.add_argument("--postgres", action="store_true",
                    help="start a throwaway PostgreSQL server for the project")
    ap.add_argument("--no-export", action="store_true", help="skip the export timing")
    args = ap.parse_args()
    if args.postgres:
        sys.path.insert(0, str(REPO / "tests"))
        import pg_server

        server_pg = pg_server.TemporaryPostgresServer().__enter__()
        args.url = pg_server.create_database(server_pg.url, "serve_load")
    try:
        run_benchmark(args)
    finally:
        if args.postgres:
            server_pg.__exit__(None, None, None)


def run_benchmark(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lq-serve-load-"))
    t0 = time.perf_counter()
    project, run_s = build(tmp / "people", args.items, "people", args.url)
    store = "PostgreSQL" if args.url else "SQLite"
    print(f"project: {args.items:,} items for people, overlap 3, {store}; built in "
          f"{time.perf_counter() - t0:.1f} s (run {run_s:.1f} s)")
    t0 = time.perf_counter()
    from labelquorum.web.assign import Assigner

    tasks = Assigner(project).sync()  # the people's queue, before the server starts
    print(f"queue: {tasks:,} tasks in {time.perf_counter() - t0:.1f} s")
    accounts = Accounts(project.store)
    thinking = args.think_people or args.people
    people = [f"a{i:03d}" for i in range(max(args.people, thinking))]
    for name in people:
        accounts.add_user(name, "annotator", PASSWORD)
    port = free_port()
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed after the server stops
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    server = subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "serve", "--project",
                               str(project.path), "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900  # a big queue takes its time to check
        while True:
            try:
                httpx.get(url + "/login", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start; see "
                                     f"{tmp / 'server.log'}") from None
                time.sleep(0.2)
        print("connections: kept open (one keep-alive httpx.Client per annotator)")
        for label, think, who in [("think 1-3 s", (1.0, 3.0), people[:thinking]),
                                  ("no think time", None, people[:args.people])]:
            r = scenario(url, who, args.seconds, think)
            print(f"{label:>14}: {len(who)} annotators, {args.seconds:.0f} s: next-item "
                  f"p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, max "
                  f"{r['max_ms']:.0f} ms over {r['requests']:,} requests; "
                  f"{r['submissions']:,} submissions, {r['submissions_per_s']:.1f}/s; "
                  f"errors {r['errors']} {r['first_error']}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    j = schema.judgements
    with project.store.connect() as conn:
        per_item = (select(j.c.item_id, func.count().label("n"))
                    .where((j.c.annotator_kind == "human") & (j.c.status == "ok"))
                    .group_by(j.c.item_id).subquery())
        over = conn.execute(select(func.count()).where(per_item.c.n > 3)).scalar()
        most = conn.execute(select(func.max(per_item.c.n))).scalar()
        items = conn.execute(select(func.count()).select_from(per_item)).scalar()
    print(f"items with more than 3 human judgements: {over} (most on one item: {most}; "
          f"items answered: {items:,})")
    project.close()
    if args.no_export:
        return
    labelled, run_s = build(tmp / "labelled", args.items, "rules")
    t0 = time.perf_counter()
    rows = labelled.export(tmp / "labelled.jsonl")
    print(f"export of {rows:,} labelled items to JSONL: {time.perf_counter() - t0:.2f} s")
    labelled.close()


if __name__ == "__main__":
    main()
