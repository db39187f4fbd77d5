"""Percent agreement and Fleiss' kappa, from per-item label counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import Counts, Kernel, bootstrappable, count_table, ratio_or_nan


def _item_pair_agreement(c: Counts) -> tuple[np.ndarray, np.ndarray]:
    """(mask of items with >= 2 judgements, their share of agreeing ordered pairs P_i)."""
    pairable = c.m >= 2
    counts, m = c.counts[pairable], c.m[pairable]
    p_i = (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))
    return pairable, p_i


def _percent_eval(c: Counts, weights: np.ndarray) -> np.ndarray:
    pairable, p_i = _item_pair_agreement(c)
    w = weights[:, pairable]
    return ratio_or_nan(w @ p_i, w.sum(axis=1))


def _fleiss_eval(c: Counts, weights: np.ndarray) -> np.ndarray:
    pairable, p_i = _item_pair_agreement(c)
    w = weights[:, pairable]
    p_bar = ratio_or_nan(w @ p_i, w.sum(axis=1))
    label_share = ratio_or_nan(w @ c.counts[pairable], (w @ c.m[pairable])[:, None])
    p_e = (label_share ** 2).sum(axis=1)
    return ratio_or_nan(p_bar - p_e, 1 - p_e)


@bootstrappable(Kernel(lambda j: count_table(j, "percent agreement", need_variation=False),
                       _percent_eval, lambda c: c.n_items))
def percent_agreement(judgements: pd.DataFrame) -> float:
    """Mean over items of the pairwise agreement: the share of ordered pairs of an item's
    judgements (two different annotators) that give the same label,

        P_i = sum_k n_ik (n_ik - 1) / (m_i (m_i - 1)),    percent agreement = mean_i P_i,

    over the items with ``m_i >= 2`` judgements (``n_ik``: judgements of item ``i`` with
    label ``k``). Not corrected for chance; 1.0 when every judgement agrees.

    Raises :class:`~labelquorum.errors.AgreementError` for an empty table, one annotator,
    or no item with two judgements.
    """
    c = count_table(judgements, "percent agreement", need_variation=False)
    return float(_percent_eval(c, np.ones((1, c.n_items)))[0])


@bootstrappable(Kernel(lambda j: count_table(j, "Fleiss' kappa"), _fleiss_eval,
                       lambda c: c.n_items))
def fleiss_kappa(judgements: pd.DataFrame) -> float:
    """Fleiss' kappa (Fleiss 1971, "Measuring nominal scale agreement among many raters",
    Psychological Bulletin 76(5), 378-382):

        kappa = (P_bar - P_e) / (1 - P_e),
        P_bar = mean_i P_i  (as in :func:`percent_agreement`),
        P_e   = sum_k p_k^2,  p_k = sum_i n_ik / sum_i m_i.

    **Varying numbers of raters per item:** Fleiss defined kappa for a constant number of
    raters ``n``. Here items may have any number ``m_i >= 2`` of judgements: ``P_i`` uses
    the item's own ``m_i``, ``P_bar`` is the unweighted mean of ``P_i`` over items, and the
    label shares ``p_k`` pool all judgements, so an item weighs in ``p_k`` by its number of
    raters. With a constant count this is exactly Fleiss' statistic. Items with one
    judgement are left out (they carry no agreement).

    Raises :class:`~labelquorum.errors.AgreementError` for an empty table, one annotator,
    no item with two judgements, or one label everywhere (``P_e = 1``: undefined).
    """
    c = count_table(judgements, "Fleiss' kappa")
    return float(_fleiss_eval(c, np.ones((1, c.n_items)))[0])
