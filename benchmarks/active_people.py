"""Active learning for the people's tier: accuracy against how many items people label.

The situation of ``policy.people_order``: a model labels a pool, people are the last tier,
and the budget pays for only B of the items the model is unsure of. Which B? For each
set (SST-2, TweetEval offensive; ``../shared/data``) and each of ``--splits`` random draws:
the ``tfidf`` annotator (the code path a run uses: ``build_annotator``, ``fit``,
``annotate``) is trained on a 100-item seed and labels a pool of ``--pool`` items; people
(simulated: right with probability ``--people-accuracy``, the same draw for every
strategy) relabel B items chosen by each selector of :mod:`labelquorum.active`; the pool's
accuracy is the people's label where they answered and the model's elsewhere. Printed:
accuracy by B and strategy (mean over splits, with the 95 % t-interval), and how many
people's labels the best selector needs to reach what random selection reaches with the
largest B.

    python benchmarks/active_people.py [--data ../shared/data] [--splits 5] [--pool 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, table

from labelquorum.active import UncertaintySampling
from labelquorum.annotators import Context, Items, build_annotator
from labelquorum.config import TaskConfig, TfidfConfig
from labelquorum.task import Task

SETS = {"sst2": "sst2/train.csv", "tweeteval-offensive": "tweeteval/offensive/train.csv"}
STRATEGIES = ("random", "least-confident", "margin", "entropy")
BUDGETS = (50, 100, 200, 400, 800)


def one_split(df: pd.DataFrame, labels: list[str], seed: int, pool_size: int,
              people_accuracy: float, workdir: Path) -> dict[tuple[str, int], float]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    seed_rows, pool = df.iloc[order[:100]], df.iloc[order[100:100 + pool_size]]
    task = Task.from_config(TaskConfig(labels=labels))
    ann = build_annotator("tfidf", TfidfConfig(type="tfidf", min_train=10), task,
                          Context(workdir, seed=seed))
    ann.fit(seed_rows["text"].tolist(), seed_rows["label"].tolist())
    items = Items(pool["id"].astype(str).tolist(), [{"text": t} for t in pool["text"]], "text")
    answers = ann.annotate(items)
    index = {lab: i for i, lab in enumerate(labels)}
    truth = pool["label"].map(index).to_numpy()
    model = np.array([index.get(lab, -1) for lab in answers.labels])
    post = np.nan_to_num(answers.probs, nan=1.0 / len(labels))
    # what people would answer on each item: one draw per item, shared by all strategies
    wrong = rng.random(len(pool)) >= people_accuracy
    people = np.where(wrong, (truth + rng.integers(1, len(labels), len(pool))) % len(labels),
                      truth)
    out = {}
    for strategy in STRATEGIES:
        score = UncertaintySampling(strategy, seed=seed).score(post, items.ids)
        ranked = np.argsort(-score, kind="stable")
        for budget in (0, *BUDGETS):
            final = model.copy()
            chosen = ranked[:budget]
            final[chosen] = people[chosen]
            out[(strategy, budget)] = float((final == truth).mean())
    return out


def interval(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values)
    if len(v) < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--people-accuracy", type=float, default=0.95)
    args = ap.parse_args()
    for name, path in SETS.items():
        df = pd.read_csv(args.data / path)
        df = df.dropna(subset=["text", "label"]).astype({"label": str})
        labels = sorted(df["label"].unique())
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.splits):
                runs.append(one_split(df, labels, seed, args.pool, args.people_accuracy,
                                      Path(tmp)))
        rows = []
        for budget in (0, *BUDGETS):
            row = {"people's labels": budget}
            for strategy in STRATEGIES:
                mean, half = interval([r[(strategy, budget)] for r in runs])
                row[strategy] = f"{mean:.3f} ± {half:.3f}"
            rows.append(row)
        print(f"\n{name}: pool of {args.pool} items, tfidf on a 100-item seed, people right "
              f"{args.people_accuracy:.0%} of the time, {args.splits} splits")
        print(table(rows))
        target = np.mean([r[("random", BUDGETS[-1])] for r in runs])
        for strategy in STRATEGIES[1:]:
            needed = next((b for b in BUDGETS
                           if np.mean([r[(strategy, b)] for r in runs]) >= target), None)
            print(f"  {strategy}: reaches random's accuracy at {BUDGETS[-1]} people's labels "
                  f"with {needed if needed is not None else f'more than {BUDGETS[-1]}'}")


if __name__ == "__main__":
    main()
