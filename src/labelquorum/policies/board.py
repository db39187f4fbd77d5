"""The board: every item's answers so far, as arrays over item positions.

One class keeps what a policy sees, for the run (:class:`labelquorum.engine.state.RunState`
fills it from the store) and for the offline driver (:func:`~labelquorum.policies.run_offline`
fills it from recordings), so both hand policies the same :class:`PolicyState`.
"""

from __future__ import annotations

import numpy as np

from ..aggregation import tie_keys
from .base import NOT_ASKED, AnnotatorInfo, PolicyState


class Board:
    """Per annotator: request status, label index and per-label probabilities (a value kind's
    tasks: each item's value) over all items; which items are open; which were ever planned.

    ``task`` (a :class:`~labelquorum.task.Task`) says how answers are held: its kind's
    :attr:`~labelquorum.kinds.TaskKind.vector`; without one, as classification."""

    def __init__(self, ids, labels: tuple[str, ...], names, *, task=None, seed: int = 0):
        n, k = len(ids), len(labels)
        kind = task.strategy if task is not None else None
        self.ids = np.asarray(ids, dtype=object)
        self.task = task
        self.labels = tuple(labels)
        self.multilabel = bool(kind is not None and kind.multilabel)
        self.open = np.ones(n, dtype=bool)
        self.status = {a: np.zeros(n, dtype=np.int8) for a in names}
        self.label = {a: np.full(n, -1, dtype=np.int64) for a in names}
        self.probs = {a: np.full((n, k), np.nan) for a in names}
        # a request exists in the ledger (in any state): a chain knows what it forwarded
        self.planned = {a: np.zeros(n, dtype=bool) for a in names}
        self.values = {a: [None] * n for a in names} if kind is not None and \
            not kind.vector else {}
        self.texts: list[str] | None = None
        self.suspicious = np.zeros(n, dtype=bool)
        self.tie = tie_keys(self.ids, seed)
        # people's answers one by one: annotator -> [(position, person, label index)]
        self.workers: dict[str, list[tuple[int, str, int]]] = {}
        # the right label's index where another source knows it (calibration gold,
        # reviews), -1 elsewhere: what calibrated gates are fitted on
        self.reference = np.full(n, -1, dtype=np.int64)
        # what each answer cost (USD), NaN where the board was not told: an auto policy
        # prices its candidates by it (else by each annotator's cost bound)
        self.cost = {a: np.full(n, np.nan) for a in names}
        # each item's language (None: unknown), when any item has one
        self.language: np.ndarray | None = None
        # item fields a policy reads (``Policy.item_fields``): name -> each item's value
        self.fields: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def put(self, name: str, positions: np.ndarray, status: np.ndarray,
            label: np.ndarray | None = None, probs: np.ndarray | None = None,
            cost: np.ndarray | None = None) -> None:
        """Answers of ``name`` on items: status codes, and for those with a label its
        index (classification) and per-label probabilities; what each cost, if known."""
        self.status[name][positions] = status
        self.planned[name][positions] = True
        if label is not None:
            self.label[name][positions] = label
        if probs is not None:
            self.probs[name][positions] = probs
        if cost is not None:
            self.cost[name][positions] = cost

    def forget(self, name: str, positions: np.ndarray) -> None:
        """Drop an annotator's answers on items (a retrained model is asked again)."""
        self.status[name][positions] = NOT_ASKED
        self.label[name][positions] = -1
        self.probs[name][positions] = np.nan
        for p in positions.tolist() if self.values else ():
            self.values[name][p] = None

    def policy_state(self, infos: dict[str, AnnotatorInfo], budget_left: float | None,
                     aggregator: str) -> PolicyState:
        return PolicyState(self.ids, self.open.copy(), self.labels, self.multilabel,
                           self.status, self.label, self.probs, infos, budget_left, self.tie,
                           aggregator, self.values or None, self.texts,
                           suspicious=self.suspicious, planned=self.planned,
                           workers=self.workers or None, reference=self.reference,
                           cost=self.cost, language=self.language,
                           fields=self.fields or None, task=self.task)
