"""Label issues on SST-2 with known noise: flip 10 % of the labels, find them again.

The labelled SST-2 sentences (GLUE validation, 872, and the labelled test set, 1,821:
2,693 sentences, not the phrase-level training set) get a seeded 10 % of their labels
flipped. ``labelquorum.quality.cross_val_probs`` fits the project's own trainable annotator
on each of 5 folds and predicts the held-out one; ``label_issues`` (cleanlab's
``find_label_issues``, prune_by_noise_rate) flags items. Printed per annotator: the
out-of-sample accuracy against the *clean* labels, how many items were flagged, and the
precision / recall / F1 of the flags against the flipped items, plus precision@k of the
review queue (k = the number of flipped items).

Annotators: ``tfidf``; ``embedding`` (MiniLM, the ``ml`` extra) when installed (slow on
two CPU cores: about 6 minutes, the sentences are embedded again in each fold).
``--train N`` adds N GLUE training phrases of 8+ words (noise flipped among them too): more
labels make a better model, and a better model finds errors more precisely.

Run from the repository root::

    python benchmarks/label_issues.py [--data ../shared/data] [--noise 0.1] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import DEFAULT_DATA

from labelquorum.annotators import Context
from labelquorum.config import EmbeddingConfig, TaskConfig, TfidfConfig
from labelquorum.errors import LabelquorumError
from labelquorum.quality import cross_val_probs, label_issues
from labelquorum.task import Task

LABELS = ["negative", "positive"]


def factories(task: Task, root: Path, wanted: list[str]):
    from labelquorum.annotators.tfidf import TfidfAnnotator

    out = {"tfidf": lambda: TfidfAnnotator("tfidf", TfidfConfig(type="tfidf"), task,
                                           Context(root))}
    if "embedding" not in wanted:
        return {k: v for k, v in out.items() if k in wanted}
    try:
        from labelquorum.annotators.embedding import EmbeddingAnnotator

        probe = EmbeddingAnnotator("embedding", EmbeddingConfig(type="embedding"), task,
                                   Context(root))
        out["embedding"] = lambda: probe  # one embedder; fit() replaces the probe each fold
    except (ImportError, LabelquorumError) as exc:  # the ml extra is optional
        print(f"(embedding annotator skipped: {type(exc).__name__}: {exc})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=0,
                        help="also take this many GLUE training phrases of 8+ words")
    parser.add_argument("--annotators", default="tfidf,embedding")
    args = parser.parse_args()

    d = args.data / "sst2"
    parts = [pd.read_csv(d / "validation.csv"), pd.read_csv(d / "test.csv")]
    rng = np.random.default_rng(args.seed)
    if args.train:
        train = pd.read_csv(d / "train.csv")
        train = train[train["text"].str.split().str.len() >= 8]
        parts.append(train.sample(n=args.train, random_state=args.seed))
    df = pd.concat(parts, ignore_index=True)
    flipped = np.zeros(len(df), dtype=bool)
    flipped[rng.choice(len(df), round(args.noise * len(df)), replace=False)] = True
    clean = df["label"].to_numpy()
    noisy = np.where(flipped, np.where(clean == "positive", "negative", "positive"), clean)
    print(f"SST-2 sentences and phrases: {len(df)}; flipped {flipped.sum()} labels "
          f"({args.noise:.0%}, seed {args.seed}); {args.folds}-fold cross-validation\n")
    task = Task.from_config(TaskConfig(labels=LABELS))
    header = (f"{'annotator':<11}{'oos acc':>8}{'flagged':>9}{'precision':>10}{'recall':>8}"
              f"{'F1':>7}{'P@k':>7}{'seconds':>9}")
    print(header)
    print("-" * len(header))
    wanted = args.annotators.split(",")
    for name, make in factories(task, Path("."), wanted).items():
        start = time.perf_counter()
        probs = cross_val_probs(make, df["text"].tolist(), noisy.tolist(), task,
                                n_splits=args.folds, seed=args.seed)
        result = label_issues(noisy, probs, LABELS, ids=list(range(len(df))))
        seconds = time.perf_counter() - start
        flag = result.issues["is_label_issue"].to_numpy()
        acc = float((np.array(LABELS)[probs.argmax(axis=1)] == clean).mean())
        tp = int((flag & flipped).sum())
        precision = tp / max(1, flag.sum())
        recall = tp / flipped.sum()
        f1 = 2 * precision * recall / max(1e-12, precision + recall)
        k = int(flipped.sum())
        ranked = result.issues.sort_values("label_quality", kind="stable").index[:k]
        p_at_k = float(flipped[np.asarray(ranked)].mean())
        print(f"{name:<11}{acc:>8.3f}{int(flag.sum()):>9}{precision:>10.3f}{recall:>8.3f}"
              f"{f1:>7.3f}{p_at_k:>7.3f}{seconds:>9.1f}")


if __name__ == "__main__":
    main()
