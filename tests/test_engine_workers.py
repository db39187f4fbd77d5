"""Many ``labelquorum run`` processes on one PostgreSQL project (``[run] workers = "many"``).

A leader runs the policy; followers (``labelquorum run --join``, or a plain second ``run``)
claim the paid calls it plans with ``FOR UPDATE SKIP LOCKED``. One follower is killed with
``kill -9`` while it holds calls in flight. What a user must see: the export equals a
single-process run's on an identical project, no request's answer is stored twice, every
extra HTTP call is a counted repeat, and a tight budget stays a hard cap while workers race.
SQLite refuses to be joined, with a message that says why and what to do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pg_server
import pytest
from engine_fixtures import (
    KEYWORD,
    cascade,
    config,
    llm_annotator,
    make_project,
    rules_annotator,
    simulated_annotator,
)
from sqlalchemy import create_engine, text

import labelquorum as lq
from labelquorum.errors import ConfigError
from labelquorum.testing_server import Rule, ScriptedLlmServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

N_LLM, N_RULES = 150, 30
WORKERS_SECTION = '\n[run]\nworkers = "many"\nlease_seconds = 30\n'


def _rows() -> list[tuple]:
    rows = [(f"k{i:03d}", f"a {KEYWORD} film #{i}") for i in range(N_RULES)]
    rows += [(f"u{i:03d}", f"an uneven film, {'great' if i % 3 else 'awful'} cast m{i:03d}x")
             for i in range(N_LLM)]
    return rows


def _rules() -> list[Rule]:
    return [Rule("great", "positive", confidence=0.9), Rule("awful", "negative",
                                                              confidence=0.7)]


def _config(url: str, base_url: str, many: bool) -> str:
    annotators = rules_annotator() + llm_annotator("llm", base_url, concurrency=2)
    text_ = config(annotators, cascade([("rules", ["kw"], 0.7), ("llm", ["llm"], 0.0)]),
                   name="workers-test", store_url=url)
    return text_ + (WORKERS_SECTION if many else "")


def _start(directory: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "run", "--project",
                             str(directory), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})


class Db:
    """Read-only peeks at the shared PostgreSQL database while workers run."""

    def __init__(self, url: str):
        self.engine = create_engine(url)

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def close(self) -> None:
        self.engine.dispose()


def _wait(what: str, check, procs, limit: float = 120.0):
    """Poll ``check`` until true; fail if a process died first (a hang guard, not a timing
    assertion)."""
    deadline = time.monotonic() + limit
    while not check():
        for p in procs:
            if p.poll() is not None and p.returncode != 0:
                out, err = p.communicate()
                pytest.fail(f"a worker ended (rc {p.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what}")
        time.sleep(0.02)


def _per_item_calls(server: ScriptedLlmServer) -> Counter:
    counts: Counter = Counter()
    for body in server.requests:
        for m in body.get("messages", []):
            content = m.get("content")
            if m.get("role") == "user" and isinstance(content, str) and "<item>" in content:
                marker = content.split("cast ")[-1][:5]
                counts[marker] += 1
    return counts


@pytest.fixture(scope="module")
def expected(postgres_url, tmp_path_factory):
    """The export of a one-process run of the project, on a database of its own."""
    name = f"lq_test_ref_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    url = pg_server.create_database(postgres_url, name)
    root = tmp_path_factory.mktemp("reference")
    try:
        with ScriptedLlmServer(_rules(), latency=0.1) as server:
            make_project(root, _config(url, server.base_url, False), _rows()).close()
            with lq.open_project(root) as reference:
                report = reference.run()
                assert report.status == "done"
                frame = reference.to_dataframe()
            assert server.count() == N_LLM
        return frame
    finally:
        pg_server.drop_database(postgres_url, name)


@pytest.mark.postgres
@pytest.mark.parametrize("victim", ["follower", "leader"])
def test_three_workers_and_a_killed_one_export_what_one_process_exports(
        tmp_path, postgres_db_url, expected, victim):
    """Two workers wait to join, a leader starts the run, a plain ``run`` joins it; one of
    them (a follower, or the leader) is killed while it has a call in flight. With the
    leader killed, a follower takes the run over and resumes it."""
    directory = tmp_path / "shared"
    db = Db(postgres_db_url)
    procs: list[subprocess.Popen] = []
    killed: subprocess.Popen | None = None
    try:
        with ScriptedLlmServer(_rules(), latency=0.1) as server:
            make_project(directory, _config(postgres_db_url, server.base_url, True),
                         _rows()).close()
            procs = [_start(directory, "--join"), _start(directory, "--join")]
            leader = _start(directory)
            _wait("the run", lambda: db.scalar("SELECT count(*) FROM runs"), procs + [leader])
            procs.append(_start(directory))  # a plain run joins
            if victim == "leader":
                killed = leader
            else:
                killed, procs = procs[0], [leader, *procs[1:]]
            _wait(f"the {victim} holding a call in flight", lambda: db.scalar(
                "SELECT count(*) FROM requests r JOIN workers w ON r.claimed_by = w.id "
                "WHERE w.owner LIKE :me AND r.state = 'sent'", me=f"%:{killed.pid}"),
                procs + [killed])
            os.kill(killed.pid, signal.SIGKILL)
            killed.communicate()
            outs = [p.communicate(timeout=150) for p in procs]
            for p, (out, err) in zip(procs, outs):
                assert p.returncode == 0, f"{out}\n{err}"
            said = "\n".join(out for out, _ in outs)
            assert "as one of its workers" in said, said  # a follower's report
            if victim == "leader":
                assert "Resumed run" in said, said  # a follower took the run over
            calls = server.count()
            per_item = _per_item_calls(server)
        repeated = db.scalar("SELECT coalesce(sum(repeated_calls), 0) FROM runs")
        workers_that_answered = db.scalar("SELECT count(*) FROM workers WHERE answered > 0")
    finally:
        for p in [*procs, *([killed] if killed is not None else [])]:
            if p.poll() is None:
                p.kill()
                p.communicate()
        db.close()

    with lq.open_project(directory) as project:
        got = project.to_dataframe()
        jt = project.judgements()
    assert "not stored" not in said, said
    pd.testing.assert_frame_equal(got, expected)
    ok = jt[jt["status"] == "ok"]
    per_key = ok.groupby("request_key").size()
    assert (per_key == 1).all(), per_key[per_key > 1]
    assert workers_that_answered >= 2, "the work was not shared"
    # every call beyond one per item is a counted repeat of a call the victim had in flight
    assert 0 <= calls - N_LLM <= repeated, (calls, repeated)
    assert sum(n - 1 for n in per_item.values()) == calls - N_LLM
    assert len(per_item) == N_LLM


def _budget_project(root: Path, url: str, budget: float) -> None:
    rows = [(f"i{i:03d}", f"a film #{i}", "positive") for i in range(60)]
    annotators = simulated_annotator("paid", 1.0, latency=0.2, concurrency=2, accuracy=1.0)
    text_ = config(annotators, cascade([("paid", ["paid"], 0.0)], budget=budget),
                   name="budget-race", store_url=url) + WORKERS_SECTION
    make_project(root, text_, rows).close()


@pytest.mark.postgres
@pytest.mark.parametrize("budget", [7.5, 23.0])
def test_the_budget_is_a_hard_cap_while_workers_race(tmp_path, postgres_db_url, budget):
    """Three workers race for calls of 1.0 each under the cap: every call that fits is
    made, and none more (a worker that finds the run over leaves: the run may end before
    a late one joins)."""
    _budget_project(tmp_path / "p", postgres_db_url, budget)
    db = Db(postgres_db_url)
    procs = [_start(tmp_path / "p")]
    try:
        _wait("the run", lambda: db.scalar("SELECT count(*) FROM runs"), procs)
        procs += [_start(tmp_path / "p", "--join") for _ in range(2)]
        outs = [p.communicate(timeout=150) for p in procs]
        peak = db.scalar("SELECT max(spent + reserved) FROM runs")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
        db.close()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"{out}\n{err}"
    with lq.open_project(tmp_path / "p") as project:
        jt = project.judgements()
        spent = float(jt["cost"].sum())
        got = project.to_dataframe()
    assert spent <= budget and peak <= budget
    assert spent == int(budget)  # every call that fit was made: the cap is not too tight
    assert (jt.groupby("request_key").size() == 1).all()
    assert (got["label"] == "positive").sum() == int(budget)
    assert (got["label"].isna() | (got["label"] == "positive")).all()


def test_joining_a_sqlite_project_is_refused_with_a_reason(tmp_path):
    make_project(tmp_path / "p", config(rules_annotator(), cascade([("rules", ["kw"], 0.7)])),
                 [("a", f"a {KEYWORD} film")]).close()
    proc = _start(tmp_path / "p", "--join")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in err
    assert "PostgreSQL" in err and "SQLite" in err


def test_many_workers_on_sqlite_is_refused_with_a_reason(tmp_path):
    make_project(tmp_path / "p", config(rules_annotator(), cascade([("rules", ["kw"], 0.7)]))
                 + '\n[run]\nworkers = "many"\n', [("a", f"a {KEYWORD} film")]).close()
    with lq.open_project(tmp_path / "p") as project, pytest.raises(ConfigError,
                                                                   match="PostgreSQL"):
        project.run()


# -- the budget row under a race, in-process ---------------------------------------------
def _race(project, budget: float, n_workers: int, prices: list[float]) -> tuple[float, int]:
    """``n_workers`` workers (threads, each its own worker row) race to answer open paid
    requests under ``budget``; returns what was stored as spent and how many answers."""
    import threading
    from datetime import UTC, datetime

    from labelquorum.engine.ledger import REQUEST_COLUMNS, request_key
    from labelquorum.engine.workers import SharedBudget, Worker
    from labelquorum.store import insert_rows, schema

    store = project.store
    annotators = project.build_annotators(["paid"])
    version = annotators["paid"].version
    at = datetime.now(UTC)
    with store.begin() as conn:
        run_id = int(conn.execute(schema.runs.insert().values(
            project_id=store.project_id, started=at, status="running", seed=0,
            config_hash="x", repeated_calls=0, resumes=0)).inserted_primary_key[0])
        rows = [(store.project_id, request_key(store.project_id, f"i{i:03d}", "paid", version),
                 f"i{i:03d}", "paid", version, run_id, 1.0, "pending", 0, None, at)
                for i in range(len(prices))]
        insert_rows(conn, schema.requests, REQUEST_COLUMNS, rows)
    SharedBudget(store, run_id, budget, held=0.0)  # the leader counts the row
    errors: list[BaseException] = []

    def work() -> None:
        try:
            worker = Worker(store, project.task, project.build_annotators(["paid"]), run_id,
                            SharedBudget(store, run_id, budget), lease=60.0).join()
            try:
                idle = 0
                while idle < 20:
                    idle = 0 if worker.work_once() else idle + 1
                    time.sleep(0.01 * idle)
            finally:
                worker.leave()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    jt = project.judgements()
    assert (jt.groupby("request_key").size() == 1).all()
    return float(jt["cost"].sum()), len(jt)


@pytest.mark.postgres
def test_racing_workers_never_commit_past_the_budget(tmp_path, postgres_db_url):
    """Hypothesis picks the budget, the number of racing workers and each call's price
    (paid batched calls of a simulated annotator, one item each): what is stored never
    costs more than the budget, each request is answered once, and the calls stop only
    when the next one could not fit."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seen = {"n": 0}

    @settings(max_examples=8, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(budget=st.floats(0.0, 12.0), n_workers=st.integers(2, 4),
           price=st.sampled_from([0.5, 1.0, 1.5]))
    def check(budget, n_workers, price):
        seen["n"] += 1
        annotators = simulated_annotator("paid", price, batch_size=1, accuracy=1.0)
        text_ = config(annotators, cascade([("paid", ["paid"], 0.0)], budget=budget),
                       name=f"race-{seen['n']}", store_url=postgres_db_url) + WORKERS_SECTION
        rows = [(f"i{i:03d}", f"a film #{i}", "positive") for i in range(12)]
        project = make_project(tmp_path / f"p{seen['n']}", text_, rows)
        try:
            spent, answered = _race(project, budget, n_workers, [price] * 12)
        finally:
            project.close()
        assert spent <= budget + 1e-9
        assert answered == min(12, int(budget / price + 1e-9))

    check()


@pytest.mark.postgres
def test_an_answer_dropped_for_a_lost_claim_is_paid_for_again_not_served_free(
        tmp_path, postgres_db_url):
    """A worker whose claim was taken over while its call was out drops the answer; when
    it asks that request again, the call goes out again and is charged, rather than being
    served at zero cost from the completion it dropped (which would hide a paid call)."""
    from datetime import UTC, datetime

    from labelquorum.annotators.cache import CallCache
    from labelquorum.engine.ledger import REQUEST_COLUMNS, request_key
    from labelquorum.engine.workers import SharedBudget, Worker
    from labelquorum.store import insert_rows, schema

    with ScriptedLlmServer(_rules()) as server:
        project = make_project(tmp_path / "p", _config(postgres_db_url, server.base_url, True),
                               [("u001", "an uneven film, great cast m001x")])
        store, pid = project.store, project.store.project_id
        annotators = project.build_annotators(["llm"])
        ann = annotators["llm"]
        ann.cache = CallCache(store, pid)
        at = datetime.now(UTC)
        with store.begin() as conn:
            run_id = int(conn.execute(schema.runs.insert().values(
                project_id=pid, started=at, status="running", seed=0, config_hash="x",
                repeated_calls=0, resumes=0)).inserted_primary_key[0])
            insert_rows(conn, schema.requests, REQUEST_COLUMNS, [
                (pid, request_key(pid, "u001", "llm", ann.version), "u001", "llm",
                 ann.version, run_id, 1.0, "pending", 0, None, at)])
        original = ann.aannotate_one

        async def taken_over_meanwhile(items):
            out = await original(items)
            with store.begin() as conn:  # another worker took the claim (lease ended)
                conn.execute(text("UPDATE requests SET claimed_by = -1, "
                                  "lease_until = now() - interval '1 second'"))
            ann.aannotate_one = original
            return out

        ann.aannotate_one = taken_over_meanwhile
        worker = Worker(store, project.task, annotators, run_id,
                        SharedBudget(store, run_id, None), lease=60.0).join()
        try:
            assert worker.work_once() == 1
            assert worker.lost == 1
            assert worker.work_once() == 1  # the lease ended: this worker claims it again
        finally:
            worker.leave()
        jt = project.judgements()
        calls = server.count()
        project.close()
    assert len(jt) == 1 and jt["status"].iloc[0] == "ok"
    assert calls == 2
    assert jt["cost"].iloc[0] > 0
