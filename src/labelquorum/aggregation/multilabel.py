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
from sklearn.base import BaseEstimator

from ..errors import LabelquorumError
from .base import find_columns
from .registry import make_aggregator


class BinaryRelevance(BaseEstimator):
    """``BinaryRelevance(method="dawid-skene").fit(judgements)``; then ``labels_`` (item ->
    tuple of labels), ``probas_`` (items x labels, P(label applies); rows need not sum to 1)
    and ``skills_`` (annotators x labels, when the method estimates skills). Item and
    annotator ids keep the caller's types.

    Parameters
    ----------
    method : str
        The classification method each label's yes/no question is aggregated with (a name
        from ``labelquorum.plugins.aggregators``).
    sep : str
        What joins the labels of an answer given as text.
    seed : int
        Seed of the method's tie-break.
    labels : list of str, optional
        The label set, in the order of ``probas_`` columns; by default the labels seen.
    params : dict, optional
        The method's other hyperparameters (e.g. ``{"n_iter": 50}``).
    """

    def __init__(self, method: str = "majority-vote", sep: str = "|", seed: int = 0,
                 labels: list[str] | None = None, params: dict[str, Any] | None = None):
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
        if not (isinstance(self.sep, str) and self.sep):
            raise LabelquorumError(f"sep must be a non-empty string; got {self.sep!r}")
        if self.params is not None and not isinstance(self.params, dict):
            raise LabelquorumError(f"params must be a dict of the method's hyperparameters; "
                                   f"got {type(self.params).__name__}")
        make_aggregator(self.method)  # an unknown method fails before the work
        if not isinstance(judgements, pd.DataFrame):
            raise LabelquorumError(f"expected a pandas DataFrame of judgements, got "
                                   f"{type(judgements).__name__}")
        item, annotator, label = find_columns(judgements)
        df = judgements.drop_duplicates([item, annotator], keep="last")
        sets = self._sets(df[label])
        names = list(self.labels) if self.labels else sorted(set().union(*sets))
        if not names:
            raise LabelquorumError("no answer names any label; nothing to aggregate")
        unknown = sorted(set().union(*sets) - set(names))
        if unknown:
            raise LabelquorumError(f"labels {unknown[:5]} are not in the label set {names}")
        probas, skills = {}, {}
        for name in names:
            table = pd.DataFrame({"item": df[item].to_numpy(),
                                  "annotator": df[annotator].to_numpy(),
                                  "label": ["yes" if name in s else "no" for s in sets]})
            model = make_aggregator(self.method, seed=self.seed, labels=["no", "yes"],
                                    **(self.params or {}))
            model.fit(table)
            probas[name] = model.probas_["yes"]
            if getattr(model, "skills_", None) is not None:
                skills[name] = model.skills_
        self.probas_ = pd.DataFrame(probas)[names]
        self.probas_.index.name = "item"
        chosen = [tuple(n for n, p in zip(names, row) if p >= 0.5)
                  for row in self.probas_.to_numpy()]
        self.labels_ = pd.Series(chosen, index=self.probas_.index, name="label", dtype=object)
        self.skills_ = pd.DataFrame(skills) if skills else None
        return self

    def fit_predict(self, judgements: pd.DataFrame) -> pd.Series:
        return self.fit(judgements).labels_
