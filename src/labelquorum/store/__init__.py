"""The store: SQLAlchemy 2 over SQLite (the embedded default) or PostgreSQL.

SQLite runs in WAL mode with a busy timeout, so a run and the web app can write the
same file at once; writes are batched into short transactions. Every write transaction
on SQLite takes the write lock at its start (``BEGIN IMMEDIATE``): a transaction that
read first and wrote later could not wait for the lock (SQLite answers "database is
locked" at once when another writer committed since the read), so writers queue for
up to the busy timeout instead. :func:`is_busy` tells a lock timeout from other errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..errors import MissingExtraError, StoreError
from . import schema
from .migrations import migrate

__all__ = ["Store", "copy_rows", "insert_rows", "is_busy", "json_text", "schema", "upsert_rows"]

BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for another one to finish


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Transactions are begun by SQLAlchemy's "begin" event below, not by the driver (which
    # would begin only at the first write and make read-then-write blocks non-atomic).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # first: the others may wait
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class Store:
    """One database, possibly shared by many projects; ``project_id`` scopes every query."""

    def __init__(self, url: str, project_name: str):
        self.url = url
        try:
            self.engine: Engine = create_engine(url, future=True)
        except ModuleNotFoundError as exc:
            raise MissingExtraError("A PostgreSQL store", "postgres", exc.name or "psycopg") from None
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot use database URL {url!r}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        try:
            with self.begin() as conn:
                migrate(conn)
                self.project_id = self._project_id(conn, project_name)
        except OperationalError as exc:
            raise StoreError(f"cannot open the store at {_safe(url)}: {exc.orig}") from None

    @staticmethod
    def _project_id(conn, name: str) -> int:
        t = schema.projects
        pid = conn.execute(select(t.c.id).where(t.c.name == name)).scalar()
        if pid is None:
            pid = conn.execute(t.insert().values(name=name, created=datetime.now(UTC))
                               ).inserted_primary_key[0]
        return int(pid)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def timestamp(self, when: datetime):
        """A timestamp in the form the driver stores for a DateTime column (SQLite keeps
        SQLAlchemy's text format; PostgreSQL takes the datetime itself)."""
        if self.is_sqlite:
            return when.strftime("%Y-%m-%d %H:%M:%S.%f")
        return when

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction. On SQLite it holds the write lock from its start, so a
        read-then-write block waits its turn instead of failing with "database is
        locked"; reads that write nothing go through :meth:`connect`."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["write_lock"] = True
            with conn.begin():
                yield conn

    @contextmanager
    def begin_write(self) -> Iterator[Connection]:
        """A transaction that holds the project's write lock from its first statement, for
        read-then-write steps that must not interleave with another process (SQLite:
        ``BEGIN IMMEDIATE``; PostgreSQL: the project's row locked ``FOR UPDATE``)."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info["write_lock"] = True
            with conn.begin():
                if not self.is_sqlite:
                    t = schema.projects
                    conn.execute(select(t.c.id).where(t.c.id == self.project_id)
                                 .with_for_update())
                yield conn

    def connect(self):
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.pop("write_lock", False) else "BEGIN")


def is_busy(exc: BaseException) -> bool:
    """Is this database error a lock that did not come free in time (SQLite's "database
    is locked" after the busy timeout; PostgreSQL's lock, serialisation or deadlock
    failures), i.e. worth retrying later rather than a fault?"""
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in {"55P03", "40001", "40P01"}:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database table is locked" in text


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "<database>"


def json_text(value: Any) -> str | None:
    """A JSON column's value, serialised once for :func:`insert_rows` (None stays NULL)."""
    return None if value is None else json.dumps(value, ensure_ascii=False)


def insert_rows(conn, table, columns: tuple[str, ...], rows: list[tuple],
                on_conflict: str = "") -> None:
    """Insert plain-value rows through the driver's ``executemany``.

    SQLAlchemy's ``conn.execute(table.insert(), dicts)`` processes every row's parameters in
    Python, which costs more than the insert itself on big batches. Rows given here carry
    driver-ready values: JSON columns as text (:func:`json_text`), timestamps from
    :meth:`Store.timestamp`, plain Python numbers and strings.
    """
    if not rows:
        return
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(columns))
    if compiled.positional:
        order = [columns.index(k) for k in compiled.positiontup]
        if order != list(range(len(columns))):
            rows = [tuple(r[i] for i in order) for r in rows]
    else:
        rows = [dict(zip(columns, r)) for r in rows]
    conn.exec_driver_sql(str(compiled) + on_conflict, rows)


def copy_rows(conn, table, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """Bulk-load plain-value rows (as for :func:`insert_rows`) in the connection's
    transaction: ``COPY ... FROM STDIN`` on PostgreSQL (several times the rate of an
    ``INSERT`` per row), :func:`insert_rows` elsewhere. A row that breaks a constraint
    fails the whole statement, as an insert would."""
    if conn.dialect.name != "postgresql":
        insert_rows(conn, table, columns, list(rows))
        return
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in columns)
    cursor = conn.connection.driver_connection.cursor()
    with cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def upsert_rows(conn, table, columns: tuple[str, ...], rows: list[tuple],
                key: tuple[str, ...], update: tuple[str, ...] = (), where: str = "") -> None:
    """:func:`insert_rows`, where a row whose ``key`` exists already updates the ``update``
    columns of the stored row instead (nothing, when ``update`` is empty), and only where
    the stored row satisfies ``where`` (SQL over the table's own columns, e.g.
    ``decisions.state IN ('budget', 'failed')``). SQLite and PostgreSQL both read
    ``ON CONFLICT``, and settle a race with another writer on the same key atomically."""
    target = ", ".join(key)
    if update:
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        clause = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        if where:
            clause += f" WHERE {where}"
    else:
        clause = f" ON CONFLICT ({target}) DO NOTHING"
    insert_rows(conn, table, columns, rows, clause)
