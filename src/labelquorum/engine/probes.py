"""Golden probes: control gold mixed into every annotator's stream during a run.

Control items are never real work: the run closes each with its gold (decided ``gold``),
and at every step each model, LLM, rules, replay or simulated annotator that the plan asks
about ``n`` real items is also asked about ⌈``quality.control_rate`` · n⌉ control items it
has not been given yet (one at least, while the bank has any left for it), picked by
:meth:`labelquorum.quality.GoldenBank.next_items`: never an item twice to the same
annotator version (a retrained model, or an annotator whose config changed, is a new one
and is watched afresh), the least-probed first, only items whose certainty reaches
``quality.min_certainty``. People get control items as golden questions from the web app.

Probes go through the same ledger as real asks: requests written before the call, the
budget's cap, answers stored as judgements. A resumed run asks the probes a killed one
left outstanding and never gives an annotator an item it already has a request for, so
no probe is paid twice. After each step the monitor (:class:`labelquorum.quality.watch.
GoldenWatch`) is fed the golden answers that arrived.
"""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import select

from ..annotators import Annotator
from ..store import Store, schema
from .state import RunState

GIVEN = ("pending", "sent", "done", "abstained", "failed")  # request states that count


class Probes:
    """Which control items each annotator is probed with next."""

    def __init__(self, store: Store, state: RunState, annotators: dict[str, Annotator],
                 bank, rate: float):
        self.state, self.annotators, self.bank, self.rate = state, annotators, bank, rate
        # (annotator, version) -> control items it has a request for
        self.given: dict[tuple[str, str], set[str]] = {}
        self.served: dict[str, int] = {}
        rq, it = schema.requests, schema.items
        with store.connect() as conn:
            for name, version, item in conn.execute(
                    select(rq.c.annotator, rq.c.annotator_version, rq.c.item_id)
                    .join(it, (it.c.project_id == rq.c.project_id) & (it.c.id == rq.c.item_id))
                    .where((rq.c.project_id == store.project_id) & rq.c.state.in_(GIVEN)
                           & (it.c.gold_role == "control"))):
                if name not in annotators or item not in state.control:
                    continue
                given = self.given.setdefault((name, version), set())
                if item not in given:
                    given.add(item)
                    self.served[item] = self.served.get(item, 0) + 1
        self.asked: dict[str, int] = {}

    def probed(self, name: str) -> bool:
        ann = self.annotators[name]
        return not ann.deferred  # people get golden questions from the web app

    def pick(self, asks: dict[str, np.ndarray],
             versions: dict[str, str]) -> dict[str, np.ndarray]:
        """The probes to add to a step's real asks (positions per annotator), for the
        annotators' current ``versions``."""
        out: dict[str, np.ndarray] = {}
        if self.rate <= 0 or not len(self.bank):
            return out
        for name, positions in asks.items():
            if not len(positions) or not self.probed(name):
                continue
            n = max(1, math.ceil(self.rate * len(positions) - 1e-9))
            given = self.given.setdefault((name, versions[name]), set())
            items = self.bank.next_items(name, given, n, self.served)
            if not items:
                continue
            for item in items:
                given.add(item)
                self.served[item] = self.served.get(item, 0) + 1
            out[name] = np.sort(np.array([self.state.pos[i] for i in items], dtype=np.int64))
            self.asked[name] = self.asked.get(name, 0) + len(items)
        return out
