"""The request ledger and the budget: what was asked, what it may cost, what it cost.

Every question to an annotator is a row of ``requests`` keyed by an idempotency key
(project, item, annotator, annotator version). The rules:

- a paid or human request is written (``pending``) before the annotator is asked, and
  marked ``sent`` just before the call goes out; its judgement, its call log and its final
  state are written in one transaction the moment the answer exists. A killed run resumes:
  answered requests are never asked again, ``pending`` ones are asked, ``sent`` ones (in
  flight at the kill) are asked again and counted as repeated calls;
- a free, local, deterministic annotator's request is written together with its judgement
  after the batch is computed (asking it again after a crash costs nothing and gives the
  same answer, so no paid call is repeated, lost or stored twice either way);
- decisions are written with the plan that makes them. A decision closed for good
  (``final``, ``review``) is never written over: an item a reviewer decided while the
  plan was being made is skipped, not overwritten.

:class:`Budget` is the money cap. Committed spend is the settled cost of every judgement
plus what the calls in flight (and people's open tasks) may still cost. A call is let out
only while its reservation — the most it can cost — fits under the cap; it settles at what
it cost and the rest of its reservation is released at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select, update

from ..annotators import Annotator, Answers
from ..errors import PolicyError
from ..policies import REOPENABLE, Decision
from ..policies.cascade import take
from ..store import Store, insert_rows, json_text, schema, upsert_rows
from .lock import RunLock, now
from .state import RunState

REQUEST_STATE = {"ok": "done", "abstain": "abstained", "failed": "failed"}
DECISION_COLUMNS = ("project_id", "item_id", "label", "value", "confidence", "decided_by", "tier",
                    "flags", "state", "provenance", "run_id", "created")
REQUEST_COLUMNS = ("project_id", "key", "item_id", "annotator", "annotator_version", "run_id",
                   "reserved_cost", "state", "attempts", "error", "updated")
JUDGEMENT_COLUMNS = ("project_id", "request_key", "item_id", "annotator", "annotator_kind",
                     "annotator_version", "value_type", "label", "value", "probs", "confidence",
                     "cost", "latency", "call_id", "run_id", "status", "simulated", "created",
                     "confidence_method")
REOPENABLE_SQL = "decisions.state IN ({})".format(", ".join(f"'{s}'" for s in REOPENABLE))
SLICE = 900  # ids per IN (...) clause
ROWS_AT_ONCE = 20_000  # rows built and written at a time


def request_key(project_id: int, item_id: str, annotator: str, version: str) -> str:
    raw = f"{project_id}\x1f{item_id}\x1f{annotator}\x1f{version}".encode()
    return hashlib.sha1(raw).hexdigest()[:32]


def instant(ann: Annotator) -> bool:
    """Free, local and deterministic: its request is written with its answer."""
    return not ann.io_bound and not ann.deferred and ann.max_cost == 0


def _slices(seq: list) -> list[list]:
    return [seq[i:i + SLICE] for i in range(0, len(seq), SLICE)]


@dataclass
class Budget:
    """The project-wide money cap (``None``: no cap)."""

    limit: float | None
    settled: float = 0.0  # the cost of every stored judgement
    held: float = 0.0  # reservations of calls in flight and of people's open tasks

    @property
    def left(self) -> float | None:
        return None if self.limit is None else max(self.limit - self.settled - self.held, 0.0)

    def fits(self, amount: float) -> bool:
        return (self.limit is None or amount <= 0
                or self.settled + self.held + amount <= self.limit + 1e-12)

    def admit(self, reserves: np.ndarray) -> int:
        """How many of these calls, in order, fit now (and hold their reservations)."""
        if self.limit is None:
            n = len(reserves)
        else:
            room = self.limit - self.settled - self.held + 1e-12
            fits = (np.cumsum(reserves) <= room) | (reserves <= 0)
            n = int(np.argmin(fits)) if not fits.all() else len(reserves)
        self.held += float(np.sum(reserves[:n]))
        return n

    def settle(self, reserved: float, cost: float) -> None:
        self.held = max(self.held - reserved, 0.0)
        self.settled += cost


@dataclass
class Ledger:
    """Writes of one run: plans (decisions and requests), marks, answers."""

    store: Store
    lock: RunLock
    state: RunState
    annotators: dict[str, Annotator]
    budget: Budget
    versions: dict[str, str] = field(default_factory=dict)
    repeated: int = 0  # calls in flight at a kill, sent again
    unlabelled: int = 0  # items closed for good without a label

    def __post_init__(self) -> None:
        self.pid = self.store.project_id
        self.refresh_versions()

    def refresh_versions(self) -> None:
        self.versions = {n: a.version for n, a in self.annotators.items()}

    def key(self, name: str, p: int) -> str:
        return request_key(self.pid, self.state.ids[p], name, self.versions[name])

    @classmethod
    def settled_cost(cls, store: Store) -> float:
        j = schema.judgements
        with store.connect() as conn:
            return float(conn.execute(select(func.sum(j.c.cost))
                                      .where(j.c.project_id == store.project_id)).scalar()
                         or 0.0)

    def supersede(self, keys: list[str]) -> None:
        rq = schema.requests
        with self.store.begin() as conn:
            for part in _slices(keys):
                conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                              & rq.c.key.in_(part))
                             .values(state="superseded", updated=now()))

    # -- plans -------------------------------------------------------------------------
    def write_plan(self, decisions: list[Decision], asks: dict[str, np.ndarray],
                   stopped: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Commit decisions and the requests of paid and human asks in one transaction.

        Items a reviewer closed since the state was loaded are left alone (their asks are
        dropped, their decisions not written) and closed in the state; returns the asks
        that stand. ``stopped`` asks (the budget stopped them before they were sent) are
        written as ``stopped`` requests, so the ledger remembers they were planned."""
        st = self.state
        parts = [d.positions for d in decisions] + list(asks.values())
        touched = (np.unique(np.concatenate(parts)).astype(np.int64) if parts
                   else np.empty(0, dtype=np.int64))
        stamp = self.store.timestamp(now())
        with self.store.begin_write() as conn:
            closed = self._closed_since_load(conn, touched)
            if closed:
                gone = np.array(sorted(closed), dtype=np.int64)
                st.close(gone, final=True)
                keep = np.ones(len(st), dtype=bool)
                keep[gone] = False
                decisions = [Decision(d.positions[keep[d.positions]],
                                      take(d.consensus, keep[d.positions]), d.decided_by,
                                      d.tier, d.flags, d.state) for d in decisions]
                asks = {n: ps[keep[ps]] for n, ps in asks.items()}
                asks = {n: ps for n, ps in asks.items() if len(ps)}
            for dec in decisions:  # in slices: a million rows are never built at once
                for start in range(0, len(dec.positions), ROWS_AT_ONCE):
                    rows = self._decision_rows(dec, start, stamp)
                    upsert_rows(conn, schema.decisions, DECISION_COLUMNS, rows,
                                ("project_id", "item_id"), DECISION_COLUMNS[2:],
                                where=REOPENABLE_SQL)
            wanted = [(n, ps, "pending") for n, ps in asks.items()
                      if not instant(self.annotators[n])]
            wanted += [(n, ps, "stopped") for n, ps in (stopped or {}).items()]
            for name, ps, state in wanted:
                for start in range(0, len(ps), ROWS_AT_ONCE):
                    rows = [self._request_row(name, p, state, stamp)
                            for p in ps[start:start + ROWS_AT_ONCE].tolist()]
                    upsert_rows(conn, schema.requests, REQUEST_COLUMNS, rows,
                                ("project_id", "key"), ("run_id", "reserved_cost", "state",
                                                        "updated"))
            self.lock.beat(conn)
        for dec in decisions:
            st.close(dec.positions, final=dec.state not in REOPENABLE)
        for name, ps in (stopped or {}).items():
            st.planned[name][ps] = True
        return asks

    def _closed_since_load(self, conn, positions: np.ndarray) -> set[int]:
        """Of the items the state thinks open, those now closed for good in the store."""
        st = self.state
        ids = st.ids[positions[~st.final[positions]]].tolist()
        d = schema.decisions
        out: set[int] = set()
        for part in _slices(ids):
            for item_id in conn.execute(select(d.c.item_id).where(
                    (d.c.project_id == self.pid) & d.c.item_id.in_(part)
                    & d.c.state.not_in(REOPENABLE))).scalars():
                out.add(st.pos[item_id])
        return out

    def _request_row(self, name: str, p: int, state: str, stamp) -> tuple:
        ann = self.annotators[name]
        return (self.pid, self.key(name, p), self.state.ids[p], name, self.versions[name],
                self.lock.run_id, float(ann.max_cost), state, 0, None, stamp)

    def _decision_rows(self, dec: Decision, start: int, stamp) -> list[tuple]:
        """Rows of ``decisions`` for a slice of a decision's items."""
        st, task = self.state, self.state.task
        kind = task.strategy
        c, positions = dec.consensus, dec.positions[start:start + ROWS_AT_ONCE]
        provenance = st.provenance(positions)
        deciders = st.deciders(dec.decided_by, positions)
        base_flags = [f for f in dec.flags.split(",") if f]
        out = []
        for i, p in enumerate(positions.tolist(), start=start):
            label, value = kind.stored(task, kind.decode(task, c, i))
            flags = list(base_flags)
            if label is None and value is None:
                if "unlabelled" not in flags:
                    flags.append("unlabelled")
                if dec.state not in REOPENABLE:
                    self.unlabelled += 1
            if st.suspicious[p] and "injection" not in flags:
                flags.append("injection")  # the export keeps the trace, whoever decided
            by = deciders[i - start]
            out.append((self.pid, st.ids[p], label, json_text(value), float(c.confidence[i]),
                        by, dec.tier, ",".join(flags), str(dec.state),
                        provenance[i - start], self.lock.run_id, stamp))
        return out

    # -- asking ------------------------------------------------------------------------
    def mark_sent(self, keys: list[str]) -> set[str]:
        """Mark calls as going out; one that was in flight at a kill counts as repeated.
        The count is stored with the mark, so a resumed run killed again still reports it.

        Returns the keys withdrawn since they were planned (a reviewer decided the item
        and superseded its requests): those must not be sent."""
        rq = schema.requests
        marked: set[str] = set()
        with self.store.begin() as conn:
            for part in _slices(keys):
                marked.update(conn.execute(
                    update(rq).where((rq.c.project_id == self.pid) & rq.c.key.in_(part)
                                     & rq.c.state.in_(("pending", "sent")))
                    .values(state="sent", attempts=rq.c.attempts + 1, updated=now())
                    .returning(rq.c.key)).scalars())
            repeated = [k for k in keys if k in self.state.sent_keys and k in marked]
            if repeated:
                self.lock.count_repeated(conn, len(repeated))
            unmarked = [k for k in keys if k not in marked]
            withdrawn: set[str] = set()
            for part in _slices(unmarked):
                withdrawn.update(conn.execute(select(rq.c.key).where(
                    (rq.c.project_id == self.pid) & rq.c.key.in_(part)
                    & (rq.c.state == "superseded"))).scalars())
        if repeated:
            self.state.sent_keys.difference_update(repeated)
            self.repeated += len(repeated)
        if len(withdrawn) < len(unmarked):  # never planned: a broken promise of the ledger
            missing = sorted(set(unmarked) - withdrawn)
            raise PolicyError(f"{len(missing)} calls were about to go out with no open request "
                              f"in the ledger (first key {missing[0]}); nothing was sent. This "
                              "is a bug of labelquorum: please report it")
        return withdrawn

    def unsend(self, keys: list[str]) -> None:
        """Requests the budget stopped before they went out: planned, never asked."""
        rq = schema.requests
        with self.store.begin() as conn:
            for part in _slices(keys):
                conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                              & rq.c.key.in_(part)
                                              & rq.c.state.in_(("pending", "sent")))
                             .values(state="stopped", updated=now()))

    def record(self, ann: Annotator, positions: np.ndarray, answers: Answers) -> None:
        """Store answers, their call log and their requests' final states in one
        transaction (an instant annotator's requests are written here, answered)."""
        name, pid, st = ann.name, self.pid, self.state
        at = now()
        stamp = self.store.timestamp(at)
        n = len(positions)
        pos = positions.tolist()
        keys = [self.key(name, p) for p in pos]
        status = answers.status
        cost = np.asarray(answers.cost, dtype=float)
        latency = np.asarray(answers.latency, dtype=float)
        conf = (np.full(n, np.nan) if answers.confidence is None
                else np.asarray(answers.confidence, dtype=float))
        methods = answers.methods or [None] * n
        probs_json = self._probs_json(answers, status)
        fmt = st.task.format_label
        kind, version, vtype, run_id, sim = (ann.kind, self.versions[name], st.task.value_type,
                                             self.lock.run_id, bool(ann.simulated))
        with self.store.begin() as conn:
            call_ids = self._log_calls(conn, ann, keys, answers, at)
            rows = [(pid, keys[i], st.ids[p], name, kind, version, vtype,
                     fmt(answers.labels[i]),
                     json_text(list(answers.labels[i])) if isinstance(answers.labels[i], tuple)
                     else None,
                     probs_json[i], None if np.isnan(conf[i]) else float(conf[i]),
                     float(cost[i]), float(latency[i]), call_ids[i], run_id, status[i], sim,
                     stamp, methods[i])
                    for i, p in enumerate(pos)]
            insert_rows(conn, schema.judgements, JUDGEMENT_COLUMNS, rows)
            if instant(ann):
                reqs = [(pid, keys[i], st.ids[p], name, version, run_id, 0.0,
                         REQUEST_STATE[status[i]], 1, answers.errors[i], stamp)
                        for i, p in enumerate(pos)]
                upsert_rows(conn, schema.requests, REQUEST_COLUMNS, reqs, ("project_id", "key"),
                            ("run_id", "state", "error", "updated"))
            else:
                self._settle_requests(conn, ann, keys, status, answers.errors, at)
            self.lock.beat(conn)

    def _settle_requests(self, conn, ann, keys, status, errors, at) -> None:
        rq = schema.requests
        by_state: dict[tuple[str, str | None], list[str]] = {}
        for i, key in enumerate(keys):
            by_state.setdefault((REQUEST_STATE[status[i]], errors[i]), []).append(key)
        bump = 0 if ann.io_bound or ann.max_cost > 0 else 1  # sent calls counted already
        for (state, error), group in by_state.items():
            for part in _slices(group):
                conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                              & rq.c.key.in_(part))
                             .values(state=state, error=error, updated=at,
                                     attempts=rq.c.attempts + bump))

    def _probs_json(self, answers: Answers, status: list[str]) -> list[str | None]:
        n = len(status)
        out: list[str | None] = [None] * n
        if answers.probs is None:
            return out
        ok = np.array([s == "ok" for s in status], dtype=bool)
        has = ~np.isnan(answers.probs).any(axis=1) & ok
        if has.any():
            labels = self.state.task.labels
            template = "{{" + ", ".join(json.dumps(lab).replace("{", "{{").replace("}", "}}")
                                        + ": {}" for lab in labels) + "}}"
            for i in np.flatnonzero(has).tolist():
                out[i] = template.format(*map(repr, answers.probs[i].tolist()))
        return out

    def _log_calls(self, conn, ann: Annotator, keys: list[str], answers: Answers,
                   at) -> list[int | None]:
        """Write the model-call log of a batch (rows from :meth:`Annotator.call_rows`);
        return each answer's call id: its last call, or None."""
        groups = ann.call_rows(answers) if answers.calls else []
        ids: list[int | None] = [None] * len(keys)
        rows, owner = [], []
        for i, group in enumerate(groups):
            for row in group:
                row.update(project_id=self.pid, request_key=keys[i], annotator=ann.name,
                           created=at)
                rows.append(row)
                owner.append(i)
        if not rows:
            return ids
        mc = schema.model_calls
        result = conn.execute(mc.insert().returning(mc.c.id, sort_by_parameter_order=True), rows)
        for i, call_id in zip(owner, result.scalars()):
            ids[i] = call_id
        return ids
