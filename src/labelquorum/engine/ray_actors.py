"""The worker processes of a Ray run (see :mod:`labelquorum.engine.ray_executor`).

- :class:`ModelWorker` holds one batched local model (TF-IDF, embedding, spaCy...), loaded
  once when the actor starts, and answers batches of items.
- :class:`IoWorker` holds one I/O-bound annotator (an LLM endpoint) with its own HTTP
  client and event loop, and answers one item per call, many calls at once.
- :class:`EndpointGuard` is the one rate limit and circuit breaker that every
  :class:`IoWorker` of an annotator shares: the workers' clients reach it through
  :class:`SharedLimiter` and :class:`SharedBreaker`, which stand in for the client's own
  :class:`~labelquorum.llm.client.RateLimiter` and
  :class:`~labelquorum.llm.client.CircuitBreaker`. The breaker's logic is the client's
  own, run in the guard; the workers only relay.

Workers store nothing: their answers go back to the run's process, whose single writer
stores them (the ledger never moves).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import ray

from ..annotators import Annotator, Answers, Items
from ..errors import LlmError, LlmUnavailableError
from ..llm.client import CircuitBreaker, EndpointClient

__all__ = ["EndpointGuard", "IoWorker", "ModelWorker", "SharedBreaker", "SharedLimiter"]


class EndpointGuard:
    """The rate limit and circuit breaker of one LLM annotator, for all of its workers."""

    def __init__(self, interval: float | None, failures: int, cooldown: float, where: str):
        self.interval, self.next = interval, 0.0
        self.breaker = CircuitBreaker(failures, cooldown, where)

    def slot(self) -> float:
        """Seconds the caller waits before its request (requests evenly spaced)."""
        if not self.interval:
            return 0.0
        now = time.monotonic()
        slot = max(now, self.next)
        self.next = slot + self.interval
        return slot - now

    def state(self) -> tuple[bool, int]:
        return self.breaker.is_open, self.breaker.count

    def poll(self, max_outage: float) -> tuple[str, Any]:
        try:
            go, pause = self.breaker.poll(max_outage)
        except LlmUnavailableError as exc:
            return "fail", str(exc)
        return ("go", go) if go is not None else ("wait", pause)

    def may_wait(self, max_outage: float) -> bool:
        return self.breaker.may_wait(max_outage)

    def message(self, max_outage: float) -> str:
        return self.breaker.message(max_outage)

    def success(self, probe: bool) -> tuple[bool, int]:
        self.breaker.success(probe=probe)
        return self.state()

    def failure(self, exc: LlmError, trip: bool, probe: bool) -> tuple[bool, int]:
        self.breaker.failure(exc, trip=trip, probe=probe)
        return self.state()

    def release(self) -> None:
        self.breaker.release()

    def outages(self) -> list[float]:
        return list(self.breaker.outages)


class SharedLimiter:
    """A worker's side of the guard's rate limit."""

    def __init__(self, guard):
        self.guard = guard

    async def wait(self) -> None:
        pause = await self.guard.slot.remote()
        if pause > 0:
            await asyncio.sleep(pause)


class SharedBreaker:
    """A worker's side of the guard's circuit breaker: the client's calls, relayed.

    ``is_open`` is asked before every request, so it reads a copy of the guard's state
    that is refreshed in the background (at most every :attr:`REFRESH` seconds, and after
    every failure this worker reports); a success is reported only when there is
    something to reset. Reports are sent in order without waiting for them: Ray runs one
    caller's calls to an actor in the order they were made.
    """

    REFRESH = 0.2

    def __init__(self, guard):
        self.guard = guard
        self.open, self.count = False, 0
        self.pending = None
        self.asked = 0.0

    @property
    def outages(self) -> list[float]:
        return []  # kept by the guard; the run reads them from there

    @property
    def is_open(self) -> bool:
        if self.pending is not None:
            ready, _ = ray.wait([self.pending], timeout=0)
            if ready:
                self.open, self.count = ray.get(self.pending)
                self.pending = None
        if self.pending is None and time.monotonic() - self.asked >= self.REFRESH:
            self._refresh()
        return self.open

    def _refresh(self) -> None:
        self.pending = self.guard.state.remote()
        self.asked = time.monotonic()

    async def acquire(self, max_outage: float = 0.0) -> bool:
        while True:
            what, value = await self.guard.poll.remote(max_outage)
            if what == "fail":
                raise LlmUnavailableError(value)
            if what == "go":
                return value
            await asyncio.sleep(value)

    def may_wait(self, max_outage: float) -> bool:
        return ray.get(self.guard.may_wait.remote(max_outage))

    def message(self, max_outage: float = 0.0) -> str:
        return ray.get(self.guard.message.remote(max_outage))

    def success(self, probe: bool = False) -> None:
        if probe or self.open or self.count:
            self.guard.success.remote(probe)
            self.open, self.count = False, 0

    def failure(self, exc: LlmError, trip: bool = False, probe: bool = False) -> None:
        self.guard.failure.remote(exc, trip, probe)
        self.count += 1
        self._refresh()

    def release(self) -> None:
        self.guard.release.remote()


class ModelWorker:
    """One batched local model (``shipped``: the pickled annotator), loaded once in this
    process."""

    def __init__(self, shipped: bytes, guard=None):
        self.annotator: Annotator = ray.cloudpickle.loads(shipped)

    def pid(self) -> int:
        return os.getpid()

    def annotate(self, items: Items) -> Answers:
        return self.annotator.annotate(items)


class IoWorker:
    """One I/O-bound annotator with its own client, asked many items at once."""

    def __init__(self, shipped: bytes, guard=None):
        self.annotator: Annotator = ray.cloudpickle.loads(shipped)
        client = getattr(self.annotator, "client", None)
        if guard is not None and isinstance(client, EndpointClient):
            client.breaker = SharedBreaker(guard)
            if client.limiter is not None:
                client.limiter = SharedLimiter(guard)

    def pid(self) -> int:
        return os.getpid()

    async def ask(self, items: Items, limit: float | None) -> Answers:
        """Answer one item; ``limit`` is what the run's budget holds for it, which its
        settled cost never exceeds (the LLM annotator's reservation, made by the run)."""
        reserved = getattr(self.annotator, "_reserved", None)
        if limit is not None and isinstance(reserved, dict):
            reserved[items.ids[0]] = limit
        return await self.annotator.aannotate_one(items)
