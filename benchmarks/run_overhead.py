"""Overhead of ``Project.run()`` itself: instant annotators, so all time is the run's.

100,000 items (ids given) and three ``replay`` annotators that answer from a generated
CSV (``item,annotator,label,confidence``) with accuracies 0.92, 0.85 and 0.97 against a
generated gold, run through a two-tier cascade on SQLite::

    tier 1: replay_a + replay_b, accepted when they agree (min_agreement = 1.0)
    tier 2: replay_c, takes the rest

It reports judgements stored per second (judgements written / wall time of
``project.run()``, target >= 100,000/s) and the peak resident memory of the process that
ran it (target < 500 MB), measured in a fresh interpreter. For comparison it measures a
raw ``sqlite3.executemany`` of as many rows into a table as wide as ``judgements`` (same
columns and indexes, and without indexes), with the same pragmas as the store (WAL,
synchronous=NORMAL).

With ``--profile`` (the default) it runs the same workload again under cProfile, on a
copy of the project, and splits the run's time into building annotators, loading state,
policy steps, annotator predict, writing to the store and the rest, and lists the
functions with the most own time. cProfile slows Python code down, so the shares, not
the seconds, are the figure to read.

Run by hand from the repository root::

    python benchmarks/run_overhead.py [--items 100000] [--no-profile]

It writes only to a temporary directory (and the profile to ``benchmarks/out/``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, child, cumulative, peak_rss_mb, profile_call, table, top_functions

LABELS = ("negative", "positive")
ANNOTATORS = {"replay_a": 0.92, "replay_b": 0.85, "replay_c": 0.97}
TARGET_JPS = 100_000
TARGET_MB = 500

CONFIG = """
[project]
name = "run-overhead"
seed = 0

[task]
kind = "classification"
fields = ["text"]
labels = ["negative", "positive"]

[annotators.replay_a]
type = "replay"
path = "replay.csv"

[annotators.replay_b]
type = "replay"
path = "replay.csv"

[annotators.replay_c]
type = "replay"
path = "replay.csv"

[policy]
type = "cascade"
aggregator = "weighted"

[[policy.tiers]]
name = "pair"
annotators = ["replay_a", "replay_b"]
min_agreement = 1.0

[[policy.tiers]]
name = "third"
annotators = ["replay_c"]
"""


def make_project(directory: Path, n: int, seed: int = 0) -> None:
    """A project with n items (id,text,gold) and a replay CSV for the three annotators."""
    from labelquorum import init_project

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(5000)])
    lengths = rng.integers(8, 20, size=n)
    words = rng.choice(vocab, size=int(lengths.sum()))
    cuts = np.cumsum(lengths)[:-1]
    texts = [" ".join(ws) for ws in np.split(words, cuts)]
    ids = [f"item-{i:07d}" for i in range(n)]
    gold = rng.integers(0, len(LABELS), size=n)
    items = pd.DataFrame({"id": ids, "text": texts, "gold": np.array(LABELS)[gold]})

    frames = []
    for name, acc in ANNOTATORS.items():
        right = rng.random(n) < acc
        label = np.where(right, gold, 1 - gold)
        conf = np.where(right, rng.uniform(0.6, 1.0, n), rng.uniform(0.5, 0.8, n)).round(3)
        frames.append(pd.DataFrame({"item": ids, "annotator": name,
                                    "label": np.array(LABELS)[label], "confidence": conf}))
    project = init_project(directory, list(LABELS), config_text=CONFIG)
    pd.concat(frames).to_csv(directory / "replay.csv", index=False)
    items.to_csv(directory / "items.csv", index=False)
    project.import_file(directory / "items.csv", id_column="id")
    project.close()


def run_child(directory: Path, profile: bool) -> dict:
    """In a fresh interpreter: time project.run() and measure its memory."""
    from sqlalchemy import func, select

    from labelquorum import open_project
    from labelquorum.store import schema

    project = open_project(directory)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    if profile:
        report, stats = profile_call(project.run, OUT / "run_overhead.prof")
    else:
        report = project.run()
    wall = time.perf_counter() - start
    rss_after = peak_rss_mb()
    j, d = schema.judgements, schema.decisions
    with project.store.connect() as conn:
        judgements = conn.execute(select(func.count()).select_from(j)).scalar()
        tiers = dict(conn.execute(select(d.c.tier, func.count()).group_by(d.c.tier)).all())
    out = {"wall": wall, "judgements": judgements, "rss_before": rss_before,
           "rss_after": rss_after, "asked": report.asked, "decided": report.decided_now,
           "tiers": tiers}
    if profile:
        out["split"] = split(stats, wall)
        out["top"] = top_functions(stats, 15)
    project.close()
    return out


def split(stats, wall: float) -> list[dict]:
    """Where project.run()'s time went, from the profile (by module of the engine)."""
    run_py, base_py = "labelquorum/run.py", "labelquorum/annotators/base.py"
    ledger, state = "labelquorum/engine/ledger.py", "labelquorum/engine/state.py"
    plan_exec = _exec_from(stats, "write_plan") + _exec_from(stats, "write_plan", "upsert_rows")
    record_exec = (_exec_from(stats, "record") + _exec_from(stats, "record", "insert_rows")
                   + _exec_from(stats, "record", "upsert_rows"))
    parts = {
        "build annotators (read replay CSV x3)": cumulative(stats, "labelquorum/project.py",
                                                            "build_annotators"),
        "lock + training (engine/lock, engine/training)": cumulative(
            stats, "labelquorum/engine/lock.py", "acquire")
        + cumulative(stats, "labelquorum/engine/training.py", "train"),
        "load state (engine/state RunState.load)": cumulative(stats, state, "load"),
        "policy steps (Cascade.step + policy_state)": cumulative(
            stats, "policies/cascade.py", "step") + cumulative(stats, state, "policy_state"),
        "items (json of fields)": cumulative(stats, state, "items"),
        "annotator annotate (predict + finish)": cumulative(stats, base_py, "annotate"),
        "ledger.write_plan: build rows": cumulative(stats, ledger, "write_plan") - plan_exec,
        "ledger.write_plan: SQL execute": plan_exec,
        "ledger.record: build rows": cumulative(stats, ledger, "record") - record_exec,
        "ledger.record: SQL execute (judgements + requests)": record_exec,
        "state.remember": cumulative(stats, state, "remember"),
        "finish": cumulative(stats, run_py, "_finish"),
    }
    total = stats.total_tt
    parts["other"] = max(total - sum(parts.values()), 0.0)
    return [{"part": k, "profiled s": v, "share %": 100 * v / total} for k, v in parts.items()]


def _exec_from(stats, caller: str, via: str | None = None) -> float:
    """Seconds in the driver's ``executemany``/``execute`` called from the ledger's
    ``caller`` (directly, or through the store helper ``via``)."""
    if via is not None:
        return (cumulative(stats, "labelquorum/store/__init__.py", via,
                           caller=("labelquorum/engine/ledger.py", caller))
                if caller else 0.0)
    return cumulative(stats, "sqlalchemy/engine/base.py", "execute",
                      caller=("labelquorum/engine/ledger.py", caller))


def raw_sqlite(n: int, directory: Path, indexes: bool) -> float:
    """Rows/s of one executemany of n judgement-wide rows in one transaction."""
    path = directory / f"raw-{indexes}.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("""CREATE TABLE judgements (
        id INTEGER PRIMARY KEY AUTOINCREMENT, project_id INTEGER NOT NULL,
        request_key VARCHAR(64), item_id VARCHAR(200) NOT NULL, annotator VARCHAR(200) NOT NULL,
        annotator_kind VARCHAR(16) NOT NULL, annotator_version VARCHAR(64),
        value_type VARCHAR(12) NOT NULL, label TEXT, value JSON, probs JSON, confidence FLOAT,
        cost FLOAT NOT NULL, latency FLOAT, call_id INTEGER, run_id INTEGER,
        status VARCHAR(12) NOT NULL, simulated BOOLEAN NOT NULL, supersedes INTEGER,
        created DATETIME NOT NULL)""")
    if indexes:
        con.execute("CREATE INDEX ix_j_item ON judgements (project_id, item_id)")
        con.execute("CREATE INDEX ix_j_ann ON judgements (project_id, annotator)")
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.5, 1.0, n)
    rows = [(1, f"{i:032x}", f"item-{i // 3:07d}", f"replay_{'abc'[i % 3]}", "replay",
             "0123456789abcdef", "class", "positive", None,
             json.dumps({"negative": 1 - conf[i], "positive": conf[i]}), conf[i], 0.0, 1e-6,
             None, 1, "ok", 0, None, "2025-01-01 00:00:00.000000") for i in range(n)]
    sql = ("INSERT INTO judgements (project_id, request_key, item_id, annotator, "
           "annotator_kind, annotator_version, value_type, label, value, probs, confidence, "
           "cost, latency, call_id, run_id, status, simulated, supersedes, created) "
           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    start = time.perf_counter()
    with con:
        con.executemany(sql, rows)
    elapsed = time.perf_counter() - start
    con.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled run")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(Path(args.child[0]), args.child[1] == "profile")))
        return

    with tempfile.TemporaryDirectory(prefix="lq-run-overhead-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        make_project(tmp / "project", args.items)
        print(f"generated and imported {args.items:,} items and "
              f"{args.items * len(ANNOTATORS):,} replay rows in "
              f"{time.perf_counter() - start:.1f} s")
        if not args.no_profile:
            shutil.copytree(tmp / "project", tmp / "project-profiled")
        res = child(Path(__file__), str(tmp / "project"), "plain")
        raw = {ix: raw_sqlite(res["judgements"], tmp, ix) for ix in (True, False)}
        prof = None if args.no_profile else child(Path(__file__), str(tmp / "project-profiled"),
                                                  "profile")

    jps = res["judgements"] / res["wall"]
    print(f"\n{args.items:,} items x {len(ANNOTATORS)} replay annotators, 2-tier cascade, "
          f"SQLite, {os.cpu_count()} CPUs; asked: {res['asked']}; decided per tier: "
          f"{res['tiers']}\n")
    print(table([
        {"measure": "project.run() wall time, s", "value": res["wall"], "target": "",
         "ok": ""},
        {"measure": "judgements written", "value": res["judgements"], "target": "", "ok": ""},
        {"measure": "judgements stored per s", "value": jps, "target": f">= {TARGET_JPS:,}",
         "ok": "yes" if jps >= TARGET_JPS else "NO"},
        {"measure": "peak RSS of the run's process, MB", "value": res["rss_after"],
         "target": f"< {TARGET_MB}", "ok": "yes" if res["rss_after"] < TARGET_MB else "NO"},
        {"measure": "  of which before run() (imports, open), MB", "value": res["rss_before"],
         "target": "", "ok": ""},
        {"measure": "raw sqlite3 executemany rows/s (same columns + 2 indexes)",
         "value": raw[True], "target": "", "ok": ""},
        {"measure": "raw sqlite3 executemany rows/s (no indexes)", "value": raw[False],
         "target": "", "ok": ""},
        {"measure": "run() judgements/s as share of raw (indexed)",
         "value": jps / raw[True], "target": "", "ok": ""},
    ], floatfmt="{:,.2f}"))
    if prof:
        print(f"\nTime split of a cProfile'd run ({prof['wall']:.1f} s under the profiler; "
              f"shares of profiled time):\n")
        print(table(prof["split"], floatfmt="{:,.2f}"))
        print("\nTop functions by own time (profile in benchmarks/out/run_overhead.prof):\n")
        print(table([{k: r[k] for k in ("function", "calls", "own s", "own %", "cum %")}
                     for r in prof["top"]], floatfmt="{:,.2f}"))


if __name__ == "__main__":
    main()
