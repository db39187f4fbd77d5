"""Numeric and ordinal ratings: mean, median and skill-weighted mean per item.

The label column holds numbers (text that parses as a number is accepted); anything else
is refused with the offending value named. Duplicate (item, annotator) rows: the last wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import LabelquorumError
from .base import find_columns


def _ratings(judgements: pd.DataFrame) -> pd.DataFrame:
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
    return pd.DataFrame({"item": df[item].astype(str).to_numpy(),
                         "annotator": df[annotator].astype(str).to_numpy(),
                         "value": values.to_numpy(dtype=float)})


class MeanRating:
    """The mean rating per item; ``labels_`` (item -> float) and ``spread_`` (std)."""

    def fit(self, judgements: pd.DataFrame) -> MeanRating:
        df = _ratings(judgements)
        grouped = df.groupby("item")["value"]
        self.labels_ = grouped.mean().rename("label")
        self.spread_ = grouped.std(ddof=0).rename("spread")
        return self

    def fit_predict(self, judgements: pd.DataFrame) -> pd.Series:
        return self.fit(judgements).labels_


class MedianRating(MeanRating):
    """The median rating per item (robust to a few wild raters; suits ordinal scales)."""

    def fit(self, judgements: pd.DataFrame) -> MedianRating:
        df = _ratings(judgements)
        grouped = df.groupby("item")["value"]
        self.labels_ = grouped.median().rename("label")
        self.spread_ = (grouped.quantile(0.75) - grouped.quantile(0.25)).rename("spread")
        return self


class WeightedMeanRating(MeanRating):
    """The skill-weighted mean per item; ``skills`` maps annotator -> non-negative weight."""

    def __init__(self, skills: dict[str, float] | pd.Series):
        self.skills = skills

    def fit(self, judgements: pd.DataFrame) -> WeightedMeanRating:
        df = _ratings(judgements)
        skills = pd.Series(self.skills, dtype=float)
        missing = sorted(set(df["annotator"]) - set(skills.index.astype(str)))
        if missing:
            raise LabelquorumError(f"no skill for annotator {missing[0]!r}; give every "
                                   "annotator a weight")
        if (skills < 0).any() or not np.isfinite(skills).all():
            raise LabelquorumError("skills must be finite and non-negative")
        w = skills.reindex(df["annotator"]).to_numpy()
        df = df.assign(w=w, wv=w * df["value"])
        sums = df.groupby("item")[["w", "wv"]].sum()
        if (sums["w"] == 0).any():
            raise LabelquorumError(f"item {sums.index[(sums['w'] == 0).to_numpy()][0]!r} has "
                                   "only zero-weight raters")
        self.labels_ = (sums["wv"] / sums["w"]).rename("label")
        return self
