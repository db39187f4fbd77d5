# ---------------------------------------------------------------------------
# PostgreSQL: a real server, started only when a test asks for one.
# The server logic lives in tests/pg_server.py.
# ---------------------------------------------------------------------------
import os
import uuid

import pg_server
import pytest


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL (`postgresql+psycopg://...`) of a database on a PostgreSQL server.

    `LABELQUORUM_TEST_POSTGRES_URL` names an existing server; otherwise a temporary
    one is started for the session. Without server binaries the test is skipped,
    or fails when `CI` is set, so that CI cannot pass by skipping.
    """
    if os.environ.get(pg_server.ENV_URL):
        yield pg_server.sqlalchemy_url(os.environ[pg_server.ENV_URL])
        return
    try:
        server = pg_server.TemporaryPostgresServer()
    except pg_server.PostgresUnavailable as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{exc} (CI is set, so this fails instead of skipping.)")
        pytest.skip(str(exc))
    with server:
        yield server.url


@pytest.fixture
def postgres_db_url(postgres_url):
    """SQLAlchemy URL of a new, empty database, dropped when the test ends."""
    name = f"lq_test_{uuid.uuid4().hex[:12]}"
    url = pg_server.create_database(postgres_url, name)
    yield url
    pg_server.drop_database(postgres_url, name)


# ---------------------------------------------------------------------------
