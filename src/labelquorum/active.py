"""Active learning for the people's tier: which items people get when the budget is short.

When a policy forwards more items to people than the budget can pay for, the run admits
people's tasks in order of how much a person's label would change: the items whose
consensus so far is least certain first. Each selector scores items from the consensus
posterior (items × labels; higher score = asked first):

* ``least-confident``: 1 − the top probability (uncertainty sampling, Lewis & Gale 1994);
* ``margin``: 1 − (top − second) (margin sampling, Scheffer et al. 2001);
* ``entropy``: the posterior's entropy, normalised to [0, 1];
* ``random``: a seeded draw per item (the baseline of the learning curve);
* ``import``: import order (what a run did before).

Items nobody has labelled yet (a uniform posterior) score as the most uncertain.
"""

from __future__ import annotations

import hashlib

import numpy as np
from sklearn.base import BaseEstimator

SELECTORS = ("least-confident", "margin", "entropy", "random", "import")

__all__ = ["SELECTORS", "UncertaintySampling"]


class UncertaintySampling(BaseEstimator):
    """Scores items for people's attention; see the module docstring for ``strategy``."""

    def __init__(self, strategy: str = "least-confident", seed: int = 0):
        self.strategy = strategy
        self.seed = seed

    def score(self, posterior: np.ndarray, item_ids=None) -> np.ndarray:
        if self.strategy not in SELECTORS:
            raise ValueError(f"unknown selector {self.strategy!r}; valid: {', '.join(SELECTORS)}")
        post = np.asarray(posterior, dtype=float)
        n = post.shape[0]
        if self.strategy == "import":
            return -np.arange(n, dtype=float)
        if self.strategy == "random":
            ids = item_ids if item_ids is not None else range(n)
            return np.array([int.from_bytes(hashlib.sha1(f"{self.seed}\x1f{i}".encode())
                                            .digest()[:8], "big") / 2**64 for i in ids])
        if post.ndim != 2 or post.shape[1] == 0:
            return np.ones(n)
        total = post.sum(axis=1, keepdims=True)
        k = post.shape[1]
        post = np.where(total > 0, post / np.where(total > 0, total, 1), 1.0 / k)
        if self.strategy == "least-confident":
            return 1.0 - post.max(axis=1)
        if self.strategy == "margin":
            top2 = np.sort(post, axis=1)[:, -2:] if k > 1 else np.c_[np.zeros(n), post]
            return 1.0 - (top2[:, 1] - top2[:, 0])
        p = np.clip(post, 1e-12, 1.0)
        return -(p * np.log(p)).sum(axis=1) / np.log(k) if k > 1 else np.zeros(n)
