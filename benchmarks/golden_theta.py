"""Golden-question quality θ on real crowd data, and the CUSUM monitor on simulated streams.

**zheng_sentiment** (Zheng et al., VLDB 2017): 85 workers each answered the same 20
qualification questions (golden, with truth) and between 20 and 1,000 of the 1,000 real
items (with expert gold). From each worker's 20 golden answers alone we estimate θ with
``labelquorum.quality.GoldenTheta`` and predict the worker's accuracy on the real items
(accuracy = 1/K + θ·(p̄ − 1/K)); then we compare with the accuracy they actually had:

* Spearman rank correlation between θ̂ and the real accuracy (and, as the baseline, between
  the raw golden accuracy and the real accuracy);
* the interval coverage: how often the real accuracy lies inside the predicted interval,
  for each interval method (Wald from the Fisher information, score, likelihood ratio), over
  all workers and over those with at least 100 real answers (whose "real accuracy" is
  itself measured precisely enough to judge an interval by);
* the mean absolute error of the predicted accuracy.

Three certainty models for the golden items: every certainty 1 (the gold is sure); the
leave-one-out share of all *other* workers who agree with the gold; and the share among the
stronger half of the other workers (by golden accuracy) — what ``estimate_certainty``
computes when no expert agreement is recorded. The predicted interval is mapped onto items
of certainty 1 (the real items carry expert gold).

**Monitor**: simulated annotators answer 150 golden questions at θ = 0.9, then 100 at
θ = 0.3 (binary task); for several CUSUM thresholds, the share of streams with a false
alarm before the drop and the median / 90th-percentile delay after it.

Run from the repository root::

    python benchmarks/golden_theta.py [--data ../shared/data] [--streams 400]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _common import DEFAULT_DATA
from scipy.stats import spearmanr

from labelquorum.quality import AlertKind, GoldenTheta, ThetaMonitor

K = 2


def load(data: Path):
    d = data / "zheng_sentiment"
    answers = pd.read_csv(d / "answers.csv")
    gold = pd.read_csv(d / "gold.csv").set_index("id")["label"]
    qual = pd.read_csv(d / "qualification_answers.csv")
    qgold = pd.read_csv(d / "qualification_gold.csv").set_index("id")["label"]
    answers["right"] = answers["label"].to_numpy() == gold.loc[answers["id"]].to_numpy()
    qual["right"] = qual["label"].to_numpy() == qgold.loc[qual["id"]].to_numpy()
    real = answers.groupby("worker")["right"].agg(["mean", "size"])
    return qual, real


def certainty_models(qual: pd.DataFrame):
    """name -> function(worker) giving each golden item's certainty (Series by item id)."""
    ids = sorted(qual["id"].unique())
    golden_acc = qual.groupby("worker")["right"].mean()

    def sure(worker):
        return pd.Series(1.0, index=ids)

    def everyone_else(worker):
        return qual[qual["worker"] != worker].groupby("id")["right"].mean()

    def stronger_half(worker):
        others = golden_acc.drop(worker)
        strong = others[others >= others.median()].index
        return qual[qual["worker"].isin(strong)].groupby("id")["right"].mean()

    return {"1": sure, "LOO all": everyone_else, "LOO strong half": stronger_half}


def zheng(data: Path) -> None:
    qual, real = load(data)
    workers = sorted(real.index)
    print(f"zheng_sentiment: {len(workers)} workers, {qual['id'].nunique()} golden questions "
          f"each; real answers per worker: median {int(real['size'].median())}, "
          f"min {real['size'].min()}, max {real['size'].max()}")
    precise = (real.loc[workers, "size"] >= 100).to_numpy()
    print(f"workers with >= 100 real answers: {int(precise.sum())}\n")
    truth = real.loc[workers, "mean"].to_numpy()
    raw = qual.groupby("worker")["right"].mean().loc[workers]
    print(f"baseline  raw golden accuracy vs real accuracy: Spearman "
          f"{spearmanr(raw, truth).statistic:.3f}")
    header = (f"{'certainty':<17}{'interval':<12}{'Spearman':>9}{'MAE':>7}{'coverage':>10}"
              f"{'cov>=100':>10}{'mean width':>12}")
    print(header)
    print("-" * len(header))
    for model, certainty_of in certainty_models(qual).items():
        for method in ("wald", "score", "likelihood"):
            theta, pred, inside, width = [], [], [], []
            for w in workers:
                mine = qual[qual["worker"] == w].sort_values("id")
                cert = np.maximum(certainty_of(w).loc[mine["id"]].to_numpy(), 1 / K + 1e-3)
                est = GoldenTheta(n_labels=K, interval=method).fit(
                    mine["right"].to_numpy(), certainty=cert)
                # the real items' gold is expert gold: mapped onto items of certainty 1
                low, high = est.accuracy_interval(1.0)
                theta.append(est.theta_)
                pred.append(est.expected_accuracy(1.0))
                inside.append(low - 1e-12 <= real.loc[w, "mean"] <= high + 1e-12)
                width.append(high - low)
            inside = np.array(inside)
            print(f"{model:<17}{method:<12}{spearmanr(theta, truth).statistic:>9.3f}"
                  f"{np.mean(np.abs(np.array(pred) - truth)):>7.3f}{inside.mean():>10.3f}"
                  f"{inside[precise].mean():>10.3f}{np.mean(width):>12.3f}")
    print("\n(nominal coverage 0.95; the real accuracy of a worker with 20 real answers is "
          "itself a noisy figure, hence the column for >= 100)")


def monitor(streams: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    print(f"\nCUSUM monitor: {streams} simulated binary streams, 150 golden answers at "
          "θ = 0.9 then 100 at θ = 0.3 (theta_good 0.9, theta_bad 0.5)")
    print(f"{'threshold':>9}{'false alarm':>13}{'caught':>8}{'median delay':>14}{'p90 delay':>11}")
    for h in (4.0, 5.0, 6.0, 7.0, 8.0):
        false_alarm, delays = 0, []
        for k in range(streams):
            m = ThetaMonitor(theta_good=0.9, theta_bad=0.5, threshold=h, n_labels=2)
            answers = np.concatenate([rng.random(150) < 0.95, rng.random(100) < 0.65])
            for i, ok in enumerate(answers):
                if any(a.kind is AlertKind.QUALITY_DROP for a in m.update(k, bool(ok))):
                    if i < 150:
                        false_alarm += 1
                    else:
                        delays.append(i - 150)
                    break
        print(f"{h:>9g}{false_alarm / streams:>13.3f}{len(delays) / streams:>8.3f}"
              f"{np.median(delays):>14.0f}{np.percentile(delays, 90):>11.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    zheng(args.data)
    monitor(args.streams, args.seed)


if __name__ == "__main__":
    main()
