"""Bootstrap confidence intervals by resampling items, and a one-table summary."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ..aggregation.base import find_columns, sorted_codes
from ..errors import AgreementError
from ._common import KERNELS, Interval, Kernel

_BATCH_ELEMENTS = 20_000_000  # item weights held at once: B x n_items floats
_MATRIX_ELEMENTS = 50_000_000  # resampled values kept for a matrix metric


def _resolve(metric, options: Mapping | None) -> tuple[Callable, Kernel | None, dict]:
    opts: dict = {}
    if isinstance(metric, str):
        by_name = {f.__name__: f for f in KERNELS}
        if metric not in by_name:
            raise AgreementError(f"unknown agreement metric {metric!r}; valid: "
                                 f"{', '.join(sorted(by_name))}, or any callable")
        metric = by_name[metric]
    if isinstance(metric, functools.partial):
        if metric.args:
            raise AgreementError("bootstrap_ci takes a partial with keyword arguments only, "
                                 "such as functools.partial(krippendorff_alpha, level='ordinal')")
        opts.update(metric.keywords)
        metric = metric.func
    if not callable(metric):
        raise AgreementError(f"metric must be an agreement function, its name, or a callable "
                             f"taking the judgement table; got {type(metric).__name__}")
    opts.update(options or {})
    return metric, KERNELS.get(metric), opts


def _item_weights(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """(b, n) multiplicities of n items drawn with replacement, b times."""
    draws = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(float)


def bootstrap_ci(metric, judgements: pd.DataFrame, n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0, *, options: Mapping | None = None) -> Interval:
    """The metric on the table and its bootstrap percentile interval.

    Items (units) are resampled with replacement, ``n_boot`` times, each with all of its
    judgements; the interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles
    of the resampled values (the percentile bootstrap, Efron & Tibshirani 1993, ch. 13).
    Resamples where the metric is undefined (e.g. only one label drawn) are left out.

    ``metric`` is one of this package's functions (:func:`percent_agreement`,
    :func:`fleiss_kappa`, :func:`krippendorff_alpha`, :func:`cohen_kappa_matrix`,
    :func:`light_kappa`), its name, or a ``functools.partial`` of one with keyword options;
    ``options`` passes keyword options too (``options={"level": "ordinal"}`` for alpha;
    note that ``level`` here is the confidence level). These are computed from item weights
    in a few matrix products per batch of resamples, with no table rebuilt. Any other
    callable ``metric(judgements) -> float`` works too, by resampling the table itself
    (slower; a resampled item drawn twice becomes two items).

    Returns ``Interval(estimate, low, high)``, a named 3-tuple; for
    :func:`cohen_kappa_matrix` each is a DataFrame.
    """
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise AgreementError(f"n_boot must be a positive whole number; got {n_boot!r}")
    if not 0 < level < 1:
        raise AgreementError(f"level is the confidence level, strictly between 0 and 1 "
                             f"(e.g. 0.95); got {level!r}")
    func, kernel, opts = _resolve(metric, options)
    rng = np.random.default_rng(seed)
    if kernel is None:
        estimate, values = _generic(func, judgements, opts, n_boot, rng)
        state = None
    else:
        state = kernel.prepare(judgements, **opts)
        n = kernel.n_items(state)
        estimate = kernel.evaluate(state, np.ones((1, n)))[0]
        if np.size(estimate) * n_boot > _MATRIX_ELEMENTS:
            raise AgreementError(
                f"bootstrapping a {np.shape(estimate)} matrix {n_boot} times would hold "
                f"{np.size(estimate) * n_boot:,} values; bootstrap light_kappa (the mean "
                "pairwise kappa) instead, or lower n_boot.")
        batch = max(1, min(n_boot, (kernel.max_batch or _BATCH_ELEMENTS) // max(n, 1),
                           _BATCH_ELEMENTS // max(n, 1)))
        chunks = []
        for start in range(0, n_boot, batch):
            weights = _item_weights(rng, min(batch, n_boot - start), n)
            chunks.append(kernel.evaluate(state, weights))
        values = np.concatenate(chunks)
    finite = np.isfinite(values)
    if not finite.any():
        raise AgreementError(f"the metric is undefined on every one of the {n_boot} "
                             "resamples; the table has too little variation to bootstrap.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN matrix entries stay NaN
        low, high = np.nanquantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)
    if kernel is None:
        return Interval(float(estimate), float(low), float(high))
    return Interval(kernel.wrap(state, estimate), kernel.wrap(state, low),
                    kernel.wrap(state, high))


def _generic(func: Callable, judgements: pd.DataFrame, opts: dict, n_boot: int,
             rng: np.random.Generator) -> tuple[float, np.ndarray]:
    estimate = float(func(judgements, **opts))
    item_col = find_columns(judgements)[0]
    # items in the encoded order (numbers as numbers, text as text), so a seed draws the
    # same resamples here as in the weighted kernels
    codes, _ = sorted_codes(judgements[item_col].to_numpy())
    order = np.argsort(codes, kind="stable")
    n = codes.max() + 1
    starts = np.searchsorted(codes[order], np.arange(n + 1))
    values = np.full(n_boot, np.nan)
    for b in range(n_boot):
        chosen = rng.integers(0, n, size=n)
        sizes = starts[chosen + 1] - starts[chosen]
        rows = np.concatenate([order[starts[i]:starts[i + 1]] for i in chosen])
        sample = judgements.iloc[rows].copy()
        sample[item_col] = np.repeat(np.arange(n), sizes)
        try:
            values[b] = func(sample, **opts)
        except AgreementError:
            pass
    return estimate, values


def summary(judgements: pd.DataFrame, n_boot: int = 0, level: float = 0.95,
            seed: int = 0) -> pd.DataFrame:
    """The headline agreement figures in one table, for reports and ``--agreement``.

    Rows: percent_agreement, fleiss_kappa, light_kappa, krippendorff_alpha (nominal).
    Columns: ``estimate``, ``low``, ``high`` (NaN unless ``n_boot > 0``) and ``note``: empty,
    or why the metric is undefined for this table (its estimate is then NaN).
    """
    from .cohen import light_kappa
    from .fleiss import fleiss_kappa, percent_agreement
    from .krippendorff import krippendorff_alpha

    rows = {}
    for func in (percent_agreement, fleiss_kappa, light_kappa, krippendorff_alpha):
        try:
            if n_boot:
                est, low, high = bootstrap_ci(func, judgements, n_boot, level, seed)
            else:
                est, low, high = func(judgements), np.nan, np.nan
            rows[func.__name__] = (est, low, high, "")
        except AgreementError as error:
            rows[func.__name__] = (np.nan, np.nan, np.nan, str(error))
    out = pd.DataFrame.from_dict(rows, orient="index",
                                 columns=["estimate", "low", "high", "note"])
    out.index.name = "metric"
    return out
