"""The golden bank: which control items may serve as golden questions, and which one an
annotator gets next.

Liu et al. ask two things of a golden question: high certainty, and the look of an
ordinary item. The second is the serving side's job (the web app and the run mix control
gold into the normal stream); the first is this bank's: every item carries a certainty (expert
agreement, or the share of strong annotators agreeing with its gold, see
:func:`estimate_certainty`) and only items at or above ``min_certainty`` serve.

:meth:`GoldenBank.next_items` is a pure selection — given the annotator, the golden items it
has already been given, and (optionally) how often each item has been served to anyone — so
that the engine and the web app can call it inside their own transaction. It never repeats
an item to the same annotator, prefers the least-served items (a bank wears out evenly, and
an item seen by everybody is the first to leak), and breaks ties by a seeded hash of
(annotator, item), so annotators get different orders and a replay gets the same one.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..aggregation.base import label_text
from ..errors import QualityError
from .theta import same_label


class GoldenBank:
    """The control items that may serve as golden questions.

    ``certainty`` maps item id -> certainty in [0, 1] (None or NaN: unknown, never serves);
    items whose certainty is at least ``min_certainty`` serve, in ``serving``."""

    def __init__(self, certainty: Mapping[Any, float | None], min_certainty: float = 0.9,
                 seed: int = 0):
        if isinstance(certainty, pd.Series):
            certainty = certainty.to_dict()
        if not isinstance(certainty, Mapping):
            raise QualityError(f"a golden bank needs a mapping of item id to certainty; got "
                               f"{type(certainty).__name__}.")
        if not (isinstance(min_certainty, (int, float)) and 0.0 <= min_certainty <= 1.0):
            raise QualityError(f"min_certainty must be a number in [0, 1]; got "
                               f"{min_certainty!r}.")
        known = {}
        for item, p in certainty.items():
            if p is None or (isinstance(p, float) and math.isnan(p)):
                continue
            if not (isinstance(p, (int, float, np.floating)) and 0.0 <= p <= 1.0):
                raise QualityError(f"the certainty of golden item {item!r} is {p!r}; a "
                                   "certainty is a probability in [0, 1].")
            known[item] = float(p)
        self.certainty = known
        self.min_certainty = float(min_certainty)
        self.seed = seed
        self.serving = [i for i in sorted(known, key=label_text) if known[i] >= min_certainty]

    def __len__(self) -> int:
        return len(self.serving)

    def remaining(self, annotator: Any, history: Iterable[Any]) -> int:
        """How many serving items this annotator has not been given yet."""
        seen = {label_text(i) for i in history}
        return sum(label_text(i) not in seen for i in self.serving)

    def next_items(self, annotator: Any, history: Iterable[Any], n: int = 1,
                   served: Mapping[Any, int] | None = None,
                   rng: random.Random | None = None) -> list[Any]:
        """Up to ``n`` serving items this annotator has not been given (``history``),
        least served first (``served``: item -> times given to anyone); fewer, or none,
        when the bank is exhausted for this annotator. ``rng`` replaces the seeded hash
        as the tie-break."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise QualityError(f"n must be a positive number of golden questions; got {n!r}.")
        seen = {label_text(i) for i in history}
        counts = {label_text(k): int(v) for k, v in (served or {}).items()}
        left = [i for i in self.serving if label_text(i) not in seen]
        if rng is not None:
            ties = {label_text(i): rng.random() for i in left}
        else:
            ties = {label_text(i): self._hash(annotator, i) for i in left}
        left.sort(key=lambda i: (counts.get(label_text(i), 0), ties[label_text(i)]))
        return left[:n]

    def _hash(self, annotator: Any, item: Any) -> int:
        key = f"{self.seed}\x1f{label_text(annotator)}\x1f{label_text(item)}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def estimate_certainty(judgements: pd.DataFrame, gold: Mapping[Any, Any],
                       annotators: Iterable[Any] | None = None) -> pd.Series:
    """Per golden item, the share of the chosen (strong) annotators whose label matches its
    gold: a certainty for :class:`GoldenBank` when no expert agreement is recorded. Items
    nobody answered get NaN. ``judgements`` has columns ``item, annotator, label``."""
    missing = [c for c in ("item", "annotator", "label") if c not in judgements.columns]
    if missing:
        raise QualityError(f"estimate_certainty needs the columns item, annotator, label; "
                           f"{', '.join(missing)} missing.")
    gold_by_text = {label_text(k): (k, v) for k, v in gold.items()}
    rows = judgements[judgements["label"].notna()]
    if annotators is not None:
        chosen = {label_text(a) for a in annotators}
        rows = rows[rows["annotator"].map(label_text).isin(chosen)]
    agree: dict[str, list[bool]] = {}
    for item, label in zip(rows["item"].map(label_text), rows["label"]):
        if item in gold_by_text:
            agree.setdefault(item, []).append(same_label(label, gold_by_text[item][1]))
    return pd.Series({key: (float(np.mean(agree[t])) if t in agree else math.nan)
                      for t, (key, _) in gold_by_text.items()}, name="certainty", dtype=float)
