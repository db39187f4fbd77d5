"""The run lock: one process runs a project at a time; a killed run is resumed.

A run is a row of ``runs``. Its ``owner`` (``host:pid``) and ``heartbeat`` say who holds
it. Starting a run takes the project's write lock, finds an unfinished run, and either
refuses (its owner is alive) or takes it over (a resume). The heartbeat is refreshed
inside the run's own write transactions, at most every ``BEAT`` seconds, so it costs no
extra transaction.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from ..errors import RunInProgress
from ..store import Store, schema

STALE_AFTER = 120  # seconds without a heartbeat after which another host's run is dead
BEAT = 10  # seconds between heartbeats


def now() -> datetime:
    return datetime.now(UTC)


def owner() -> str:
    """This process, as recorded in a run's ``owner``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def alive(owner_: str, heartbeat: datetime | None, at: datetime) -> bool:
    """Is the process that owns a run still working on it?"""
    host, _, pid = owner_.rpartition(":")
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
    return (at - heartbeat).total_seconds() < STALE_AFTER


@dataclass
class RunLock:
    """Holds one run of a project: :meth:`acquire`, :meth:`beat` while working,
    :meth:`finish` or :meth:`release`."""

    store: Store
    seed: int
    config_hash: str
    run_id: int = 0
    resumed: bool = False
    config_changed: bool = False

    def __post_init__(self) -> None:
        self.pid = self.store.project_id
        self._last_beat = now()

    def acquire(self) -> RunLock:
        """Begin a run, or resume the unfinished one; refuse while another process runs it.

        Only an interrupted run is resumed; one that ended waiting on people is over, and
        the next starts afresh (training on everything decided so far)."""
        t = schema.runs
        with self.store.begin_write() as conn:
            at = self._clock(conn)
            row = conn.execute(select(t.c.id, t.c.owner, t.c.heartbeat, t.c.seed,
                                      t.c.config_hash).where(
                (t.c.project_id == self.pid) & (t.c.status == "running")
            ).order_by(t.c.id.desc())).first()
            if row is not None:
                if row.owner and row.owner != owner() and alive(row.owner, row.heartbeat, at):
                    raise RunInProgress(
                        f"run {row.id} of this project is in progress in process {row.owner}; "
                        "wait for it to finish (or stop it: a stopped run resumes where it "
                        "was) before starting another. To help it instead, on a PostgreSQL "
                        "store set [run] workers = \"many\" and start 'labelquorum run "
                        "--join'.", int(row.id))
                conn.execute(update(t).where(t.c.id == row.id).values(
                    status="running", resumes=t.c.resumes + 1, owner=owner(), heartbeat=at,
                    config_hash=self.config_hash))  # the config its workers must share
                self.run_id, self.resumed, self.seed = int(row.id), True, int(row.seed)
                self.config_changed = row.config_hash != self.config_hash
                return self
            self.run_id = int(conn.execute(t.insert().values(
                project_id=self.pid, started=at, status="running", seed=self.seed,
                config_hash=self.config_hash, repeated_calls=0, resumes=0,
                owner=owner(), heartbeat=at,
            )).inserted_primary_key[0])
        return self

    def _clock(self, conn) -> datetime:
        """Now, by the database's clock on PostgreSQL: processes on many hosts compare
        their heartbeats there, whatever each host's clock says."""
        if self.store.is_sqlite:
            return now()
        return conn.execute(select(func.now())).scalar()

    def beat(self, conn) -> None:
        """Refresh the heartbeat inside a write transaction, at most every ``BEAT`` s."""
        at = now()
        if (at - self._last_beat).total_seconds() >= BEAT:
            t = schema.runs
            conn.execute(update(t).where(t.c.id == self.run_id).values(
                heartbeat=at if self.store.is_sqlite else func.now()))
            self._last_beat = at

    def count_repeated(self, conn, n: int) -> None:
        """Calls in flight at a kill and sent again, stored with the run."""
        t = schema.runs
        conn.execute(update(t).where(t.c.id == self.run_id)
                     .values(repeated_calls=t.c.repeated_calls + n))

    def release(self) -> None:
        """Give the run up unfinished (a crash or Ctrl-C): the next run resumes it at once."""
        t = schema.runs
        with self.store.begin() as conn:
            conn.execute(update(t).where((t.c.id == self.run_id) & (t.c.owner == owner()))
                         .values(owner=None))

    def finish(self, status: str) -> None:
        """``done``, or ``waiting`` (on people): the run is over either way."""
        t = schema.runs
        with self.store.begin() as conn:
            conn.execute(update(t).where(t.c.id == self.run_id).values(
                status=status, finished=now() if status == "done" else None, owner=None))
