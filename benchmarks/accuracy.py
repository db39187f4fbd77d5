"""Accuracy of the trainable small-model annotators on real data, and of the demo cascade.

For SST-2 (train -> test) and TweetEval offensive and hate (train -> test), it trains the
``tfidf`` annotator and, when the ``ml`` extra is installed, the ``embedding`` annotator on
100, 500 and all training labels (a random draw, seed 0; ``all`` for embeddings is capped
at ``--embedding-cap`` items because encoding SST-2's 67k phrases takes long on a small
CPU) and reports test accuracy and macro-F1. An abstention counts as a wrong answer (the
``abstain`` column says how many there were). The annotators are built with
``labelquorum.annotators.build_annotator`` from the config models, trained with ``fit``
and asked with ``annotate``: the code path a run uses.

Then it runs ``labelquorum demo`` into a temporary directory and reports the cascade's
accuracy against the held-out gold, its cost and the share of items each tier decided.
The demo's LLM and people are simulated from gold (see ``labelquorum.demo``).

Run by hand from the repository root::

    python benchmarks/accuracy.py [--data ../shared/data] [--embedding-cap 10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, table

from labelquorum.annotators import Context, Items, build_annotator
from labelquorum.config import EmbeddingConfig, TaskConfig, TfidfConfig
from labelquorum.task import Task

DATASETS = {
    "sst2": ("sst2/train.csv", "sst2/test.csv"),
    "tweeteval-offensive": ("tweeteval/offensive/train.csv", "tweeteval/offensive/test.csv"),
    "tweeteval-hate": ("tweeteval/hate/train.csv", "tweeteval/hate/test.csv"),
}
SIZES = (100, 500, None)  # None: all training labels
ABSTAIN = "<abstain>"


def embedding_status() -> str | None:
    """None when the embedding annotator can run, else why not."""
    try:
        from labelquorum.annotators.embedder import get_embedder

        get_embedder("auto")
    except Exception as exc:  # noqa: BLE001 - any failure means: skip it
        return f"{type(exc).__name__}: {exc}"
    return None


def evaluate(kind: str, task: Task, train: pd.DataFrame, test: pd.DataFrame, n: int | None,
             workdir: Path) -> dict:
    config = TfidfConfig(type="tfidf") if kind == "tfidf" else EmbeddingConfig(type="embedding")
    annotator = build_annotator(kind, config, task, Context(workdir, seed=0))
    if n is not None and n < len(train):
        train = train.sample(n=n, random_state=0)
    start = time.perf_counter()
    annotator.fit(train["text"].tolist(), train["label"].tolist())
    fit_s = time.perf_counter() - start
    items = Items(test["id"].astype(str).tolist(), [{"text": t} for t in test["text"]], "text")
    start = time.perf_counter()
    answers = annotator.annotate(items)
    predict_s = time.perf_counter() - start
    pred = [ABSTAIN if lab is None else lab for lab in answers.labels]
    gold = test["label"].tolist()
    return {"train": len(train), "accuracy": accuracy_score(gold, pred),
            "macro-F1": f1_score(gold, pred, labels=list(task.labels), average="macro",
                                 zero_division=0),
            "abstain": pred.count(ABSTAIN), "fit s": fit_s, "predict s": predict_s,
            "note": annotator.note or ""}


def run_demo(workdir: Path) -> tuple[list[dict], list[dict]]:
    from labelquorum import open_project

    directory = workdir / "demo"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "labelquorum.cli", "demo", "--dir", str(directory)],
                   check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    with open_project(directory) as project:
        status = project.status()
        names = list(project.config.annotators)
    summary = [{"measure": "items", "value": status.items},
               {"measure": "evaluation items (held-out gold)", "value": status.evaluation_items},
               {"measure": "accuracy on evaluation gold",
                "value": status.evaluation_accuracy if status.evaluation_accuracy is not None
                else float("nan")},
               {"measure": "total cost, USD", "value": status.total_cost},
               {"measure": "demo wall time, s", "value": wall},
               {"measure": "annotators", "value": ", ".join(names)}]
    tiers = [{"tier": r.tier, "items": int(r["items"]), "share": float(r["share"])}
             for _, r in status.tiers.iterrows()]
    return summary, tiers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--embedding-cap", type=int, default=10_000,
                        help="most training items for the embedding annotator's 'all' row")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--no-demo", action="store_true")
    args = parser.parse_args()

    why_not = embedding_status()
    kinds = ["tfidf"] + ([] if why_not else ["embedding"])
    if why_not:
        print(f"skipping the embedding annotator: {why_not}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lq-accuracy-") as tmp:
        tmp = Path(tmp)
        for name in args.datasets:
            train_path, test_path = DATASETS[name]
            train = pd.read_csv(args.data / train_path, dtype=str, keep_default_na=False)
            test = pd.read_csv(args.data / test_path, dtype=str, keep_default_na=False)
            labels = sorted(set(train["label"]) | set(test["label"]))
            task = Task.from_config(TaskConfig(labels=labels))
            majority = test["label"].value_counts(normalize=True).iloc[0]
            for kind in kinds:
                for n in SIZES:
                    size = n
                    label = str(n)
                    if n is None:
                        label = "all"
                        if kind == "embedding" and len(train) > args.embedding_cap:
                            size, label = args.embedding_cap, f"all, capped at {args.embedding_cap:,}"
                    res = evaluate(kind, task, train, test, size, tmp)
                    rows.append({"dataset": name, "annotator": kind, "labels": label, **res,
                                 "majority acc": majority})
                    print(f"  {name} {kind} {label}: acc {res['accuracy']:.3f}", flush=True)
        print("\nSmall-model annotators, trained on train and tested on test "
              "(sizes: random draw, seed 0; abstentions count as wrong):\n")
        print(table(rows))
        if not args.no_demo:
            summary, tiers = run_demo(tmp)
            print("\nDemo cascade (labelquorum demo: SST-2 sample, 200 gold seed; the LLM and "
                  "people tiers are simulated from gold):\n")
            print(table(summary))
            print()
            print(table(tiers))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
