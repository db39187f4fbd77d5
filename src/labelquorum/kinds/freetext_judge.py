"""The free-text judge: every answer scored once, through the request ledger.

Before the policy decides (each step of a run, and before items the budget stopped are
decided), every answer on an open item that has no score yet is judged by the ``llm``
annotator named ``[task] judge``, against ``[task] rubric``. The rules are the ledger's
(:mod:`labelquorum.engine.ledger`), one request per answer:

- the request's key is made of the item, the judge (its version) and the answer (who
  wrote it, its version, a hash of its text): an answer is judged once, whatever run asks;
- the request is written ``pending`` before the call and marked ``sent`` just before it
  goes out; the verdict (a ``judgements`` row with ``value_type = "score"``: the score in
  ``label``, ``{"score", "reason", "writer", "answer_sha"}`` in ``value``: who wrote the
  answer and :func:`answer_digest` of its text), its call log
  and the request's final state are written in one transaction. A run killed with calls in
  flight asks them again and counts the repeats;
- each call is admitted by the budget (its reservation, the most it can cost, must fit
  under the cap), and its completion is cached like every LLM call;
- an answer the judge cannot score (no valid ``{"score", "reason"}`` after the LLM layer's
  re-asks, an endpoint error) gets no score — never a guessed one — and its request is
  ``failed``: the item is not accepted, and the next run asks again.

The judge is not one of the policy's annotators: its verdicts are not answers to the item.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select, update

from ..annotators import Annotator, Items, build_annotator
from ..annotators.base import Context
from ..annotators.cache import CallCache
from ..engine.ledger import JUDGEMENT_COLUMNS, REQUEST_COLUMNS, request_key
from ..engine.lock import now
from ..errors import ConfigError
from ..store import insert_rows, json_text, schema, upsert_rows
from ..task import Task
from .freetext import JUDGE, Answer, Verdict, options

if TYPE_CHECKING:
    from ..engine.ledger import Budget, Ledger
    from ..engine.lock import RunLock
    from ..engine.state import RunState
    from ..project import Project

VALUE_TYPE = schema.VERDICT  # the judgements rows that are verdicts, not answers
MAX_ITEM_CHARS = 8_000  # of the item's text shown to the judge


@dataclass(frozen=True)
class JudgeTask(Task):
    """The judge annotator's task: its prompt, schema and parsing are :data:`JUDGE`'s."""

    @property
    def strategy(self):  # type: ignore[override]
        return JUDGE


def judge_task(task: Task) -> JudgeTask:
    opts = options(task)
    rubric = (f"{task.guidelines.strip()}\n\nRubric:\n{opts.rubric}" if task.guidelines.strip()
              else f"Rubric:\n{opts.rubric}")
    return JudgeTask(task.kind, (), (), rubric, ("text",), "text")


def judge_text(item_text: str, answer: str) -> str:
    """What the judge reads about one answer (between the item tags)."""
    return f"Item:\n{item_text[:MAX_ITEM_CHARS]}\n\nAnswer to score:\n{answer}"


def build_judge(project: Project, run_annotators: dict[str, Annotator], *,
                plan: bool = False) -> Annotator | None:
    """The judge annotator of a free-text project, or None when ``[task] judge`` is unset;
    a clear :class:`ConfigError` when the name is wrong. ``plan``: for pricing only (no
    API key needed)."""
    name = options(project.task).judge
    if name is None:
        return None
    cfg = project.config.annotators.get(name)
    if cfg is None:
        known = ", ".join(sorted(project.config.annotators)) or "none"
        raise ConfigError(f"[task] judge names annotator {name!r}, which is not configured "
                          f"(annotators: {known}); add [annotators.{name}] with type = \"llm\" "
                          "or fix the name", key="task.judge")
    if cfg.type != "llm":
        raise ConfigError(f"[task] judge names annotator {name!r} of type {cfg.type!r}; the "
                          "judge must be an \"llm\" annotator", key="task.judge")
    if name in run_annotators:
        raise ConfigError(f"annotator {name!r} is the judge ([task] judge) and also one of the "
                          "policy's annotators; a judge scores answers, it does not write "
                          "them: give the policy another annotator", key="task.judge")
    if plan and cfg.api_key_env:  # the plan makes no call: it needs no key
        cfg = cfg.model_copy(update={"api_key_env": None})
    context = Context(project.path, project.config.project.seed,
                      project.config.project.media_root)
    judge = build_annotator(name, cfg, judge_task(project.task), context)
    return judge


def answer_digest(answer: str) -> str:
    """A short hash of an answer's text: what a verdict names as the answer it scores."""
    return hashlib.sha1(str(answer).encode()).hexdigest()[:16]


PLAN_ANSWER = "x" * 200  # the answer the plan prices a verdict on (about 50 tokens)


def plan_judge(project: Project, items: Items, n_open: int, writers: list[str]
               ) -> list[dict[str, Any]]:
    """The plan's row for the judge: at most one verdict per writer and open item."""
    judge = build_judge(project, {}, plan=True)
    if judge is None:
        return []
    shown = Items(list(items.ids), [{"text": judge_text(str(f.get(items.text_field, "")),
                                                        PLAN_ANSWER)} for f in items.fields],
                  "text")
    est = judge.estimate(shown) if len(shown) else []
    per = float(np.mean([e[2] for e in est])) if est else float(judge.max_cost)
    verdicts = n_open * len(writers)
    return [{"tier": "judge", "annotator": judge.name, "type": "llm",
             "items": verdicts,
             "tokens_in": float(np.mean([e[0] for e in est])) if est else 0.0,
             "tokens_out": float(np.mean([e[1] for e in est])) if est else 0.0,
             "cost_per_item": per, "cost": per * verdicts}]


def verdict_key(project_id: int, item_id: str, judge: Annotator, writer: str,
                writer_version: str, answer: str) -> str:
    return request_key(project_id, item_id, judge.name,
                       f"{judge.version}:{writer}:{writer_version}:{answer_digest(answer)}")


class JudgePass:
    """Judges the unscored answers of a run's open items (see the module docstring)."""

    def __init__(self, store, lock: RunLock, state: RunState, budget: Budget,
                 judge: Annotator, ledger: Ledger, report) -> None:
        self.store, self.lock, self.state, self.budget = store, lock, state, budget
        self.judge, self.ledger, self.report = judge, ledger, report
        self.pid = store.project_id
        self.failed: set[str] = set()  # keys the judge could not score in this run
        self.stopped = 0
        if judge.uses_cache:
            judge.cache = CallCache(store, store.project_id, exclude=state.control)

    # -- what to judge -----------------------------------------------------------------
    def _unscored(self, positions) -> list[tuple[str, int, Answer, str]]:
        st = self.state
        out = []
        for name, values in st.values.items():
            for p in positions:
                v = values[p]
                if v is None or getattr(v, "score", None) is not None:
                    continue
                answer = v if isinstance(v, Answer) else Answer(str(v))
                key = verdict_key(self.pid, st.ids[p], self.judge, name,
                                  self.ledger.versions.get(name, ""), str(answer))
                if key not in self.failed:
                    out.append((name, p, answer, key))
        return out

    def run(self, positions: np.ndarray | None = None) -> int:
        """Score every unscored answer of these items (default: the open ones); returns
        how many were scored (from the store or by a call)."""
        st = self.state
        if positions is None:
            positions = np.flatnonzero(st.open)
        todo = self._unscored([int(p) for p in positions])
        if not todo:
            return 0
        stored, sent = self._stored([k for *_, k in todo])
        scored = 0
        ask = []
        for name, p, answer, key in todo:
            if key in stored:
                st.values[name][p] = answer.judged(*stored[key])
                scored += 1
            else:
                ask.append((name, p, answer, key))
        if ask:
            scored += asyncio.run(self._ask(ask, sent))
        return scored

    def _stored(self, keys: list[str]) -> tuple[dict[str, tuple[int, str]], set[str]]:
        """The verdicts stored for these keys, and the keys whose call was in flight at a
        kill (``sent``)."""
        j, rq = schema.judgements, schema.requests
        verdicts: dict[str, tuple[int, str]] = {}
        sent: set[str] = set()
        with self.store.connect() as conn:
            for start in range(0, len(keys), 900):
                part = keys[start:start + 900]
                for r in conn.execute(select(j.c.request_key, j.c.value).where(
                        (j.c.project_id == self.pid) & j.c.request_key.in_(part)
                        & (j.c.value_type == VALUE_TYPE) & (j.c.status == "ok"))):
                    verdicts[r.request_key] = (int(r.value["score"]), str(r.value["reason"]))
                sent.update(conn.execute(select(rq.c.key).where(
                    (rq.c.project_id == self.pid) & rq.c.key.in_(part)
                    & (rq.c.state == "sent"))).scalars())
        return verdicts, sent

    # -- asking ------------------------------------------------------------------------
    def _items(self, p: int, answer: str) -> Items:
        st = self.state
        text = str(st.items(np.array([p])).texts[0])
        return Items([st.ids[p]], [{"text": judge_text(text, answer)}], "text")

    async def _ask(self, todo: list[tuple[str, int, Answer, str]], sent: set[str]) -> int:
        judge, stamp = self.judge, self.store.timestamp(now())
        items = [self._items(p, str(a)) for _, p, a, _ in todo]
        reserves = np.concatenate([np.asarray(judge.reserve(it), dtype=float) for it in items])
        with self.store.begin_write() as conn:  # every request exists before any call
            upsert_rows(conn, schema.requests, REQUEST_COLUMNS,
                        [(self.pid, key, self.state.ids[p], judge.name, judge.version,
                          self.lock.run_id, float(r), "pending", 0, None, stamp)
                         for (_, p, _, key), r in zip(todo, reserves)],
                        ("project_id", "key"), ("run_id", "reserved_cost", "updated"),
                        where="requests.state NOT IN ('done')")
            self.lock.beat(conn)
        scored = 0
        wave = max(int(judge.concurrency), 1)
        try:
            for start in range(0, len(todo), wave):
                part = list(range(start, min(start + wave, len(todo))))
                n = self.budget.admit(reserves[part])
                if n < len(part):
                    self._stop([todo[i][3] for i in part[n:]] +
                               [t[3] for t in todo[start + wave:]])
                    part = part[:n]
                if not part:
                    break
                self._mark_sent([todo[i][3] for i in part], sent)
                results = await asyncio.gather(*(judge.aannotate_one(items[i]) for i in part))
                for i, answers in zip(part, results):
                    cost = float(np.sum(answers.cost))
                    self.budget.settle(float(reserves[i]), cost)
                    scored += self._record(todo[i], answers)
                if n < wave and start + wave < len(todo):
                    break
        finally:
            await judge.aclose()
        return scored

    def _stop(self, keys: list[str]) -> None:
        """Calls the budget stopped before they went out: planned, never asked."""
        self.stopped += len(keys)
        rq = schema.requests
        with self.store.begin() as conn:
            conn.execute(update(rq).where((rq.c.project_id == self.pid) & rq.c.key.in_(keys)
                                          & rq.c.state.in_(("pending", "sent")))
                         .values(state="stopped", updated=now()))
        self.failed.update(keys)  # not asked again in this run

    def _mark_sent(self, keys: list[str], sent: set[str]) -> None:
        rq = schema.requests
        with self.store.begin() as conn:
            conn.execute(update(rq).where((rq.c.project_id == self.pid) & rq.c.key.in_(keys))
                         .values(state="sent", attempts=rq.c.attempts + 1, updated=now()))
            repeated = [k for k in keys if k in sent]
            if repeated:  # in flight when a run was killed: sent again, and counted
                self.lock.count_repeated(conn, len(repeated))
                self.ledger.repeated += len(repeated)
                sent.difference_update(repeated)

    def _record(self, job: tuple[str, int, Answer, str], answers) -> int:
        """Store one verdict (or the failure), its call log and its request, in one
        transaction; put the score on the answer the policy sees."""
        name, p, answer, key = job
        judge, st = self.judge, self.state
        at = now()
        verdict: Any = answers.labels[0]
        ok = answers.status[0] == "ok" and isinstance(verdict, Verdict)
        cost = float(np.sum(answers.cost))
        value = {"writer": name, "answer_sha": answer_digest(answer)}
        if ok:
            value.update(score=verdict.score, reason=verdict.reason)
        with self.store.begin() as conn:
            call_id = None
            groups = judge.call_rows(answers) if answers.calls else []
            rows = [dict(row, project_id=self.pid, request_key=key, annotator=judge.name,
                         created=at) for group in groups for row in group]
            if rows:
                mc = schema.model_calls
                call_id = conn.execute(mc.insert().returning(
                    mc.c.id, sort_by_parameter_order=True), rows).scalars().all()[-1]
            insert_rows(conn, schema.judgements, JUDGEMENT_COLUMNS, [(
                self.pid, key, st.ids[p], judge.name, judge.kind, judge.version, VALUE_TYPE,
                str(verdict.score) if ok else None, json_text(value), None, None, cost,
                float(np.sum(answers.latency)) if answers.latency is not None else None,
                call_id, self.lock.run_id, "ok" if ok else "failed", False,
                self.store.timestamp(at), None)])
            error = None if ok else (answers.errors[0] or "the judge gave no verdict")
            conn.execute(update(schema.requests).where(
                (schema.requests.c.project_id == self.pid) & (schema.requests.c.key == key))
                .values(state="done" if ok else "failed", error=error, updated=at))
            self.lock.beat(conn)
        self.report.cost += cost
        self.report.asked[judge.name] = self.report.asked.get(judge.name, 0) + 1
        if not ok:
            self.failed.add(key)
            self.report.failed[judge.name] = self.report.failed.get(judge.name, 0) + 1
            return 0
        st.values[name][p] = answer.judged(verdict.score, verdict.reason)
        return 1


__all__ = ["VALUE_TYPE", "JudgePass", "JudgeTask", "answer_digest", "build_judge",
           "judge_task", "judge_text", "plan_judge", "verdict_key"]
