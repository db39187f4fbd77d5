"""Majority vote and probability-weighted vote, over a wide view of judgements.

The array functions here are what policies call on their open items; the estimators in
``labelquorum.aggregation`` wrap them for the long judgement table.

Ties are broken by a seeded random choice per item: ``tie_keys`` holds one 64-bit key per
item (a hash of the seed and the item id), and among the tied labels the one at position
``key mod n_tied`` wins, so the choice depends on neither label names nor row order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

METHODS = ("majority", "weighted")


@dataclass
class Consensus:
    """Per-item consensus: posterior (n, k), label index (-1 when no votes) or label-set
    mask (multilabel), confidence of the consensus, agreement of the votes with it, and
    the number of votes. Spans tasks: ``values`` holds each item's consensus spans, the
    posterior has no columns and ``label`` is -1 (see :func:`labelquorum.spans.vote_spans`)."""

    posterior: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    agreement: np.ndarray
    votes: np.ndarray
    values: list | None = None


class TieKeys:
    """Tie-break keys computed only for the items that need one (the tied ones): the same
    values as :func:`tie_keys`, without hashing every item."""

    def __init__(self, item_ids, seed: int):
        # the ids as text: an array, or anything whose take(rows) gives the rows' text
        self.item_ids = item_ids if hasattr(item_ids, "take") else np.asarray(item_ids,
                                                                              dtype=object)
        self.seed = seed

    def __getitem__(self, i: int) -> np.uint64:
        return self.take([i])[0]

    def take(self, rows: np.ndarray) -> np.ndarray:
        return tie_keys(self.item_ids.take(rows), self.seed)


def tie_keys(item_ids, seed: int) -> np.ndarray:
    """One 64-bit key per item: SipHash-2-4 of the item id as UTF-8 text, keyed by the first
    16 hex digits of SHA-1 of the seed (pandas' ``hash_array``; stable across runs and
    machines)."""
    ids = np.asarray(item_ids, dtype=object)  # ids that are not text are hashed as text
    key = hashlib.sha1(str(seed).encode()).hexdigest()[:16]
    return pd.util.hash_array(ids, hash_key=key, categorize=False)


def _argmax_with_ties(post: np.ndarray, keys: np.ndarray) -> np.ndarray:
    best = post.argmax(axis=1)
    top = post[np.arange(len(post)), best]
    tied = np.isclose(post, top[:, None], rtol=0, atol=1e-12)
    many = np.flatnonzero(tied.sum(axis=1) > 1)
    for i in many:
        options = np.flatnonzero(tied[i])
        best[i] = options[int(keys[i] % np.uint64(len(options)))]
    return best


def vote(labels: np.ndarray, probs: np.ndarray, weights: np.ndarray, keys: np.ndarray,
         method: str = "weighted", multilabel: bool = False) -> Consensus:
    """Aggregate m annotators' votes on n items.

    ``labels`` is (n, m) of label indices with -1 where an annotator gave no label
    (classification), ignored for multilabel; ``probs`` is (n, m, k) of per-label
    probabilities, NaN where no judgement. ``weights`` is (m,) annotator weights (skills).
    """
    n, m, k = probs.shape
    if method not in METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; valid: {', '.join(METHODS)}")
    have = ~np.isnan(probs).any(axis=2) if multilabel else labels >= 0
    votes = have.sum(axis=1)
    if multilabel:
        filled = np.where(np.isnan(probs), 0.0, probs)
        if method == "majority":
            filled = (filled >= 0.5).astype(float)
        w = weights[None, :] * have
        total = w.sum(axis=1)
        post = np.einsum("nm,nmk->nk", w, filled) / np.where(total > 0, total, 1)[:, None]
        mask = post >= 0.5
        conf = np.min(np.maximum(post, 1 - post), axis=1) if k else np.ones(n)
        agree_each = ((filled >= 0.5) == mask[:, None, :]).all(axis=2) & have
        agreement = agree_each.sum(axis=1) / np.maximum(votes, 1)
        conf = np.where(votes > 0, conf, 0.0)
        return Consensus(post, mask, conf, np.where(votes > 0, agreement, 0.0), votes)
    if method == "majority":
        onehot = np.zeros((n, m, k))
        rows, cols = np.nonzero(have)
        onehot[rows, cols, labels[rows, cols]] = 1.0
        score = onehot.sum(axis=1)
    else:
        filled = np.where(np.isnan(probs), 0.0, probs)
        rows, cols = np.nonzero(have & np.isnan(probs).any(axis=2))
        filled[rows, cols, labels[rows, cols]] = 1.0  # a label with no probabilities
        score = np.einsum("m,nmk->nk", weights, filled * have[:, :, None])
    total = score.sum(axis=1)
    post = score / np.where(total > 0, total, 1)[:, None]
    best = _argmax_with_ties(post, keys)
    best = np.where(votes > 0, best, -1)
    conf = np.where(votes > 0, post[np.arange(n), np.maximum(best, 0)], 0.0)
    agree = ((labels == best[:, None]) & have).sum(axis=1) / np.maximum(votes, 1)
    return Consensus(post, best, conf, np.where(votes > 0, agree, 0.0), votes)
