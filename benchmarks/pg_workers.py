"""Many workers on one PostgreSQL project: what the database's side costs.

    python benchmarks/pg_workers.py [--items 5000] [--batch 50] [--workers 1,2,3]
                                    [--url postgresql+psycopg://...]

For each worker count, a fresh database gets a project of ``--items`` items and a paid
tier that answers at once (a simulated annotator, ``batch_size = --batch``), so what is
measured is the machinery: the leader writes every request, the workers claim them
``FOR UPDATE SKIP LOCKED``, mark them sent under the shared budget row, and store the
answers. Each count runs twice, without a budget and with one (every call then takes the
lock of the run's budget row). Printed per run: requests claimed per second and
judgements stored per second (from the stored timestamps: first to last answer), the
most connections the database saw, WAL bytes per judgement, and the load average.

Without ``--url`` a throwaway server is started with the test suite's helper
(``tests/pg_server.py``; needs the PostgreSQL server binaries).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

import pandas as pd
import pg_server
from sqlalchemy import create_engine, text

from labelquorum.project import init_project

CONFIG = """
[project]
name = "pg-workers"
seed = 1

[store]
url = "{url}"

[run]
workers = "many"
lease_seconds = 60

[task]
kind = "classification"
labels = ["negative", "positive"]

[annotators.paid]
type = "simulated"
stands_for = "llm"
accuracy = 0.9
cost_per_call = 0.001
batch_size = {batch}

[policy]
type = "cascade"
{budget}

[[policy.tiers]]
name = "paid"
annotators = ["paid"]
min_confidence = 0.0
"""


def _start(directory: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "run", "--project",
                             str(directory), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def one(server_url: str, root: Path, items: int, batch: int, workers: int,
        budget: bool) -> dict:
    name = f"lq_bench_{uuid.uuid4().hex[:10]}"
    url = pg_server.create_database(server_url, name)
    try:
        directory = root / name
        budget_line = f"budget = {items * 0.001 * 10:.3f}" if budget else ""
        project = init_project(directory, config_text=CONFIG.format(url=url, batch=batch,
                                                                    budget=budget_line))
        rows = pd.DataFrame({"id": [f"i{i:07d}" for i in range(items)],
                             "text": [f"item {i}" for i in range(items)],
                             "gold": ["positive" if i % 2 else "negative"
                                      for i in range(items)]})
        project.import_dataframe(rows, id_column="id", gold_column="gold")
        project.close()
        engine = create_engine(url)
        with engine.connect() as conn:
            wal0 = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar()
        procs = [_start(directory, "--join") for _ in range(workers - 1)]
        procs.insert(0, _start(directory))
        peak_conns = 0
        while any(p.poll() is None for p in procs):
            with engine.connect() as conn:
                peak_conns = max(peak_conns, conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                    {"d": name}).scalar() - 1)
            time.sleep(0.2)
        for p in procs:
            out, err = p.communicate()
            if p.returncode != 0:
                raise SystemExit(f"a worker failed (rc {p.returncode}):\n{out}\n{err}")
        with engine.connect() as conn:
            wal = conn.execute(text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :w)"),
                               {"w": wal0}).scalar()
            n, first, last = conn.execute(text(
                "SELECT count(*), min(created), max(created) FROM judgements "
                "WHERE annotator = 'paid'")).one()
            shares = conn.execute(text(
                "SELECT answered FROM workers ORDER BY answered DESC")).scalars().all()
        engine.dispose()
        span = max((last - first).total_seconds(), 1e-9)
        return {"workers": workers, "budget": budget, "judgements": n, "seconds": span,
                "per_s": n / span, "peak_conns": peak_conns, "wal_per_judgement": wal / n,
                "shares": shares, "load": os.getloadavg()[0]}
    finally:
        pg_server.drop_database(server_url, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--url", default=None)
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    server = None
    if args.url:
        server_url = pg_server.sqlalchemy_url(args.url)
    else:
        server = pg_server.TemporaryPostgresServer().__enter__()
        server_url = server.url
    print(f"{args.items:,} items, batches of {args.batch}; load average before: "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'workers':>7} {'budget':>6} {'judgements/s':>13} {'s':>7} {'conns':>5} "
          f"{'WAL B/judgement':>15} {'load':>5}  answered per worker")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for budget in (False, True):
                for w in counts:
                    r = one(server_url, Path(tmp), args.items, args.batch, w, budget)
                    print(f"{r['workers']:>7} {'on' if budget else 'off':>6} "
                          f"{r['per_s']:>13,.0f} {r['seconds']:>7.2f} {r['peak_conns']:>5} "
                          f"{r['wal_per_judgement']:>15,.0f} {r['load']:>5.2f}  "
                          f"{r['shares']}", flush=True)
    finally:
        if server is not None:
            server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
