"""Throughput of the free-text judge inside a run, against the scripted server.

The scripted OpenAI-compatible server runs in a subprocess with ``--latency`` per call. A
free-text project with one ``llm`` writer and an ``llm`` judge runs over N items with
``Project.run()``: the writer answers every item (the executor's worker pool), then the
judge scores every answer (:mod:`labelquorum.kinds.freetext_judge`: one ledger request
per answer, written before the call; the verdict, its call log and the request's state in
one transaction per answer). Figures: the judge's verdicts per second against the ideal
``concurrency / latency``, and the same for the writer, and the token-F1 rate of the
similarity measure on answers of about 20 words.

Run by hand from the repository root::

    PYTHONPATH=src python benchmarks/freetext_judge.py [--items 400] [--latency 0.1] [--concurrency 8]

It writes only to a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from labelquorum.agreement.text import token_f1
from labelquorum.project import init_project
from labelquorum.testing_server import Rule, SpawnedLlmServer

CONFIG = """
[project]
name = "judge-throughput"
[task]
kind = "free-text"
guidelines = "Answer the question."
judge = "judge"
[annotators.writer]
type = "llm"
base_url = "{url}"
model = "gpt-4o-mini"
concurrency = {concurrency}
[annotators.judge]
type = "llm"
base_url = "{url}"
model = "gpt-4o-mini"
concurrency = {concurrency}
[policy]
type = "cascade"
[[policy.tiers]]
name = "writer"
annotators = ["writer"]
min_confidence = 0.5
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    rules = [Rule("Answer to score:", answer={"score": 5, "reason": "Fine."}),
             Rule("Question", answer={"value": "An answer of a few words."})]
    with SpawnedLlmServer(rules, latency=args.latency) as server, \
            tempfile.TemporaryDirectory() as tmp:
        project = init_project(Path(tmp) / "p", config_text=CONFIG.format(
            url=server.base_url, concurrency=args.concurrency))
        project.import_dataframe(pd.DataFrame({
            "id": [f"q{i}" for i in range(args.items)],
            "text": [f"Question {i}: what is it?" for i in range(args.items)]}),
            id_column="id")
        times: dict[str, float] = {}
        t0 = time.perf_counter()

        def progress(done, total, stage):
            times.setdefault("writer_done", time.perf_counter()) if stage.startswith(
                f"writer {args.items:,}/") else None

        report = project.run(progress=progress)
        assert not report.failed, report.failed
        total = time.perf_counter() - t0
        j = project.judgements()
        verdicts = int((j["annotator"] == "judge").sum())
        writer_s = times.get("writer_done", t0) - t0
        judge_s = total - writer_s
        project.close()
    ideal = args.concurrency / args.latency
    rng = random.Random(0)
    words = [f"w{i}" for i in range(300)]
    pairs = [(" ".join(rng.choices(words, k=20)), " ".join(rng.choices(words, k=20)))
             for _ in range(20_000)]
    t1 = time.perf_counter()
    for a, b in pairs:
        token_f1(a, b)
    f1_rate = len(pairs) / (time.perf_counter() - t1)
    print(json.dumps({
        "items": args.items, "latency_s": args.latency, "concurrency": args.concurrency,
        "writer_answers_per_s": round(args.items / writer_s, 1),
        "judge_verdicts": verdicts, "judge_verdicts_per_s": round(verdicts / judge_s, 1),
        "ideal_per_s": round(ideal, 1),
        "judge_share_of_ideal": round(verdicts / judge_s / ideal, 3),
        "token_f1_pairs_per_s": round(f1_rate)}, indent=1))


if __name__ == "__main__":
    main()
