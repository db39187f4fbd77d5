"""Agreement: our Krippendorff's alpha against the ``krippendorff`` package, and timings.

For each level of measurement it draws ``--tables`` random reliability tables (3-60
items, 2-8 annotators, 2-7 distinct values — integers for nominal/ordinal, non-negative
reals for interval/ratio — and 0-60 % of the cells missing), computes alpha with
``labelquorum.agreement.krippendorff_alpha`` and with ``krippendorff.alpha(
reliability_data=..., level_of_measurement=...)``, and prints the largest absolute
difference (target: below 1e-9). Tables where the package's alpha is undefined (NaN, or
an error) must be refused by ours too; a disagreement there is counted and printed.

Then timings on a 1,000-item table (5 of 20 annotators per item, 4 labels):
each metric once, and ``bootstrap_ci`` with 1,000 item resamples.

Run from the repository root (needs ``pip install krippendorff`` in the benchmark's
environment; the package itself does not depend on it)::

    python benchmarks/agreement_check.py [--tables 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from labelquorum.agreement import (
    LEVELS,
    bootstrap_ci,
    cohen_kappa_matrix,
    fleiss_kappa,
    from_wide,
    krippendorff_alpha,
    light_kappa,
    percent_agreement,
)
from labelquorum.errors import AgreementError


def random_reliability(rng: np.random.Generator, level: str) -> np.ndarray:
    """(annotators, items) reliability data with NaN for missing values."""
    n, m, v = rng.integers(3, 61), rng.integers(2, 9), rng.integers(2, 8)
    if level in ("nominal", "ordinal"):
        domain = rng.choice(np.arange(-5, 20), size=v, replace=False).astype(float)
    else:
        domain = rng.uniform(0, 100, size=v).round(4)
    data = rng.choice(domain, size=(m, n))
    data[rng.random((m, n)) < rng.uniform(0, 0.6)] = np.nan
    return data


def check(n_tables: int, seed: int) -> bool:
    import krippendorff

    rng = np.random.default_rng(seed)
    ok = True
    from importlib.metadata import version

    print(f"Krippendorff's alpha vs krippendorff {version('krippendorff')}"
          f" on {n_tables} random tables per level (missing values allowed)")
    print(f"{'level':10} {'compared':>8} {'undefined':>9} {'max |diff|':>12} {'mismatch':>8}")
    for level in LEVELS:
        worst, compared, undefined, mismatched = 0.0, 0, 0, 0
        for _ in range(n_tables):
            data = random_reliability(rng, level)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    theirs = float(krippendorff.alpha(reliability_data=data,
                                                      level_of_measurement=level))
                except ValueError:
                    theirs = np.nan
            try:
                ours = krippendorff_alpha(from_wide(data.T), level)
            except AgreementError:
                ours = np.nan
            if np.isnan(theirs) or np.isnan(ours):
                undefined += 1
                mismatched += np.isnan(theirs) != np.isnan(ours)
                continue
            compared += 1
            worst = max(worst, abs(ours - theirs))
        ok &= worst < 1e-9 and not mismatched
        print(f"{level:10} {compared:8d} {undefined:9d} {worst:12.2e} {mismatched:8d}")
    return ok


def timing_table(seed: int, n_items: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n_items)
    rows = []
    for i in range(n_items):
        for a in rng.choice(20, size=5, replace=False):
            label = truth[i] if rng.random() < 0.75 else rng.integers(0, 4)
            rows.append((f"i{i}", f"a{a}", int(label)))
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


def timings(seed: int) -> None:
    table = timing_table(seed)
    print(f"\nTimings on {len(table):,} judgements ({table['item'].nunique():,} items, "
          f"{table['annotator'].nunique()} annotators, 4 labels)")
    print(f"{'metric':34} {'once (ms)':>10} {'bootstrap 1000 (s)':>19}  estimate [95% CI]")
    metrics = [("percent_agreement", percent_agreement, {}),
               ("fleiss_kappa", fleiss_kappa, {}),
               ("light_kappa", light_kappa, {}),
               ("cohen_kappa_matrix", cohen_kappa_matrix, {})]
    metrics += [(f"krippendorff_alpha[{lv}]", krippendorff_alpha, {"level": lv})
                for lv in LEVELS]
    for name, func, opts in metrics:
        start = time.perf_counter()
        func(table, **opts)
        once = time.perf_counter() - start
        start = time.perf_counter()
        est, low, high = bootstrap_ci(func, table, n_boot=1000, options=opts)
        boot = time.perf_counter() - start
        shown = (f"{est:.4f} [{low:.4f}, {high:.4f}]" if np.ndim(est) == 0
                 else f"mean off-diagonal {np.nanmean(est.to_numpy()[~np.eye(len(est), dtype=bool)]):.4f}")
        print(f"{name:34} {once * 1e3:10.1f} {boot:19.2f}  {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ok = check(args.tables, args.seed)
    timings(args.seed)
    print("\nalpha check:", "PASS (max |diff| < 1e-9 at every level)" if ok else "FAIL")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
