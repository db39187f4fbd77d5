"""A run killed with SIGKILL resumes without losing work or paying twice.

These tests start the real ``labelquorum run`` command in a subprocess, kill it with
``kill -9`` at several points (the cheap tier, simulated LLM calls in flight, the people
tier, a resumed run), start it again, and finally let it finish. The result must be the
one an uninterrupted run of an identical project gives.
"""

from __future__ import annotations

import csv
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from engine_fixtures import run_section
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.cli import app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

N_ITEMS = 360
LLM_CONCURRENCY = 4
PEOPLE_CONCURRENCY = 2
PAID = ("llm", "people")
FINAL_STATES = {"done", "abstained", "failed"}

CONFIG = f"""
[project]
name = "resume-test"
seed = 7

[task]
kind = "classification"
labels = ["negative", "positive"]

[annotators.tfidf]
type = "tfidf"

[annotators.rules]
type = "rules"
confidence = 0.7
rules = [
  {{ label = "positive", keywords = ["great", "superb"] }},
  {{ label = "negative", keywords = ["awful", "dreadful"] }},
]

[annotators.llm]
type = "simulated"
stands_for = "llm"
accuracy = 0.95
accuracy_hard = 0.6
cost_per_call = 0.002
latency = 0.02
concurrency = {LLM_CONCURRENCY}

[annotators.people]
type = "simulated"
stands_for = "human"
accuracy = 0.98
cost_per_call = 0.1
latency = 0.03
concurrency = {PEOPLE_CONCURRENCY}

[policy]
type = "cascade"
aggregator = "weighted"

[[policy.tiers]]
name = "cheap"
annotators = ["tfidf", "rules"]
min_confidence = 0.75
min_agreement = 1.0
min_votes = 2

[[policy.tiers]]
name = "llm"
annotators = ["llm"]
min_confidence = 0.8

[[policy.tiers]]
name = "people"
annotators = ["people"]
"""

POSITIVE = ["great", "superb", "lovely", "moving", "charming", "fine"]
NEGATIVE = ["awful", "dreadful", "dull", "boring", "clumsy", "weak"]
FILLER = ["film", "plot", "actor", "scene", "story", "music", "ending", "cast", "script",
          "camera"]


def write_items(path: Path, n: int = N_ITEMS) -> None:
    """Short reviews with a noisy sentiment signal: some easy, some hard."""
    rng = random.Random(1)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["id", "text", "gold"])
        for i in range(n):
            gold = rng.choice(["negative", "positive"])
            own, other = (POSITIVE, NEGATIVE) if gold == "positive" else (NEGATIVE, POSITIVE)
            words = (rng.sample(FILLER, 3) + rng.sample(own, rng.randint(1, 3))
                     + rng.sample(other, rng.randint(0, 1)))
            rng.shuffle(words)
            out.writerow([f"item-{i:04d}", " ".join(words), gold])


def make_project(directory: Path, data: Path, store_url: str | None = None,
                 latency: bool = True, executor=None) -> None:
    config = CONFIG if latency else re.sub(r"latency = [0-9.]+", "latency = 0.0", CONFIG)
    config += f'\n[store]\nurl = "{store_url}"\n' if store_url else ""
    config += run_section(executor)
    project = lq.init_project(directory, labels=[], config_text=config)
    project.import_file(data, id_column="id", split="seed=60")
    project.close()


class Store:
    """Read-only view of a project's SQLite file, safe while a run writes to it."""

    def __init__(self, directory: Path):
        self.conn = sqlite3.connect(f"file:{directory / 'labelquorum.db'}?mode=ro", uri=True,
                                    timeout=30)

    def scalar(self, sql: str, *args) -> int:
        for _ in range(100):
            try:
                return self.conn.execute(sql, args).fetchone()[0]
            except sqlite3.OperationalError:  # busy during a checkpoint: try again
                time.sleep(0.01)
        raise AssertionError(f"could not read the store: {sql}")

    def requests(self, annotator: str | None = None, state: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM requests WHERE 1", []
        if annotator:
            sql, args = sql + " AND annotator = ?", [*args, annotator]
        if state:
            sql, args = sql + " AND state = ?", [*args, state]
        return self.scalar(sql, *args)

    def judgements(self, annotator: str) -> int:
        return self.scalar("SELECT count(*) FROM judgements WHERE annotator = ?", annotator)

    def close(self) -> None:
        self.conn.close()


def start_run(directory: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "run", "--project",
                             str(directory)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def kill_when(directory: Path, ready, what: str) -> int:
    """Start a run, SIGKILL it once ``ready(store)`` holds; return the calls left 'sent'."""
    store = Store(directory)
    proc = start_run(directory)
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
        while not ready(store):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the run ended (rc {proc.returncode}) before {what}:\n{out}\n{err}")
            if time.monotonic() > deadline:
                pytest.fail(f"the run never reached {what}")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL, f"the run finished before the kill ({what})"
        return store.requests(state="sent")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        store.close()


def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path, executor):
    """The killed project runs with each executor (on Ray: tfidf in a pool of model
    workers, the simulated LLM and people in pools of I/O workers); the uninterrupted
    one runs locally, so on Ray this also checks the export is the local executor's."""
    data = tmp_path / "items.csv"
    write_items(data)

    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    make_project(reference_dir, data)
    make_project(killed_dir, data, executor=executor)

    with lq.open_project(reference_dir) as reference:
        report = reference.run()
        assert report.status == "done" and report.repeated_calls == 0
        expected = reference.to_dataframe()
        ref_judgements = reference.judgements()
        ref_store = Store(reference_dir)
        ref_request_count = ref_store.requests()
        # each call to a paid annotator is one attempt of its request
        paid_reference = ref_store.scalar(
            "SELECT sum(attempts) FROM requests WHERE annotator IN (?, ?)", *PAID)
        ref_store.close()
    assert paid_reference == int(ref_judgements["annotator"].isin(PAID).sum())
    llm_total = int((ref_judgements["annotator"] == "llm").sum())
    people_total = int((ref_judgements["annotator"] == "people").sum())
    # the tiers are big enough that every kill lands in the middle of one
    assert llm_total >= 100 and people_total >= 60

    kills = [
        ("requests exist, before the LLM tier", lambda s: s.requests() > 0),
        ("LLM calls in flight", lambda s: s.judgements("llm") >= llm_total // 4
         and s.requests("llm", "sent") > 0),
        ("the people tier", lambda s: s.judgements("people") >= people_total // 5
         and s.requests("people", "sent") > 0),
        ("a resumed run re-asking people", lambda s: s.judgements("people") >= people_total // 2
         and s.requests("people", "sent") > 0),
    ]
    sent_at_kills = []
    for what, ready in kills:
        sent = kill_when(killed_dir, ready, what)
        # in flight at the kill: at most the concurrency limit of the one tier asking
        assert sent <= max(LLM_CONCURRENCY, PEOPLE_CONCURRENCY), what
        sent_at_kills.append(sent)

    final = start_run(killed_dir)
    out, err = final.communicate(timeout=300)
    assert final.returncode == 0, f"{out}\n{err}"
    assert "Resumed run" in out

    with lq.open_project(killed_dir) as project:
        # the labels and their provenance are those of the uninterrupted run
        pd.testing.assert_frame_equal(project.to_dataframe(), expected)

        # no judgement is stored twice
        jt = project.judgements()
        answered = jt[jt["status"].isin(("ok", "abstain"))]
        per_pair = answered.groupby(["item", "annotator"]).size()
        assert (per_pair == 1).all(), per_pair[per_pair > 1]
        assert (jt["status"] != "failed").all()
        assert (jt.groupby("annotator").size()
                == ref_judgements.groupby("annotator").size()).all()

        status = project.status()
        assert status.total_cost == pytest.approx(float(ref_judgements["cost"].sum()))
        assert status.open == 0 and status.last_run == "done"

    store = Store(killed_dir)
    try:
        # every request ends in a final state
        states = dict(store.conn.execute("SELECT state, count(*) FROM requests GROUP BY state"))
        assert set(states) <= FINAL_STATES, states
        assert sum(states.values()) == ref_request_count

        # calls paid beyond the reference are only those in flight at a kill, and the
        # project reports each of them as a repeated call
        paid = store.scalar("SELECT sum(attempts) FROM requests WHERE annotator IN (?, ?)",
                            *PAID)
    finally:
        store.close()
    assert sum(sent_at_kills) > 0  # calls were in flight at the kills
    assert 0 < paid - paid_reference <= sum(sent_at_kills)
    assert status.repeated_calls == paid - paid_reference

    # 'labelquorum status' tells the user about the repeated calls
    shown = CliRunner().invoke(app, ["status", "--project", str(killed_dir)])
    assert shown.exit_code == 0, shown.output
    if status.repeated_calls:
        assert (f"Calls repeated after an interruption: {status.repeated_calls}"
                in shown.output)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_interrupted_first_tier_resumes_with_the_same_provenance(tmp_path, request, backend):
    """Ctrl-C while the cheap tier works: its requests are written, no answer is; the
    resumed run asks them in the policy's order, so the export lists annotators alike."""
    url = request.getfixturevalue("postgres_db_url") if backend == "postgresql" else None
    data = tmp_path / "items.csv"
    write_items(data, 120)
    reference_dir, stopped_dir = tmp_path / "reference", tmp_path / "stopped"
    make_project(reference_dir, data, latency=False)
    make_project(stopped_dir, data, store_url=url, latency=False)
    with lq.open_project(reference_dir) as reference:
        reference.run()
        expected = reference.to_dataframe()

    with lq.open_project(stopped_dir) as project:
        annotators = project.build_annotators()

        def interrupt(items):
            raise KeyboardInterrupt

        annotators["tfidf"].predict = interrupt
        with pytest.raises(KeyboardInterrupt):
            project.run(annotators=annotators)
        assert project.judgements()["annotator"].isin(["tfidf", "rules"]).sum() == 0
        report = project.run()
        assert report.resumed and report.status == "done"
        pd.testing.assert_frame_equal(project.to_dataframe(), expected)
