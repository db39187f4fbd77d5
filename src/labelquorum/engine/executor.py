"""The executor: ask annotators, within the budget, and store every answer as it exists.

- Free local annotators (models, rules, replay) run in chunks; each chunk's requests and
  judgements are written together.
- Paid batched annotators: a chunk is admitted by the budget, marked sent, asked, stored.
- I/O-bound annotators (LLM endpoints) are asked by a fixed pool of ``concurrency``
  workers each: memory does not grow with the number of items. A call goes out only once
  the budget admits its reservation (waiting for calls in flight to settle when it does
  not fit yet) and its ``sent`` mark is committed; its answer is stored by the one writer
  thread, batched with whatever else is queued.
- A write that fails is retried; an answer that still cannot be stored is counted and
  reported at the end of the run (its request stays ``sent``: the next run asks it again
  and counts the repeat), never dropped silently, and the other answers go on. Two answers
  in a row that the store refuses, or a ``sent`` mark it cannot write, mean the store is
  down (a full disk): no further call is paid for, and the run ends with a ``StoreError``.

What the budget stopped is returned, for the run to decide those items ``budget``.
Where annotators run is three methods (:meth:`Executor.annotate`,
:meth:`Executor.aannotate_one`, :meth:`Executor.close`): here in this process, or on a Ray
cluster (:mod:`labelquorum.engine.ray_executor`), the ledger and the budget staying here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from ..annotators import Annotator, Answers
from ..store.writer import Coalescer
from .ledger import Budget, Ledger, instant
from .state import RunState

CHUNK = 4096
WRITE_TRIES = 5


class Executor:
    def __init__(self, state: RunState, ledger: Ledger, budget: Budget, report,
                 progress: Callable[[str], None]):
        self.state, self.ledger, self.budget = state, ledger, budget
        self.annotators = ledger.annotators
        self.report = report
        self.progress = progress
        self.answered: dict[str, int] = {}
        self.unstored: list[str] = []  # one line per answer that could not be stored
        self.down: Exception | None = None  # writes fail every retry: stop asking
        self.failing = 0  # answers in a row the store refused every retry

    # -- where annotators run (the Ray executor overrides these three) ---------------
    def annotate(self, ann: Annotator, items) -> Answers:
        """Answer a batch of a local model, here in this process."""
        return ann.annotate(items)

    async def aannotate_one(self, ann: Annotator, items, reserve: float) -> Answers:
        """Answer one item of an I/O-bound annotator (``reserve``: what the budget holds
        for it), here on this process's event loop."""
        return await ann.aannotate_one(items)

    def close(self) -> None:
        """Release what the executor holds once the run ends."""

    def run(self, asks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Ask, store, remember; return the positions the budget stopped, per annotator."""
        stopped: dict[str, list[int]] = {}
        io: dict[str, np.ndarray] = {}
        free: list[tuple[np.ndarray, list[Annotator]]] = []  # annotators asked alike
        for name, positions in asks.items():
            ann = self.annotators[name]
            self.report.asked[name] = self.report.asked.get(name, 0) + len(positions)
            if ann.deferred:
                continue  # people answer through the store; admitted when planned
            if ann.io_bound:
                io[name] = positions
            elif instant(ann):
                same = next((g for ps, g in free if np.array_equal(ps, positions)), None)
                if same is None:
                    free.append((positions, [ann]))
                else:
                    same.append(ann)
            else:
                self._paid_batches(ann, positions, stopped)
        for positions, group in free:  # each chunk's items read once for the group
            for start in range(0, len(positions), CHUNK):
                chunk = positions[start:start + CHUNK]
                if self.down is not None:
                    break
                items = self.state.items(chunk)
                for ann in group:
                    self._store(ann, chunk, self.annotate(ann, items))
        if io:
            asyncio.run(self._io(io, stopped))
        out = {n: np.array(sorted(ps), dtype=np.int64) for n, ps in stopped.items() if ps}
        for name, ps in out.items():
            self.report.asked[name] -= len(ps)
        return out

    # -- batched, paid -----------------------------------------------------------------
    def _paid_batches(self, ann: Annotator, positions: np.ndarray,
                      stopped: dict[str, list[int]]) -> None:
        """A paid batch is marked sent before it goes out, in batches of the annotator's
        own size, so a kill repeats at most one batch and the repeat is counted."""
        size = min(CHUNK, ann.batch_size)
        for start in range(0, len(positions), size):
            if self.down is not None:
                return
            chunk = positions[start:start + size]
            items = self.state.items(chunk)
            reserves = np.asarray(ann.reserve(items), dtype=float)
            n = self.budget.admit(reserves)
            budget_hit = n < len(chunk)
            if budget_hit:
                self._stop(ann.name, positions[start + n:], stopped)
                chunk, items, reserves = chunk[:n], items.take(np.arange(n)), reserves[:n]
            if not n:
                return
            keys = [self.ledger.key(ann.name, int(p)) for p in chunk]
            withdrawn, error = self._write(self.ledger.mark_sent, keys)
            if error is not None:
                for r in reserves:
                    self.budget.settle(float(r), 0.0)
                self._unstored(ann.name, chunk, "its 'sent' mark could not be written, so "
                               "it was not asked")
            else:
                if withdrawn:
                    gone = np.array([k in withdrawn for k in keys], dtype=bool)
                    self._withdraw(ann.name, chunk[gone])
                    for r in reserves[gone]:
                        self.budget.settle(float(r), 0.0)
                    chunk, reserves = chunk[~gone], reserves[~gone]
                    items = items.take(np.flatnonzero(~gone))
                if len(chunk):
                    self._ask_batch(ann, chunk, items, reserves)
            if budget_hit:
                return

    def _ask_batch(self, ann: Annotator, chunk: np.ndarray, items, reserves) -> None:
        answers = self.annotate(ann, items)
        cost = np.asarray(answers.cost, dtype=float)
        for r, c in zip(reserves, cost):
            self.budget.settle(float(r), float(c))
        self._store(ann, chunk, answers)

    def _stop(self, name: str, positions: np.ndarray, stopped: dict[str, list[int]]) -> None:
        stopped.setdefault(name, []).extend(int(p) for p in positions)
        self._write(self.ledger.unsend, [self.ledger.key(name, int(p)) for p in positions])

    # -- storing -----------------------------------------------------------------------
    def _withdraw(self, name: str, positions: np.ndarray) -> None:
        """Planned calls withdrawn before they went out: a reviewer decided the items."""
        self.state.status[name][positions] = 0
        self.state.close(positions, final=True)
        self.report.asked[name] = self.report.asked.get(name, 0) - len(positions)

    def _write(self, fn, *args) -> tuple[Any, Exception | None]:
        """Run a write, retrying a failing database; return (its result, None), or
        (None, the last error)."""
        if self.down is not None:  # the store failed every retry already: fail fast
            return None, self.down
        error: Exception | None = None
        for attempt in range(WRITE_TRIES):
            try:
                return fn(*args), None
            except SQLAlchemyError as exc:
                error = exc
                time.sleep(0.05 * 2 ** attempt)
        if fn != self.ledger.record:  # a mark or a plan carries no answer that could be
            self.down = error  # at fault: the store is down; no more calls are paid for
        return None, error

    def _store(self, ann: Annotator, positions: np.ndarray, answers: Answers) -> None:
        """Store a batch of answers (one at a time if the batch cannot be), then let the
        policy see the ones stored."""
        _, error = self._write(self.ledger.record, ann, positions, answers)
        if error is None:
            self.failing = 0
            self._remember(ann.name, positions, answers)
            return
        if len(positions) == 1:  # that was the one answer: set it aside
            self._refused(ann.name, positions, error)
            return
        for i, p in enumerate(positions.tolist()):
            if self.down is not None:
                self._unstored(ann.name, positions[i:].tolist(),
                               f"its answer could not be stored ({short_error(self.down)})")
                return
            one = answers.take([i])
            _, error = self._write(self.ledger.record, ann, np.array([p]), one)
            if error is None:
                self.failing = 0
                self._remember(ann.name, np.array([p]), one)
            else:
                self._refused(ann.name, np.array([p]), error)

    def _refused(self, name: str, positions: np.ndarray, error: Exception) -> None:
        """An answer the store refused every retry is set aside; two in a row mean the
        store refuses answers altogether (a full disk): no more calls are paid for."""
        self._unstored(name, positions.tolist(),
                       f"its answer could not be stored ({short_error(error)})")
        self.failing += 1
        if self.failing >= 2:
            self.down = error

    def _unstored(self, name: str, positions, why: str) -> None:
        for p in positions:
            self.unstored.append(f"{name} on item {self.state.ids[int(p)]!r}: {why}")

    def _remember(self, name: str, positions: np.ndarray, answers: Answers) -> None:
        self.state.remember(name, positions, answers)
        failed = sum(1 for s in answers.status if s == "failed")
        if failed:
            self.report.failed[name] = self.report.failed.get(name, 0) + failed
        self.report.cost += float(np.sum(answers.cost))
        self.answered[name] = self.answered.get(name, 0) + len(positions)
        self.progress(f"{name} {self.answered[name]:,}/{self.report.asked.get(name, 0):,}")

    # -- I/O-bound ---------------------------------------------------------------------
    async def _io(self, asks: dict[str, np.ndarray], stopped: dict[str, list[int]]) -> None:
        """Ask I/O-bound annotators concurrently. Marks and answers that queue up while the
        writer thread writes are written together, so the cost per call falls as
        concurrency rises and the event loop never waits on the database."""
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelquorum-writer")
        marks = Coalescer(self._mark_many, writer)
        records = Coalescer(self._record_many, writer)
        budget, room = self.budget, asyncio.Condition()
        admission = asyncio.Lock()
        flight = {"calls": 0, "exhausted": False}

        async def admit(reserve: float) -> bool:
            if budget.limit is None:
                budget.held += reserve
                return True
            async with admission, room:  # in order: one call waits for room at a time
                await room.wait_for(lambda: budget.fits(reserve) or flight["calls"] == 0)
                if flight["exhausted"] or not budget.fits(reserve):
                    flight["exhausted"] = True
                    return False
                budget.held += reserve
                flight["calls"] += 1
                return True

        async def settle(reserve: float, cost: float) -> None:
            budget.settle(reserve, cost)
            if budget.limit is not None:
                async with room:
                    flight["calls"] -= 1
                    room.notify_all()

        async def worker(ann: Annotator, todo) -> None:
            for p, items in todo:
                if self.down is not None:
                    continue  # nothing can be stored: no call is paid for
                reserve = float(np.asarray(ann.reserve(items), dtype=float)[0])
                if flight["exhausted"] or not await admit(reserve):
                    stopped.setdefault(ann.name, []).append(p)
                    continue
                cost = 0.0
                try:
                    key = self.ledger.key(ann.name, p)
                    failed, withdrawn = await marks.submit(key)
                    if key in failed:
                        self._unstored(ann.name, [p], "its 'sent' mark could not be "
                                       "written, so it was not asked")
                        continue
                    if key in withdrawn:
                        self._withdraw(ann.name, np.array([p]))
                        continue
                    answers = await self.aannotate_one(ann, items, reserve)
                    cost = float(np.sum(answers.cost))
                    await records.submit((ann.name, p, answers))
                finally:
                    await settle(reserve, cost)

        try:
            workers = []
            for name, positions in asks.items():
                ann = self.annotators[name]
                todo = self.state.blocks(positions)  # one reader for the annotator's workers
                workers += [worker(ann, todo) for _ in range(min(ann.concurrency, len(positions)))]
            await asyncio.gather(*workers)
        finally:
            await asyncio.gather(*(self.annotators[n].aclose() for n in asks))
            writer.shutdown(wait=True)
        for name, ps in stopped.items():
            if ps:
                self._write(self.ledger.unsend, [self.ledger.key(name, p) for p in ps])

    def _mark_many(self, keys: list[str]) -> tuple[set[str], set[str]]:
        """Mark keys sent; return those that could not be marked (the database failed)
        and those withdrawn (a reviewer decided the item)."""
        withdrawn, error = self._write(self.ledger.mark_sent, keys)
        if error is None:
            return set(), withdrawn
        failed: set[str] = set()
        withdrawn = set()
        for k in keys:
            gone, error = self._write(self.ledger.mark_sent, [k])
            if error is not None:
                failed.add(k)
            else:
                withdrawn |= gone
        return failed, withdrawn

    def _record_many(self, answered: list[tuple[str, int, Any]]) -> None:
        """Store single-item answers of several annotators, one transaction each."""
        by_name: dict[str, list[tuple[int, Answers]]] = {}
        for name, p, answers in answered:
            by_name.setdefault(name, []).append((p, answers))
        k = len(self.state.task.labels)
        for name, group in by_name.items():
            positions = np.array([p for p, _ in group], dtype=np.int64)
            answers = group[0][1] if len(group) == 1 else Answers.concat([a for _, a in group], k)
            self._store(self.annotators[name], positions, answers)


def make_executor(kind: str, state: RunState, ledger: Ledger, budget: Budget, report,
                  progress: Callable[[str], None], *, address: str | None = None,
                  actors: int = 2) -> Executor:
    """The executor named by ``[run] executor``: ``local`` (this process) or ``ray``."""
    if kind == "ray":
        from .ray_executor import RayExecutor

        return RayExecutor(state, ledger, budget, report, progress, address=address,
                           actors=actors)
    return Executor(state, ledger, budget, report, progress)


def short_error(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0][:200] if text else type(error).__name__
