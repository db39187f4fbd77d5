"""Attacks on many workers on one PostgreSQL project (issue #14): a follower whose config
differs from the run's, and a live worker on another host taken for dead."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from engine_fixtures import cascade, config, make_project, simulated_annotator
from sqlalchemy import text

from labelquorum.errors import ConfigError

WORKERS_SECTION = '\n[run]\nworkers = "many"\nlease_seconds = 30\n'


def _paid_project(root, url, budget, n=12, name="attack14"):
    annotators = simulated_annotator("paid", 1.0, batch_size=1, accuracy=1.0)
    text_ = config(annotators, cascade([("paid", ["paid"], 0.0)], budget=budget),
                   name=name, store_url=url) + WORKERS_SECTION
    rows = [(f"i{i:03d}", f"a film #{i}", "positive") for i in range(n)]
    return make_project(root, text_, rows)


def _running_run(store, config_hash: str, owner_: str) -> int:
    from labelquorum.store import schema
    at = datetime.now(UTC)
    with store.begin() as conn:
        return int(conn.execute(schema.runs.insert().values(
            project_id=store.project_id, started=at, status="running", seed=0,
            config_hash=config_hash, repeated_calls=0, resumes=0, owner=owner_,
            heartbeat=at)).inserted_primary_key[0])


@pytest.mark.postgres
def test_a_worker_whose_config_differs_from_the_runs_is_refused(tmp_path, postgres_db_url):
    """The how-to promises 'each process checks that its config matches the run's'. A
    follower builds its budget from its own config, so one with a larger budget (or none)
    would let the shared run spend past the leader's cap. Joining must be refused with a
    message that says so; before the fix the follower joined silently."""
    from labelquorum.engine.lock import owner
    from labelquorum.store import schema

    project = _paid_project(tmp_path / "p", postgres_db_url, budget=3.0)
    try:
        run_id = _running_run(project.store, "a-different-config", owner())

        def end_run() -> None:  # with the defect the follower works until the run ends
            time.sleep(3.0)
            with project.store.begin() as conn:
                conn.execute(schema.runs.update().where(schema.runs.c.id == run_id)
                             .values(status="done"))

        ender = threading.Thread(target=end_run, daemon=True)
        ender.start()
        with pytest.raises(ConfigError, match="config") as info:
            project.run(join=True)
        assert "labelquorum.toml" in str(info.value)
        ender.join()
    finally:
        project.close()


@pytest.mark.postgres
def test_a_same_config_worker_reached_through_another_url_may_join(tmp_path,
                                                                   postgres_db_url):
    """Workers on other hosts reach the database through their own URL (another host
    name): that is the same config, and joining is not refused."""
    from labelquorum.engine.lock import owner
    from labelquorum.project import open_project
    from labelquorum.store import schema

    project = _paid_project(tmp_path / "p", postgres_db_url, budget=3.0)
    other = tmp_path / "p" / "labelquorum.toml"
    host = postgres_db_url.split("@", 1)[1].split("/", 1)[0]
    other.write_text(other.read_text().replace(host, host.replace("127.0.0.1",
                                                                   "localhost"), 1))
    try:
        run_id = _running_run(project.store, project.config_hash, owner())
        with open_project(tmp_path / "p") as elsewhere:
            assert elsewhere.config.store.url != project.config.store.url

            def end_run() -> None:
                time.sleep(2.0)
                with project.store.begin() as conn:
                    conn.execute(schema.runs.update().where(schema.runs.c.id == run_id)
                                 .values(status="done"))

            ender = threading.Thread(target=end_run, daemon=True)
            ender.start()
            report = elsewhere.run(join=True)
            ender.join()
        assert report.status == "ended"
    finally:
        project.close()


@pytest.mark.postgres
def test_a_live_worker_on_another_host_keeps_its_claims(tmp_path, postgres_db_url,
                                                        monkeypatch):
    """A worker on another host is judged by its heartbeat (``STALE_AFTER`` without one:
    dead), yet it beats only every third of ``run.lease_seconds``, which may be up to an
    hour. With a lease longer than three times ``STALE_AFTER`` a live, beating worker is
    reaped: its claims are freed and its calls in flight are sent again by others (paid
    twice) while its own answers are dropped. Here ``STALE_AFTER`` is scaled down to 2 s
    and the lease to 30 s (beats every 10 s before the fix) to see it without waiting."""
    from labelquorum.engine import lock, workers
    from labelquorum.engine.ledger import REQUEST_COLUMNS, request_key
    from labelquorum.engine.workers import SharedBudget, Worker
    from labelquorum.store import insert_rows, schema

    monkeypatch.setattr(lock, "STALE_AFTER", 2)
    project = _paid_project(tmp_path / "p", postgres_db_url, budget=None, n=4)
    store, pid = project.store, project.store.project_id
    try:
        run_id = _running_run(store, "x", lock.owner())
        anns = project.build_annotators(["paid"])
        version = anns["paid"].version
        at = datetime.now(UTC)
        with store.begin() as conn:
            insert_rows(conn, schema.requests, REQUEST_COLUMNS, [
                (pid, request_key(pid, f"i{i:03d}", "paid", version), f"i{i:03d}", "paid",
                 version, run_id, 1.0, "pending", 0, None, at) for i in range(4)])
        monkeypatch.setattr(workers, "owner", lambda: "another-host.example:4242")
        far = Worker(store, project.task, anns, run_id, SharedBudget(store, run_id, None),
                     lease=30.0).join()
        monkeypatch.setattr(workers, "owner", lock.owner)
        near = Worker(store, project.task, project.build_annotators(["paid"]), run_id,
                      SharedBudget(store, run_id, None), lease=30.0).join()
        try:
            claimed = far.claim("paid", 4)  # the far worker is asking these now
            assert len(claimed) == 4
            time.sleep(4.0)  # twice STALE_AFTER: a live worker has beaten meanwhile
            assert near.reap() == 0
            assert near.claim("paid", 4) == []  # its claims are still its own
            with store.connect() as conn:
                held = conn.execute(text("SELECT count(*) FROM requests WHERE claimed_by = "
                                         ":w"), {"w": far.id}).scalar()
            assert held == 4
        finally:
            near.leave()
            far.leave()
    finally:
        project.close()


@pytest.mark.postgres
def test_the_last_cent_of_a_budget_of_decimal_prices_is_spent(tmp_path, postgres_db_url):
    """Prices such as 0.1 or 0.07 are not exact in binary: a budget of exactly ``k`` calls
    (``k * price`` as the user writes it) must still buy ``k`` calls while workers race,
    and never more."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from test_engine_workers import _race

    seen = {"n": 0}

    @settings(max_examples=6, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(k=st.integers(1, 11), n_workers=st.integers(2, 3),
           price=st.sampled_from([0.1, 0.07, 0.3, 0.01]))
    def check(k, n_workers, price):
        seen["n"] += 1
        budget = float(f"{k * price:.10f}")  # as typed in labelquorum.toml
        project = _paid_project(tmp_path / f"p{seen['n']}", postgres_db_url, budget,
                                name=f"cent-{seen['n']}")
        path = project.path / "labelquorum.toml"
        path.write_text(path.read_text().replace("cost_per_call = 1.0",
                                                 f"cost_per_call = {price!r}"))
        project.close()
        from labelquorum.project import open_project
        project = open_project(path.parent)
        try:
            spent, answered = _race(project, budget, n_workers, [price] * 12)
        finally:
            project.close()
        assert spent <= budget + 1e-9
        assert answered == k, (k, price, budget, answered)

    check()


@pytest.mark.postgres
def test_a_leader_whose_clock_is_behind_is_not_taken_for_dead(tmp_path, postgres_db_url,
                                                              monkeypatch):
    """The leader's heartbeat was its own host's clock while followers judged it by the
    database's: a leader host 150 s behind was taken for dead, and a follower whose clock
    was right took the run over (two leaders). Heartbeats are now the database's time."""
    from datetime import timedelta

    from labelquorum.engine import lock, workers
    from labelquorum.engine.workers import SharedBudget, Worker, follow
    from labelquorum.store import schema

    project = _paid_project(tmp_path / "p", postgres_db_url, budget=None, n=2)
    store = project.store
    try:
        real_now = lock.now
        behind = lambda: real_now() - timedelta(seconds=150)
        for module in (lock, workers):  # the leader's host: its clock, its name
            monkeypatch.setattr(module, "now", behind)
            monkeypatch.setattr(module, "owner", lambda: "leader-host.example:7")
        run_id = lock.RunLock(store, 0, project.config_hash).acquire().run_id
        leader = Worker(store, project.task, project.build_annotators(["paid"]), run_id,
                        SharedBudget(store, run_id, None), lease=3.0, leader=True).join()
        monkeypatch.undo()  # this process is now a follower on a host whose clock is right
        follower = Worker(store, project.task, project.build_annotators(["paid"]), run_id,
                          SharedBudget(store, run_id, None), lease=3.0)

        def end_run() -> None:
            time.sleep(4.0)
            with store.begin() as conn:
                conn.execute(schema.runs.update().where(schema.runs.c.id == run_id)
                             .values(status="done"))

        ender = threading.Thread(target=end_run, daemon=True)
        ender.start()
        try:
            assert follow(follower) == "ended"  # the leader beat all along
        finally:
            ender.join()
            leader.leave()
    finally:
        project.close()
