"""Import and export speed of every format, on ``--items`` generated items (100,000).

Two projects in a temporary directory, both labelled by a ``simulated`` annotator
(accuracy 0.9 from gold, so every item has a label and a model judgement):

- classification: English-like sentences (10-30 words, Zipf weights over a fixed
  vocabulary) with ``id``, ``text``, ``year``, ``score``, ``gold``;
- spans: sentences of 8-20 tokens with 0-3 entities (PER/ORG/LOC/MISC), written as a
  CoNLL-2003 file (token, POS, chunk, IOB2 tag).

Imports are timed from a generated CSV/JSONL/Parquet/CoNLL file, and from the Label
Studio JSON, Hugging Face directory and DocBin that the exports wrote, each into a fresh
project; exports with ``Project.export`` (item fields included, the default). Figures are
items/s (rows/s for the judgement table) = items / wall time, one run each.

Run from the repository root (needs the ``hf`` and ``spacy`` extras)::

    python benchmarks/formats.py [--items 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

import labelquorum as lq

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
WORDS = ["the", "a", "film", "story", "plot", "acting", "music", "scene", "actor", "director", "was", "is", "very", "quite", "not", "good", "bad", "great", "dull", "fine", "long", "short", "funny", "sad", "moving", "boring", "clever", "warm", "cold", "slow", "fast", "and", "but", "with", "of", "in", "on", "for", "to", "it", "this", "that"]
NAMES = {"PER": ["Ada", "Grace", "Alan", "Maria", "Kofi"], "ORG": ["Acme", "Initech"],
         "LOC": ["Lisbon", "Accra", "Oslo"], "MISC": ["Olympic", "Nobel"]}


def sentences(n: int, rng: np.random.Generator) -> list[str]:
    weights = 1 / np.arange(1, len(WORDS) + 1)
    weights /= weights.sum()
    lengths = rng.integers(10, 31, n)
    words = rng.choice(len(WORDS), size=int(lengths.sum()), p=weights)
    out, pos = [], 0
    for k in lengths:
        out.append(" ".join(WORDS[w] for w in words[pos:pos + k]))
        pos += k
    return [f"{i} {s}" for i, s in enumerate(out)]  # distinct texts


def conll_file(path: Path, n: int, rng: np.random.Generator) -> None:
    lines = []
    types = list(NAMES)
    for i in range(n):
        tokens = [str(i)] + [WORDS[w] for w in rng.integers(0, len(WORDS), rng.integers(7, 20))]
        tags = ["O"] * len(tokens)
        for _ in range(rng.integers(0, 4)):
            at = int(rng.integers(1, len(tokens)))
            kind = types[int(rng.integers(0, 4))]
            tokens[at] = NAMES[kind][int(rng.integers(0, len(NAMES[kind])))]
            tags[at] = "B-" + kind
        lines += [f"{t} NN B-NP {g}" for t, g in zip(tokens, tags)] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def config(kind: str, labels: list[str]) -> str:
    names = "\n".join(f'[[task.labels]]\nname = "{lab}"\n' for lab in labels)
    return f"""
[project]
name = "bench"
[task]
kind = "{kind}"
{names}
[annotators.oracle]
type = "simulated"
accuracy = 0.9
batch_size = 5000
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["oracle"]
"""


def timed(rows: list, what: str, fmt: str, n: int, fn) -> None:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    rows.append({"format": fmt, "direction": what, "items": n, "seconds": seconds,
                 "items/s": round(n / seconds)})
    print(f"  {what} {fmt}: {seconds:.1f} s", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    n, rng = args.items, np.random.default_rng(0)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        labels = ["negative", "positive"]
        df = pd.DataFrame({"id": [f"i{i}" for i in range(n)], "text": sentences(n, rng),
                           "year": rng.integers(1950, 2025, n),
                           "score": rng.integers(0, 1000, n) / 8,
                           "gold": rng.choice(labels, n)})
        df.to_csv(d / "items.csv", index=False)
        df.to_json(d / "items.jsonl", orient="records", lines=True, force_ascii=False)
        df.to_parquet(d / "items.parquet", index=False)
        cls = config("classification", labels)
        for k, fmt in enumerate(("csv", "jsonl", "parquet")):
            p = lq.init_project(d / f"in-{fmt}", config_text=cls)
            timed(rows, "import", fmt, n, lambda p=p, fmt=fmt: p.import_file(d / f"items.{fmt}"))
            if k == 0:
                print("  running the classification project...", file=sys.stderr, flush=True)
                p.run()
                src = p
        outs = {"csv": "out.csv", "jsonl": "out.jsonl", "parquet": "out.parquet",
                "labelstudio": "out.json", "hf": "out-hf"}
        for fmt, name in outs.items():
            timed(rows, "export", fmt, n, lambda fmt=fmt, name=name: src.export(
                d / name, format=fmt))
        n_j = len(src.judgements())
        timed(rows, "export", "judgements (csv)", n_j,
              lambda: src.export(d / "judgements.csv", judgements=True))
        for fmt in ("labelstudio", "hf"):
            p = lq.init_project(d / f"back-{fmt}", config_text=cls)
            timed(rows, "import", fmt, n, lambda p=p, fmt=fmt: p.import_file(
                d / outs[fmt], format=fmt))

        types = list(NAMES)
        conll_file(d / "items.conll", n, rng)
        spans = config("spans", types)
        p = lq.init_project(d / "in-conll", config_text=spans)
        timed(rows, "import", "conll", n, lambda: p.import_file(d / "items.conll"))
        print("  running the spans project...", file=sys.stderr, flush=True)
        p.run()
        timed(rows, "export", "conll", n, lambda: p.export(d / "out.conll"))
        timed(rows, "export", "docbin", n, lambda: p.export(d / "out.spacy"))
        q = lq.init_project(d / "in-docbin", config_text=spans)
        timed(rows, "import", "docbin", n, lambda: q.import_file(d / "out.spacy"))
    rows.sort(key=lambda r: (r["direction"] != "import", r["format"]))
    print(table(rows, floatfmt="{:,.1f}"))


if __name__ == "__main__":
    main()
