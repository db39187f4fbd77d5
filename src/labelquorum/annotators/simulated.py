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

from .base import Annotator, Answers, Items, spread_confidence


def _uniform(*parts: object) -> float:
    digest = hashlib.sha1("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


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
        name = self.config.truth_field
        gold = self.gold.get(item_id) if name is None else fields.get(name)
        if name is not None and self.task.spans and isinstance(gold, str) and gold:
            gold = self.task.parse_label(gold)
        if gold is None or (name is not None and gold == "" and not self.task.multilabel):
            return None, np.nan
        labels, seed, cfg = self.task.labels, self.context.seed, self.config
        if self.task.spans:
            return self._spans(item_id, gold, fields), self._accuracy(item_id, fields)
        if self.task.multilabel and isinstance(gold, str):
            gold = self.task.parse_label(gold)  # 'a|b', not the characters of the string
        if cfg.confusion is not None:
            if not self.task.multilabel:
                answer = self._confuse(gold, item_id)
                return answer, self._row(answer).get(answer, 0.0)
            # Each true label is confused on its own; an empty gold set stays empty.
            answers = {self._confuse(true, item_id, true) for true in gold}
            chosen = tuple(lab for lab in labels if lab in answers)
            return chosen, min((self._row(lab).get(lab, 0.0) for lab in chosen), default=1.0)
        p = self._accuracy(item_id, fields)
        if self.task.multilabel:
            chosen = set(gold)
            for lab in labels:
                if _uniform(seed, self.name, item_id, lab) >= p:
                    chosen ^= {lab}
            return tuple(lab for lab in labels if lab in chosen), p
        if _uniform(seed, self.name, item_id) < p:
            return gold, p
        others = [lab for lab in labels if lab != gold]
        return others[int(_uniform(seed, self.name, item_id, "wrong") * len(others))], p

    def _accuracy(self, item_id: str, fields: dict) -> float:
        cfg = self.config
        hard = cfg.accuracy if cfg.accuracy_hard is None else cfg.accuracy_hard
        return cfg.accuracy - (cfg.accuracy - hard) * self._difficulty(item_id, fields)

    def _spans(self, item_id: str, gold, fields: dict) -> tuple:
        p, seed, labels = self._accuracy(item_id, fields), self.context.seed, self.task.labels
        out = []
        for start, end, kind in self.task.parse_label(gold):
            if _uniform(seed, self.name, item_id, start, end) < p:
                out.append((start, end, kind))
            elif _uniform(seed, self.name, item_id, start, end, "how") < 0.5:
                others = [lab for lab in labels if lab != kind]
                pick = _uniform(seed, self.name, item_id, start, end, "type")
                out.append((start, end, others[int(pick * len(others))]))
        return tuple(out)

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
        probs = None if self.task.spans else spread_confidence(labels, np.nan_to_num(conf),
                                                               self.task)
        return Answers(labels=labels, confidence=conf, probs=probs,
                       calls=[{"simulated": True, "answer": json.dumps(lab)} for lab in labels])

    async def apredict_one(self, items: Items) -> Answers:
        await asyncio.sleep(self.config.latency)
        answers = self.predict(items)
        answers.latency = np.array([self.config.latency])
        return answers
