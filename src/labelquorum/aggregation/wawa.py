"""Wawa: worker agreement with aggregate.

Majority vote first; each annotator's skill is their agreement with the majority label;
then a vote weighted by those skills. As implemented in crowd-kit (Toloka), after
Appen's "Worker Agreement with Aggregate" metric.
"""

from __future__ import annotations

import numpy as np

from .base import Aggregator, Encoded, pick
from .majority_vote import agreement_skills, normalise


class Wawa(Aggregator):
    """Majority vote, then a vote weighted by each annotator's agreement with it.

    ``skills_`` holds the agreement with the majority label; ``probas_`` the weight shares
    of the second vote (uniform for an item whose annotators all have skill 0).

    Parameters
    ----------
    seed : int
        Seed of the tie-break (in both votes).
    labels : list, optional
        The label set, in the order of ``probas_`` columns; by default the labels seen.
    """

    def __init__(self, seed: int = 0, labels: list[str] | None = None):
        self.seed = seed
        self.labels = labels

    def _fit(self, enc: Encoded) -> np.ndarray:
        majority = pick(normalise(enc.counts()), enc.tie_keys(self.seed), enc.tie_order())
        self.skills_ = agreement_skills(enc, majority)
        return normalise(enc.counts(self.skills_.to_numpy()[enc.worker]))
