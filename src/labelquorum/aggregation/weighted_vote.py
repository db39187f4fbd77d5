"""Weighted vote with given annotator skills.

Each judgement adds its annotator's skill to the label it names; the label with the most
weight wins (seeded tie-break, see :mod:`labelquorum.aggregation.base`). This is the
aggregation step of Wawa and of Li & Yu, "Error Rate Bounds and Iterative Weighted Majority
Voting for Crowdsourcing" (2014), with the weights supplied rather than estimated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import LabelquorumError
from .base import Aggregator, Encoded
from .majority_vote import normalise


def skill_weights(skills, workers: np.ndarray) -> np.ndarray:
    """One finite, non-negative weight per encoded annotator, from a dict or Series."""
    if isinstance(skills, pd.Series):
        skills = skills.to_dict()
    if not isinstance(skills, dict):
        raise LabelquorumError(f"skills must be a dict or pandas Series mapping annotator to "
                               f"skill; got {type(skills).__name__}")
    table = {str(k): v for k, v in skills.items()}
    missing = [w for w in workers if w not in table]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise LabelquorumError(
            f"no skill given for annotator(s) {', '.join(map(repr, missing[:3]))}{more}; "
            "give every annotator in the judgement table a skill (for example from "
            "Wawa().fit(judgements).skills_)")
    try:
        weights = np.array([float(table[w]) for w in workers], dtype=float)
    except (TypeError, ValueError) as exc:
        raise LabelquorumError(f"skills must be numbers: {exc}") from None
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        w = workers[np.flatnonzero(bad)[0]]
        raise LabelquorumError(f"the skill of annotator {w!r} is {table[w]!r}; skills must be "
                               "finite and non-negative")
    return weights


class WeightedVote(Aggregator):
    """Vote weighted by given per-annotator skills; ``probas_`` are the weight shares.

    An item whose annotators all have skill 0 gets uniform ``probas_`` (and a seeded
    tie-break for its label). A ``confidence`` column, if present, is ignored.

    Parameters
    ----------
    skills : dict or pandas Series
        Annotator id -> non-negative weight; every annotator in the table needs one.
    seed : int
        Seed of the tie-break among equally weighted labels.
    labels : list, optional
        The label set, in the order of ``probas_`` columns; by default the labels seen.
    """

    def __init__(self, skills, seed: int = 0, labels: list[str] | None = None):
        self.skills = skills
        self.seed = seed
        self.labels = labels

    def _fit(self, enc: Encoded) -> np.ndarray:
        weights = skill_weights(self.skills, enc.workers)
        self.skills_ = pd.Series(weights, index=enc.worker_ids.rename("annotator"), name="skill")
        return normalise(enc.counts(weights[enc.worker]))
