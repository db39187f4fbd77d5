"""Aggregation: judgements in, consensus labels, posteriors and skills out.

Estimators follow scikit-learn's contract: hyperparameters in ``__init__``, ``fit`` takes
the long judgement table and returns ``self``, learned state ends in ``_``. The table
may use labelquorum's column names (``item, annotator, label`` with an optional
``confidence``) or crowd-kit's (``task, worker, label``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import LabelquorumError
from .voting import METHODS, Consensus, tie_keys, vote

__all__ = [
    "METHODS",
    "Consensus",
    "MajorityVote",
    "WeightedVote",
    "tie_keys",
    "vote",
    "wide_view",
]

_ALIASES = {"task": "item", "worker": "annotator"}


def wide_view(judgements: pd.DataFrame, labels: list[str] | None = None):
    """The one helper that turns the long table into arrays for computation.

    Returns (items, annotators, labels, label_idx (n, m), probs (n, m, k)).
    Duplicate (item, annotator) rows: the last one wins.
    """
    df = judgements.rename(columns={k: v for k, v in _ALIASES.items()
                                    if k in judgements.columns and v not in judgements.columns})
    missing = [c for c in ("item", "annotator", "label") if c not in df.columns]
    if missing:
        raise LabelquorumError(
            f"the judgement table needs columns item, annotator, label (or task, worker, "
            f"label); missing {', '.join(missing)}; found {', '.join(map(str, df.columns))}")
    df = df[df["label"].notna()].drop_duplicates(["item", "annotator"], keep="last")
    if df.empty:
        raise LabelquorumError("the judgement table has no labelled rows")
    items, item_idx = np.unique(df["item"].astype(str).to_numpy(), return_inverse=True)
    workers, worker_idx = np.unique(df["annotator"].astype(str).to_numpy(), return_inverse=True)
    values = df["label"].astype(str).to_numpy()
    labels = list(labels) if labels is not None else sorted(set(values))
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = sorted(set(values) - set(index))
    if unknown:
        raise LabelquorumError(f"labels {unknown[:5]} are not in the label set {labels}")
    lab = np.array([index[v] for v in values])
    n, m, k = len(items), len(workers), len(labels)
    label_idx = np.full((n, m), -1, dtype=np.int64)
    label_idx[item_idx, worker_idx] = lab
    probs = np.full((n, m, k), np.nan)
    if "confidence" in df.columns:
        conf = pd.to_numeric(df["confidence"], errors="coerce").to_numpy()
        ok = ~np.isnan(conf)
        rest = (1 - conf[ok]) / max(k - 1, 1)
        probs[item_idx[ok], worker_idx[ok], :] = rest[:, None]
        probs[item_idx[ok], worker_idx[ok], lab[ok]] = conf[ok]
    return items, workers, labels, label_idx, probs


class _Vote:
    method = "weighted"

    def __init__(self, seed: int = 0, labels: list[str] | None = None,
                 skills: dict[str, float] | None = None):
        self.seed = seed
        self.labels = labels
        self.skills = skills

    def fit(self, judgements: pd.DataFrame) -> _Vote:
        items, workers, labels, label_idx, probs = wide_view(judgements, self.labels)
        skills = self.skills or {}
        weights = np.array([float(skills.get(w, 1.0)) for w in workers])
        result = vote(label_idx, probs, weights, tie_keys(items, self.seed), self.method)
        self.labels_ = pd.Series([labels[i] for i in result.label], index=items, name="label")
        self.labels_.index.name = "item"
        self.probas_ = pd.DataFrame(result.posterior, index=self.labels_.index, columns=labels)
        self.confidence_ = pd.Series(result.confidence, index=self.labels_.index)
        return self

    def fit_predict(self, judgements: pd.DataFrame) -> pd.Series:
        return self.fit(judgements).labels_

    def fit_predict_proba(self, judgements: pd.DataFrame) -> pd.DataFrame:
        return self.fit(judgements).probas_


class MajorityVote(_Vote):
    """Each judgement is one vote; the most voted label wins (seeded tie-break)."""

    method = "majority"


class WeightedVote(_Vote):
    """Probability-weighted vote: each annotator adds ``skill * p(label)``.

    A judgement with a confidence spreads the rest evenly over the other labels; one with
    neither probabilities nor confidence counts as a one-hot vote.
    """

    method = "weighted"
