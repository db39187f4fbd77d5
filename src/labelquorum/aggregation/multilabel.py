"""Multilabel answers by binary relevance.

Each answer is a set of labels (a list or tuple, or text joined by ``sep``; an empty
answer means "none apply"). Every label becomes its own yes/no question, aggregated with
any classification method (majority vote, Dawid-Skene, GLAD, ...); an item gets the labels
whose posterior of "yes" is at least 0.5. Tsoumakas & Katakis (2007), "Multi-Label
Classification: An Overview".
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import LabelquorumError
from .base import find_columns
from .registry import make_aggregator


class BinaryRelevance:
    """``BinaryRelevance(method="dawid-skene").fit(judgements)``; then ``labels_`` (item ->
    tuple of labels), ``probas_`` (items x labels, P(label applies); rows need not sum to 1)
    and ``skills_`` (annotators x labels, when the method estimates skills)."""

    def __init__(self, method: str = "majority-vote", sep: str = "|", seed: int = 0,
                 labels: list[str] | None = None, **params: Any):
        self.method = method
        self.sep = sep
        self.seed = seed
        self.labels = labels
        self.params = params

    def _sets(self, values: pd.Series) -> list[frozenset[str]]:
        out = []
        for v in values:
            if isinstance(v, (list, tuple, set, frozenset)):
                out.append(frozenset(str(x).strip() for x in v))
            elif v is None or (isinstance(v, float) and pd.isna(v)):
                out.append(frozenset())
            else:
                out.append(frozenset(p.strip() for p in str(v).split(self.sep) if p.strip()))
        return out

    def fit(self, judgements: pd.DataFrame) -> BinaryRelevance:
        item, annotator, label = find_columns(judgements)
        df = judgements.drop_duplicates([item, annotator], keep="last")
        sets = self._sets(df[label])
        names = self.labels or sorted(set().union(*sets))
        if not names:
            raise LabelquorumError("no answer names any label; nothing to aggregate")
        unknown = sorted(set().union(*sets) - set(names))
        if unknown:
            raise LabelquorumError(f"labels {unknown[:5]} are not in the label set {names}")
        probas, skills = {}, {}
        for name in names:
            table = pd.DataFrame({"item": df[item].astype(str).to_numpy(),
                                  "annotator": df[annotator].astype(str).to_numpy(),
                                  "label": ["yes" if name in s else "no" for s in sets]})
            model = make_aggregator(self.method, seed=self.seed, labels=["no", "yes"],
                                    **self.params)
            model.fit(table)
            probas[name] = model.probas_["yes"]
            if getattr(model, "skills_", None) is not None:
                skills[name] = model.skills_
        self.probas_ = pd.DataFrame(probas)[names]
        self.probas_.index.name = "item"
        self.labels_ = self.probas_.apply(
            lambda row: tuple(n for n in names if row[n] >= 0.5), axis=1).rename("label")
        self.skills_ = pd.DataFrame(skills) if skills else None
        return self

    def fit_predict(self, judgements: pd.DataFrame) -> pd.Series:
        return self.fit(judgements).labels_
