"""Krippendorff's alpha for nominal, ordinal, interval and ratio data, missing values allowed.

Computed from the coincidence matrix, as in Krippendorff (2011), "Computing Krippendorff's
Alpha-Reliability", Annenberg School for Communication, University of Pennsylvania:

    o_ck = sum_u  (number of c-k pairs of values in unit u) / (m_u - 1)   (units with m_u >= 2)
    n_c  = sum_k o_ck,   n = sum_c n_c
    alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_ck o_ck d_ck / sum_ck n_c n_k d_ck

with the difference functions d_ck (squared):

* nominal: 0 if c == k else 1;
* ordinal: (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2, ranks from the pairable values' counts;
* interval: (c - k)^2;
* ratio: ((c - k) / (c + k))^2 (0 when c + k = 0).

Every one of these is evaluated without building a matrix per unit: for interval and
ordinal, d_ck = (x_c - x_k)^2 with x the value (interval) or its mid-rank
``x_c = sum_{g<=c} n_g - n_c / 2`` (ordinal), so a unit's sum of pair differences is
``2 (m_u sum_c n_uc x_c^2 - (sum_c n_uc x_c)^2)``. That keeps item-resampling bootstraps
to a few matrix products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import AgreementError
from ._common import Kernel, bootstrappable, count_table, ratio_or_nan

LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass
class _AlphaState:
    level: str
    counts: np.ndarray  # (pairable units, V) value counts, columns in value order
    m: np.ndarray  # (pairable units,) values per unit
    values: np.ndarray | None  # (V,) numeric values for interval/ratio
    pairable: np.ndarray  # (n_items,) bool: the units above
    n_items: int


def _prepare(judgements: pd.DataFrame, level: str = "nominal",
             order: Sequence | None = None) -> _AlphaState:
    if level not in LEVELS:
        raise AgreementError(f"unknown level of measurement {level!r}; valid: "
                             f"{', '.join(LEVELS)}")
    c = count_table(judgements, f"Krippendorff's alpha ({level})")
    labels = c.enc.labels
    counts = c.counts
    values = None
    if level in ("interval", "ratio"):
        values = _numeric(labels, level)
        if level == "ratio" and (values < 0).any():
            raise AgreementError(
                f"ratio-level alpha needs values >= 0 (a ratio scale has an absolute zero); "
                f"found {values[values < 0][:3].tolist()}. Use level='interval' instead.")
        if order is not None:
            raise AgreementError(f"order= applies to level='ordinal' only, not {level!r}")
    elif level == "ordinal":
        if order is None:
            try:
                _numeric(labels, level)
            except AgreementError:
                raise AgreementError(
                    f"ordinal alpha needs the order of the labels; they are not numbers "
                    f"({', '.join(map(repr, labels[:5]))}). Pass order=[lowest, ..., highest]"
                ) from None
        else:
            counts = counts[:, _reorder(labels, order)]
    elif order is not None:
        raise AgreementError("order= applies to level='ordinal' only, not 'nominal'")
    pairable = c.m >= 2
    return _AlphaState(level, counts[pairable], c.m[pairable], values, pairable, c.n_items)


def _numeric(labels: list[str], level: str) -> np.ndarray:
    out, bad = [], []
    for lab in labels:
        try:
            value = float(lab)
        except ValueError:
            bad.append(lab)
            continue
        if not np.isfinite(value):
            bad.append(lab)
        out.append(value)
    if bad:
        raise AgreementError(
            f"{level}-level alpha needs numeric labels; found {', '.join(map(repr, bad[:5]))}. "
            "Use level='nominal', or level='ordinal' with order=[...] for ordered categories.")
    return np.asarray(out, dtype=float)


def _reorder(labels: list[str], order: Sequence) -> np.ndarray:
    from ..aggregation.base import label_text

    order = [label_text(v) for v in order]
    if len(set(order)) != len(order):
        raise AgreementError(f"order= lists a label twice: {order}")
    missing = [lab for lab in labels if lab not in order]
    if missing:
        raise AgreementError(f"labels {missing[:5]} are not in order=; it must list every "
                             f"label used, lowest first; got {order}")
    position = {lab: i for i, lab in enumerate(labels)}
    # labels in order= that nobody used get no column: they would add no count
    return np.array([position[lab] for lab in order if lab in position], dtype=np.int64)


def _pair_sums(counts: np.ndarray, m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """sum over ordered pairs of a unit's values of (x_c - x_k)^2, per unit (rows) and per
    column of ``x`` (V, B) -> (units, B)."""
    s1 = counts @ x
    s2 = counts @ (x * x)
    return 2 * (m[:, None] * s2 - s1 * s1)


def _evaluate(s: _AlphaState, weights: np.ndarray) -> np.ndarray:
    w = weights[:, s.pairable]  # (B, U)
    n_v = w @ s.counts  # (B, V) pairable values per resample
    n = n_v.sum(axis=1)
    inv = 1.0 / (s.m - 1)
    if s.level == "nominal":
        observed = w @ ((s.m ** 2 - (s.counts ** 2).sum(axis=1)) * inv)
        expected = n ** 2 - (n_v ** 2).sum(axis=1)
    elif s.level == "interval":
        # alpha is unchanged by a shift; centring keeps the sums of squares from cancelling
        pooled = s.counts.sum(axis=0)
        x = (s.values - pooled @ s.values / pooled.sum())[:, None]
        observed = w @ (_pair_sums(s.counts, s.m, x)[:, 0] * inv)
        expected = 2 * (n * (n_v @ (x[:, 0] ** 2)) - (n_v @ x[:, 0]) ** 2)
    elif s.level == "ordinal":
        ranks = np.cumsum(n_v, axis=1) - n_v / 2  # (B, V) mid-ranks per resample
        x = (ranks - ratio_or_nan((n_v * ranks).sum(axis=1), n)[:, None]).T  # centred
        observed = np.einsum("bu,ub->b", w, _pair_sums(s.counts, s.m, x) * inv[:, None])
        expected = 2 * (n * (n_v * x.T ** 2).sum(axis=1) - (n_v * x.T).sum(axis=1) ** 2)
    else:  # ratio
        v = s.values
        total = v[:, None] + v[None, :]
        d = np.divide(v[:, None] - v[None, :], total, out=np.zeros_like(total),
                      where=total != 0) ** 2
        observed = w @ (((s.counts @ d) * s.counts).sum(axis=1) * inv)
        expected = ((n_v @ d) * n_v).sum(axis=1)
    # rounding can leave a tiny nonzero D_e where a resample has one value only
    expected = np.where(np.abs(expected) <= 1e-12 * np.maximum(n, 1) ** 2, 0.0, expected)
    return 1 - ratio_or_nan((n - 1) * observed, expected)


@bootstrappable(Kernel(_prepare, _evaluate, lambda s: s.n_items, max_batch=2_000_000))
def krippendorff_alpha(judgements: pd.DataFrame, level: str = "nominal",
                       order: Sequence | None = None) -> float:
    """Krippendorff's alpha (see the module docstring for the formulas; Krippendorff 2011,
    "Computing Krippendorff's Alpha-Reliability").

    ``level`` is one of ``"nominal"``, ``"ordinal"``, ``"interval"``, ``"ratio"``. Missing
    values are allowed: any item may have any subset of annotators; items with a single
    judgement are not pairable and drop out, as in the paper.

    * interval and ratio need numeric labels (ratio: non-negative);
    * ordinal ranks numeric labels by value; for text labels pass ``order=[lowest, ...,
      highest]`` (every label used must be listed). The rank metric is computed from the
      value frequencies, so labels nobody used do not change alpha.

    Equal to the ``krippendorff`` package's ``alpha(reliability_data=...,
    level_of_measurement=level)`` to 1e-9 (``benchmarks/agreement_check.py``).

    Raises :class:`~labelquorum.errors.AgreementError` for an empty table, one annotator,
    no item with two judgements, one value everywhere (D_e = 0: undefined), an unknown
    level, non-numeric values at interval/ratio level, or text labels at ordinal level
    without ``order``.
    """
    state = _prepare(judgements, level, order)
    return float(_evaluate(state, np.ones((1, state.n_items)))[0])
