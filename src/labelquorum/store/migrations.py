"""Versioned, append-only schema migrations.

Each migration is a numbered function applied once, in order, inside one transaction,
and recorded in ``schema_migrations``. Never edit or reorder a released migration: add a
new one. Migration 1 creates the tables as ``schema.py`` defined them at version 1; a
later migration that changes a table must also change ``schema.py`` and be written so
that it is a no-op on a table that already has the change (check with the inspector),
because a new store is built from ``schema.py`` and then marked fully migrated.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, DateTime, inspect, select, text

from . import schema


def _m0001_initial(conn: Connection) -> None:
    schema.metadata.create_all(conn)


def _m0002_confidence_method(conn: Connection) -> None:
    """judgements.confidence_method: how an LLM judgement's confidence was found."""
    columns = {c["name"] for c in inspect(conn).get_columns("judgements")}
    if "confidence_method" not in columns:
        conn.execute(text("ALTER TABLE judgements ADD COLUMN confidence_method VARCHAR(24)"))


def _m0003_web(conn: Connection) -> None:
    """The web app's tables: users, sessions, API tokens, the people's task queue,
    assignments with leases, comments and flags, reviews."""
    schema.metadata.create_all(conn, tables=list(schema.WEB_TABLES), checkfirst=True)


def _m0004_decision_state(conn: Connection) -> None:
    """decisions.state: decided for good (final, review) or reopenable (budget, failed),
    read from the old flags; judgements.worker: which person answered."""
    columns = {c["name"] for c in inspect(conn).get_columns("decisions")}
    if "state" not in columns:
        conn.execute(text("ALTER TABLE decisions ADD COLUMN state VARCHAR(12) "
                          "NOT NULL DEFAULT 'final'"))
        conn.execute(text("UPDATE decisions SET state = 'review' WHERE tier = 'review'"))
        conn.execute(text("UPDATE decisions SET state = 'budget' WHERE tier <> 'review' "
                          "AND flags LIKE '%budget%'"))
        conn.execute(text("UPDATE decisions SET state = 'failed' WHERE tier <> 'review' "
                          "AND label IS NULL AND flags LIKE '%unlabelled%'"))
    columns = {c["name"] for c in inspect(conn).get_columns("judgements")}
    if "worker" not in columns:
        conn.execute(text("ALTER TABLE judgements ADD COLUMN worker TEXT"))


def _m0005_refits(conn: Connection) -> None:
    """refits: trainable annotators retrained within a run, and whether they were promoted."""
    schema.refits.create(conn, checkfirst=True)


def _m0006_assignment_visibility(conn: Connection) -> None:
    """assignments.hidden_seconds and hidden_since: the page's visibility reports, so the
    server's time on an item leaves out the time the page was hidden; an index on each
    person's answers by time (where the time on their next item starts)."""
    columns = {c["name"] for c in inspect(conn).get_columns("assignments")}
    if "hidden_seconds" not in columns:
        conn.execute(text("ALTER TABLE assignments ADD COLUMN hidden_seconds FLOAT "
                          "NOT NULL DEFAULT 0"))
    if "hidden_since" not in columns:
        kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
        conn.execute(text(f"ALTER TABLE assignments ADD COLUMN hidden_since {kind}"))
    indexes = {i["name"] for i in inspect(conn).get_indexes("assignments")}
    if "ix_assignments_user_submitted" not in indexes:
        conn.execute(text("CREATE INDEX ix_assignments_user_submitted ON assignments "
                          "(project_id, user_id, submitted)"))


def _m0007_accounts(conn: Connection) -> None:
    """api_tokens.scope and api_tokens.expires (older tokens: ``admin``, capped by their
    user's role as before, and no expiry); the web_keys table of server-side secrets."""
    columns = {c["name"] for c in inspect(conn).get_columns("api_tokens")}
    if "scope" not in columns:
        conn.execute(text("ALTER TABLE api_tokens ADD COLUMN scope VARCHAR(12) "
                          "NOT NULL DEFAULT 'admin'"))
    if "expires" not in columns:
        stamp = DateTime(timezone=True).compile(dialect=conn.dialect)
        conn.execute(text(f"ALTER TABLE api_tokens ADD COLUMN expires {stamp}"))
    schema.web_keys.create(conn, checkfirst=True)


def _m0008_golden_quality(conn: Connection) -> None:
    """items.gold_certainty: a golden item's certainty; the quality_alerts table of the
    golden-question monitor."""
    columns = {c["name"] for c in inspect(conn).get_columns("items")}
    if "gold_certainty" not in columns:
        conn.execute(text("ALTER TABLE items ADD COLUMN gold_certainty FLOAT"))
    schema.quality_alerts.create(conn, checkfirst=True)
def _m0009_item_language(conn: Connection) -> None:
    """items.language: each item's language (from the input, or detected), NULL until
    known. Independent of migration 8: either may be applied first."""
    columns = {c["name"] for c in inspect(conn).get_columns("items")}
    if "language" not in columns:
        conn.execute(text("ALTER TABLE items ADD COLUMN language VARCHAR(16)"))


def _m0010_label_issue_scores(conn: Connection) -> None:
    """label_issue_scores: the likely label errors last found, for the review queue."""
    schema.label_issue_scores.create(conn, checkfirst=True)


def _m0011_workers(conn: Connection) -> None:
    """Many workers on one project: the workers table; requests.claimed_by and
    requests.lease_until (a worker's claim); runs.spent and runs.reserved (the shared
    budget). On PostgreSQL also an index of the open requests (what workers claim from)
    and a unique index that stores a model's answer to a request once
    (``ux_judgements_once``), unless older judgements already repeat one."""
    schema.workers.create(conn, checkfirst=True)
    stamp = DateTime(timezone=True).compile(dialect=conn.dialect)
    columns = {c["name"] for c in inspect(conn).get_columns("requests")}
    if "claimed_by" not in columns:
        conn.execute(text("ALTER TABLE requests ADD COLUMN claimed_by INTEGER"))
    if "lease_until" not in columns:
        conn.execute(text(f"ALTER TABLE requests ADD COLUMN lease_until {stamp}"))
    columns = {c["name"] for c in inspect(conn).get_columns("runs")}
    for name in ("spent", "reserved"):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE runs ADD COLUMN {name} FLOAT"))
    if conn.dialect.name != "postgresql":
        return  # SQLite projects are run by one process at a time
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_requests_open ON requests "
                      "(project_id, annotator) WHERE state IN ('pending', 'sent')"))
    repeats = conn.execute(text(
        f"SELECT 1 FROM judgements WHERE {ONCE_WHERE} "
        "GROUP BY project_id, request_key HAVING count(*) > 1 LIMIT 1")).first()
    if repeats is None:
        conn.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ux_judgements_once ON "
                          f"judgements (project_id, request_key) WHERE {ONCE_WHERE}"))


ONCE_WHERE = "status = 'ok' AND worker IS NULL AND request_key IS NOT NULL"
"""The judgements ``ux_judgements_once`` holds to one per request: a model's answers
(people's answers carry their ``worker``; several people may answer one request)."""

MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial", _m0001_initial),
    (2, "confidence_method", _m0002_confidence_method),
    (3, "web", _m0003_web),
    (4, "decision_state", _m0004_decision_state),
    (5, "refits", _m0005_refits),
    (6, "assignment_visibility", _m0006_assignment_visibility),
    (7, "accounts", _m0007_accounts),
    (8, "golden_quality", _m0008_golden_quality),
    (9, "item_language", _m0009_item_language),
    (10, "label_issue_scores", _m0010_label_issue_scores),
    (11, "workers", _m0011_workers),
]

LATEST = max(version for version, _, _ in MIGRATIONS)


def migrate(conn: Connection) -> list[str]:
    """Apply pending migrations; return the names applied."""
    if not inspect(conn).has_table("schema_migrations"):
        schema.schema_migrations.create(conn)
    done = set(conn.execute(select(schema.schema_migrations.c.version)).scalars())
    applied = []
    for version, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if version in done:
            continue
        fn(conn)
        conn.execute(schema.schema_migrations.insert().values(
            version=version, name=name, applied=datetime.now(UTC)))
        applied.append(f"{version:04d}_{name}")
    return applied
