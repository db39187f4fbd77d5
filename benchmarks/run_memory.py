"""Peak memory of a run as the project grows: does it stay flat?

Two workloads, each at several sizes, each run in a fresh interpreter so peak resident
memory (``VmHWM``) is the run's own:

- ``instant``: N items, three ``rules`` annotators (free, local, deterministic, holding
  nothing per item), a 2-tier cascade: two agree or the third decides, SQLite.
- ``llm``: N items, one ``llm`` tier against the scripted OpenAI-compatible server running
  in a subprocess (no latency), concurrency 32, SQLite.

For each it prints peak RSS before ``project.run()`` (imports, the open project), the
peak during it, and MB per 1,000 items of the run's own growth; the target is < 1 GB at
1,000,000 items (instant) and 100,000 items (llm), growing sub-linearly.

Run by hand from the repository root (the large sizes take minutes)::

    python benchmarks/run_memory.py [--instant 100000,300000,1000000] [--llm 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import child, peak_rss_mb, table

INSTANT = """
[project]
name = "memory-instant"
seed = 0
[task]
labels = ["negative", "positive"]
[annotators.a]
type = "rules"
rules = [{ label = "positive", keywords = ["good", "great"] },
         { label = "negative", keywords = ["bad", "awful"] }]
[annotators.b]
type = "rules"
rules = [{ label = "positive", keywords = ["good", "fine"] },
         { label = "negative", keywords = ["bad", "dull"] }]
[annotators.c]
type = "rules"
rules = [{ label = "positive", keywords = ["great", "fine", "good"] },
         { label = "negative", keywords = ["awful", "dull", "bad"] }]
[policy]
type = "cascade"
[[policy.tiers]]
name = "pair"
annotators = ["a", "b"]
min_agreement = 1.0
min_votes = 2
[[policy.tiers]]
name = "third"
annotators = ["c"]
"""

WORDS = ["good", "great", "fine", "bad", "awful", "dull", "plain", "long"]

LLM = """
[project]
name = "memory-llm"
[task]
labels = ["negative", "positive"]
guidelines = "Is the film review positive or negative?"
[annotators.llm]
type = "llm"
base_url = "{url}"
model = "gpt-4o-mini"
concurrency = 32
max_retries = 8
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["llm"]
"""


def prepare(kind: str, n: int, directory: str, url: str = "") -> None:
    """Create and import the project (in its own interpreter: the import's peak is not
    the run's)."""
    import numpy as np
    import pandas as pd

    from labelquorum.project import init_project

    project = init_project(Path(directory) / "p",
                           config_text=LLM.format(url=url) if kind == "llm" else INSTANT)
    rng = np.random.default_rng(0)
    words = rng.choice(WORDS, size=(n, 2))
    frame = pd.DataFrame({"id": [f"i{i:07d}" for i in range(n)],
                          "text": [f"review {i}: a film with a {a} cast and a {b} plot"
                                   for i, (a, b) in enumerate(words.tolist())]})
    project.import_dataframe(frame, id_column="id")
    project.close()


def measure(kind: str, n: int) -> dict:
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if kind == "llm":
            from labelquorum.testing_server import SpawnedLlmServer

            server = SpawnedLlmServer(latency=0.0).__enter__()
        try:
            subprocess.run([sys.executable, __file__, "--prepare", kind, str(n), tmp,
                            server.base_url if server else ""], check=True)
            from labelquorum import open_project

            project = open_project(Path(tmp) / "p")
            before = peak_rss_mb()
            t0 = time.perf_counter()
            report = project.run()
            wall = time.perf_counter() - t0
            peak = peak_rss_mb()
            project.close()
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    return {"kind": kind, "items": n, "rss_before_mb": before, "peak_mb": peak,
            "wall_s": wall, "judgements": sum(report.asked.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instant", default="100000,300000,1000000")
    parser.add_argument("--llm", default="10000,30000,100000")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        kind, n, directory, url = args.prepare
        prepare(kind, int(n), directory, url)
        return
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]))))
        return
    rows = []
    for kind, sizes in (("instant", args.instant), ("llm", args.llm)):
        for n in [int(s) for s in sizes.split(",") if s]:
            r = child(Path(__file__), kind, str(n))
            growth = r["peak_mb"] - r["rss_before_mb"]
            rows.append({"workload": kind, "items": f"{n:,}",
                         "judgements": f"{r['judgements']:,}",
                         "peak RSS MB": f"{r['peak_mb']:.0f}",
                         "before run MB": f"{r['rss_before_mb']:.0f}",
                         "MB per 1k items": f"{1000 * growth / n:.2f}",
                         "wall s": f"{r['wall_s']:.1f}",
                         "< 1 GB": "yes" if r["peak_mb"] < 1024 else "NO"})
            print(json.dumps(rows[-1]), flush=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
