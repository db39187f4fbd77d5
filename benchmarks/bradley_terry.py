"""Bradley–Terry: fit time and recovery of known strengths, beside crowd-kit when present.

Data: ``systems`` systems with log-strengths drawn from N(0, 1) (seed 0), ``n`` comparisons
of two distinct systems drawn uniformly, each won with the Bradley–Terry probability;
10 % ties (an empty label, which labelquorum counts as half a win each side by default and
crowd-kit drops). Figures per size: labelquorum's fit time and MM iterations to
convergence (tol 1e-12 on the L1 change), Kendall's tau of the scores against the true
strengths; crowd-kit's ``BradleyTerry`` (run with tol=0 for the iterations labelquorum
needed, since its stopping check ends after two steps) on the decided comparisons, and
the largest difference from labelquorum's ``ties="ignore"`` scores.

Run with the project's Python, or with a Python that has crowd-kit and labelquorum
(``/work/venvs/crowdkit/bin/python`` with ``PYTHONPATH=src``) for crowd-kit's rows::

    python benchmarks/bradley_terry.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from labelquorum.aggregation.bradley_terry import BradleyTerry, kendall_tau

SIZES = [(10, 10_000), (50, 100_000), (200, 1_000_000)]


def comparisons(systems: int, n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    strength = np.exp(rng.normal(size=systems))
    left = rng.integers(0, systems, n)
    right = (left + rng.integers(1, systems, n)) % systems  # never the same system
    won = rng.random(n) < strength[left] / (strength[left] + strength[right])
    winner = np.where(won, left, right).astype(object)
    winner[rng.random(n) < 0.1] = ""
    names = np.array([f"s{i:03d}" for i in range(systems)], dtype=object)
    table = pd.DataFrame({"left": names[left], "right": names[right],
                          "label": [names[w] if w != "" else "" for w in winner]})
    return table, pd.Series(strength / strength.sum(), index=names)


def main() -> None:
    try:
        from crowdkit.aggregation import BradleyTerry as CrowdKitBT
    except ImportError:
        CrowdKitBT = None
    print(f"{'systems':>8} {'comparisons':>12} {'fit s':>8} {'iters':>6} {'tau':>6}"
          f" {'crowd-kit s':>12} {'max |diff|':>11}")
    for systems, n in SIZES:
        table, truth = comparisons(systems, n)
        start = time.perf_counter()
        model = BradleyTerry().fit(table)
        took = time.perf_counter() - start
        tau = kendall_tau(model.scores_, truth)
        ck_time = diff = float("nan")
        if CrowdKitBT is not None:
            ours = BradleyTerry(ties="ignore").fit(table)
            decided = table[table["label"] != ""].assign(worker="w")
            start = time.perf_counter()
            theirs = CrowdKitBT(n_iter=ours.n_iter_, tol=0).fit(decided).scores_
            ck_time = time.perf_counter() - start
            diff = float(np.abs(ours.scores_[theirs.index] - theirs).max())
        print(f"{systems:>8} {n:>12,} {took:>8.3f} {model.n_iter_:>6} {tau:>6.3f}"
              f" {ck_time:>12.3f} {diff:>11.2e}")


if __name__ == "__main__":
    main()
