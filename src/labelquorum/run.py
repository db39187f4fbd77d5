"""The run: execute a policy over a project's open items, resumably.

Every question to an annotator goes through the request ledger: the request row
(idempotency key, reserved cost, state ``pending``) is committed with the plan's decisions
before the annotator is asked; an I/O-bound call is marked ``sent`` just before it goes
out; its judgement, call log and the request's final state are written in one
transaction the moment the answer exists. After ``kill -9`` a new run resumes the
unfinished one: answered requests are never asked again, pending ones are asked, and
``sent`` ones (in flight at the kill, at most the concurrency limit) are asked again and
counted as repeated calls. Everything a policy sees is rebuilt from the store, so the
resumed run makes the same choices an uninterrupted one would.

The money budget is project-wide: committed cost = settled costs of judgements plus the
reservations of outstanding requests. When a plan's next item would overrun it,
escalation stops; that item and the rest keep their best label so far, flagged
``budget``, and are reopened by a later run once the budget allows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import and_, bindparam, func, select, update

from .aggregation import tie_keys
from .annotators import Annotator, Answers, Items
from .annotators.base import JsonRows
from .annotators.cache import CallCache
from .errors import PolicyError, ProjectError
from .injection import flag_injections
from .policies import (
    ABSTAIN,
    FAILED,
    NOT_ASKED,
    OK,
    PENDING,
    AnnotatorInfo,
    Decision,
    Plan,
    PolicyState,
)
from .spans import canonical, to_text
from .store import insert_rows, json_text, schema
from .store.writer import Coalescer

if TYPE_CHECKING:
    from .project import Project

STATUS_CODE = {"ok": OK, "abstain": ABSTAIN, "failed": FAILED}
REQUEST_STATE = {"ok": "done", "abstain": "abstained", "failed": "failed"}
CHUNK = 4096
DECISION_COLUMNS = ("project_id", "item_id", "label", "value", "confidence", "decided_by", "tier",
                    "flags", "provenance", "run_id", "created")
REQUEST_COLUMNS = ("project_id", "key", "item_id", "annotator", "annotator_version", "run_id",
                   "reserved_cost", "state", "attempts", "updated")
JUDGEMENT_COLUMNS = ("project_id", "request_key", "item_id", "annotator", "annotator_kind",
                     "annotator_version", "value_type", "label", "value", "probs", "confidence",
                     "cost", "latency", "call_id", "run_id", "status", "simulated", "created",
                     "confidence_method")


@dataclass
class RunReport:
    run_id: int
    resumed: bool
    items: int
    decided_now: int
    open: int
    waiting_human: int
    asked: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0
    repeated_calls: int = 0
    budget_stopped: int = 0
    notes: list[str] = field(default_factory=list)
    status: str = "done"


def request_key(project_id: int, item_id: str, annotator: str, version: str) -> str:
    raw = f"{project_id}\x1f{item_id}\x1f{annotator}\x1f{version}".encode()
    return hashlib.sha1(raw).hexdigest()[:32]


def _now() -> datetime:
    return datetime.now(UTC)


def _owner() -> str:
    """This process, as recorded in a run's ``owner``."""
    return f"{socket.gethostname()}:{os.getpid()}"

STALE_AFTER = 120  # seconds without a heartbeat after which another host's run is dead


def _alive(owner: str, heartbeat: datetime | None, now: datetime) -> bool:
    """Is the process that owns a run still working on it?"""
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if heartbeat is None:
        return False
    if heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=UTC)
    return (now - heartbeat).total_seconds() < STALE_AFTER


class Runner:
    """One run of a project's policy. Use :meth:`labelquorum.Project.run`."""

    def __init__(self, project: Project, annotators: dict[str, Annotator], policy,
                 progress: Callable[[int, int, str], None] | None = None,
                 seed: int | None = None):
        self.project = project
        self.store = project.store
        self.pid = project.store.project_id
        self.task = project.task
        self.annotators = annotators
        self.policy = policy
        self.progress = progress or (lambda done, total, stage: None)
        self.seed = project.config.project.seed if seed is None else seed
        self.budget = project.config.policy.budget
        self.aggregator = project.config.policy.aggregator

    # -- run lifecycle -----------------------------------------------------------------
    def _start(self) -> tuple[int, bool]:
        """Begin a run, or resume the unfinished one; refuse while another process runs it."""
        t = schema.runs
        now = _now()
        with self.store.begin_write() as conn:
            # only a run that was interrupted is resumed; one that ended waiting on people
            # is over, and the next starts afresh (training on everything decided so far)
            row = conn.execute(select(t.c.id, t.c.owner, t.c.heartbeat, t.c.seed,
                                      t.c.config_hash).where(
                (t.c.project_id == self.pid) & (t.c.status == "running")
            ).order_by(t.c.id.desc())).first()
            if row is not None:
                if row.owner and row.owner != _owner() and _alive(row.owner, row.heartbeat, now):
                    raise ProjectError(
                        f"run {row.id} of this project is in progress in process {row.owner}; "
                        "wait for it to finish (or stop it: a stopped run resumes where it "
                        "was) before starting another")
                conn.execute(update(t).where(t.c.id == row.id).values(
                    status="running", resumes=t.c.resumes + 1, owner=_owner(), heartbeat=now))
                self.seed = int(row.seed)
                if row.config_hash != self.project.config_hash:
                    self.config_changed = True
                return int(row.id), True
            rid = conn.execute(t.insert().values(
                project_id=self.pid, started=now, status="running", seed=self.seed,
                config_hash=self.project.config_hash, repeated_calls=0, resumes=0,
                owner=_owner(), heartbeat=now,
            )).inserted_primary_key[0]
            return int(rid), False

    def _beat(self, conn) -> None:
        """Refresh the run's heartbeat inside a write transaction, at most every 10 s."""
        now = _now()
        if (now - self._last_beat).total_seconds() >= 10:
            t = schema.runs
            conn.execute(update(t).where(t.c.id == self.run_id).values(heartbeat=now))
            self._last_beat = now

    def _release(self) -> None:
        t = schema.runs
        with self.store.begin() as conn:
            conn.execute(update(t).where((t.c.id == self.run_id) & (t.c.owner == _owner()))
                         .values(owner=None))

    def run(self) -> RunReport:
        self.config_changed = False
        self.run_id, resumed = self._start()
        self._last_beat = _now()
        try:
            return self._run(resumed)
        except BaseException:
            self._release()  # a crash or Ctrl-C: the next run resumes at once
            raise

    def _run(self, resumed: bool) -> RunReport:
        self._train()
        self._load()
        report = self.report = RunReport(self.run_id, resumed, len(self.ids), 0, 0, 0)
        report.notes += [f"{a.name}: {a.note}" for a in self.annotators.values() if a.note]
        if self.config_changed:
            report.notes.append("the config changed since this run started; the resumed run "
                                "uses the new one")
        self.total_open = int(self.open.sum())
        self.answered: dict[str, int] = {}
        self._decide_seed_gold()
        self._resume_outstanding()
        idle = 0
        while True:
            plan = self.policy.step(self._state())
            if plan.empty:
                break
            open_before = int(self.open.sum())
            self._apply(plan)
            idle = idle + 1 if int(self.open.sum()) == open_before and not plan.asks else 0
            if idle > 100:
                raise PolicyError("the policy planned 100 steps in a row that neither asked "
                                  "nor decided anything")
        return self._finish()

    def _finish(self) -> RunReport:
        r = self.report
        deferred = [a for a, ann in self.annotators.items() if ann.deferred]
        waiting = np.zeros(len(self.ids), dtype=bool)
        for a in deferred:
            waiting |= self.status[a] == PENDING
        r.waiting_human = int((waiting & self.open).sum())
        still_open = int(self.open.sum())
        r.status = "waiting" if still_open else "done"
        r.open = still_open + r.budget_stopped  # stopped by the budget: open for a later run
        r.notes += [f"{a.name}: {a.run_note}" for a in self.annotators.values() if a.run_note]
        flagged = int((self.suspicious & self.had_decision).sum())
        if flagged:
            r.notes.append(f"{flagged} items read like instructions to the annotator (prompt "
                           "injection); an LLM answer alone never decides them")
        t = schema.runs
        with self.store.begin() as conn:
            conn.execute(update(t).where(t.c.id == self.run_id).values(
                status=r.status, finished=_now() if r.status == "done" else None, owner=None))
        return r

    # -- training ----------------------------------------------------------------------
    def _verified(self, before_run: int | None,
                  ids: list[str] | None = None) -> tuple[list[str], list[Any]]:
        """Seed gold plus labels accepted by earlier runs (never control or evaluation)."""
        it, d = schema.items, schema.decisions
        q = (select(it.c.id, it.c.fields, it.c.gold, it.c.gold_role, d.c.label, d.c.value,
                    d.c.flags, d.c.run_id)
             .select_from(it.outerjoin(d, and_(d.c.project_id == it.c.project_id,
                                               d.c.item_id == it.c.id)))
             .where(it.c.project_id == self.pid).order_by(it.c.seq))
        texts, labels = [], []
        field_name = self.task.text_field
        with self.store.connect() as conn:
            for row in conn.execute(q):
                if row.gold_role == "seed" and row.gold is not None:
                    value = json.loads(row.gold)
                elif (row.gold_role not in ("control", "evaluation") and row.label is not None
                      and not row.flags and row.run_id is not None
                      and (before_run is None or row.run_id < before_run)):
                    value = row.value if row.value is not None else row.label
                else:
                    continue
                texts.append(str(json.loads(row.fields).get(field_name, "")))
                if ids is not None:
                    ids.append(row.id)
                labels.append(tuple(value) if self.task.multilabel else value)
        return texts, labels

    def _train(self, names: list[str] | None = None, before_run: int | None = -1) -> None:
        trainable = [a for n, a in self.annotators.items()
                     if a.trainable and (names is None or n in names)]
        # LLM annotators retrieve few-shot examples from the same verified pool
        prompted = [a for n, a in self.annotators.items()
                    if hasattr(a, "fit_examples") and (names is None or n in names)]
        if not trainable and not prompted:
            return
        ids: list[str] = []
        texts, labels = self._verified(self.run_id if before_run == -1 else before_run, ids)
        for ann in trainable:
            ann.fit(texts, labels)
        for ann in prompted:
            ann.fit_examples(ids, texts, labels)

    # -- state -------------------------------------------------------------------------
    def _load(self) -> None:
        """Rebuild the policy's view of every item from the store."""
        it, d, rq, j = schema.items, schema.decisions, schema.requests, schema.judgements
        pid, k = self.pid, len(self.task.labels)
        with self.store.connect() as conn:
            rows = conn.execute(select(it.c.id, it.c.fields, it.c.gold, it.c.gold_role)
                                .where(it.c.project_id == pid).order_by(it.c.seq)).all()
            self.ids = np.array([r.id for r in rows], dtype=object)
            self.fields_json = [r.fields for r in rows]
            self.gold = {r.id: json.loads(r.gold) for r in rows if r.gold is not None}
            self.pos = {item_id: i for i, item_id in enumerate(self.ids)}
            control = {r.id for r in rows if r.gold_role == "control"}
            for ann in self.annotators.values():
                if ann.uses_cache:
                    ann.cache = CallCache(self.store, pid, exclude=control)
            n = len(self.ids)
            self.open = np.ones(n, dtype=bool)
            self.had_decision = np.zeros(n, dtype=bool)
            unlabelled: list[int] = []
            failed_before = np.zeros(n, dtype=bool)
            for item_id, flags in conn.execute(select(d.c.item_id, d.c.flags)
                                               .where(d.c.project_id == pid)):
                self.had_decision[self.pos[item_id]] = True
                if "unlabelled" in (flags or ""):
                    unlabelled.append(self.pos[item_id])
                if "budget" not in (flags or ""):
                    self.open[self.pos[item_id]] = False
            self.status = {a: np.zeros(n, dtype=np.int8) for a in self.annotators}
            self.label = {a: np.full(n, -1, dtype=np.int64) for a in self.annotators}
            self.probs = {a: np.full((n, k), np.nan) for a in self.annotators}
            # spans tasks: each annotator's spans per item (None: no answer), and the texts
            self.values = {a: [None] * n for a in self.annotators} if self.task.spans else {}
            self.texts = ([str(json.loads(f).get(self.task.text_field, ""))
                           for f in self.fields_json] if self.task.spans else None)
            self.keys: dict[tuple[str, int], str] = {}
            self.known: set[str] = set()  # every request key in the ledger
            self.outstanding: dict[str, list[int]] = {}
            self.sent_keys: set[str] = set()
            self.committed = 0.0
            stale: list[str] = []
            versions = {a: ann.version for a, ann in self.annotators.items()}
            for r in conn.execute(select(rq.c.key, rq.c.item_id, rq.c.annotator, rq.c.state,
                                         rq.c.annotator_version, rq.c.reserved_cost)
                                  .where(rq.c.project_id == pid)):
                self.known.add(r.key)
                if r.annotator not in self.annotators or r.item_id not in self.pos:
                    continue
                p = self.pos[r.item_id]
                if (r.state in ("pending", "sent") and self.annotators[r.annotator].trainable
                        and r.annotator_version != versions[r.annotator]):
                    stale.append(r.key)  # asked of a model that has since been retrained
                    continue
                self.keys[(r.annotator, p)] = r.key
                if r.state in ("pending", "sent"):
                    self.status[r.annotator][p] = PENDING
                    self.committed += r.reserved_cost
                    if not self.annotators[r.annotator].deferred:
                        self.outstanding.setdefault(r.annotator, []).append(p)
                        if r.state == "sent":
                            self.sent_keys.add(r.key)
            self.committed += float(conn.execute(
                select(func.sum(j.c.cost)).where(j.c.project_id == pid)).scalar() or 0.0)
            q = (select(j.c.item_id, j.c.annotator, j.c.label, j.c.value, j.c.probs,
                        j.c.status, j.c.run_id)
                 .where((j.c.project_id == pid) & (j.c.status != "superseded"))
                 .order_by(j.c.id))
            index = self.task.index
            # several people answer one task (a human annotator's ``overlap``): their
            # answers are pooled into vote shares instead of the last one standing
            pooled: dict[tuple[str, int], np.ndarray] = {}
            deferred = {a for a, ann in self.annotators.items() if ann.deferred}
            for r in conn.execute(q):
                if r.annotator not in self.annotators or r.item_id not in self.pos:
                    continue
                p = self.pos[r.item_id]
                if self.status[r.annotator][p] == PENDING:
                    continue  # an older answer; the outstanding request will bring the new one
                code = STATUS_CODE.get(r.status, OK)
                if code == FAILED and r.run_id != self.run_id:
                    failed_before[p] = True
                    continue  # failed in an earlier run: asked again
                self.status[r.annotator][p] = code
                if code == OK and self.task.spans:
                    self.values[r.annotator][p] = (canonical(r.value) if r.value is not None
                                                   else self.task.parse_label(r.label))
                elif code == OK:
                    if self.task.multilabel:
                        value = r.value if r.value is not None else r.label.split("|")
                        self.label[r.annotator][p] = -1
                        row = np.zeros(k)
                        row[[index[v] for v in value]] = 1.0
                    else:
                        self.label[r.annotator][p] = index[r.label]
                        row = np.full(k, np.nan)
                    if r.probs:
                        row = np.array([r.probs.get(lab, 0.0) for lab in self.task.labels])
                    elif not self.task.multilabel:
                        row[:] = 0.0
                        row[index[r.label]] = 1.0
                    if r.annotator in deferred:
                        votes = pooled.setdefault((r.annotator, p), np.zeros(k + 1))
                        votes[:k] += row
                        votes[k] += 1
                        row = votes[:k] / votes[k]
                        if not self.task.multilabel:
                            self.label[r.annotator][p] = int(np.argmax(row))
                    self.probs[r.annotator][p] = row
        # an item nothing could label because calls failed (a dead server, say) is reopened:
        # its failed calls are asked again
        retry = np.array(unlabelled, dtype=np.int64)
        self.open[retry[failed_before[retry]]] = True
        if stale:
            with self.store.begin() as conn:
                for start in range(0, len(stale), 900):
                    conn.execute(update(rq).where((rq.c.project_id == pid)
                                                  & rq.c.key.in_(stale[start:start + 900]))
                                 .values(state="superseded", updated=_now()))
        # prompt-injection flags of the open items, when an LLM is in the quorum
        self.suspicious = np.zeros(len(self.ids), dtype=bool)
        if any(a.kind == "llm" for a in self.annotators.values()):
            todo = np.flatnonzero(self.open)
            field_name = self.task.text_field
            self.suspicious[todo] = flag_injections(
                [str(json.loads(self.fields_json[p]).get(field_name, "")) for p in todo])
        self.tie = tie_keys(self.ids, self.seed)

    def _state(self) -> PolicyState:
        infos = {n: AnnotatorInfo(n, a.kind, a.max_cost, float(a.config.weight), a.deferred)
                 for n, a in self.annotators.items()}
        left = None if self.budget is None else max(self.budget - self.committed, 0.0)
        return PolicyState(self.ids, self.open.copy(), self.task.labels, self.task.multilabel,
                           self.status, self.label, self.probs, infos, left, self.tie,
                           self.aggregator, self.values or None, self.texts,
                           suspicious=self.suspicious)

    def _items(self, positions) -> Items:
        return Items([self.ids[p] for p in positions],
                     JsonRows([self.fields_json[p] for p in positions]), self.task.text_field)

    # -- applying a plan ---------------------------------------------------------------
    def _apply(self, plan: Plan) -> None:
        if plan.refit:
            self._refit(plan.refit)
        for name, positions in plan.asks.items():
            if name not in self.annotators:
                raise PolicyError(f"the policy asked unknown annotator {name!r}")
            bad = ~self.open[positions] | (self.status[name][positions] != NOT_ASKED)
            if bad.any():
                raise PolicyError(f"the policy asked {name!r} about item "
                                  f"{self.ids[positions[bad][0]]!r}, which is decided or was "
                                  "already asked")
        asks, stopped = self._within_budget(plan.asks)
        decisions = list(plan.decisions)
        if len(stopped):
            decisions += self._budget_decisions(stopped)
        self._write_plan(decisions, asks)
        self._execute(asks)

    def _refit(self, names: list[str]) -> None:
        """Retrain annotators on every label verified so far (this run's included). When the
        model changed, its answers on open items are forgotten, so the policy can ask the new
        model again; stored judgements stay, the new ones are appended under the new version.

        A resumed run retrains on the labels verified before the run began, so a policy
        that refits mid-run may make different choices after a crash than without one."""
        for name in names:
            ann = self.annotators.get(name)
            if ann is None or not ann.trainable:
                raise PolicyError(f"the policy asked to refit {name!r}, which is not a "
                                  "trainable annotator of this run")
        before = {name: self.annotators[name].version for name in names}
        self._train(names, before_run=None)
        for name in names:
            if self.annotators[name].version == before[name]:
                continue  # same training data, same model: its answers stand
            forget = self.open & (self.status[name] >= OK)
            self.status[name][forget] = NOT_ASKED
            self.label[name][forget] = -1
            self.probs[name][forget] = np.nan
            for p in np.flatnonzero(forget).tolist() if self.values else ():
                self.values[name][p] = None

    def _within_budget(self, asks: dict[str, np.ndarray]):
        if self.budget is None or not asks:
            return asks, np.array([], dtype=np.int64)
        cost = np.zeros(len(self.ids))
        for name, positions in asks.items():
            cost[positions] += self.annotators[name].max_cost
        positions = np.unique(np.concatenate(list(asks.values())))
        need = cost[positions]
        fits = np.cumsum(need) <= (self.budget - self.committed) + 1e-12
        fits |= need == 0
        # once an item does not fit, later paid items wait too, keeping the order strict
        first_miss = np.flatnonzero(~fits)
        if len(first_miss):
            fits[first_miss[0]:] &= need[first_miss[0]:] == 0
        allowed = np.zeros(len(self.ids), dtype=bool)
        allowed[positions[fits]] = True
        kept = {n: p[allowed[p]] for n, p in asks.items()}
        return {n: p for n, p in kept.items() if len(p)}, positions[~fits]

    def _budget_decisions(self, positions: np.ndarray) -> list[Decision]:
        """Items the budget stopped keep their best label so far, from the annotators that
        answered them (grouped by which did)."""
        self.report.budget_stopped += len(positions)
        state = self._state()
        answered = np.stack([self.status[a][positions] == OK for a in self.annotators], axis=1)
        groups: dict[tuple[bool, ...], list[int]] = {}
        for row, signature in enumerate(map(tuple, answered)):
            groups.setdefault(signature, []).append(row)
        out = []
        for signature, rows in groups.items():
            names = [a for a, used in zip(self.annotators, signature) if used]
            subset = positions[rows]
            out.append(Decision(subset, state.consensus(names, subset), names, "budget",
                                flags="budget"))
        return out

    def _write_plan(self, decisions: list[Decision], asks: dict[str, np.ndarray]) -> None:
        """Commit the plan's decisions and its requests (the ledger) in one transaction."""
        store, pid, run_id = self.store, self.pid, self.run_id
        now = store.timestamp(_now())
        labels = self.task.labels
        drows: list[tuple] = []
        for dec in decisions:
            c, positions = dec.consensus, dec.positions
            provenance = self._provenance(positions)
            decided_by = ",".join(dec.decided_by) or "none"
            for i, p in enumerate(positions):
                if self.task.spans:
                    value = [list(x) for x in c.values[i]] if c.votes[i] else None
                    label = to_text(value) if value is not None else None
                elif self.task.multilabel:
                    value = [labels[j] for j in np.flatnonzero(c.label[i])] if c.votes[i] else None
                    label = "|".join(value) if value is not None else None
                else:
                    label = labels[c.label[i]] if c.label[i] >= 0 else None
                    value = None
                flags = dec.flags if label is not None or value is not None else "unlabelled"
                drows.append((pid, self.ids[p], label, json_text(value), float(c.confidence[i]),
                              decided_by, dec.tier, flags, provenance[i], run_id, now))
        new_rows, retries = [], []
        for name, positions in asks.items():
            ann = self.annotators[name]
            version, cost = ann.version, float(ann.max_cost)
            for p in positions.tolist():
                key = request_key(pid, self.ids[p], name, version)
                self.keys[(name, p)] = key
                if key in self.known:  # asked before (failed, or superseded): ask again
                    retries.append(key)
                    continue
                self.known.add(key)
                new_rows.append((pid, key, self.ids[p], name, version, run_id, cost, "pending",
                                 0, now))
        d, rq = schema.decisions, schema.requests
        with store.begin() as conn:
            reopened = [self.ids[p] for dec in decisions for p in dec.positions
                        if self.had_decision[p]]
            for start in range(0, len(reopened), 900):
                conn.execute(d.delete().where((d.c.project_id == pid)
                                              & d.c.item_id.in_(reopened[start:start + 900])))
            insert_rows(conn, d, DECISION_COLUMNS, drows)
            insert_rows(conn, rq, REQUEST_COLUMNS, new_rows)
            self._beat(conn)
            if retries:
                conn.execute(update(rq).where((rq.c.project_id == pid)
                                              & (rq.c.key == bindparam("k")))
                             .values(state="pending", run_id=run_id, updated=_now()),
                             [{"k": key} for key in retries])
        for dec in decisions:
            self.open[dec.positions] = False
            self.had_decision[dec.positions] = True
        for name, positions in asks.items():
            self.status[name][positions] = PENDING
            self.committed += self.annotators[name].max_cost * len(positions)
        self.report.decided_now += len(drows)
        self.progress(self.total_open - int(self.open.sum()), self.total_open, "deciding")

    def _provenance(self, positions: np.ndarray) -> list[str]:
        """For each item, a JSON object of what every annotator that answered said."""
        names = [json.dumps(lab) for lab in self.task.labels]
        parts = []
        for name in self.annotators:
            status = self.status[name][positions]
            key = json.dumps(name) + ": "
            frag = np.full(len(positions), "", dtype=object)
            frag[status == ABSTAIN] = key + '"abstain"'
            frag[status == FAILED] = key + '"failed"'
            ok = np.flatnonzero(status == OK)
            for i in ok.tolist():
                p = positions[i]
                if self.task.spans:
                    frag[i] = key + to_text(self.values[name][p] or ())
                elif self.task.multilabel:
                    said = [lab for lab, v in zip(self.task.labels, self.probs[name][p]) if v >= 0.5]
                    frag[i] = key + json.dumps(said)
                else:
                    frag[i] = key + names[self.label[name][p]]
            parts.append(frag)
        return ["{" + ", ".join(f for f in row if f) + "}" for row in zip(*parts)] if parts \
            else ["{}"] * len(positions)

    def _decide_seed_gold(self) -> None:
        it = schema.items
        with self.store.connect() as conn:
            seeds = conn.execute(select(it.c.id, it.c.gold).where(
                (it.c.project_id == self.pid) & (it.c.gold_role == "seed"))).all()
        positions = np.array([self.pos[r.id] for r in seeds if self.open[self.pos[r.id]]],
                             dtype=np.int64)
        if not len(positions):
            return
        from .aggregation import Consensus

        ones = np.ones(len(positions))
        if self.task.spans:
            values = [canonical(self.gold[self.ids[p]]) for p in positions]
            consensus = Consensus(np.zeros((len(positions), 0)), np.full(len(positions), -1),
                                  ones, ones, ones, values)
            self._write_plan([Decision(positions, consensus, ["gold"], "gold")], {})
            return
        k = len(self.task.labels)
        post = np.zeros((len(positions), k))
        for i, p in enumerate(positions):
            gold = self.gold[self.ids[p]]
            for lab in (gold if self.task.multilabel else [gold]):
                post[i, self.task.index[lab]] = 1.0
        label = post.astype(bool) if self.task.multilabel else post.argmax(axis=1)
        self._write_plan([Decision(positions, Consensus(post, label, ones, ones, ones), ["gold"],
                                   "gold")], {})

    # -- asking ------------------------------------------------------------------------
    def _resume_outstanding(self) -> None:
        """Requests left pending or sent by a killed run are asked before anything else."""
        if not self.outstanding:
            return
        # in the policy's annotator order, not the store's row order, so judgements are
        # written in the order an uninterrupted run writes them
        self._execute({n: np.array(sorted(self.outstanding[n]), dtype=np.int64)
                       for n in self.annotators if n in self.outstanding})

    def _execute(self, asks: dict[str, np.ndarray]) -> None:
        io = {}
        for name, positions in asks.items():
            ann = self.annotators[name]
            self.report.asked[name] = self.report.asked.get(name, 0) + len(positions)
            if ann.deferred:
                continue
            if ann.io_bound:
                io[name] = positions
                continue
            # A paid batch is marked sent before it goes out, in batches of the annotator's
            # own size, so a kill repeats at most one batch and the repeat is counted.
            paid = ann.max_cost > 0
            size = min(CHUNK, ann.batch_size) if paid else CHUNK
            for start in range(0, len(positions), size):
                chunk = positions[start:start + size]
                if paid:
                    self._mark_sent([self.keys[(name, int(p))] for p in chunk])
                self._record(ann, chunk, ann.annotate(self._items(chunk)))
        if io:
            asyncio.run(self._execute_io(io))

    async def _execute_io(self, asks: dict[str, np.ndarray]) -> None:
        """Ask I/O-bound annotators concurrently. The store is written by one writer thread:
        marks, and answers, that queue up while it writes are written together (one
        transaction each), so the cost per call falls as concurrency rises and the event
        loop never waits on the database. A call goes out only once its mark is
        committed, and its slot is freed only once its answer is."""
        limits = {n: asyncio.Semaphore(self.annotators[n].concurrency) for n in asks}
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelquorum-writer")
        marks = Coalescer(self._mark_sent, writer)
        records = Coalescer(self._record_many, writer)

        async def one(name: str, p: int) -> None:
            ann = self.annotators[name]
            async with limits[name]:
                await marks.submit(self.keys[(name, p)])
                answers = await ann.aannotate_one(self._items([p]))
                await records.submit((name, p, answers))

        try:
            await asyncio.gather(*(one(n, int(p)) for n, ps in asks.items() for p in ps))
        finally:
            await asyncio.gather(*(self.annotators[n].aclose() for n in asks))
            writer.shutdown(wait=True)

    def _record_many(self, answered: list[tuple[str, int, Answers]]) -> None:
        """Store single-item answers of several annotators, one transaction each."""
        by_name: dict[str, list[tuple[int, Answers]]] = {}
        for name, p, answers in answered:
            by_name.setdefault(name, []).append((p, answers))
        k = len(self.task.labels)
        for name, group in by_name.items():
            positions = np.array([p for p, _ in group], dtype=np.int64)
            answers = group[0][1] if len(group) == 1 else Answers.concat([a for _, a in group], k)
            self._record(self.annotators[name], positions, answers)

    def _mark_sent(self, keys: list[str]) -> None:
        """Mark calls as going out; one that was in flight at a kill counts as repeated.

        The count is stored with the mark, so a resumed run that is killed again before
        it finishes still reports the calls it repeated.
        """
        rq, t = schema.requests, schema.runs
        repeated = [k for k in keys if k in self.sent_keys]
        with self.store.begin() as conn:
            for start in range(0, len(keys), 900):
                conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                              & rq.c.key.in_(keys[start:start + 900]))
                             .values(state="sent", attempts=rq.c.attempts + 1, updated=_now()))
            if repeated:
                conn.execute(update(t).where(t.c.id == self.run_id)
                             .values(repeated_calls=t.c.repeated_calls + len(repeated)))
        if repeated:
            self.sent_keys.difference_update(repeated)
            self.report.repeated_calls += len(repeated)

    def _record(self, ann: Annotator, positions: np.ndarray, answers: Answers) -> None:
        """Store answers, their call log and their requests' final states in one transaction."""
        name, pid, store = ann.name, self.pid, self.store
        now = _now()
        stamp = store.timestamp(now)
        n = len(positions)
        pos = positions.tolist()
        keys = [self.keys.get((name, p)) for p in pos]
        status = answers.status
        cost = np.asarray(answers.cost, dtype=float)
        latency = np.asarray(answers.latency, dtype=float)
        conf = (np.full(n, np.nan) if answers.confidence is None
                else np.asarray(answers.confidence, dtype=float))
        methods = answers.methods or [None] * n
        ok = np.array([s == "ok" for s in status], dtype=bool)
        probs = answers.probs
        has_probs = (np.zeros(n, dtype=bool) if probs is None
                     else ~np.isnan(probs).any(axis=1)) & ok
        probs_json = [None] * n
        if has_probs.any():
            template = "{{" + ", ".join(json.dumps(lab).replace("{", "{{").replace("}", "}}")
                                        + ": {}" for lab in self.task.labels) + "}}"
            for i in np.flatnonzero(has_probs).tolist():
                probs_json[i] = template.format(*map(repr, probs[i].tolist()))
        j, rq = schema.judgements, schema.requests
        with store.begin() as conn:
            call_ids = self._log_calls(conn, ann, keys, answers, now)
            fmt = self.task.format_label
            kind, version, vtype, run_id, sim = (ann.kind, ann.version, self.task.value_type,
                                                 self.run_id, bool(ann.simulated))
            rows = [(pid, keys[i], self.ids[p], name, kind, version, vtype,
                     fmt(answers.labels[i]),
                     json_text(list(answers.labels[i])) if isinstance(answers.labels[i], tuple)
                     else None,
                     probs_json[i], None if np.isnan(conf[i]) else float(conf[i]),
                     float(cost[i]), float(latency[i]), call_ids[i], run_id, status[i], sim, stamp,
                     methods[i])
                    for i, p in enumerate(pos)]
            insert_rows(conn, j, JUDGEMENT_COLUMNS, rows)
            self._beat(conn)
            by_state: dict[tuple[str, str | None], list[str]] = {}
            for i, key in enumerate(keys):
                if key is not None:
                    by_state.setdefault((REQUEST_STATE[status[i]], answers.errors[i]),
                                        []).append(key)
            bump = 0 if ann.io_bound or ann.max_cost > 0 else 1  # sent calls counted already
            for (state, error), group in by_state.items():
                for start in range(0, len(group), 900):
                    conn.execute(update(rq).where((rq.c.project_id == pid)
                                                  & rq.c.key.in_(group[start:start + 900]))
                                 .values(state=state, error=error, updated=now,
                                         attempts=rq.c.attempts + bump))
        self._remember(name, positions, answers, ok, has_probs)
        self.answered[name] = self.answered.get(name, 0) + n
        self.progress(self.total_open - int(self.open.sum()), self.total_open,
                      f"{name} {self.answered[name]:,}/{self.report.asked.get(name, 0):,}")
        actual = float(cost.sum())
        self.committed += actual - ann.max_cost * n
        self.report.cost += actual

    def _log_calls(self, conn, ann: Annotator, keys: list[str | None], answers: Answers,
                   now) -> list[int | None]:
        """Write the model-call log of a batch (rows from :meth:`Annotator.call_rows`);
        return each answer's call id: its last call, or None."""
        groups = ann.call_rows(answers) if answers.calls else []
        ids: list[int | None] = [None] * len(keys)
        rows, owner = [], []
        for i, group in enumerate(groups):
            for row in group:
                row.update(project_id=self.pid, request_key=keys[i], annotator=ann.name,
                           created=now)
                rows.append(row)
                owner.append(i)
        if not rows:
            return ids
        mc = schema.model_calls
        result = conn.execute(mc.insert().returning(mc.c.id, sort_by_parameter_order=True), rows)
        for i, call_id in zip(owner, result.scalars()):
            ids[i] = call_id
        return ids

    def _remember(self, name: str, positions: np.ndarray, answers: Answers, ok: np.ndarray,
                  has_probs: np.ndarray) -> None:
        """Update the in-memory state the policy sees with a batch of answers."""
        self.status[name][positions] = [STATUS_CODE[s] for s in answers.status]
        failed = sum(1 for s in answers.status if s == "failed")
        if failed:
            self.report.failed[name] = self.report.failed.get(name, 0) + failed
        idx = np.flatnonzero(ok)
        if not len(idx):
            return
        if self.task.spans:
            for i in idx.tolist():
                self.values[name][int(positions[i])] = answers.labels[i]
            return
        index, k = self.task.index, len(self.task.labels)
        onehot = np.zeros((len(idx), k))
        for row, i in enumerate(idx.tolist()):
            value = answers.labels[i]
            for v in (value if self.task.multilabel else (value,)):
                onehot[row, index[v]] = 1.0
        if not self.task.multilabel:
            self.label[name][positions[idx]] = onehot.argmax(axis=1)
        given = has_probs[idx]
        if given.any():
            onehot[given] = answers.probs[idx[given]]
        self.probs[name][positions[idx]] = onehot
