"""``kill -9`` at random points of a run against a faulty LLM endpoint, then resume.

A project with a free keyword tier and an ``llm`` tier asks the scripted server, which
answers slowly (calls are in flight at every kill) and serves scripted 500s, 429s and an
answer outside the label set to some items. ``labelquorum run`` is started as a
subprocess and SIGKILLed at three seeded random points, then run to completion. The
result is compared with an uninterrupted run of an identical project against an
identical server.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from engine_fixtures import (
    KEYWORD,
    cascade,
    config,
    llm_annotator,
    make_project,
    rules_annotator,
)

import labelquorum as lq
from labelquorum.testing_server import Rule, ScriptedLlmServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

SEED = 20240611
N_LLM, N_RULES = 48, 8
CONCURRENCY = 4
FINAL_STATES = {"done", "abstained", "failed"}


def _rows_and_rules() -> tuple[list[tuple], list[Rule]]:
    """Items (a marker each, so a fault hits one item) and the server's script: every
    fault is served ``times`` <= ``max_retries`` times, so the call still succeeds."""
    rng = random.Random(SEED)
    rows = [(f"k{i:02d}", f"a {KEYWORD} film #{i}") for i in range(N_RULES)]
    rows += [(f"u{i:02d}", f"an uneven film, {'great' if i % 3 else 'awful'} cast m{i:02d}x")
             for i in range(N_LLM)]
    faulty = rng.sample(range(N_LLM), 14)
    rules = []
    for n, i in enumerate(faulty):
        marker = f"m{i:02d}x"
        if n < 6:
            rules.append(Rule(marker, fault="500", times=1 + n % 2))
        elif n < 11:
            rules.append(Rule(marker, fault="429", times=1, retry_after=0.02))
        else:
            rules.append(Rule(marker, content="Hard to say, really.", times=1))
    rules += [Rule("great", "positive", confidence=0.9), Rule("awful", "negative",
                                                               confidence=0.7)]
    rng.shuffle(rows)
    return rows, rules


def _project(root: Path, base_url: str, rows, executor=None) -> None:
    annotators = rules_annotator() + llm_annotator(
        "llm", base_url, concurrency=CONCURRENCY, max_retries=2)
    policy = cascade([("rules", ["kw"], 0.7), ("llm", ["llm"], 0.0)])
    make_project(root, config(annotators, policy, name="kill-test", executor=executor),
                 rows).close()


class Db:
    """Read-only view of a project's SQLite file, safe while a run writes to it."""

    def __init__(self, directory: Path):
        self.conn = sqlite3.connect(f"file:{directory / 'labelquorum.db'}?mode=ro", uri=True,
                                    timeout=30)

    def scalar(self, sql: str, *args):
        for _ in range(200):
            try:
                return self.conn.execute(sql, args).fetchone()[0]
            except sqlite3.OperationalError:  # busy during a checkpoint: try again
                time.sleep(0.01)
        raise AssertionError(f"could not read the store: {sql}")

    def close(self) -> None:
        self.conn.close()


def _start(directory: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "run", "--project",
                             str(directory)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _kill_at(directory: Path, answered: int) -> int:
    """Run, and SIGKILL once ``answered`` LLM answers are stored while calls are in
    flight; return how many LLM answers were stored at the kill."""
    db = Db(directory)
    proc = _start(directory)
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
        while True:
            llm = db.scalar("SELECT count(*) FROM judgements WHERE annotator = 'llm'")
            sent = db.scalar("SELECT count(*) FROM requests WHERE state = 'sent'")
            if llm >= answered and sent > 0:
                break
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the run ended (rc {proc.returncode}) before {answered} LLM "
                            f"answers were stored:\n{out}\n{err}")
            if time.monotonic() > deadline:
                pytest.fail(f"the run never stored {answered} LLM answers")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL, "the run finished before the kill"
        return db.scalar("SELECT count(*) FROM judgements WHERE annotator = 'llm'")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        db.close()


def test_kill_9_at_random_points_resumes_to_the_uninterrupted_result(tmp_path, executor):
    """Three kills, then a run to the end: the export equals the uninterrupted run's, no
    answer is stored twice, and every extra HTTP call is a reported repeated call. The
    killed project runs with each executor (on Ray: its calls made by worker processes
    of a two-node cluster); the uninterrupted one runs locally.

    The bound on HTTP calls. Each fault is scripted for one item and served ``times``
    (<= ``max_retries``) times by its server, whoever asks: the uninterrupted run's call
    takes all of them and then succeeds, and the killed project's calls take all of them
    too, across runs, and never more. So the retries faults cause (500 and 429 retries,
    the re-ask after an answer outside the label set) are the same on both sides and
    cancel. What is left are calls sent again after a kill: each was a request marked
    ``sent`` when the process died, and the resumed run that sends it again counts it in
    ``runs.repeated_calls``. Such a call adds at most one HTTP call (its successful answer
    came back but was lost with the process); one killed before its request left, or
    while waiting to retry a fault, adds none. Hence
    ``0 <= calls(killed) - calls(uninterrupted) <= repeated_calls``.
    """
    rows, rules = _rows_and_rules()
    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    with ScriptedLlmServer(rules, latency=0.03) as server:
        _project(reference_dir, server.base_url, rows)
        with lq.open_project(reference_dir) as reference:
            report = reference.run()
            assert report.status == "done" and report.repeated_calls == 0
            assert report.failed == {}
            expected = reference.to_dataframe()
        reference_calls = server.count()
    assert reference_calls > N_LLM  # the faults were served

    rng = random.Random(SEED)
    points = sorted(rng.sample(range(2, N_LLM - 12), 3))
    with ScriptedLlmServer(rules, latency=0.03) as server:
        _project(killed_dir, server.base_url, rows, executor)
        stored = 0
        for point in points:
            stored = _kill_at(killed_dir, max(point, stored + 1))
        final = _start(killed_dir)
        out, err = final.communicate(timeout=300)
        assert final.returncode == 0, f"{out}\n{err}"
        assert "Resumed run" in out
        killed_calls = server.count()

    with lq.open_project(killed_dir) as project:
        got = project.to_dataframe()
        jt = project.judgements()
        status = project.status()
    # the labels and their provenance are the uninterrupted run's; the cost too, except
    # that a call lost with a killed process is not in the ledger (what it cost is unknown)
    pd.testing.assert_frame_equal(got.drop(columns="cost"), expected.drop(columns="cost"))
    assert (got["label"].notna()).all()
    assert (got["cost"] <= expected["cost"] + 1e-12).all()

    ok = jt[jt["status"] == "ok"]
    per_key = ok.groupby("request_key").size()
    assert (per_key == 1).all(), per_key[per_key > 1]
    assert not (jt["status"] == "failed").any()

    db = Db(killed_dir)
    try:
        states = dict(db.conn.execute("SELECT state, count(*) FROM requests GROUP BY state"))
        repeated = db.scalar("SELECT sum(repeated_calls) FROM runs")
    finally:
        db.close()
    assert set(states) <= FINAL_STATES, states
    assert repeated == status.repeated_calls
    assert repeated > 0, "no call was in flight at any kill"
    extra = killed_calls - reference_calls
    assert 0 <= extra <= repeated, (killed_calls, reference_calls, repeated)
