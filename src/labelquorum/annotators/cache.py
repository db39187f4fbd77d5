"""The call cache: a completion already paid for is served again at zero cost.

Keys are a hash of the endpoint, model, messages and parameters (see
:func:`cache_key`); completions live in the store's call log (``model_calls.cache_key``
and ``response``, indexed by key), so the cache outlives the process and a resumed or
later run benefits. Identical requests in flight at the same time are sent once. Items
with ``control`` gold are never served from the cache nor stored in it: a golden question
must be answered afresh every time, or it measures nothing.

In memory the cache keeps only the most recent ``max_entries`` completions (least
recently used first out), so its memory stays flat however many calls a run makes: a
completion takes about 1.5 to 6 KB in Python objects (log-probabilities are the bulk).
Everything older is read back from the call log by key. The run writes a call's log as
soon as its item is answered, so the only completions not yet there are those of items in
flight (at most the annotator's ``concurrency`` times its calls per item), far fewer than
``max_entries``. Which keys the call log holds is kept as 8-byte hashes (:class:`KeySet`),
so a call that was never made goes out without a database read first.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from sqlalchemy import bindparam, select

from ..store import schema

MAX_ENTRIES = 4096  # completions kept in memory: about 6 to 25 MB

_mc = schema.model_calls
_LOOKUP = (select(_mc.c.response)
           .where((_mc.c.project_id == bindparam("pid")) & (_mc.c.cache_key == bindparam("key"))
                  & _mc.c.error.is_(None))
           .limit(1))


def cache_key(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


class KeySet:
    """Cache keys as 8-byte hashes: a sorted array, plus a set of recent additions
    merged into it now and then, so a million keys take 8 MB (as strings in a Python set
    they take about 130 MB). Two keys that share 8 bytes only cost a database read."""

    MERGE_AT = 65_536

    def __init__(self, keys=()):
        self.sorted = np.unique(np.fromiter((self._code(k) for k in keys), dtype=np.uint64))
        self.recent: set[int] = set()

    @staticmethod
    def _code(key: str) -> int:
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")

    def add(self, key: str) -> None:
        self.recent.add(self._code(key))
        if len(self.recent) >= self.MERGE_AT:
            new = np.fromiter(self.recent, dtype=np.uint64, count=len(self.recent))
            self.sorted = np.union1d(self.sorted, new)
            self.recent = set()

    def __contains__(self, key: str) -> bool:
        code = self._code(key)
        if code in self.recent:
            return True
        i = int(np.searchsorted(self.sorted, np.uint64(code)))
        return i < len(self.sorted) and int(self.sorted[i]) == code

    def __len__(self) -> int:
        return len(self.sorted) + len(self.recent)


class CallCache:
    """Completions by cache key, for one project's store: the last ``max_entries`` in
    memory, every one in the store's call log."""

    def __init__(self, store, project_id: int, exclude: set[str] | frozenset[str] = frozenset(),
                 max_entries: int | None = None):
        self.store, self.project_id, self.exclude = store, project_id, set(exclude)
        self.max_entries = MAX_ENTRIES if max_entries is None else max_entries
        with store.connect() as conn:
            self.stored = KeySet(conn.execute(select(_mc.c.cache_key).where(
                (_mc.c.project_id == project_id) & _mc.c.cache_key.is_not(None)
                & _mc.c.error.is_(None)).distinct()
                .execution_options(yield_per=50_000)).scalars())  # streamed, not all at once
        self.memory: OrderedDict[str, Any] = OrderedDict()
        self.inflight: dict[str, asyncio.Future] = {}
        self.hits = 0

    def usable(self, item_id: str) -> bool:
        return item_id not in self.exclude

    def _stored(self, key: str) -> Any | None:
        with self.store.connect() as conn:
            row = conn.execute(_LOOKUP, {"pid": self.project_id, "key": key}).first()
        return None if row is None else row.response

    def _keep(self, key: str, data: Any) -> None:
        self.memory[key] = data
        self.memory.move_to_end(key)
        while len(self.memory) > self.max_entries:
            self.memory.popitem(last=False)

    async def get_or_call(self, key: str, call: Callable[[], Awaitable[Any]],
                          encode: Callable[[Any], Any], decode: Callable[[Any], Any]
                          ) -> tuple[Any, bool]:
        """(result, served from the cache?). ``call`` runs only on a miss."""
        data = self.memory.get(key)
        if data is not None:
            self.hits += 1
            self.memory.move_to_end(key)
            return decode(data), True
        waiting = self.inflight.get(key)
        if waiting is not None:
            data = await asyncio.shield(waiting)
            if data is not None:
                self.hits += 1
                return decode(data), True
            return await call(), False
        data = self._stored(key) if key in self.stored else None
        if data is not None:
            self.hits += 1
            self._keep(key, data)
            return decode(data), True
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
        self._keep(key, data)
        self.stored.add(key)  # the run logs it once the item is answered
        if not future.done():
            future.set_result(data)
        return result, False

    def forget(self, key: str) -> None:
        """A completion whose answer was not stored (a many-worker run's claim was lost
        meanwhile): not served from memory again, so asking again pays again."""
        self.memory.pop(key, None)

    def remember(self, key: str) -> None:
        """A completion with this key is now in the store."""
        self.stored.add(key)
