"""Numeric and ordinal ratings: mean, median and skill-weighted mean per item.

The label column holds numbers (text that parses as a number is accepted); anything else
is refused with the offending value named. Duplicate (item, annotator) rows: the last wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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
