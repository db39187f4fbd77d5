"""The leader's side of a many-worker run: the shared budget row and the hand-over of a
plan's calls to the workers (see :mod:`labelquorum.engine.workers` for the design)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select, update

from ..annotators import Answers
from ..policies import NOT_ASKED
from ..spans import canonical
from ..store import Store, schema
from .ledger import REQUEST_STATE, SLICE, Budget, Ledger

if TYPE_CHECKING:
    from .workers import Worker

__all__ = ["SharedBudget", "SharedPool"]

OPEN = ("pending", "sent")
POLL = 0.05  # seconds between looks for work, doubling while idle up to IDLE_MAX
IDLE_MAX = 0.5


def chunks(seq: list, size: int = SLICE) -> list[list]:
    """``seq`` in slices small enough for one ``IN (...)`` clause."""
    return [seq[i:i + size] for i in range(0, len(seq), size)]


# -- the budget ------------------------------------------------------------------------
class SharedBudget(Budget):
    """The project's money cap, shared by every worker through the run's row."""

    def __init__(self, store: Store, run_id: int, limit: float | None,
                 held: float | None = None):
        super().__init__(limit)
        self.store, self.run_id = store, run_id
        if limit is not None and held is not None:  # the leader counts, followers use it
            self._open(held)

    def _open(self, held: float) -> None:
        """Count what is spent and what the calls in flight hold, from the store (a
        resumed run included), under the run row's lock."""
        rn, rq, j = schema.runs, schema.requests, schema.judgements
        pid = self.store.project_id
        with self.store.begin() as conn:
            conn.execute(select(rn.c.id).where(rn.c.id == self.run_id).with_for_update())
            spent = conn.execute(select(func.coalesce(func.sum(j.c.cost), 0.0))
                                 .where(j.c.project_id == pid)).scalar()
            flying = conn.execute(select(func.coalesce(func.sum(rq.c.reserved_cost), 0.0))
                                  .where((rq.c.project_id == pid) & (rq.c.state == "sent")))
            conn.execute(update(rn).where(rn.c.id == self.run_id).values(
                spent=float(spent), reserved=float(flying.scalar()) + held))

    def _row(self, conn=None) -> tuple[float, float]:
        rn = schema.runs
        q = select(rn.c.spent, rn.c.reserved).where(rn.c.id == self.run_id)
        if conn is None:
            with self.store.connect() as c:
                row = c.execute(q).one()
        else:
            row = conn.execute(q.with_for_update()).one()
        return float(row.spent or 0.0), float(row.reserved or 0.0)

    def hold(self, conn) -> None:
        """Lock the budget row in ``conn``'s transaction (taken first by every transaction
        that writes it, so all take their locks in one order)."""
        self._row(conn)

    @property
    def left(self) -> float | None:
        if self.limit is None:
            return None
        spent, reserved = self._row()
        return max(self.limit - spent - reserved, 0.0)

    def admit(self, reserves: np.ndarray) -> int:
        """People's tasks: how many fit now, their reservations held in the shared row."""
        if self.limit is None or not len(reserves):
            return len(reserves)
        with self.store.begin() as conn:
            return self.take(conn, np.asarray(reserves, dtype=float))

    def take(self, conn, reserves: np.ndarray) -> int:
        """Within ``conn``'s transaction: how many of these reservations, in order, fit;
        hold them."""
        spent, reserved = self._row(conn)
        room = self.limit - spent - reserved + 1e-12
        fits = (np.cumsum(reserves) <= room) | (reserves <= 0)
        n = int(np.argmin(fits)) if not fits.all() else len(reserves)
        if n:
            rn = schema.runs
            conn.execute(update(rn).where(rn.c.id == self.run_id)
                         .values(reserved=rn.c.reserved + float(np.sum(reserves[:n]))))
        return n

    def settle_in(self, conn, reserved: float, cost: float) -> None:
        rn = schema.runs
        conn.execute(update(rn).where(rn.c.id == self.run_id).values(
            spent=rn.c.spent + cost, reserved=func.greatest(rn.c.reserved - reserved, 0.0)))


# -- the leader's side -----------------------------------------------------------------
@dataclass
class SharedPool:
    """The leader's hand-over: a plan's requests, answered by every worker, read back."""

    worker: Worker
    state: object  # the run's RunState
    ledger: Ledger

    def shares(self, name: str) -> bool:
        """Are this annotator's calls shared among the workers (paid or I/O-bound)?"""
        return name in self.worker.names

    def ask(self, asks: dict[str, np.ndarray], report) -> dict[str, np.ndarray]:
        """Help answer the requests of ``asks`` until none is open; put the answers in the
        state; return what the budget stopped, per annotator."""
        self.worker.ledger.refresh_versions()  # a refit may have made new versions
        keys = {name: [self.ledger.key(name, int(p)) for p in ps] for name, ps in asks.items()}
        for name, ps in asks.items():
            report.asked[name] = report.asked.get(name, 0) + len(ps)
        every = [k for ks in keys.values() for k in ks]
        pause = POLL
        while True:
            if self.worker.work_once():
                pause = POLL
                continue
            if not self._open(every):
                break
            self.worker.reap()
            time.sleep(pause)
            pause = min(pause * 2, IDLE_MAX)
        stopped: dict[str, np.ndarray] = {}
        for name, ps in asks.items():
            stopped[name] = self._read(name, ps, keys[name], report)
        return {n: ps for n, ps in stopped.items() if len(ps)}

    def _open(self, keys: list[str]) -> int:
        rq = schema.requests
        n = 0
        with self.worker.store.connect() as conn:
            for part in chunks(keys):
                n += conn.execute(select(func.count()).select_from(rq).where(
                    (rq.c.project_id == self.worker.pid) & rq.c.key.in_(part)
                    & rq.c.state.in_(OPEN))).scalar()
        return n

    def _read(self, name: str, positions: np.ndarray, keys: list[str], report) -> np.ndarray:
        """Put one annotator's stored answers in the state, as if asked here; return the
        positions the budget stopped."""
        rq, j = schema.requests, schema.judgements
        st, pid = self.state, self.worker.pid
        states: dict[str, str] = {}
        rows: dict[str, object] = {}
        with self.worker.store.connect() as conn:
            for part in chunks(keys):
                states.update(conn.execute(select(rq.c.key, rq.c.state).where(
                    (rq.c.project_id == pid) & rq.c.key.in_(part))).all())
                for r in conn.execute(select(j.c.request_key, j.c.label, j.c.value,
                                             j.c.probs, j.c.status, j.c.cost)
                                      .where((j.c.project_id == pid)
                                             & j.c.request_key.in_(part)
                                             & (j.c.status != "superseded"))
                                      .order_by(j.c.id)):
                    rows[r.request_key] = r  # the last answer to each request
        at = {k: i for i, k in enumerate(keys)}
        answered = [k for k in keys if k in rows and states.get(k) in REQUEST_STATE.values()]
        if answered:
            pos = positions[[at[k] for k in answered]]
            answers = self._answers([rows[k] for k in answered])
            st.remember(name, pos, answers)
            failed = sum(1 for s in answers.status if s == "failed")
            if failed:
                report.failed[name] = report.failed.get(name, 0) + failed
            report.cost += float(np.sum(answers.cost))
        gone = np.array([at[k] for k in keys if states.get(k) == "superseded"], dtype=np.int64)
        if len(gone):  # a reviewer decided these items before their calls went out
            st.status[name][positions[gone]] = NOT_ASKED
            st.close(positions[gone], final=True)
            report.asked[name] = report.asked.get(name, 0) - len(gone)
        stopped = np.array([positions[at[k]] for k in keys if states.get(k) == "stopped"],
                           dtype=np.int64)
        report.asked[name] = report.asked.get(name, 0) - len(stopped)
        return np.sort(stopped)

    def _answers(self, rows: list) -> Answers:
        task = self.state.task
        labels, k = task.labels, len(task.labels)
        probs = np.full((len(rows), k), np.nan)
        values = []
        for i, r in enumerate(rows):
            if r.status != "ok":
                values.append(None)
                continue
            if task.spans:
                values.append(canonical(r.value) if r.value is not None
                              else task.parse_label(r.label))
            elif task.multilabel:
                values.append(tuple(r.value if r.value is not None else r.label.split("|")))
            else:
                values.append(r.label)
            if r.probs:
                probs[i] = [r.probs.get(lab, 0.0) for lab in labels]
        return Answers(labels=values, probs=probs, cost=np.array([r.cost for r in rows]),
                       status=[r.status for r in rows])
