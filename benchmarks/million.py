"""A million items end to end: import, run, status and export, per stage, on one store.

Generates ``--items`` items (``id,text,truth,gold``: English-like sentences of 10–30 words,
a hidden ``truth`` label, gold on ``--gold-share`` of the rows) and a replay file, then runs
each stage in a fresh interpreter, one after another, on one project:

- ``import``: ``Project.import_file`` of the CSV, ids from the ``id`` column;
- ``run``: ``Project.run()`` with three instant annotators (``rules``, ``simulated`` from the
  ``truth`` field, ``replay`` of a recorded file covering half the items), a two-tier
  cascade: rules + simulated decide when they agree, replay is asked the rest;
- ``status``: ``Project.status()``;
- ``export-csv`` / ``export-jsonl`` / ``export-parquet``: ``Project.export`` with all fields.

For each stage it prints the wall time of the call, items/s, and the PEAK RESIDENT MEMORY
of the child process that ran it (``VmHWM`` from ``/proc/self/status``, i.e. the peak of
the whole process including the interpreter and imports; the target is < 1 GB). Beside
them it measures the database's raw write rate in the same run, on the same rows as the
import: ``sqlite3.executemany`` into a bare items-shaped table in one transaction (SQLite),
or ``COPY ... FROM STDIN`` through psycopg into a bare table (PostgreSQL).

``--db postgres`` starts a throwaway PostgreSQL server the way the tests do
(``tests/pg_server.py``: Debian's ``postgresql`` binaries, ``fsync=off``).

Run by hand from the repository root (1M items take several minutes per stage on two
shared cores)::

    python benchmarks/million.py --items 1000000 [--db sqlite|postgres] \
        [--formats csv,jsonl,parquet]

It writes only to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, child, peak_rss_mb, table
from import_speed import sentences

LIMIT_MB = 1024
IMPORT_TARGET = 100_000  # items/s
EXPORT_TARGET_S_PER_100K = 2.0

CONFIG = """
[project]
name = "million"
seed = 0
{store}
[task]
labels = ["negative", "positive"]
fields = ["text"]

[annotators.rules]
type = "rules"
rules = [{{ label = "positive", keywords = ["good", "great", "best", "fun", "brilliant"] }},
         {{ label = "negative", keywords = ["bad", "worst", "dull", "boring", "awful"] }}]

[annotators.sim]
type = "simulated"
accuracy = 0.9
truth_field = "truth"

[annotators.replay]
type = "replay"
path = "replay.csv"

[policy]
type = "cascade"

[[policy.tiers]]
name = "pair"
annotators = ["rules", "sim"]
min_agreement = 1.0
min_votes = 2

[[policy.tiers]]
name = "replay"
annotators = ["replay"]
"""


def make_data(directory: Path, n: int, gold_share: float, seed: int = 0) -> Path:
    """The items CSV and the replay file (half the items) in ``directory``."""
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(n) < 0.5, "negative", "positive")
    gold = np.where(rng.random(n) < gold_share, truth, "")
    ids = [f"doc-{i:08d}" for i in range(n)]
    pd.DataFrame({"id": ids, "text": sentences(n, rng), "truth": truth, "gold": gold}) \
        .to_csv(directory / "items.csv", index=False)
    half = rng.random(n) < 0.5
    flip = rng.random(n) < 0.1
    answer = np.where(flip, np.where(truth == "positive", "negative", "positive"), truth)
    pd.DataFrame({"item": np.array(ids, dtype=object)[half], "annotator": "replay",
                  "label": answer[half], "confidence": 0.9}) \
        .to_csv(directory / "replay.csv", index=False)
    return directory / "items.csv"


# -- the stages, each in a fresh interpreter ----------------------------------------------


def stage(name: str, project_dir: Path, data: Path) -> dict:
    from labelquorum import open_project

    project = open_project(project_dir)
    before = peak_rss_mb()
    start = time.perf_counter()
    extra: dict = {}
    if name == "import":
        result = project.import_file(data, id_column="id")
        extra["items"] = result.items
    elif name == "run":
        report = project.run()
        extra["judgements"] = int(sum(report.asked.values()))
    elif name == "status":
        st = project.status()
        extra["items"] = st.items
        extra["decided"] = st.decided
    elif name.startswith("export-"):
        fmt = name.split("-", 1)[1]
        path = project_dir / f"export.{fmt}"
        extra["items"] = project.export(path)
        extra["file_mb"] = path.stat().st_size / 2**20
    else:
        raise SystemExit(f"unknown stage {name!r}")
    wall = time.perf_counter() - start
    project.close()
    return {"stage": name, "wall": wall, "rss_before": before, "peak": peak_rss_mb(), **extra}


# -- the database's own write rate, on the import's rows -----------------------------------


def raw_rows(csv: Path) -> list[tuple]:
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    fields = [json.dumps({"text": t, "truth": r}, ensure_ascii=False)
              for t, r in zip(df["text"].tolist(), df["truth"].tolist())]
    gold = [json.dumps(g) if g else None for g in df["gold"].tolist()]
    return [(1, i, n, f, g, "evaluation" if g else None, str(csv))
            for n, (i, f, g) in enumerate(zip(df["id"].tolist(), fields, gold))]


ITEMS_DDL = ("CREATE TABLE raw_items (project_id INTEGER NOT NULL, id TEXT NOT NULL, "
             "seq INTEGER NOT NULL, fields TEXT NOT NULL, gold TEXT, gold_role VARCHAR(16), "
             "source TEXT, PRIMARY KEY (project_id, id))")


def raw_sqlite(rows: list[tuple], directory: Path) -> float:
    """Rows/s of a bare sqlite3 executemany into an items-shaped table, one transaction,
    the store's pragmas (WAL, synchronous=NORMAL)."""
    con = sqlite3.connect(directory / "raw.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(ITEMS_DDL)
    start = time.perf_counter()
    with con:
        con.executemany("INSERT INTO raw_items VALUES (?,?,?,?,?,?,?)", rows)
    elapsed = time.perf_counter() - start
    con.close()
    return len(rows) / elapsed


def raw_postgres(rows: list[tuple], url: str) -> float:
    """Rows/s of COPY FROM STDIN (psycopg, one row at a time from Python) into a bare
    items-shaped table, one transaction."""
    import psycopg
    from sqlalchemy.engine import make_url

    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as con:
        con.execute(ITEMS_DDL)
        con.commit()
        start = time.perf_counter()
        with con.cursor() as cur, cur.copy("COPY raw_items FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        con.commit()
        elapsed = time.perf_counter() - start
        con.execute("DROP TABLE raw_items")
        con.commit()
    return len(rows) / elapsed


def raw_child(db: str, csv: Path, target: str) -> dict:
    rows = raw_rows(csv)
    rate = raw_sqlite(rows, Path(target)) if db == "sqlite" else raw_postgres(rows, target)
    return {"rate": rate, "rows": len(rows)}


# -- the driver ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--formats", default="csv,jsonl,parquet")
    parser.add_argument("--gold-share", type=float, default=0.1)
    parser.add_argument("--stages", default="import,run,status,export",
                        help="comma-separated subset of import,run,status,export")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "raw":
            print(json.dumps(raw_child(rest[0], Path(rest[1]), rest[2])))
        else:
            print(json.dumps(stage(kind, Path(rest[0]), Path(rest[1]))))
        return

    formats = [f for f in args.formats.split(",") if f]
    wanted = set(args.stages.split(","))
    server = None
    url = None
    if args.db == "postgres":
        sys.path.insert(0, str(REPO / "tests"))
        import pg_server

        server = pg_server.TemporaryPostgresServer().__enter__()
        url = pg_server.create_database(server.url, "million")
    load = [os.getloadavg()[0]]
    try:
        with tempfile.TemporaryDirectory(prefix="lq-million-") as tmp:
            tmp = Path(tmp)
            start = time.perf_counter()
            data = make_data(tmp, args.items, args.gold_share)
            print(f"generated {args.items:,} items ({data.stat().st_size / 2**20:.0f} MB CSV) "
                  f"in {time.perf_counter() - start:.1f} s", flush=True)
            project_dir = tmp / "project"
            project_dir.mkdir()
            store = f'[store]\nurl = "{url}"\n' if url else ""
            (tmp / "replay.csv").rename(project_dir / "replay.csv")
            from labelquorum import init_project

            init_project(project_dir, config_text=CONFIG.format(store=store)).close()
            names = ([s for s in ("import", "run", "status") if s in wanted]
                     + ([f"export-{f}" for f in formats] if "export" in wanted else []))
            rows = []
            for name in names:
                res = child(Path(__file__), name, str(project_dir), str(data))
                load.append(os.getloadavg()[0])
                n = res.get("items", args.items)
                row = {"stage": name, "wall s": res["wall"],
                       "items/s": n / res["wall"] if res["wall"] else 0.0,
                       "peak RSS MB": res["peak"], "RSS before MB": res["rss_before"],
                       "< 1 GB": "yes" if res["peak"] < LIMIT_MB else "NO"}
                if name == "import":
                    row["target"] = f">= {IMPORT_TARGET:,} items/s"
                    row["met"] = "yes" if row["items/s"] >= IMPORT_TARGET else "NO"
                elif name.startswith("export-"):
                    per_100k = res["wall"] * 100_000 / n
                    row["target"] = f"{per_100k:.2f} s/100k (< 2)"
                    row["met"] = "yes" if per_100k < EXPORT_TARGET_S_PER_100K else "NO"
                elif name == "run":
                    row["target"] = f"{res['judgements']:,} judgements"
                    row["met"] = ""
                else:
                    row["target"] = row["met"] = ""
                rows.append(row)
                print(json.dumps(row), flush=True)
            raw = child(Path(__file__), "raw", args.db, str(data),
                        url if url else str(tmp))
            load.append(os.getloadavg()[0])
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    print()
    print(f"{args.items:,} items on {args.db}; peak memory is VmHWM of the child process "
          "that ran each stage")
    print(table(rows, floatfmt="{:,.1f}"))
    how = "sqlite3 executemany" if args.db == "sqlite" else "COPY FROM STDIN (psycopg)"
    print(f"\nraw write rate, {how} of the import's {raw['rows']:,} rows into a bare "
          f"items-shaped table: {raw['rate']:,.0f} rows/s")
    print(f"load average (1 min) during the run: {min(load):.1f}–{max(load):.1f} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
