"""Gold seeding: known true labels for some items, mapped onto an :class:`Encoded` table.

Aggregators that accept ``fit(judgements, gold=...)`` fix the posterior of every gold item
to a one-hot row on its gold label for the whole of EM, so the gold items both keep their
label and teach the model what each annotator gets right.

``gold`` maps item id to label (a ``dict`` or a ``pandas.Series`` indexed by item). Item
ids and labels are compared as text, the way :func:`~labelquorum.aggregation.base.encode`
compares them. Gold items that have no judgements are ignored (there is no row for them in
the result); a gold label outside the label set is an error.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import LabelquorumError
from .base import Aggregator, Encoded, encode, label_text


def encode_gold(enc: Encoded, gold: Mapping | pd.Series | None) -> tuple[np.ndarray, np.ndarray]:
    """(item codes, label codes) of the gold items that have judgements; empty when none."""
    empty = np.zeros(0, dtype=np.int64)
    if gold is None:
        return empty, empty
    if isinstance(gold, pd.DataFrame):
        raise LabelquorumError("gold must map item to label (a dict or a pandas Series indexed by "
                               "item), got a DataFrame; pass e.g. df.set_index('id')['label']")
    if not isinstance(gold, (Mapping, pd.Series)):
        raise LabelquorumError(f"gold must map item to label (a dict or a pandas Series indexed by "
                               f"item), got {type(gold).__name__}")
    series = pd.Series(gold, dtype=object) if isinstance(gold, Mapping) else gold
    series = series[series.notna()]
    if series.empty:
        return empty, empty
    ids = series.index.astype(str).to_numpy(dtype=object)
    values = [label_text(v) for v in series.to_numpy()]
    index = {lab: i for i, lab in enumerate(enc.labels)}
    unknown = sorted({v for v in values if v not in index})
    if unknown:
        raise LabelquorumError(f"gold labels {unknown[:5]} are not in the label set "
                               f"{enc.labels}; fix the gold file or pass labels=[...] with "
                               "every label")
    codes = np.array([index[v] for v in values], dtype=np.int64)
    pos = pd.Index(enc.items).get_indexer(ids)  # -1: a gold item with no judgements
    found = pos >= 0
    return pos[found].astype(np.int64), codes[found]


def clamp(posterior: np.ndarray, log_norm: np.ndarray, score: np.ndarray,
          gold_items: np.ndarray, gold_labels: np.ndarray) -> None:
    """Fix the gold items in an E-step's (labels, items) arrays, in place: posterior
    one-hot on the gold label, and the item's log-likelihood that of its gold label."""
    if len(gold_items):
        posterior[:, gold_items] = 0.0
        posterior[gold_labels, gold_items] = 1.0
        log_norm[gold_items] = score[gold_labels, gold_items]


class SeededAggregator(Aggregator):
    """An aggregator that can be seeded with gold: ``fit(judgements, gold=None)``.

    Subclasses implement ``_fit_seeded(enc, gold_items, gold_labels) -> posterior`` and may
    validate their hyperparameters in ``_check_params`` (called when ``fit`` starts).
    """

    def fit(self, judgements: pd.DataFrame, gold: Mapping | pd.Series | None = None):
        """Fit on the long judgement table; ``gold`` (item -> label) fixes those items."""
        self._check_params()
        enc = encode(judgements, self.labels)
        self._set_result(enc, self._fit_seeded(enc, *encode_gold(enc, gold)))
        return self

    def _fit(self, enc: Encoded) -> np.ndarray:
        self._check_params()
        return self._fit_seeded(enc, *encode_gold(enc, None))

    def fit_predict(self, judgements: pd.DataFrame, gold: Mapping | pd.Series | None = None):
        return self.fit(judgements, gold=gold).labels_

    def fit_predict_proba(self, judgements: pd.DataFrame,
                          gold: Mapping | pd.Series | None = None):
        return self.fit(judgements, gold=gold).probas_

    def _fit_seeded(self, enc: Encoded, gold_items: np.ndarray,
                    gold_labels: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def check_positive_int(name: str, value) -> None:
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
        raise LabelquorumError(f"{name} must be a positive integer, got {value!r}")
