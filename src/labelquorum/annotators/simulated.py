"""A simulated annotator: an oracle built from gold with a stated noise model.

For demos and experiments only; every judgement it writes is marked ``simulated``.

Noise models (exactly one):

* ``accuracy`` (optionally with ``accuracy_hard``): the answer is correct with
  probability ``accuracy - (accuracy - accuracy_hard) * difficulty``, where difficulty in
  [0, 1] is the item's ``difficulty_field`` or, without one, a per-item draw shared by all
  simulated annotators; a wrong answer is uniform over the other labels. Its stated
  confidence is that probability.
* ``confusion``: ``confusion[gold][answer]`` is the probability of answering ``answer``
  when the truth is ``gold`` (rows are normalised; a missing row means always correct).
  Its stated confidence is the answer's own diagonal entry. For multilabel tasks each
  true label is confused on its own and the answer is the set of results.

For spans tasks (``accuracy`` only) each gold entity is kept with that probability;
otherwise it is dropped or (as likely) given another type.

Draws are a hash of (project seed, annotator name, item id), so answers do not depend on
order, batching or resumption. Items without gold abstain. With ``truth_field`` the truth
is read from that item field instead of the gold, so the items can stay ordinary items
(trained on once verified) in experiments such as the learning loop's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

import numpy as np

from .base import Annotator, Answers, Items


def _uniform(*parts: object) -> float:
    digest = hashlib.sha1("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class _Confusion:
    """A simulated annotator's confusion matrix on one item, for :meth:`TaskKind.simulate`:
    ``confuse(true, *key)`` draws the answer to a true label, ``row(true)`` its row."""

    def __init__(self, annotator: SimulatedAnnotator, item_id: str):
        self.annotator, self.item_id = annotator, item_id

    def confuse(self, true: str, *key: object) -> str:
        return self.annotator._confuse(true, self.item_id, *key)

    def row(self, true: str) -> dict[str, float]:
        return self.annotator._row(true)


class SimulatedAnnotator(Annotator):
    kind = "simulated"
    simulated = True

    def __init__(self, *args, gold: dict[str, object] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.gold = gold or {}
        self.io_bound = self.config.latency > 0
        self.kind = self.config.stands_for

    def _difficulty(self, item_id: str, fields: dict) -> float:
        name = self.config.difficulty_field
        if name and fields.get(name) not in (None, ""):
            return float(np.clip(float(fields[name]), 0.0, 1.0))
        return _uniform(self.context.seed, "difficulty", item_id)

    def _answer(self, item_id: str, fields: dict) -> tuple[object, float]:
        """The task kind's simulated answer (:meth:`TaskKind.simulate`) to the item's gold:
        from the project's gold, or from ``truth_field`` (its text form)."""
        name = self.config.truth_field
        gold = self.gold.get(item_id) if name is None else fields.get(name)
        if gold is None:
            return None, np.nan
        seed = self.context.seed

        def draw(*key: object) -> float:
            return _uniform(seed, self.name, item_id, *key)

        confusion = None if self.config.confusion is None else _Confusion(self, item_id)
        accuracy = 1.0 if confusion is not None else self._accuracy(item_id, fields)
        return self.task.strategy.simulate(self.task, gold, accuracy, draw, confusion)

    def _accuracy(self, item_id: str, fields: dict) -> float:
        cfg = self.config
        hard = cfg.accuracy if cfg.accuracy_hard is None else cfg.accuracy_hard
        return cfg.accuracy - (cfg.accuracy - hard) * self._difficulty(item_id, fields)

    def _row(self, true: str) -> dict[str, float]:
        """``true``'s confusion row, normalised; a missing or all-zero row is always correct."""
        given = self.config.confusion.get(true) or {}
        row = {lab: max(float(p), 0.0) for lab, p in given.items()}
        total = sum(row.values())
        return {lab: p / total for lab, p in row.items()} if total > 0 else {true: 1.0}

    def _confuse(self, true: str, *key: object) -> str:
        labels = self.task.labels
        row = self._row(true)
        weights = np.cumsum([row.get(lab, 0.0) for lab in labels])
        if weights[-1] <= 0:  # the row names no task label
            return true
        u = _uniform(self.context.seed, self.name, *key) * weights[-1]
        return labels[min(int(np.searchsorted(weights, u, side="right")), len(labels) - 1)]

    def predict(self, items: Items) -> Answers:
        pairs = [self._answer(i, f) for i, f in zip(items.ids, items.fields)]
        labels = [a for a, _ in pairs]
        conf = np.array([c for _, c in pairs], dtype=float)
        probs = self.task.strategy.probs(self.task, labels, np.nan_to_num(conf))
        return Answers(labels=labels, confidence=conf, probs=probs,
                       calls=[{"simulated": True, "answer": json.dumps(lab)} for lab in labels])

    async def apredict_one(self, items: Items) -> Answers:
        await asyncio.sleep(self.config.latency)
        answers = self.predict(items)
        answers.latency = np.array([self.config.latency])
        return answers
