"""Cohen's kappa between every pair of annotators, and its mean (Light's kappa)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import AgreementError
from ._common import Kernel, bootstrappable, count_table


@dataclass
class _PairState:
    """The table as co-occurring ordered annotator pairs (a, b), a == b included.

    ``shared``, ``agree`` (items x pairs) and ``first`` (items x pairs*labels) are sparse
    indicators: b labelled the item too; a and b gave the same label; a gave label k. Item
    weights times them give every resample's counts in one sparse product each.
    """

    workers: np.ndarray
    n_items: int
    n_labels: int
    pair_a: np.ndarray  # (P,) first annotator of each pair
    pair_b: np.ndarray
    reverse: np.ndarray  # (P,) index of (b, a)
    shared: sparse.csc_matrix
    agree: sparse.csc_matrix
    first: sparse.csc_matrix
    min_shared: int


def _prepare(judgements: pd.DataFrame, what: str = "Cohen's kappa", *,
             min_shared: int = 2) -> _PairState:
    if not isinstance(min_shared, (int, np.integer)) or min_shared < 2:
        raise AgreementError(f"min_shared must be a whole number >= 2; got {min_shared!r}")
    enc = count_table(judgements, what).enc
    order = np.argsort(enc.item, kind="stable")
    item, worker, label = enc.item[order], enc.worker[order], enc.label[order]
    starts = np.searchsorted(item, np.arange(enc.n_items + 1))
    size = np.diff(starts)
    # every ordered pair of judgements on the same item: j1 runs over the judgements, j2
    # over the judgements of j1's item
    j1 = np.repeat(np.arange(len(item)), size[item])
    offset = np.arange(len(j1)) - np.repeat(np.cumsum(size[item]) - size[item], size[item])
    j2 = starts[item[j1]] + offset
    n_w = enc.n_workers
    code = worker[j1] * n_w + worker[j2]
    pairs, p = np.unique(code, return_inverse=True)
    pair_a, pair_b = pairs // n_w, pairs % n_w
    reverse = np.searchsorted(pairs, pair_b * n_w + pair_a)
    n_pairs, k = len(pairs), enc.n_labels
    rows = item[j1]
    ones = np.ones(len(j1))
    return _PairState(
        enc.workers, enc.n_items, k, pair_a, pair_b, reverse,
        sparse.csc_matrix((ones, (rows, p)), shape=(enc.n_items, n_pairs)),
        sparse.csc_matrix(((label[j1] == label[j2]).astype(float), (rows, p)),
                          shape=(enc.n_items, n_pairs)),
        sparse.csc_matrix((ones, (rows, p * k + label[j1])),
                          shape=(enc.n_items, n_pairs * k)), int(min_shared))


def _pair_kappas(s: _PairState, weights: np.ndarray) -> np.ndarray:
    """(B, P) kappa of every co-occurring pair under each row of item weights."""
    out = []
    step = max(1, 20_000_000 // max(s.first.shape[1], 1))
    for start in range(0, len(weights), step):
        wt = weights[start:start + step].T  # (n_items, b)
        shared = (s.shared.T @ wt).T
        agree = (s.agree.T @ wt).T
        first = (s.first.T @ wt).T.reshape(len(shared), -1, s.n_labels)  # (b, P, K)
        chance = (first * first[:, s.reverse, :]).sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_o = agree / shared
            p_e = chance / shared ** 2
            kappa = (p_o - p_e) / (1 - p_e)
        kappa[(shared < s.min_shared) | np.isclose(p_e, 1.0, rtol=0, atol=1e-12)] = np.nan
        out.append(kappa)
    return np.concatenate(out)


def _matrix_eval(s: _PairState, weights: np.ndarray) -> np.ndarray:
    n_w = len(s.workers)
    out = np.full((len(weights), n_w, n_w), np.nan)
    out[:, s.pair_a, s.pair_b] = _pair_kappas(s, weights)
    return out


def _light_eval(s: _PairState, weights: np.ndarray) -> np.ndarray:
    kappa = _pair_kappas(s, weights)[:, s.pair_a < s.pair_b]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no defined pair
        return np.nanmean(kappa, axis=1) if kappa.shape[1] else np.full(len(weights), np.nan)


def _wrap_matrix(s: _PairState, values: np.ndarray) -> pd.DataFrame:
    index = pd.Index(s.workers, name="annotator")
    return pd.DataFrame(values, index=index, columns=index.rename("other"))


@bootstrappable(Kernel(_prepare, _matrix_eval, lambda s: s.n_items, wrap=_wrap_matrix,
                       max_batch=50_000_000))
def cohen_kappa_matrix(judgements: pd.DataFrame, min_shared: int = 2) -> pd.DataFrame:
    """Cohen's kappa (Cohen 1960, "A coefficient of agreement for nominal scales",
    Educational and Psychological Measurement 20(1), 37-46) for every pair of annotators,
    over the items both labelled:

        kappa_ab = (p_o - p_e) / (1 - p_e),
        p_o = share of shared items where a and b agree,
        p_e = sum_k p_a(k) p_b(k), each annotator's label shares on those shared items.

    Returns a symmetric DataFrame (annotators x annotators). An entry is NaN when the pair
    shares fewer than ``min_shared`` items (at least 2), or when ``p_e = 1`` (both gave one and the same label on
    every shared item: kappa is undefined). The diagonal is an annotator with itself: 1.0
    (NaN if the annotator only ever used one label). Equals
    ``sklearn.metrics.cohen_kappa_score`` on each pair's shared items.

    Raises :class:`~labelquorum.errors.AgreementError` for an empty table, one annotator,
    no item with two judgements, or one label everywhere.
    """
    s = _prepare(judgements, min_shared=min_shared)
    return _wrap_matrix(s, _matrix_eval(s, np.ones((1, s.n_items)))[0])


@bootstrappable(Kernel(lambda j, **o: _prepare(j, "Light's kappa", **o), _light_eval,
                       lambda s: s.n_items))
def light_kappa(judgements: pd.DataFrame, min_shared: int = 2) -> float:
    """Light's kappa (Light 1971, "Measures of response agreement for qualitative data",
    Psychological Bulletin 76(5), 365-377): the mean of the pairwise Cohen's kappas of
    :func:`cohen_kappa_matrix` over the pairs where kappa is defined. One number for the
    whole pool, and the quantity to bootstrap when the matrix is too large to.

    Pairs sharing fewer than ``min_shared`` items are left out. With many annotators who
    each share only a few items, most pairwise kappas rest on a handful of items: the mean
    is then noisy and its bootstrap biased (a resample that draws a shared item twice
    changes which pairs count). Raise ``min_shared`` there, or use :func:`fleiss_kappa` or
    :func:`krippendorff_alpha`, which pool all items.

    Raises :class:`~labelquorum.errors.AgreementError` as :func:`cohen_kappa_matrix` does,
    and when no pair of annotators has a defined kappa.
    """
    s = _prepare(judgements, "Light's kappa", min_shared=min_shared)
    value = _light_eval(s, np.ones((1, s.n_items)))[0]
    if np.isnan(value):
        raise AgreementError("Light's kappa is undefined: no pair of annotators shares two "
                             "or more items with more than one label between them.")
    return float(value)
