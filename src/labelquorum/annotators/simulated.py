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

Draws are a hash of (project seed, annotator name, item id), so answers do not depend on
order, batching or resumption. Items without gold abstain.
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
        gold = self.gold.get(item_id)
        if gold is None:
            return None, np.nan
        labels, seed, cfg = self.task.labels, self.context.seed, self.config
        if cfg.confusion is not None:
            true = gold if isinstance(gold, str) else gold[0]
            row = cfg.confusion.get(true, {true: 1.0})
            weights = np.array([row.get(lab, 0.0) for lab in labels], dtype=float)
            weights = weights / weights.sum()
            pick = int(np.searchsorted(np.cumsum(weights), _uniform(seed, self.name, item_id)))
            answer = labels[min(pick, len(labels) - 1)]
            return answer, float(cfg.confusion.get(answer, {answer: 1.0}).get(answer, 1.0))
        hard = cfg.accuracy if cfg.accuracy_hard is None else cfg.accuracy_hard
        p = cfg.accuracy - (cfg.accuracy - hard) * self._difficulty(item_id, fields)
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

    def predict(self, items: Items) -> Answers:
        pairs = [self._answer(i, f) for i, f in zip(items.ids, items.fields)]
        labels = [a for a, _ in pairs]
        conf = np.array([c for _, c in pairs], dtype=float)
        return Answers(labels=labels, confidence=conf,
                       probs=spread_confidence(labels, np.nan_to_num(conf), self.task),
                       calls=[{"simulated": True, "answer": json.dumps(lab)} for lab in labels])

    async def apredict_one(self, items: Items) -> Answers:
        await asyncio.sleep(self.config.latency)
        answers = self.predict(items)
        answers.latency = np.array([self.config.latency])
        return answers
