"""Majority vote over the long judgement table.

Each judgement is one vote; the most voted label wins, ties broken by the seeded per-item
choice documented in :mod:`labelquorum.aggregation.base`. This is the baseline of every
truth-inference survey (e.g. Zheng et al., "Truth Inference in Crowdsourcing: Is the
Problem Solved?", VLDB 2017) and the initialisation of the EM methods.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Aggregator, Encoded, pick


def normalise(scores: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1; a row with no mass becomes uniform."""
    total = scores.sum(axis=1, keepdims=True)
    out = np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)
    out[(total <= 0)[:, 0]] = 1.0 / scores.shape[1]
    return out


def agreement_skills(enc: Encoded, label: np.ndarray) -> pd.Series:
    """Per annotator, the share of their judgements that equal ``label`` (one code per
    item): crowd-kit's ``get_accuracy`` against a consensus."""
    hit = (enc.label == label[enc.item]).astype(float)
    n = np.bincount(enc.worker, minlength=enc.n_workers)
    agree = np.bincount(enc.worker, weights=hit, minlength=enc.n_workers)
    return pd.Series(agree / np.maximum(n, 1), index=enc.worker_ids.rename("annotator"),
                     name="skill")


class MajorityVote(Aggregator):
    """Majority vote: ``probas_`` are the vote shares, ``labels_`` the most voted label.

    ``skills_`` is each annotator's agreement with the majority label (as in crowd-kit).
    A ``confidence`` column, if present, is ignored: every judgement is one vote.

    Parameters
    ----------
    seed : int
        Seed of the tie-break among equally voted labels.
    labels : list, optional
        The label set, in the order of ``probas_`` columns; by default the labels seen.
    """

    def __init__(self, seed: int = 0, labels: list[str] | None = None):
        self.seed = seed
        self.labels = labels

    def _fit(self, enc: Encoded) -> np.ndarray:
        posterior = normalise(enc.counts())
        best = pick(posterior, enc.tie_keys(self.seed), enc.tie_order())
        self.skills_ = agreement_skills(enc, best)
        self._best = best
        return posterior
