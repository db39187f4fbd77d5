"""The state policies see, rebuilt from the store and kept current as answers arrive.

:class:`RunState` holds, per annotator, arrays over every item of the project (in import
order): the status of its request (not asked, pending, ok, abstain, failed), its label
and per-label probabilities (spans: its spans). :meth:`RunState.load` rebuilds them from
the store, so a resumed run sees what an uninterrupted one saw; :meth:`RunState.remember`
adds a batch of answers; :meth:`RunState.policy_state` is the policy's view.

An item is open unless it has a decision that closes it (``final`` or ``review``); items
stopped by the budget or whose deciding calls failed are open again, and the failed calls
of earlier runs are asked again.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import select

from ..annotators import Annotator, Answers, Items
from ..annotators.base import JsonRows
from ..injection import flag_injections
from ..policies import (
    ABSTAIN,
    FAILED,
    OK,
    PENDING,
    REOPENABLE,
    AnnotatorInfo,
    DecisionState,
    PolicyState,
)
from ..policies.board import Board
from ..store import Store, schema
from ..task import Task
from .languages import UNDETERMINED

STATUS_CODE = {"ok": OK, "abstain": ABSTAIN, "failed": FAILED}
FETCH = 4096  # items whose fields are read from the store at a time
FETCH_ONE = 64  # ahead of items asked one at a time (I/O-bound annotators)


class RunState(Board):
    """The board of a run: filled from the store, kept current as answers arrive."""

    def __init__(self, store: Store, task: Task, annotators: dict[str, Annotator],
                 ids: list[str], seqs: list[int], seed: int):
        super().__init__(ids, task.labels, list(annotators), task=task, seed=seed)
        n = len(ids)
        self.store, self.task, self.annotators = store, task, annotators
        # item fields are read from the store a chunk at a time, never all held: a
        # position's item is the one with this import sequence number
        self.seqs = np.asarray(seqs, dtype=np.int64)
        self.pos = {item_id: i for i, item_id in enumerate(ids)}
        self.had_decision = np.zeros(n, dtype=bool)
        self.final = np.zeros(n, dtype=bool)  # closed by a decision no run writes over
        if task.strategy.needs_text:  # e.g. the spans vote aligns to the texts
            self.texts = [t for start in range(0, n, FETCH)
                          for t in self.items(np.arange(start, min(start + FETCH, n))).texts]
        self.gold: dict[str, Any] = {}  # of seed items (decided by their gold)
        self.control: set[str] = set()
        self.seeds: list[int] = []
        self.outstanding: dict[str, list[int]] = {}  # requests a killed run left open
        self.sent_keys: set[str] = set()  # of those, the ones that had gone out
        self.stale: list[str] = []  # pending requests no longer wanted: superseded
        self.held_by_people = 0.0  # reservations of people's open tasks
        # vote weights that replace the configured ones (quality.weight_by_theta)
        self.skills: dict[str, float] = {}

    def items(self, positions) -> Items:
        """The items at these positions, their fields read from the store."""
        positions = np.asarray(positions, dtype=np.int64)
        seqs = self.seqs[positions]
        fields = self._fields(seqs) if len(seqs) else {}
        return Items(self.ids[positions].tolist(),
                     JsonRows([fields[q] for q in seqs.tolist()]), self.task.text_field)

    def _fields(self, seqs: np.ndarray) -> dict[int, str]:
        it = schema.items
        lo, hi = int(seqs.min()), int(seqs.max())
        where = (it.c.project_id == self.store.project_id)
        with self.store.connect() as conn:
            if hi - lo < 4 * len(seqs):  # dense: one range scan
                rows = conn.execute(select(it.c.seq, it.c.fields).where(
                    where & it.c.seq.between(lo, hi))).all()
                if hi - lo + 1 == len(seqs):
                    return dict(rows)
                wanted = set(seqs.tolist())
                return {q: f for q, f in rows if q in wanted}
            out: dict[int, str] = {}
            for start in range(0, len(seqs), 900):
                out.update(conn.execute(select(it.c.seq, it.c.fields).where(
                    where & it.c.seq.in_(seqs[start:start + 900].tolist()))).all())
            return out

    def blocks(self, positions: np.ndarray):
        """``(position, one-item Items)`` in order, read from the store ``FETCH`` at a time."""
        for start in range(0, len(positions), FETCH_ONE):
            block = positions[start:start + FETCH_ONE]
            items = self.items(block)
            for i, p in enumerate(block.tolist()):
                yield p, items.take([i])

    # -- loading -----------------------------------------------------------------------
    @classmethod
    def load(cls, store: Store, task: Task, annotators: dict[str, Annotator], run_id: int,
             seed: int, fields: list[str] | tuple[str, ...] = ()) -> RunState:
        it, d, rq, j = schema.items, schema.decisions, schema.requests, schema.judgements
        pid = store.project_id
        with store.connect() as conn:
            conn = conn.execution_options(yield_per=10_000)  # PostgreSQL: a server cursor
            ids, seqs, gold, control, seeds, langs = [], [], {}, set(), [], []
            # calibration gold: the right label's index (classification tasks)
            classes = task.strategy.one_label
            reference: dict[int, int] = {}
            # streamed, and without the items' fields (read a chunk at a time when asked)
            for i, (item_id, seq, item_gold, role, lang) in enumerate(conn.execute(
                    select(it.c.id, it.c.seq, it.c.gold, it.c.gold_role, it.c.language)
                    .where(it.c.project_id == pid).order_by(it.c.seq))):
                ids.append(item_id)
                seqs.append(seq)
                langs.append(None if lang in (None, UNDETERMINED) else lang)
                if role == "seed" and item_gold is not None:
                    seeds.append(i)
                    gold[item_id] = json.loads(item_gold)
                elif role == "control":
                    control.add(item_id)
                elif role == "calibration" and item_gold is not None and classes:
                    reference[i] = task.index.get(json.loads(item_gold), -1)
            state = cls(store, task, annotators, ids, seqs, seed)
            state.gold, state.control, state.seeds = gold, control, seeds
            if any(lang is not None for lang in langs):
                state.language = np.array(langs, dtype=object)
            del langs
            for i, lab in reference.items() if classes else ():
                state.reference[i] = lab
            del ids, seqs
            pos = state.pos
            for item_id, dstate, dlabel in conn.execute(
                    select(d.c.item_id, d.c.state, d.c.label).where(d.c.project_id == pid)):
                p = pos.get(item_id)
                if p is None:
                    continue
                if classes and dstate == DecisionState.REVIEW and dlabel in task.index:
                    state.reference[p] = task.index[dlabel]  # a reviewer's label is known
                state.had_decision[p] = True
                if dstate not in REOPENABLE:
                    state.open[p] = False
                    state.final[p] = True
            state._load_requests(conn, rq, pid)
            state._load_judgements(conn, j, pid, run_id)
        if fields:
            state.load_fields(list(fields))
        if any(a.kind == "llm" for a in annotators.values()):
            todo = np.flatnonzero(state.open)
            for start in range(0, len(todo), FETCH):
                part = todo[start:start + FETCH]
                state.suspicious[part] = flag_injections(state.items(part).texts)
        return state

    def load_fields(self, names: list[str]) -> None:
        """Each item's value of the named fields, as text ("" where an item lacks one), for
        a policy that reads them (``Policy.item_fields``); read a chunk at a time, and only
        these fields kept."""
        n = len(self)
        out = {name: np.full(n, "", dtype=object) for name in names}
        for start in range(0, n, FETCH):
            part = np.arange(start, min(start + FETCH, n))
            rows = self._fields(self.seqs[part])
            for p, q in zip(part.tolist(), self.seqs[part].tolist()):
                record = json.loads(rows[q])
                for name in names:
                    value = record.get(name)
                    if value is not None:
                        out[name][p] = str(value)
        self.fields = out

    def _load_requests(self, conn, rq, pid: int) -> None:
        versions = {a: ann.version for a, ann in self.annotators.items()}
        for r in conn.execute(select(rq.c.key, rq.c.item_id, rq.c.annotator, rq.c.state,
                                     rq.c.annotator_version, rq.c.reserved_cost)
                              .where(rq.c.project_id == pid)):
            ann = self.annotators.get(r.annotator)
            p = self.pos.get(r.item_id)
            if ann is None or p is None:
                continue
            self.planned[r.annotator][p] = True
            if r.state not in ("pending", "sent"):
                continue
            if not ann.deferred and r.annotator_version != versions[r.annotator]:
                # asked of a model since retrained or reconfigured: the policy asks the
                # annotator as it is now (people's open tasks stand)
                self.stale.append(r.key)
                continue
            if self.final[p] and (ann.deferred or r.item_id not in self.control):
                # the item was decided for good since (a review); a golden probe of a
                # control item (closed by its gold) is still asked
                self.stale.append(r.key)
                continue
            self.status[r.annotator][p] = PENDING
            if ann.deferred:
                self.held_by_people += float(r.reserved_cost or 0.0)
            else:
                self.outstanding.setdefault(r.annotator, []).append(p)
                if r.state == "sent":
                    self.sent_keys.add(r.key)

    def _load_judgements(self, conn, j, pid: int, run_id: int) -> None:
        q = (select(j.c.item_id, j.c.annotator, j.c.label, j.c.value, j.c.probs,
                    j.c.status, j.c.run_id, j.c.worker)
             .where((j.c.project_id == pid) & (j.c.status != "superseded"))
             .order_by(j.c.id))
        task, kind = self.task, self.task.strategy
        k = len(task.labels)
        # several people answer one task (a human annotator's ``overlap``): their answers
        # are pooled into vote shares instead of the last one standing
        pooled: dict[tuple[str, int], np.ndarray] = {}
        for r in conn.execute(q):
            ann = self.annotators.get(r.annotator)
            p = self.pos.get(r.item_id)
            if ann is None or p is None or self.status[r.annotator][p] == PENDING:
                continue  # an older answer; the outstanding request will bring the new one
            code = STATUS_CODE.get(r.status, OK)
            if code == FAILED and r.run_id != run_id and self.open[p]:
                continue  # failed in an earlier run: asked again
            self.status[r.annotator][p] = code
            if code != OK:
                continue
            value = kind.from_stored(task, r.label, r.value)
            if self.values:  # a value kind: the value itself
                self.values[r.annotator][p] = value
                continue
            row = kind.encode(task, value)
            lab = kind.index_of(task, value)  # -1: a label set
            if lab >= 0:
                self.label[r.annotator][p] = lab
            if r.probs:
                row = np.array([r.probs.get(name, 0.0) for name in task.labels])
            if ann.deferred:
                if lab >= 0:  # each person a worker of truth inference
                    self.workers.setdefault(r.annotator, []).append((p, r.worker or "", lab))
                votes = pooled.setdefault((r.annotator, p), np.zeros(k + 1))
                votes[:k] += row
                votes[k] += 1
                row = votes[:k] / votes[k]
                if lab >= 0:
                    self.label[r.annotator][p] = int(np.argmax(row))
            self.probs[r.annotator][p] = row

    # -- keeping current ---------------------------------------------------------------
    def remember(self, name: str, positions: np.ndarray, answers: Answers) -> None:
        """Add a batch of answers to the state the policy sees."""
        codes = np.array([STATUS_CODE[s] for s in answers.status], dtype=np.int8)
        idx = np.flatnonzero(codes == OK)
        self.put(name, positions, codes)
        if not len(idx):
            return
        task, kind = self.task, self.task.strategy
        if self.values:  # a value kind: the values themselves
            for i in idx.tolist():
                self.values[name][int(positions[i])] = answers.labels[i]
            return
        onehot = np.zeros((len(idx), len(task.labels)))
        label = np.full(len(idx), -1, dtype=np.int64)  # -1: label sets
        for row, i in enumerate(idx.tolist()):
            onehot[row] = kind.encode(task, answers.labels[i])
            label[row] = kind.index_of(task, answers.labels[i])
        if answers.probs is not None:
            given = ~np.isnan(answers.probs[idx]).any(axis=1)
            onehot[given] = answers.probs[idx[given]]
        self.put(name, positions[idx], codes[idx], label, onehot)

    def close(self, positions: np.ndarray, final: bool) -> None:
        self.open[positions] = False
        self.had_decision[positions] = True
        if final:
            self.final[positions] = True

    # -- views -------------------------------------------------------------------------
    def policy_state(self, budget_left: float | None, aggregator: str) -> PolicyState:
        infos = {n: AnnotatorInfo(n, a.kind, a.max_cost,
                                  float(self.skills.get(n, a.config.weight)), a.deferred)
                 for n, a in self.annotators.items()}
        return super().policy_state(infos, budget_left, aggregator)

    def deciders(self, names: list[str], positions: np.ndarray) -> list[str]:
        """Per item, ``decided_by``: those of ``names`` that answered it (a label, or an
        abstention), joined with commas, or ``none``. An annotator whose call failed decided
        nothing; names that are no annotator (``gold``) stay."""
        if not names:
            return ["none"] * len(positions)
        answered = np.stack([np.isin(self.status[a][positions], (OK, ABSTAIN))
                             if a in self.status else np.ones(len(positions), dtype=bool)
                             for a in names], axis=1)
        joined = {}
        out = []
        for row in map(tuple, answered):
            text = joined.get(row)
            if text is None:
                text = joined[row] = ",".join(a for a, yes in zip(names, row) if yes) or "none"
            out.append(text)
        return out

    def provenance(self, positions: np.ndarray) -> list[str]:
        """For each item, a JSON object of what every annotator that answered said."""
        names = [json.dumps(lab) for lab in self.task.labels]
        task, kind = self.task, self.task.strategy
        parts = []
        for name in self.annotators:
            status = self.status[name][positions]
            key = json.dumps(name) + ": "
            frag = np.full(len(positions), "", dtype=object)
            frag[status == ABSTAIN] = key + '"abstain"'
            frag[status == FAILED] = key + '"failed"'
            for i in np.flatnonzero(status == OK).tolist():
                p = positions[i]
                if self.values:
                    frag[i] = key + kind.to_json(task, self.values[name][p])
                elif self.multilabel:
                    said = [lab for lab, v in zip(self.task.labels, self.probs[name][p])
                            if v >= 0.5]
                    frag[i] = key + json.dumps(said)
                else:
                    frag[i] = key + names[self.label[name][p]]
            parts.append(frag)
        if not parts:
            return ["{}"] * len(positions)
        return ["{" + ", ".join(f for f in row if f) + "}" for row in zip(*parts)]
