"""Rating consensus on biased raters: MAE against the truth of the plain mean, the median
and the bias-corrected mean (BiasCorrectedRating), and the time to fit the latter.

Synthetic data: 20 raters with biases drawn from N(0, 0.8) and noise N(0, 0.5) on a
continuous 1-5 truth; each item rated by ``k`` raters chosen at random. Run:

    python benchmarks/rating_bias.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from labelquorum.aggregation.ratings import BiasCorrectedRating, MeanRating, MedianRating


def table(n_items: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    biases = rng.normal(0, 0.8, 20)
    truth = rng.uniform(1, 5, n_items)
    item = np.repeat(np.arange(n_items), k)
    rater = np.concatenate([rng.choice(20, k, replace=False) for _ in range(n_items)])
    value = truth[item] + biases[rater] + rng.normal(0, 0.5, len(item))
    return pd.DataFrame({"item": item, "annotator": rater, "label": value}), truth


def main() -> None:
    print(f"{'items':>7} {'raters/item':>11} {'mean MAE':>9} {'median MAE':>10} "
          f"{'bias-corr. MAE':>14} {'fit s':>7}")
    for n_items, k in ((200, 2), (200, 3), (1000, 3), (100_000, 3)):
        df, truth = table(n_items, k, seed=0)
        mae = {}
        for name, model in (("mean", MeanRating()), ("median", MedianRating())):
            mae[name] = np.abs(model.fit_predict(df).sort_index().to_numpy() - truth).mean()
        start = time.perf_counter()
        fitted = BiasCorrectedRating().fit(df)
        took = time.perf_counter() - start
        mae["bc"] = np.abs(fitted.labels_.sort_index().to_numpy() - truth).mean()
        print(f"{n_items:>7} {k:>11} {mae['mean']:>9.3f} {mae['median']:>10.3f} "
              f"{mae['bc']:>14.3f} {took:>7.3f}")


if __name__ == "__main__":
    main()
