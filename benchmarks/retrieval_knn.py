"""Retrieval quality without an LLM: do the few-shot examples carry the item's label?

For each data set, a pool of labelled items (the verified pool) and a set of query items
with gold labels; for each query, :class:`labelquorum.retrieval.ExampleRetriever` picks
``k`` examples and this script reports

- ``maj acc``: the majority label of the ``k`` examples equals the query's gold (ties go
  to the tied label listed first, i.e. the most relevant one for ``knn``) — kNN accuracy;
- ``agree``: the fraction of the ``k`` examples whose label equals the gold;
- ``top1``: the first example's label equals the gold (the nearest neighbour for ``knn``);
- ``covers``: at least one example carries the gold label (a prompt that shows the right
  answer at least once).

With ``balance`` on a two-label task and even ``k``, every label gets k/2 examples, so
``agree`` is 0.5 by construction and ``maj acc`` equals ``top1``.

Strategies: ``knn`` (mmr_lambda=1, no balance), ``knn+mmr`` (mmr_lambda=0.5), ``knn+bal``
(mmr_lambda=1, balance), ``knn+mmr+bal`` (mmr_lambda=0.5, balance), ``random``,
``random+bal``, ``fixed+bal``; random and fixed are
averaged over ``--seeds`` seeds (their spread is shown). Data sets (``../shared/data``):

- ``sst2``: pool = a seeded sample of ``train.csv`` (GLUE phrases and sentences), queries =
  a seeded sample of ``test.csv`` (sentences);
- ``tweeteval-sentiment`` (negative / neutral / positive): TweetEval ships no sentiment
  train split, so the pool is a seeded sample of ``test.csv`` and the queries a seeded
  sample of ``val.csv``;
- ``tweeteval-emotion`` (anger / joy / optimism / sadness): pool = ``train.csv`` (3,257
  tweets, all of it under the default cap), queries = a sample of ``test.csv``.

Embeddings come from the spine's default embedder (all-MiniLM-L6-v2, int8 ONNX; the ``ml``
extra) and are cached in ``benchmarks/out/retrieval_embeddings/`` keyed by the texts'
hash, so a rerun does not embed again. Run from the repository root::

    python benchmarks/retrieval_knn.py [--data ../shared/data] [--pool 5000] \\
        [--queries 1000] [--k 4 8] [--seeds 5] [--sets sst2 tweeteval-sentiment ...]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from labelquorum.annotators.embedder import get_embedder
from labelquorum.retrieval import Example, ExampleRetriever

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import DEFAULT_DATA, OUT, table

# name: (pool file, query file), relative to the data directory
SETS = {
    "sst2": ("sst2/train.csv", "sst2/test.csv"),
    "tweeteval-sentiment": ("tweeteval/sentiment/test.csv", "tweeteval/sentiment/val.csv"),
    "tweeteval-emotion": ("tweeteval/emotion/train.csv", "tweeteval/emotion/test.csv"),
}

# label, strategy, extra parameters, seeded (averaged over --seeds)
CONFIGS = [
    ("knn", "knn", {"mmr_lambda": 1.0, "balance": False}, False),
    ("knn+mmr", "knn", {"mmr_lambda": 0.5, "balance": False}, False),
    ("knn+bal", "knn", {"mmr_lambda": 1.0, "balance": True}, False),
    ("knn+mmr+bal", "knn", {"mmr_lambda": 0.5, "balance": True}, False),
    ("random", "random", {"balance": False}, True),
    ("random+bal", "random", {"balance": True}, True),
    ("fixed+bal", "fixed", {"balance": True}, True),
]


class CachedEmbedder:
    """The default embedder behind an in-memory and on-disk cache of its vectors."""

    def __init__(self, cache_dir: Path):
        self.base = get_embedder()
        self.cache_dir = cache_dir
        self.vectors: dict[str, np.ndarray] = {}
        self.seconds = 0.0
        self.embedded = 0

    def preload(self, texts: list[str]) -> None:
        """Embed ``texts`` in one batch (or read them from the disk cache)."""
        unique = sorted(set(texts) - set(self.vectors))
        if not unique:
            return
        key = hashlib.sha256("\x00".join([self.base.name, *unique]).encode()).hexdigest()[:20]
        path = self.cache_dir / f"{key}.npy"
        if path.exists():
            matrix = np.load(path)
        else:
            start = time.perf_counter()
            matrix = self.base.encode(unique)
            self.seconds += time.perf_counter() - start
            self.embedded += len(unique)
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            np.save(path, matrix)
        self.vectors.update(zip(unique, matrix))

    def encode(self, texts):
        self.preload(list(texts))
        return np.stack([self.vectors[t] for t in texts])


def load(data: Path, name: str, n_pool: int, n_queries: int, seed: int):
    pool_file, query_file = SETS[name]
    pool = pd.read_csv(data / pool_file, dtype=str, keep_default_na=False)
    queries = pd.read_csv(data / query_file, dtype=str, keep_default_na=False)
    pool = pool.sample(min(n_pool, len(pool)), random_state=seed)
    queries = queries.sample(min(n_queries, len(queries)), random_state=seed + 1)
    examples = [Example(f"p{i}", t, lab) for i, t, lab in zip(pool["id"], pool["text"],
                                                              pool["label"])]
    return examples, queries["text"].tolist(), queries["label"].tolist(), pool


def score(chosen: list[list[Example]], gold: list[str]) -> dict[str, float]:
    maj = agree = top1 = covers = 0.0
    for examples, label in zip(chosen, gold):
        labels = [ex.label for ex in examples]
        counts = Counter(labels)
        best = max(counts.values())
        majority = next(lab for lab in labels if counts[lab] == best)  # first of the tied
        maj += majority == label
        agree += counts[label] / len(labels)
        top1 += labels[0] == label
        covers += label in counts
    n = len(gold)
    return {"maj acc": maj / n, "agree": agree / n, "top1": top1 / n, "covers": covers / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pool", type=int, default=5000, help="pool size cap")
    parser.add_argument("--queries", type=int, default=1000, help="query count cap")
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    args = parser.parse_args()

    print("command: python benchmarks/retrieval_knn.py " + " ".join(sys.argv[1:]))
    embedder = CachedEmbedder(OUT / "retrieval_embeddings")
    print(f"embedder: {embedder.base.name}")
    rows = []
    for name in args.sets:
        examples, texts, gold, pool = load(args.data, name, args.pool, args.queries, seed=0)
        start = time.perf_counter()
        embedder.preload([ex.text for ex in examples] + texts)
        embed_s = time.perf_counter() - start
        shares = pool["label"].value_counts(normalize=True)
        print(f"\n{name}: pool {len(examples):,} ({', '.join(f'{k} {v:.2f}' for k, v in shares.items())}), "
              f"queries {len(texts):,}; majority-class accuracy "
              f"{Counter(gold).most_common(1)[0][1] / len(gold):.3f}; embedding "
              f"{embed_s:.1f} s")
        for k in args.k:
            for label, strategy, params, seeded in CONFIGS:
                runs, seconds = [], []
                for seed in range(args.seeds if seeded else 1):
                    retriever = ExampleRetriever(k=k, strategy=strategy, seed=seed,
                                                 embedder=embedder, **params).fit(examples)
                    start = time.perf_counter()
                    chosen = retriever.select(texts)
                    seconds.append(time.perf_counter() - start)
                    runs.append(score(chosen, gold))
                row = {"set": name, "k": k, "examples": label}
                for metric in runs[0]:
                    row[metric] = statistics.mean(r[metric] for r in runs)
                row["maj sd"] = statistics.stdev(r["maj acc"] for r in runs) \
                    if len(runs) > 1 else 0.0
                row["select s"] = statistics.mean(seconds)
                rows.append(row)
    print()
    print(table(rows))
    print(f"\nembedded {embedder.embedded:,} new texts in {embedder.seconds:.1f} s "
          f"(the rest came from {OUT / 'retrieval_embeddings'})")


if __name__ == "__main__":
    main()
