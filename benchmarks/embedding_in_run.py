"""The embedding annotator's speed inside ``Project.run()`` against the bare encoder.

Imports ``--items`` SST-2 sentences (train sentences of at least 6 words, ids given) plus
``--seed`` more as gold seed, and runs a one-tier cascade whose only annotator is
``embedding``. It reports:

- the run's items/s: annotated items / (wall time of ``project.run()`` minus the time
  spent training the annotator on the seed), so encoding, the probe, the policy and the
  store all count;
- the encoder's items/s: ``get_embedder().encode(texts)`` on the same texts;

and the ratio (target >= 90 %). The embedder is built and warmed up before either is
timed; both use the same process-wide embedder.

Needs the ``ml`` extra; without it, it says so and exits. Run by hand from the
repository root::

    python benchmarks/embedding_in_run.py [--data ../shared/data] [--items 3000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, table

TARGET = 0.90
MIN_WORDS = 6
CONFIG = """
[project]
name = "embedding-in-run"
seed = 0

[task]
kind = "classification"
fields = ["text"]
labels = ["negative", "positive"]

[annotators.embedding]
type = "embedding"

[policy]
type = "cascade"

[[policy.tiers]]
name = "embedding"
annotators = ["embedding"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=500, help="gold seed items to train on")
    args = parser.parse_args()

    try:
        from labelquorum.annotators.embedder import get_embedder

        embedder = get_embedder("auto")
    except Exception as exc:  # noqa: BLE001 - any failure means: skip
        print(f"skipping: the embedding annotator cannot run here ({type(exc).__name__}: "
              f"{exc})")
        return
    from labelquorum import init_project

    train = pd.read_csv(args.data / "sst2" / "train.csv", dtype=str, keep_default_na=False)
    train = train[train["text"].str.split().str.len() >= MIN_WORDS].drop_duplicates("text")
    sample = train.sample(n=args.items + args.seed, random_state=0)
    seed_rows, items = sample.iloc[:args.seed], sample.iloc[args.seed:]
    texts = items["text"].tolist()

    embedder.encode(texts[:256])  # load and warm up once, outside both timings
    start = time.perf_counter()
    embedder.encode(texts)
    raw_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory(prefix="lq-embedding-run-") as tmp:
        project = init_project(Path(tmp) / "project", ["negative", "positive"],
                               config_text=CONFIG)
        frame = pd.concat([seed_rows.assign(gold=seed_rows["label"]),
                           items.assign(gold="")])[["id", "text", "gold"]]
        project.import_dataframe(frame, id_column="id", gold_column="gold",
                                 split=f"seed={args.seed}")
        annotators = project.build_annotators()
        ann = annotators["embedding"]
        timings = {"fit": 0.0, "annotate": 0.0}

        def timed(name, fn):
            def wrapper(*a, **kw):
                t = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    timings[name] += time.perf_counter() - t
            return wrapper

        ann.fit = timed("fit", ann.fit)
        ann.annotate = timed("annotate", ann.annotate)
        start = time.perf_counter()
        report = project.run(annotators=annotators)
        wall = time.perf_counter() - start
        project.close()

    asked = report.asked.get("embedding", 0)
    run_speed = asked / (wall - timings["fit"])
    raw_speed = len(texts) / raw_s
    ratio = run_speed / raw_speed
    print(f"{embedder!r}; {asked:,} items asked, {args.seed} gold seed\n")
    print(table([
        {"measure": "encoder alone: encode(texts), items/s", "value": raw_speed},
        {"measure": "project.run() wall, s", "value": wall},
        {"measure": "  of which training on the seed (fit), s", "value": timings["fit"]},
        {"measure": "  of which annotate (encode + probe + finish), s",
         "value": timings["annotate"]},
        {"measure": "run items/s (asked / (wall - fit))", "value": run_speed},
        {"measure": f"run / encoder (target >= {TARGET:.0%})", "value": ratio},
        {"measure": "meets target", "value": "yes" if ratio >= TARGET else "NO"},
    ], floatfmt="{:,.2f}"))


if __name__ == "__main__":
    main()
