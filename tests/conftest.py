# ---------------------------------------------------------------------------
# PostgreSQL: a real server, started only when a test asks for one.
# The server logic lives in tests/pg_server.py.
# ---------------------------------------------------------------------------
import os
import uuid

import pg_server
import pytest
import ray_cluster


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


@pytest.fixture(scope="session")
def ray_address():
    """``HOST:PORT`` of a real two-node Ray cluster on loopback (tests/ray_cluster.py),
    started once for the session and stopped after it; skipped without Ray, failed
    without it when `CI` is set, so that CI cannot pass by skipping."""
    os.environ.setdefault("RAY_AUTH_MODE", "token")  # the cluster's own token
    if os.environ.get(ray_cluster.ENV_ADDRESS):
        yield os.environ[ray_cluster.ENV_ADDRESS]
        return
    try:
        cluster = ray_cluster.LocalRayCluster()
    except ray_cluster.RayUnavailable as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{exc} (CI is set, so this fails instead of skipping.)")
        pytest.skip(str(exc))
    with cluster:
        yield cluster.address
    try:
        import ray

        ray.shutdown()  # this process's connection to the cluster that is gone
    except ImportError:
        pass


@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def executor(request):
    """Run a test with each executor: ``(name, address)``; the Ray one joins the
    session's local cluster (:func:`ray_address`)."""
    if request.param == "local":
        return "local", None
    return "ray", request.getfixturevalue("ray_address")


@pytest.fixture
def postgres_db_url(postgres_url):
    """SQLAlchemy URL of a new, empty database, dropped when the test ends."""
    name = f"lq_test_{uuid.uuid4().hex[:12]}"
    url = pg_server.create_database(postgres_url, name)
    yield url
    pg_server.drop_database(postgres_url, name)


# ---------------------------------------------------------------------------
