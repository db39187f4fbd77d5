"""Numeric and ordinal ratings: mean, median and skill-weighted mean per item.

The label column holds numbers (text that parses as a number is accepted); anything else
is refused with the offending value named. Duplicate (item, annotator) rows: the last wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator

from ..errors import LabelquorumError
from .base import find_columns, id_texts, sorted_ids


def _ratings(judgements: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index, pd.Index]:
    """Item code, annotator code and value per rating, with the item and annotator ids
    (sorted, with the caller's types)."""
    if not isinstance(judgements, pd.DataFrame):
        raise LabelquorumError(f"expected a pandas DataFrame of ratings, got "
                               f"{type(judgements).__name__}")
    item, annotator, label = find_columns(judgements)
    df = judgements[[item, annotator, label]].dropna(subset=[label])
    df = df.drop_duplicates([item, annotator], keep="last")
    values = pd.to_numeric(df[label], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0))
    if bad.any():
        raise LabelquorumError(f"rating {df[label][bad].iloc[0]!r} (item "
                               f"{df[item][bad].iloc[0]!r}) is not a number")
    if df.empty:
        raise LabelquorumError("the table has no ratings")
    item_codes, items = sorted_ids(df[item])
    worker_codes, workers = sorted_ids(df[annotator])
    if item_codes.min() < 0 or worker_codes.min() < 0:
        raise LabelquorumError("some ratings have no item or no annotator; give every rating "
                               "both")
    table = pd.DataFrame({"item": item_codes, "annotator": worker_codes,
                          "value": values.to_numpy(dtype=float)})
    return table, items.rename("item"), workers.rename("annotator")


class MeanRating(BaseEstimator):
    """The mean rating per item; ``labels_`` (item -> float) and ``spread_`` (std)."""

    def fit(self, judgements: pd.DataFrame) -> MeanRating:
        df, items, _ = _ratings(judgements)
        grouped = df.groupby("item")["value"]
        self.labels_ = pd.Series(grouped.mean().to_numpy(), index=items, name="label")
        self.spread_ = pd.Series(grouped.std(ddof=0).to_numpy(), index=items, name="spread")
        return self

    def fit_predict(self, judgements: pd.DataFrame) -> pd.Series:
        return self.fit(judgements).labels_


class MedianRating(MeanRating):
    """The median rating per item (robust to a few wild raters; suits ordinal scales)."""

    def fit(self, judgements: pd.DataFrame) -> MedianRating:
        df, items, _ = _ratings(judgements)
        grouped = df.groupby("item")["value"]
        self.labels_ = pd.Series(grouped.median().to_numpy(), index=items, name="label")
        spread = grouped.quantile(0.75) - grouped.quantile(0.25)
        self.spread_ = pd.Series(spread.to_numpy(), index=items, name="spread")
        return self


class WeightedMeanRating(MeanRating):
    """The skill-weighted mean per item; ``skills`` maps annotator -> non-negative weight
    (annotators are matched as text, so ``{"7": 1.0}`` weighs annotator ``7``)."""

    def __init__(self, skills: dict | pd.Series):
        self.skills = skills

    def fit(self, judgements: pd.DataFrame) -> WeightedMeanRating:
        df, items, workers = _ratings(judgements)
        if not isinstance(self.skills, (dict, pd.Series)):
            raise LabelquorumError(f"skills must be a dict or pandas Series mapping annotator to "
                                   f"weight; got {type(self.skills).__name__}")
        skills = pd.Series(self.skills, dtype=float)
        skills.index = skills.index.map(str)
        names = id_texts(workers)
        missing = sorted(set(names) - set(skills.index))
        if missing:
            raise LabelquorumError(f"no skill for annotator {missing[0]!r}; give every "
                                   "annotator a weight")
        if (skills < 0).any() or not np.isfinite(skills).all():
            raise LabelquorumError("skills must be finite and non-negative")
        w = skills.groupby(level=0).last().reindex(names).to_numpy()[df["annotator"].to_numpy()]
        df = df.assign(w=w, wv=w * df["value"])
        sums = df.groupby("item")[["w", "wv"]].sum()
        zero = (sums["w"] == 0).to_numpy()
        if zero.any():
            raise LabelquorumError(f"item {items[np.flatnonzero(zero)[0]]!r} has only "
                                   "zero-weight raters")
        self.labels_ = pd.Series((sums["wv"] / sums["w"]).to_numpy(), index=items, name="label")
        return self


class BiasCorrectedRating(MeanRating):
    """The mean rating per item after removing each annotator's bias (a constant offset).

    The model is ``rating = item value + annotator bias + noise``; the item values and the
    biases are estimated jointly by least squares with a ridge penalty ``shrinkage`` on the
    biases, solved exactly (the item values are eliminated, leaving one linear system with
    a row per annotator). A bias estimated from ``n`` answers is shrunk towards 0 by about
    ``n / (n + shrinkage)``, so an annotator with few answers keeps nearly no correction.
    Only answers on items that others rated too tell a bias apart from the item's value:
    when every annotator rates every item the correction shifts all items alike, and a bias
    that every annotator shares is not seen. With ``shrinkage=0`` the biases sum to 0.

    ``labels_`` (item -> float), ``biases_`` (annotator -> offset), ``spread_`` (std of the
    corrected answers per item).
    """

    def __init__(self, shrinkage: float = 2.0):
        self.shrinkage = shrinkage

    def fit(self, judgements: pd.DataFrame) -> BiasCorrectedRating:
        lam = self.shrinkage
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or \
                not np.isfinite(lam) or lam < 0:
            raise LabelquorumError(f"shrinkage must be a number >= 0 (how many answers' worth "
                                   f"of evidence that a bias is 0); got {lam!r}")
        df, items, workers = _ratings(judgements)
        item = df["item"].to_numpy()
        worker = df["annotator"].to_numpy()
        value = df["value"].to_numpy()
        n_items, n_workers = len(items), len(workers)
        per_item = np.bincount(item, minlength=n_items).astype(float)
        per_worker = np.bincount(worker, minlength=n_workers).astype(float)
        mean = np.bincount(item, value, n_items) / per_item
        # normal equations in the biases b, the item values eliminated (mean of r - b):
        # (diag(n_j + lam) - M' D^-1 M) b = sum over j's answers of (r - item mean)
        incidence = sparse.csr_matrix((np.ones(len(item)), (item, worker)),
                                      shape=(n_items, n_workers))
        shared = (incidence.T @ sparse.diags(1.0 / per_item) @ incidence).toarray()
        system = np.diag(per_worker + lam) - shared
        rhs = np.bincount(worker, value - mean[item], n_workers)
        bias = np.linalg.lstsq(system, rhs, rcond=None)[0]
        corrected = value - bias[worker]
        self.labels_ = pd.Series(np.bincount(item, corrected, n_items) / per_item, index=items,
                                 name="label")
        self.spread_ = pd.Series(pd.Series(corrected).groupby(item).std(ddof=0).to_numpy(),
                                 index=items, name="spread")
        self.biases_ = pd.Series(bias, index=workers, name="bias")
        return self
