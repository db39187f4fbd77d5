"""Many workers on one PostgreSQL project (``[run] workers = "many"``).

A run is still one row of ``runs``, and one process at a time holds it (the *leader*: the
run lock's owner, :mod:`labelquorum.engine.lock`). Every other ``labelquorum run`` on the
project joins it as a *follower*. Each process is a row of ``workers``.

What runs where, and why:

- The leader takes every set-level step, exactly as a one-process run does: it loads the
  state, steps the policy (chain ranks, refits, probes and calibration, aggregation over
  the whole set), asks the free local annotators itself, and writes the plan's paid and
  I/O-bound requests to the ledger (``pending``) before anything is asked.
- Those requests are the shared work. Every worker, the leader included, claims a chunk of
  them with ``SELECT ... FOR UPDATE SKIP LOCKED`` (``requests.claimed_by`` and
  ``lease_until``), asks the annotator and stores the answers. A worker's heartbeat thread
  renews its leases; a worker that dies stops renewing, and its claims are taken over once
  the lease ends (at once when its pid is seen dead on the same host). A call that was in
  flight (``sent``) is sent again by the worker that takes it over and counted as repeated.
- An answer is stored only while its request is still claimed by the worker that asked, in
  the transaction that ends the claim; PostgreSQL's unique index ``ux_judgements_once``
  (``ON CONFLICT DO NOTHING``) is the backstop: a request's answer is stored once.
- The budget is one row: ``runs.spent`` and ``runs.reserved``. A call's reservation is
  added, under that row's lock, in the transaction that marks it ``sent``, and only while
  ``spent + reserved + reservation <= budget``; its cost is settled in the transaction
  that stores its answer. So the cap holds whatever the workers do; a reservation of a
  dead worker's call is kept until the worker that takes the call over settles it.
- The leader waits until its plan's requests are answered (helping all along), reads the
  answers back into its state, and steps again. Followers whose leader died take the run
  over through the run lock, which resumes it from the store as after a kill.

The leader lease is the run row's ``owner`` and ``heartbeat`` rather than
``pg_advisory_lock``: an advisory lock belongs to a database session, so it would tie
leadership to one pooled connection and vanish unseen with it, whereas the row is the
lock a one-process run already takes, is plain to see in ``runs``, and resumes the
same way.

This module is a worker (claims, leases, asking, storing) and a follower's loop; the
leader's side, the shared budget row and the hand-over of a plan, is
:mod:`labelquorum.engine.shared`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
from sqlalchemy import bindparam, func, inspect, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from ..annotators import Annotator, Answers, Items
from ..annotators.base import JsonRows
from ..errors import ConfigError, StoreError
from ..store import Store, schema
from ..store.migrations import ONCE_WHERE
from . import lock as run_lock
from .ledger import JUDGEMENT_COLUMNS, REQUEST_STATE, Ledger, instant
from .lock import alive, now, owner
from .shared import IDLE_MAX, OPEN, POLL, SharedBudget, chunks

__all__ = ["Worker", "check_store", "follow", "run_to_join"]



def check_store(store: Store) -> None:
    """A many-worker run needs PostgreSQL, and its once-per-request index."""
    if store.is_sqlite:
        raise ConfigError(
            "workers = \"many\" needs a PostgreSQL store, and this project uses SQLite, "
            "which one process at a time runs. Set [store] url to a PostgreSQL database "
            "(postgresql+psycopg://...), or set workers = \"one\".", key="run.workers")
    with store.connect() as conn:
        names = {i["name"] for i in inspect(conn).get_indexes("judgements")}
    if "ux_judgements_once" not in names:
        raise StoreError(
            "this database's judgements repeat an answer to a request (stored before "
            "labelquorum kept them unique), so the index that lets many workers store each "
            "answer once could not be made (migration 11). Run with workers = \"one\", or "
            "remove the repeated rows and create it: CREATE UNIQUE INDEX ux_judgements_once "
            f"ON judgements (project_id, request_key) WHERE {ONCE_WHERE}.")


def _insert_once(conn, rows: list[tuple]) -> None:
    """Insert judgement rows (``JUDGEMENT_COLUMNS``, driver-ready as for
    :func:`labelquorum.store.insert_rows`); one that answers a request already answered
    is not stored (``ux_judgements_once``)."""
    j = schema.judgements
    stmt = pg_insert(j).on_conflict_do_nothing(index_elements=[j.c.project_id,
                                                               j.c.request_key],
                                               index_where=text(ONCE_WHERE))
    sql = str(stmt.compile(dialect=conn.dialect, column_keys=list(JUDGEMENT_COLUMNS)))
    conn.exec_driver_sql(sql, [dict(zip(JUDGEMENT_COLUMNS, r)) for r in rows])


# -- one worker ------------------------------------------------------------------------
@dataclass
class Worker:
    """One process's share of a many-worker run: registers, claims, asks, stores."""

    store: Store
    task: object
    annotators: dict[str, Annotator]
    run_id: int
    budget: SharedBudget
    lease: float = 60.0
    leader: bool = False
    id: int = 0
    answered: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0
    repeated: int = 0
    lost: int = 0  # answers not stored: the claim had been taken over meanwhile
    missed: int = 0  # heartbeats the database refused

    def __post_init__(self) -> None:
        self.pid = self.store.project_id
        self.names = [n for n, a in self.annotators.items()
                      if not a.deferred and not instant(a)]
        # the ledger's row builders, over the items claimed (no state of the whole set)
        self.ledger = Ledger(self.store, None, SimpleNamespace(task=self.task),
                             self.annotators, self.budget)
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    # -- membership ----------------------------------------------------------------------
    def join(self) -> Worker:
        w = schema.workers
        with self.store.begin() as conn:
            at = conn.execute(select(func.now())).scalar()
            self.id = int(conn.execute(w.insert().values(
                project_id=self.pid, run_id=self.run_id, owner=owner(), state="working",
                started=at, heartbeat=at, answered=0)).inserted_primary_key[0])
        self._beater = threading.Thread(target=self._beat_loop, name="labelquorum-heartbeat",
                                        daemon=True)
        self._beater.start()
        return self

    def leave(self) -> None:
        """Stop beating and give back what is still claimed (nothing in flight is)."""
        self._stop.set()
        if self._beater is not None:
            self._beater.join()
        w, rq = schema.workers, schema.requests
        with self.store.begin() as conn:
            conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                          & (rq.c.claimed_by == self.id))
                         .values(claimed_by=None, lease_until=None))
            conn.execute(update(w).where(w.c.id == self.id).values(state="left"))

    def _beat_loop(self) -> None:
        """Renew this worker's leases and heartbeat, a third of a lease apart, from a thread
        of its own: a call that takes long keeps its claim; a dead process stops. Locks are
        taken in the order the storing transactions take them (requests, then the worker's
        row), and the leader's run row in a transaction of its own."""
        w, rq, rn = schema.workers, schema.requests, schema.runs
        # others judge a worker on another host by its heartbeat (dead after STALE_AFTER
        # without one), so it beats well within that, however long the lease
        while not self._stop.wait(min(self.lease / 3, run_lock.STALE_AFTER / 4)):
            try:
                with self.store.begin() as conn:
                    conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                                  & (rq.c.claimed_by == self.id))
                                 .values(lease_until=self._until()))
                    conn.execute(update(w).where(w.c.id == self.id)
                                 .values(heartbeat=func.now()))
                if self.leader:
                    with self.store.begin() as conn:
                        conn.execute(update(rn).where((rn.c.id == self.run_id)
                                                      & (rn.c.owner == owner()))
                                     .values(heartbeat=func.now()))  # the db's clock
            except SQLAlchemyError:  # the next beat tries again; if none can, leases end
                self.missed += 1

    def _until(self):
        return func.now() + timedelta(seconds=self.lease)

    def reap(self) -> int:
        """Workers of this run found dead: their claims are given up for others at once."""
        w, rq = schema.workers, schema.requests
        with self.store.connect() as conn:
            at = conn.execute(select(func.now())).scalar()
            rows = conn.execute(select(w.c.id, w.c.owner, w.c.heartbeat).where(
                (w.c.project_id == self.pid) & (w.c.run_id == self.run_id)
                & (w.c.state == "working") & (w.c.id != self.id))).all()
        dead = [r.id for r in rows if not alive(r.owner, r.heartbeat, at)]
        if dead:
            with self.store.begin() as conn:
                conn.execute(update(w).where(w.c.id.in_(dead)).values(state="gone"))
                conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                              & rq.c.claimed_by.in_(dead))
                             .values(claimed_by=None, lease_until=None))
        return len(dead)

    # -- work ----------------------------------------------------------------------------
    def claim(self, name: str, n: int) -> list:
        """Claim up to ``n`` open requests of one annotator, at this worker's version of it,
        that no live worker holds."""
        rq = schema.requests
        free = or_(rq.c.claimed_by.is_(None), rq.c.lease_until < func.now())
        wanted = (select(rq.c.key).where(
            (rq.c.project_id == self.pid) & rq.c.state.in_(OPEN) & (rq.c.annotator == name)
            & (rq.c.annotator_version == self.ledger.versions[name]) & free)
            .limit(n).with_for_update(skip_locked=True))
        with self.store.begin() as conn:
            return conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                                 & rq.c.key.in_(wanted))
                                .values(claimed_by=self.id, lease_until=self._until())
                                .returning(rq.c.key, rq.c.item_id, rq.c.state)).all()

    def work_once(self) -> int:
        """Claim a chunk of one annotator's open requests, ask, store; how many were done."""
        for name in self.names:
            ann = self.annotators[name]
            size = max(4 * ann.concurrency, 8) if ann.io_bound else ann.batch_size
            rows = self.claim(name, size)
            if rows:
                return self._ask(ann, rows)
        return 0

    def _items(self, ids: list[str]) -> Items:
        it = schema.items
        fields: dict[str, str] = {}
        with self.store.connect() as conn:
            for part in chunks(ids):
                fields.update(conn.execute(select(it.c.id, it.c.fields).where(
                    (it.c.project_id == self.pid) & it.c.id.in_(part))).all())
        return Items(ids, JsonRows([fields[i] for i in ids]), self.task.text_field)

    def _ask(self, ann: Annotator, rows: list) -> int:
        keys = [r.key for r in rows]
        items = self._items([r.item_id for r in rows])
        reserves = np.asarray(ann.reserve(items), dtype=float)
        again = np.array([r.state == "sent" for r in rows], dtype=bool)
        go, stopped = self._send(ann, keys, reserves, again)
        if not go.any():
            return stopped  # 0 when the calls wait for room: the caller waits too
        keys = [k for k, g in zip(keys, go) if g]
        items = items.take(np.flatnonzero(go))
        if ann.io_bound:
            asyncio.run(self._io(ann, keys, items))
        else:
            for start in range(0, len(keys), ann.batch_size):
                part = np.arange(start, min(start + ann.batch_size, len(keys)))
                self._record(ann, [keys[i] for i in part], items.take(part),
                             ann.annotate(items.take(part)))
        return len(keys) + stopped

    def _send(self, ann: Annotator, keys: list[str], reserves: np.ndarray,
              again: np.ndarray) -> tuple[np.ndarray, int]:
        """Mark claimed requests ``sent``, each with its reservation, under the budget;
        return which go out, and how many were stopped. A request already ``sent`` (its worker died) holds its
        reservation and goes out again, counted as repeated. Of the rest, those the budget
        cannot hold wait for calls in flight to settle, or are ``stopped`` when none is in
        flight anywhere."""
        rq, rn = schema.requests, schema.runs
        go = np.zeros(len(keys), dtype=bool)
        fresh = np.flatnonzero(~again)
        mine = (rq.c.project_id == self.pid) & (rq.c.claimed_by == self.id)
        with self.store.begin() as conn:
            n = len(fresh)
            if self.budget.limit is not None:  # the run row first: one lock order for all
                n = self.budget.take(conn, reserves[fresh])
            ok = np.concatenate([np.flatnonzero(again), fresh[:n]]).astype(int)
            marked: set[str] = set()
            for part in chunks([keys[i] for i in ok]):
                marked.update(conn.execute(update(rq).where(mine & rq.c.key.in_(part)
                                                            & rq.c.state.in_(OPEN))
                                           .values(state="sent", attempts=rq.c.attempts + 1,
                                                   updated=now())
                                           .returning(rq.c.key)).scalars())
            held = [{"k": keys[i], "r": float(reserves[i])} for i in fresh[:n]
                    if keys[i] in marked]
            if held:
                conn.execute(update(rq).where(mine & (rq.c.key == bindparam("k")))
                             .values(reserved_cost=bindparam("r")), held)
            lost = [i for i in fresh[:n] if keys[i] not in marked]  # withdrawn meanwhile
            if lost and self.budget.limit is not None:
                conn.execute(update(rn).where(rn.c.id == self.run_id).values(
                    reserved=rn.c.reserved - float(reserves[lost].sum())))
            rest = [keys[i] for i in fresh[n:]]
            state = None
            if rest and not marked and not self._in_flight(conn):
                state = "stopped"  # nothing to wait for: no call is out anywhere
            if rest:
                for part in chunks(rest):
                    values = {"claimed_by": None, "lease_until": None}
                    if state:
                        values.update(state=state, updated=now())
                    conn.execute(update(rq).where(mine & rq.c.key.in_(part)
                                                  & (rq.c.state == "pending")).values(**values))
            repeated = sum(1 for i in np.flatnonzero(again) if keys[i] in marked)
            if repeated:
                conn.execute(update(rn).where(rn.c.id == self.run_id)
                             .values(repeated_calls=rn.c.repeated_calls + repeated))
        self.repeated += repeated
        for i, k in enumerate(keys):
            go[i] = k in marked
        return go, len(rest) if state else 0

    def _drop(self, ann: Annotator, answers: Answers) -> None:
        """Answers to claims another worker took over meanwhile are not stored; their
        completions leave this process's call cache, so a later ask pays again."""
        self.lost += len(answers)
        cache = getattr(ann, "cache", None)
        if cache is None or not answers.calls:
            return
        for group in ann.call_rows(answers):
            for row in group:
                if row.get("cache_key"):
                    cache.forget(row["cache_key"])

    def _in_flight(self, conn) -> int:
        """Calls of this run's shared annotators out now, on any worker."""
        rq = schema.requests
        return conn.execute(select(func.count()).select_from(rq).where(
            (rq.c.project_id == self.pid) & (rq.c.state == "sent")
            & rq.c.annotator.in_(self.names))).scalar()

    async def _io(self, ann: Annotator, keys: list[str], items: Items) -> None:
        """Ask an I/O-bound annotator ``concurrency`` items at a time; each answer is stored
        as it arrives, off the event loop."""
        todo = iter(range(len(keys)))
        lock = asyncio.Lock()

        async def one() -> None:
            for i in todo:
                answers = await ann.aannotate_one(items.take([i]))
                async with lock:  # one write at a time from this worker
                    await asyncio.to_thread(self._record, ann, [keys[i]], items.take([i]),
                                            answers)

        try:
            await asyncio.gather(*(one() for _ in range(min(ann.concurrency, len(keys)))))
        finally:
            await ann.aclose()

    def _record(self, ann: Annotator, keys: list[str], items: Items, answers: Answers) -> None:
        """Store answers whose requests this worker still claims, end the claims and settle
        the budget, in one transaction; answers to claims lost meanwhile are dropped."""
        rq, w = schema.requests, schema.workers
        at = now()
        stamp = self.store.timestamp(at)
        with self.store.begin() as conn:
            if self.budget.limit is not None:
                self.budget.hold(conn)  # the run row first: one lock order for all
            held = dict(conn.execute(select(rq.c.key, rq.c.reserved_cost).where(
                (rq.c.project_id == self.pid) & rq.c.key.in_(keys)
                & (rq.c.claimed_by == self.id) & (rq.c.state == "sent"))
                .with_for_update()).all())
            keep = [i for i, k in enumerate(keys) if k in held]
            if len(keep) < len(keys):
                self._drop(ann, answers.take([i for i, k in enumerate(keys) if k not in held]))
            if not keep:
                return
            answers = answers.take(keep) if len(keep) < len(keys) else answers
            keys = [keys[i] for i in keep]
            ids = [items.ids[i] for i in keep]
            call_ids = self.ledger._log_calls(conn, ann, keys, answers, at)
            rows = self.ledger._judgement_rows(ann, ids, keys, answers, call_ids, self.run_id,
                                               stamp)
            _insert_once(conn, rows)
            groups: dict[tuple[str, str | None], list[str]] = {}
            errors = answers.errors or [None] * len(keys)
            for i, k in enumerate(keys):
                groups.setdefault((REQUEST_STATE[answers.status[i]], errors[i]), []).append(k)
            for (state, error), group in groups.items():
                conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                              & rq.c.key.in_(group))
                             .values(state=state, error=error, updated=at, claimed_by=None,
                                     lease_until=None))
            cost = float(np.sum(np.asarray(answers.cost, dtype=float)))
            if self.budget.limit is not None:
                self.budget.settle_in(conn, float(sum(held[k] for k in keys)), cost)
            conn.execute(update(w).where(w.c.id == self.id)
                         .values(answered=w.c.answered + len(keys)))
        self.cost += cost
        self.answered[ann.name] = self.answered.get(ann.name, 0) + len(keys)


# -- a follower ------------------------------------------------------------------------
def follow(worker: Worker) -> str:
    """Work on the run as a follower until it ends (``"ended"``) or its leader is dead
    (``"leaderless"``: the caller takes the run over)."""
    rn = schema.runs
    worker.join()
    try:
        pause = POLL
        while True:
            if worker.work_once():
                pause = POLL
                continue
            with worker.store.connect() as conn:
                at = conn.execute(select(func.now())).scalar()
                row = conn.execute(select(rn.c.status, rn.c.owner, rn.c.heartbeat)
                                   .where(rn.c.id == worker.run_id)).one()
            if row.status != "running":
                return "ended"
            if not row.owner or not alive(row.owner, row.heartbeat, at):
                return "leaderless"
            worker.reap()
            time.sleep(pause)
            pause = min(pause * 2, IDLE_MAX)
    finally:
        worker.leave()


def run_to_join(store: Store, wait: float) -> int | None:
    """The id of the project's run in progress, waiting up to ``wait`` seconds for one to
    begin; None when none did."""
    rn = schema.runs
    deadline = time.monotonic() + wait
    while True:
        with store.connect() as conn:
            run_id = conn.execute(select(rn.c.id).where(
                (rn.c.project_id == store.project_id) & (rn.c.status == "running"))
                .order_by(rn.c.id.desc()).limit(1)).scalar()
        if run_id is not None or time.monotonic() > deadline:
            return run_id
        time.sleep(POLL * 4)
