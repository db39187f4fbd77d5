"""One writer for many coroutines: the run's database writes, batched as they queue up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Coalescer:
    """One writer for many coroutines: ``fn(batch)`` runs in the run's writer thread with
    everything submitted since the last batch began; each submitter awaits the write of
    its batch (and gets ``fn``'s result, or its exception). At most one batch is in flight, so batches grow
    with the load while the event loop keeps serving HTTP."""

    def __init__(self, fn: Callable[[list[Any]], None], executor):
        self.fn, self.executor = fn, executor
        self.items: list[Any] = []
        self.futures: list[asyncio.Future] = []
        self.scheduled = self.busy = False

    def submit(self, item: Any) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.items.append(item)
        self.futures.append(future)
        self._schedule(loop)
        return future

    def _schedule(self, loop) -> None:
        if not self.scheduled and not self.busy and self.items:
            self.scheduled = True
            loop.call_soon(self._flush, loop)

    def _flush(self, loop) -> None:
        self.scheduled = False
        items, futures = self.items, self.futures
        self.items, self.futures, self.busy = [], [], True
        job = loop.run_in_executor(self.executor, self.fn, items)
        job.add_done_callback(lambda done: self._settle(loop, done, futures))

    def _settle(self, loop, done: asyncio.Future, futures: list[asyncio.Future]) -> None:
        self.busy = False
        exc = done.exception() if not done.cancelled() else asyncio.CancelledError()
        for f in futures:
            if not f.done():
                f.set_exception(exc) if exc is not None else f.set_result(done.result())
        self._schedule(loop)
