"""Assignment: the people's task queue, leases, and the answers that come back.

The run asks the human tier by writing pending requests (one per item and human
annotator). :meth:`Assigner.sync` turns each into a *task* that needs ``overlap`` answers
from different people. A person is given (leased) one task at a time, plus one preloaded;
a lease that is not answered within ``web.lease_seconds`` returns to the queue.

Invariants, kept by claiming inside one write transaction:

- a task is never leased to more people than it needs answers (``active <= needed``),
  so no item gets more than ``overlap`` human judgements, whatever the concurrency;
- nobody is given the same item twice (a unique index on item and person);
- tasks are handed out in a random order drawn when each is queued (``seq``), the first
  open one to whoever asks next, so work spreads evenly over the people who are working
  and an item's place in the sequence tells nothing (golden questions, drawn at random
  from the control items, arrive at places that look the same).

SQLite serialises the claim with ``BEGIN IMMEDIATE`` (the store's ``begin_write``);
PostgreSQL locks the claimed task row with ``FOR UPDATE SKIP LOCKED``, so concurrent
claims take different rows instead of queueing on one.

Answers to real tasks go into the one judgement table through
:func:`labelquorum.annotators.human.store_answers`, like ``Project.add_judgements``: under
the human annotator's name (``annotator_kind = 'human'``) with the person's user name as
``worker``; when a task has all its answers its request is done and the next
``labelquorum run`` picks them up. Golden questions (see :mod:`labelquorum.quality`)
are leased the same way, but their answers stay with the assignment.

What a person can observe is the same for golden questions and real work: the JSON and
HTML, the place in the sequence, the statements run to claim one (a claim costs the same
four), and the answers undo and skip-then-undo give (:meth:`Assigner.undo` decides them
from events anyone's work would see, not from the item's own state). The time on an item
is measured here (:meth:`Assigner.submit`), never taken from the browser.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    DateTime,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ..errors import WebError
from ..store import schema
from .answers import Answers
from .auth import User

if TYPE_CHECKING:
    from ..project import Project

MAX_OPEN = 2  # leases a person holds at once: the item shown and the one preloaded
HUMAN_KIND = "human"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Lease:
    """What a person is shown: never the item id, never whether it is a golden question."""

    public_id: str
    item_id: str
    fields: dict[str, Any]
    suggestion: str | None
    confidence: float | None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.public_id, "fields": self.fields, "suggestion": None}
        if self.suggestion is not None:
            out["suggestion"] = {"label": self.suggestion, "confidence": self.confidence}
        return out


class Assigner(Answers):
    """The task queue of one project, shared by every request the web app serves."""

    def __init__(self, project: Project, rng: random.Random | None = None):
        from ..quality import GoldQuestions

        self.project = project
        self.store = project.store
        self.pid = project.store.project_id
        self.task = project.task
        self.web = project.config.web
        self.humans = {name: cfg for name, cfg in project.config.annotators.items()
                       if cfg.type == HUMAN_KIND}
        self.overlap = {name: int(cfg.overlap) for name, cfg in self.humans.items()}
        self.rng = rng or random.SystemRandom()
        self.gold = GoldQuestions(project, self.rng)
        self._synced = -math.inf
        self._expired = -math.inf
        self._runs_seen: tuple = ()
        self._prepare()

    def _prepare(self) -> None:
        """Build the hot path's statements once (bound parameters are filled per call):
        building SQLAlchemy expressions costs more than running these small queries."""
        a, ht, it, j, rq = (schema.assignments, schema.human_tasks, schema.items,
                            schema.judgements, schema.requests)
        pid = self.pid
        self._q_open = (select(a.c.public_id, a.c.item_id, a.c.suggestion, it.c.fields)
                        .select_from(a.join(it, (it.c.project_id == a.c.project_id)
                                            & (it.c.id == a.c.item_id)))
                        .where((a.c.project_id == pid) & (a.c.user_id == bindparam("uid"))
                               & (a.c.state == "leased")
                               & (a.c.lease_expires >= bindparam("now", type_=DateTime())))
                        .order_by(a.c.id))
        mine = exists().where((a.c.project_id == ht.c.project_id)
                              & (a.c.item_id == ht.c.item_id) & (a.c.user_id == bindparam("uid")))
        self._q_task = (select(ht.c.request_key, ht.c.item_id, it.c.fields)
                        .select_from(ht.join(it, (it.c.project_id == ht.c.project_id)
                                             & (it.c.id == ht.c.item_id)))
                        .where((ht.c.project_id == pid) & (ht.c.state == "open") & ~mine)
                        .order_by(ht.c.seq).limit(1))
        self._q_take = (update(ht).where((ht.c.project_id == pid)
                                         & (ht.c.request_key == bindparam("rkey")))
                        .values(active=ht.c.active + 1,
                                state=case((ht.c.active + 1 >= ht.c.needed, "full"),
                                           else_="open")))
        self._q_suggest = (select(j.c.label, j.c.confidence, j.c.probs)
                           .where((j.c.project_id == pid) & (j.c.item_id == bindparam("item"))
                                  & (j.c.status == "ok") & (j.c.annotator_kind != HUMAN_KIND)
                                  & j.c.simulated.is_(False) & j.c.label.is_not(None)
                                  & (j.c.value_type != schema.VERDICT))
                           .order_by(j.c.confidence.desc().nulls_last(), j.c.id.desc())
                           .limit(1))
        self._q_lease = a.insert()
        self._q_mine = (select(a).where((a.c.project_id == pid)
                                        & (a.c.public_id == bindparam("public_id"))
                                        & (a.c.user_id == bindparam("uid")))
                        .with_for_update())
        self._q_task_of = (select(ht.c.annotator, ht.c.done, ht.c.needed, rq.c.annotator_version)
                           .select_from(ht.join(rq, (rq.c.project_id == ht.c.project_id)
                                                & (rq.c.key == ht.c.request_key)))
                           .where((ht.c.project_id == pid)
                                  & (ht.c.request_key == bindparam("rkey")))
                           .with_for_update(of=ht))
        self._sync_lock = threading.Lock()
        self._prepare_answers()

    def sync_if_due(self, every: float = 5.0) -> None:
        """:meth:`sync` when a run has started, resumed or finished since the last one
        (only runs create or retire the people's requests), checked at most every
        ``every`` seconds."""
        now = time.monotonic()
        if now - self._synced < every or not self._sync_lock.acquire(blocking=False):
            return
        try:
            self._synced = now
            r = schema.runs
            with self.store.connect() as conn:
                signature = tuple(conn.execute(
                    select(r.c.id, r.c.status, r.c.resumes, r.c.finished, r.c.heartbeat)
                    .where(r.c.project_id == self.pid).order_by(r.c.id)).all())
            if signature != self._runs_seen:
                self.sync()
                self._runs_seen = signature
        finally:
            self._sync_lock.release()

    # -- transactions ------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A claim transaction: SQLite's BEGIN IMMEDIATE; on PostgreSQL a plain one, rows
        being locked where they are read."""
        if self.store.is_sqlite:
            with self.store.begin_write() as conn:
                yield conn
        else:
            with self.store.begin() as conn:
                yield conn

    # -- the queue ---------------------------------------------------------------------
    def sync(self) -> int:
        """Create tasks for the human tier's new pending requests and close those whose
        request is no longer open (decided by review, or superseded). Returns tasks added.

        The scans run outside any write lock (WAL readers do not block writers); only the
        rows that changed are written, in a short transaction."""
        if not self.humans:
            return 0
        rq, ht, j = schema.requests, schema.human_tasks, schema.judgements
        names = list(self.humans)
        with self.store.connect() as conn:
            open_requests = {r.key: r for r in conn.execute(
                select(rq.c.key, rq.c.item_id, rq.c.annotator)
                .where((rq.c.project_id == self.pid) & rq.c.annotator.in_(names)
                       & rq.c.state.in_(("pending", "sent"))))}
            tasks = dict(conn.execute(select(ht.c.request_key, ht.c.state)
                                      .where(ht.c.project_id == self.pid)).all())
            new = [r for key, r in open_requests.items() if key not in tasks]
            answered = {}
            if new:
                # answers that came in another way (Project.add_judgements) count
                answered = dict(conn.execute(
                    select(j.c.request_key, func.count())
                    .where((j.c.project_id == self.pid) & j.c.annotator.in_(names)
                           & (j.c.annotator_kind == HUMAN_KIND) & (j.c.status == "ok"))
                    .group_by(j.c.request_key)).all())
        gone = [key for key, state in tasks.items()
                if state != "closed" and key not in open_requests]
        if not new and not gone:
            return 0
        with self._tx() as conn:
            if new:
                if self.store.is_sqlite:
                    stmt = insert(ht).prefix_with("OR IGNORE")
                else:
                    from sqlalchemy.dialects.postgresql import insert as pg_insert

                    stmt = pg_insert(ht).on_conflict_do_nothing()
                rows = []
                for r in new:
                    needed, done = self.overlap[r.annotator], int(answered.get(r.key, 0))
                    rows.append({"project_id": self.pid, "request_key": r.key,
                                 "item_id": r.item_id, "annotator": r.annotator,
                                 "seq": self.rng.randrange(2**31 - 1), "needed": needed,
                                 "active": done, "done": done,
                                 "state": "open" if done < needed else "full"})
                conn.execute(stmt, rows)
            for start in range(0, len(gone), 900):
                conn.execute(update(ht).where((ht.c.project_id == self.pid)
                                              & ht.c.request_key.in_(gone[start:start + 900]))
                             .values(state="closed"))
        return len(new)

    def _expire(self, conn: Connection, now: datetime) -> int:
        """Return leases past their time to the queue (the person may get the item again)."""
        a, _ht = schema.assignments, schema.human_tasks
        gone = conn.execute(a.delete().where((a.c.project_id == self.pid)
                                             & (a.c.state == "leased")
                                             & (a.c.lease_expires < now))
                            .returning(a.c.request_key)).scalars().all()
        for key in gone:
            if key is not None:
                self._release(conn, key)
        return len(gone)

    def _release(self, conn: Connection, key: str) -> None:
        ht = schema.human_tasks
        conn.execute(update(ht).where((ht.c.project_id == self.pid) & (ht.c.request_key == key))
                     .values(active=ht.c.active - 1,
                             state=case((ht.c.state == "closed", "closed"), else_="open")))

    def open_leases(self, user: User) -> list[Lease]:
        with self.store.connect() as conn:
            rows = conn.execute(self._q_open, {"uid": user.id, "now": _now()}).all()
        return [self._make_lease(r.public_id, r.item_id, r.suggestion, r.fields) for r in rows]

    def next(self, user: User, after: str | None = None) -> Lease | None:
        """The person's current item, or the one after ``after`` (preloading); claims a new
        task when they hold fewer than two. None when there is nothing for them."""
        not_paused(user)
        held = self.open_leases(user)
        rest = [lease for lease in held if lease.public_id != after]
        if rest:
            return rest[0]
        if len(held) >= MAX_OPEN:
            return None
        for _ in range(3):  # a unique-index race with the same person's other tab: retry
            try:
                return self._claim(user)
            except IntegrityError:
                continue
        return None

    def _claim(self, user: User) -> Lease | None:
        ht = schema.human_tasks
        now = _now()
        with self._tx() as conn:
            if time.monotonic() - self._expired >= min(1.0, self.web.lease_seconds / 4):
                self._expired = time.monotonic()
                self._expire(conn, now)
            params = {"uid": user.id}
            row = conn.execute(self._q_task.with_for_update(skip_locked=True, of=ht),
                               params).first()
            # PostgreSQL: every open task may be locked by other claims right now; try
            # again, then wait for a lock, before saying there is nothing to do
            for attempt in range(4 if row is None and not self.store.is_sqlite else 0):
                time.sleep(0.005 * (attempt + 1))
                row = conn.execute(self._q_task.with_for_update(skip_locked=attempt < 3,
                                                                of=ht), params).first()
                if row is not None:
                    break
            if row is None:
                # no real work: no golden question either (a queue of nothing but golden
                # questions would give them away)
                return None
            # a golden question costs the same statements as real work: one that picks
            # it (with its fields) where real work takes its place in the task
            gold = self.gold.pick(conn, user.id) if self.gold.wanted() else None
            if gold is not None:
                (item_id, raw), key = gold, None
            else:
                item_id, key, raw = row.item_id, row.request_key, row.fields
                conn.execute(self._q_take, {"rkey": key})
            suggestion = self._suggestion(conn, item_id)
            text = None if suggestion is None else json.dumps(suggestion)
            public_id = secrets.token_hex(16)
            conn.execute(self._q_lease, {
                "project_id": self.pid, "public_id": public_id, "item_id": item_id,
                "user_id": user.id, "request_key": key, "control": key is None,
                "state": "leased", "leased": now,
                "lease_expires": now + timedelta(seconds=self.web.lease_seconds),
                "suggestion": text})
            return self._make_lease(public_id, item_id, text, raw)

    def _suggestion(self, conn: Connection, item_id: str) -> list | None:
        """The models' most confident answer on the item, as [label, confidence].

        Never a simulated annotator's: it is drawn from the gold, so on a golden question
        it would be the answer itself. Golden questions and real work get their
        suggestion by the same rule, from annotators that never saw the gold."""
        if not self.web.suggestions:
            return None
        row = conn.execute(self._q_suggest, {"item": item_id}).first()
        if row is None:
            return None
        conf = row.confidence
        if conf is None and row.probs:
            conf = max(row.probs.values())
        return [row.label, None if conf is None else round(float(conf), 3)]

    def _lease(self, conn: Connection, public_id: str, item_id: str,
               suggestion: str | None) -> Lease:
        it = schema.items
        raw = conn.execute(select(it.c.fields).where((it.c.project_id == self.pid)
                                                     & (it.c.id == item_id))).scalar()
        return self._make_lease(public_id, item_id, suggestion, raw)

    def _make_lease(self, public_id: str, item_id: str, suggestion: str | None,
                    raw_fields: str | None) -> Lease:
        fields = json.loads(raw_fields or "{}")
        shown = {f: fields.get(f) for f in self.task.fields}
        label, conf = json.loads(suggestion) if suggestion else (None, None)
        return Lease(public_id, item_id, shown, label, conf)

    def lease_of(self, user: User, public_id: str) -> Lease:
        """A leased item of this person (for the media route and the page)."""
        a = schema.assignments
        with self.store.connect() as conn:
            row = conn.execute(select(a.c.public_id, a.c.item_id, a.c.suggestion)
                               .where((a.c.project_id == self.pid)
                                      & (a.c.public_id == public_id)
                                      & (a.c.user_id == user.id))).first()
            if row is None:
                raise WebError("no such item among yours", status=404, code="not_found")
            return self._lease(conn, row.public_id, row.item_id, row.suggestion)

    def lease_of_row(self, row) -> Lease:
        with self.store.connect() as conn:
            return self._lease(conn, row.public_id, row.item_id, row.suggestion)


def not_paused(user: User) -> None:
    """A paused person (low accuracy on gold) gets no item and stores no answer."""
    if user.paused:
        raise WebError("your account is paused; an admin can resume it", status=403,
                       code="paused")
