"""The real local LLM (SmolLM2-135M-Instruct on llama.cpp) as the llm annotator on SST-2.

Starts :class:`labelquorum.llm_local.LocalLLMServer` (the ``llm-local`` extra), runs a
project with one ``llm`` tier (``confidence = "logprobs"``, one call at a time) over the
first N sentences of ``../shared/data/sst2/validation.csv`` and prints: start-up time,
per-call latency (median, p90, max), tokens per call, the dialect the annotator found,
failed calls, accuracy, and accuracy on the more and the less confident half (does the
log-probability margin mean anything for this model?). The model is weak: the point is
the real path and its cost in time, not the accuracy.

Run by hand from the repository root::

    python benchmarks/llm_local.py [--items 60] [--threads 1]

It writes only to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sqlalchemy import select

from labelquorum.llm_local import LocalLLMServer
from labelquorum.project import init_project
from labelquorum.store import schema

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2" / "validation.csv"
CONFIG = """
[project]
name = "llm-local-bench"

[task]
kind = "classification"
guidelines = "Is the sentence, a snippet of a film review, positive or negative?"
labels = ["negative", "positive"]

[annotators.smol]
type = "llm"
base_url = "{base_url}"
model = "{model}"
confidence = "logprobs"
max_tokens = 24
timeout = 300
concurrency = 1

[policy]
type = "cascade"

[[policy.tiers]]
name = "llm"
annotators = ["smol"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    rows = pd.read_csv(args.data).head(args.items)

    t0 = time.perf_counter()
    with LocalLLMServer(n_threads=args.threads) as server, \
            tempfile.TemporaryDirectory() as tmp:
        startup = time.perf_counter() - t0
        project = init_project(Path(tmp) / "p", config_text=CONFIG.format(
            base_url=server.base_url, model=server.model))
        project.import_dataframe(rows, id_column="id", gold_column="label")
        t1 = time.perf_counter()
        report = project.run()
        wall = time.perf_counter() - t1
        mc = schema.model_calls
        with project.store.connect() as conn:
            calls = pd.read_sql(select(mc).where(mc.c.project_id == project.store.project_id),
                                conn)
        j = project.judgements()
        project.close()

    ok = calls[calls["error"].isna()]
    dialects = {(json.loads(r) if isinstance(r, str) else r).get("dialect")
                for r in calls["request"]}
    lat = ok["latency"].to_numpy()
    print(f"SmolLM2-135M-Instruct Q4_1 on llama.cpp, n_threads={args.threads}, "
          f"{len(rows)} SST-2 validation sentences")
    print(f"server start-up: {startup:.1f} s; run: {wall:.1f} s "
          f"({len(rows) / wall:.2f} items/s)")
    print(f"calls: {len(calls)} ({len(calls) - len(rows)} re-asks); dialect found: "
          f"{', '.join(sorted(d for d in dialects if d))}")
    if len(lat):
        print(f"latency per call: median {np.median(lat):.2f} s, p90 "
              f"{np.percentile(lat, 90):.2f} s, max {lat.max():.2f} s")
        print(f"tokens per call: {ok['tokens_in'].mean():.0f} in, "
              f"{ok['tokens_out'].mean():.1f} out")
    ok_j = j[j["status"] == "ok"].set_index("item")
    gold = rows.set_index("id")["label"]
    print(f"failed items: {sum(report.failed.values())}; labelled: {len(ok_j)}")
    if len(ok_j):
        right = ok_j["label"] == gold.reindex(ok_j.index)
        print(f"accuracy on labelled items: {right.mean():.3f} "
              f"(confidence methods: {ok_j['confidence_method'].value_counts().to_dict()})")
        conf = ok_j["confidence"].astype(float)
        high = conf >= conf.median()
        print(f"accuracy, more confident half: {right[high].mean():.3f}; less confident "
              f"half: {right[~high].mean():.3f} (median margin {conf.median():.3f})")


if __name__ == "__main__":
    main()
