"""Import speed: 1,000,000 generated items through ``Project.import_file``.

Generates a CSV of ``--items`` items (``id,text,gold``; English-like sentences of 10–30
words drawn with Zipf weights from a fixed vocabulary; gold ``negative``/``positive``)
and imports it into a fresh SQLite project, in a fresh interpreter each time, twice:

- ``--id-column id``: ids from the file;
- content-derived ids: the same rows without the ``id`` column, ids hashed from the text.

It reports items/s (items / wall time of ``import_file``; target >= 100,000/s) and the
peak resident memory of the importing process, and the time of the three stages
(``read_table``, ``prepare_items``, ``store_items``). With ``--profile`` it also imports
each file under cProfile and lists the functions with the most own time.

Run by hand from the repository root::

    python benchmarks/import_speed.py [--items 1000000] [--profile]

It writes only to a temporary directory (and profiles to ``benchmarks/out/``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, child, peak_rss_mb, profile_call, table, top_functions

TARGET = 100_000

WORDS = """the a of and to in is it that this was for on with as but film movie story by an
its his her their one all be are not have has from at so more than about who like just
what even most only some if out no can up when into which there been would them could
very good bad best worst funny dull great little much well too never ever also make makes
made time characters director performance performances script plot action comedy drama
love life world people way work something nothing both any own new old young first last
long short real true hard easy fine fun charming smart clever sweet sad dark light
beautiful ugly moving boring tedious wonderful terrible brilliant awful enjoyable
entertaining predictable original familiar fresh stale sharp thin rich deep shallow
heart mind soul eyes face voice music scene scenes moment moments end ending beginning
audience viewers critics fans actor actress cast camera screen picture hollywood
american british french documentary thriller horror romance animated family kids adults
feel feels felt seems look looks watch watching see seen know knows think thought
tries try gets get goes go takes take gives give finds find keeps keep leaves leave
almost rather quite really still yet often always sometimes perhaps maybe surely
""".split()  # noqa: SIM905 - a word list reads better as text


def sentences(n: int, rng: np.random.Generator) -> list[str]:
    """n sentences of 10–30 words, Zipf-weighted over WORDS."""
    weights = 1.0 / np.arange(1, len(WORDS) + 1) ** 1.1
    weights /= weights.sum()
    lengths = rng.integers(10, 31, size=n)
    picks = rng.choice(len(WORDS), size=int(lengths.sum()), p=weights)
    vocab = np.array(WORDS, dtype=object)
    words = iter(vocab[picks].tolist())
    out = []
    for length in lengths.tolist():
        text = " ".join(islice(words, length))
        out.append(text[0].upper() + text[1:] + ".")
    return out


def make_files(directory: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    texts = sentences(n, rng)
    df = pd.DataFrame({"id": [f"doc-{i:08d}" for i in range(n)], "text": texts,
                       "gold": np.where(rng.random(n) < 0.5, "negative", "positive")})
    with_ids, without = directory / "items.csv", directory / "items-no-id.csv"
    df.to_csv(with_ids, index=False)
    df.drop(columns="id").to_csv(without, index=False)
    return with_ids, without


def raw_sqlite(csv: Path, directory: Path) -> float:
    """Rows/s of a bare sqlite3 executemany of the file's rows into a table shaped like
    ``items`` (same columns, primary key and index, same pragmas as the store)."""
    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    fields = [json.dumps({"text": t}, ensure_ascii=False) for t in df["text"]]
    gold = [json.dumps(g) for g in df["gold"]]
    rows = [(1, i, n, f, g, "evaluation", str(csv))
            for n, (i, f, g) in enumerate(zip(df["id"].tolist(), fields, gold))]
    con = sqlite3.connect(directory / "raw.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE items (project_id INTEGER NOT NULL, id VARCHAR(200) NOT NULL, "
                "seq INTEGER NOT NULL, fields TEXT NOT NULL, gold TEXT, gold_role VARCHAR(16), "
                "source VARCHAR(500), PRIMARY KEY (project_id, id))")
    con.execute("CREATE INDEX ix_items_seq ON items (project_id, seq)")
    start = time.perf_counter()
    with con:
        con.executemany("INSERT INTO items VALUES (?,?,?,?,?,?,?)", rows)
    elapsed = time.perf_counter() - start
    con.close()
    return len(rows) / elapsed


def import_child(project_dir: Path, csv: Path, id_column: str, profile: bool) -> dict:
    """In a fresh interpreter: import csv into a new project; time the stages."""
    from labelquorum import importing, init_project
    from labelquorum import project as project_module

    project = init_project(project_dir, ["negative", "positive"])
    stages: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    # project.py imported these names from importing; time them where they are called
    for name in ("read_table", "prepare_items", "store_items"):
        setattr(project_module, name, timed(name, getattr(importing, name)))
    rss_before = peak_rss_mb()
    kwargs = {"id_column": id_column} if id_column else {}
    start = time.perf_counter()
    if profile:
        tag = "id-column" if id_column else "content-id"
        result, stats = profile_call(lambda: project.import_file(csv, **kwargs),
                                     OUT / f"import_{tag}.prof")
    else:
        result = project.import_file(csv, **kwargs)
    wall = time.perf_counter() - start
    out = {"wall": wall, "items": result.items, "rss_before": rss_before,
           "rss_after": peak_rss_mb(), "stages": stages,
           "db_mb": (project_dir / "labelquorum.db").stat().st_size / 2**20}
    if profile:
        out["top"] = top_functions(stats, 12)
    project.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true",
                        help="also import under cProfile and list the hot functions")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        project_dir, csv, id_column, mode = args.child
        print(json.dumps(import_child(Path(project_dir), Path(csv), id_column,
                                      mode == "profile")))
        return

    rows, profiles = [], {}
    with tempfile.TemporaryDirectory(prefix="lq-import-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        with_ids, without = make_files(tmp, args.items)
        print(f"generated {args.items:,} items ({with_ids.stat().st_size / 2**20:.0f} MB CSV) "
              f"in {time.perf_counter() - start:.1f} s")
        for label, csv, id_column in (("--id-column id", with_ids, "id"),
                                      ("content-derived ids", without, "")):
            res = child(Path(__file__), str(tmp / f"p-{id_column or 'content'}"), str(csv),
                        id_column, "plain")
            speed = res["items"] / res["wall"]
            st = res["stages"]
            rows.append({"ids": label, "items": res["items"], "wall s": res["wall"],
                         "items/s": speed, "target": f">= {TARGET:,}",
                         "ok": "yes" if speed >= TARGET else "NO",
                         "read_table s": st.get("read_table", 0.0),
                         "prepare_items s": st.get("prepare_items", 0.0),
                         "store_items s": st.get("store_items", 0.0),
                         "peak RSS MB": res["rss_after"], "RSS before MB": res["rss_before"],
                         "db MB": res["db_mb"]})
            if args.profile:
                profiles[label] = child(Path(__file__), str(tmp / f"q-{id_column or 'c'}"),
                                        str(csv), id_column, "profile")
        raw = raw_sqlite(with_ids, tmp)
    print()
    print(table(rows, floatfmt="{:,.1f}"))
    print(f"\nfor comparison: bare sqlite3 executemany into an items-shaped table (ids from "
          f"the file, one transaction): {raw:,.0f} rows/s")
    for label, res in profiles.items():
        print(f"\nTop functions by own time, import with {label} "
              f"({res['wall']:.1f} s under cProfile):\n")
        print(table([{k: r[k] for k in ("function", "calls", "own s", "own %", "cum %")}
                     for r in res["top"]], floatfmt="{:,.2f}"))


if __name__ == "__main__":
    main()
