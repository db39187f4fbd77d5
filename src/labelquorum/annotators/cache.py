"""The call cache: a completion already paid for is served again at zero cost.

Keys are a hash of the endpoint, model, messages and parameters (see
:func:`cache_key`); completions live in the store's call log (``model_calls.cache_key``
and ``response``), so the cache outlives the process and a resumed or later run
benefits. Identical requests in flight at the same time are sent once. Items with
``control`` gold are never served from the cache nor stored in it: a golden question
must be answered afresh every time, or it measures nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from ..store import schema


def cache_key(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


class CallCache:
    """Completions by cache key, for one project's store."""

    def __init__(self, store, project_id: int, exclude: set[str] | frozenset[str] = frozenset()):
        self.store, self.project_id, self.exclude = store, project_id, set(exclude)
        mc = schema.model_calls
        with store.connect() as conn:
            self.stored = set(conn.execute(select(mc.c.cache_key).where(
                (mc.c.project_id == project_id) & mc.c.cache_key.is_not(None)
                & mc.c.error.is_(None)).distinct()).scalars())
        self.memory: dict[str, Any] = {}
        self.inflight: dict[str, asyncio.Future] = {}
        self.hits = 0

    def usable(self, item_id: str) -> bool:
        return item_id not in self.exclude

    def _stored(self, key: str) -> Any | None:
        mc = schema.model_calls
        with self.store.connect() as conn:
            row = conn.execute(select(mc.c.response).where(
                (mc.c.project_id == self.project_id) & (mc.c.cache_key == key)
                & mc.c.error.is_(None)).limit(1)).first()
        return None if row is None else row.response

    async def get_or_call(self, key: str, call: Callable[[], Awaitable[Any]],
                          encode: Callable[[Any], Any], decode: Callable[[Any], Any]
                          ) -> tuple[Any, bool]:
        """(result, served from the cache?). ``call`` runs only on a miss."""
        if key in self.memory:
            self.hits += 1
            return decode(self.memory[key]), True
        if key in self.stored:
            data = self._stored(key)
            if data is not None:
                self.hits += 1
                self.memory[key] = data
                return decode(data), True
        waiting = self.inflight.get(key)
        if waiting is not None:
            data = await asyncio.shield(waiting)
            if data is not None:
                self.hits += 1
                return decode(data), True
            return await call(), False
        future = asyncio.get_running_loop().create_future()
        self.inflight[key] = future
        try:
            result = await call()
        except BaseException:
            future.set_result(None)
            raise
        finally:
            self.inflight.pop(key, None)
        data = encode(result)
        self.memory[key] = data
        if not future.done():
            future.set_result(data)
        return result, False

    def remember(self, key: str) -> None:
        """A completion with this key is now in the store (after its call log is written)."""
        self.stored.add(key)
