"""Edge cases found in review: concurrent runs, retrained models and paid batches under a
crash, low confidences, duplicate answers, and careless input."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.annotators.simulated import SimulatedAnnotator
from labelquorum.errors import ImportDataError, ProjectError

LABELS = ["neg", "pos"]


def items(n=40):
    return pd.DataFrame({"id": [f"i{k:03d}" for k in range(n)],
                         "text": [f"text number {k}" for k in range(n)],
                         "gold": [LABELS[k % 2] for k in range(n)]})


def simulated_project(path, *, latency=0.0, cost=0.01, batch_size=8, n=40):
    config = f"""
[project]
name = "sim"
[task]
labels = {LABELS!r}
[annotators.oracle]
type = "simulated"
accuracy = 0.9
cost_per_call = {cost}
latency = {latency}
batch_size = {batch_size}
concurrency = 2
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["oracle"]
"""
    project = lq.init_project(path, config_text=config)
    project.import_dataframe(items(n), id_column="id")
    return project


def test_a_second_run_is_refused_while_one_is_in_progress_and_resumes_after_a_kill(tmp_path):
    project = simulated_project(tmp_path / "p", latency=0.05, n=400)
    proc = subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "run", "-p",
                             str(project.path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        db = project.path / "labelquorum.db"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sqlite3.connect(db) as con:
                if con.execute("SELECT count(*) FROM judgements").fetchone()[0] > 5:
                    break
            time.sleep(0.05)
        with pytest.raises(ProjectError, match="in progress in process") as refused:
            project.run()
        assert "labelquorum run --join" in str(refused.value)  # how to help instead
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    report = project.run()  # the owner is dead: the run resumes at once
    assert report.resumed and report.status == "done"
    judged = project.judgements().groupby(["item", "annotator"]).size()
    assert (judged == 1).all() and len(judged) == 400


class Interrupting(SimulatedAnnotator):
    """Test double: a simulated annotator that raises KeyboardInterrupt on its nth batch."""

    calls = 0
    fail_on = 2

    def predict(self, batch):
        type(self).calls += 1
        if type(self).calls == self.fail_on:
            raise KeyboardInterrupt
        return super().predict(batch)


def test_a_crash_in_a_paid_batch_repeats_one_batch_and_counts_it(tmp_path):
    reference = simulated_project(tmp_path / "ref")
    reference.run()
    project = simulated_project(tmp_path / "p")
    annotators = project.build_annotators()
    crashing = Interrupting("oracle", project.config.annotators["oracle"], project.task,
                            annotators["oracle"].context, gold=project.gold_labels())
    with pytest.raises(KeyboardInterrupt):
        project.run(annotators={"oracle": crashing})
    report = project.run()
    assert report.repeated_calls == 8  # the batch that was out when the crash came
    assert project.status().repeated_calls == 8
    pd.testing.assert_frame_equal(project.to_dataframe(), reference.to_dataframe())
    assert project.status().total_cost == pytest.approx(reference.status().total_cost)


def test_a_crash_after_a_refit_resumes_without_duplicates(tmp_path, monkeypatch):
    from test_policy_contract import RETRAIN_CONFIG, RetrainAfterRules

    from labelquorum.annotators.tfidf import TfidfAnnotator

    project = lq.init_project(tmp_path / "p", config_text=RETRAIN_CONFIG)
    texts = ["a great film", "great acting", "great fun", "a great cast", "an awful film",
             "awful acting", "awful fun", "an awful cast", "the film was fun", "the cast"]
    project.import_dataframe(pd.DataFrame({"id": [f"i{k}" for k in range(10)],
                                           "text": texts}), id_column="id")
    original = TfidfAnnotator.predict
    calls = {"n": 0}

    def crash_on_second(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(TfidfAnnotator, "predict", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        project.run(policy=RetrainAfterRules())
    monkeypatch.setattr(TfidfAnnotator, "predict", original)
    report = project.run(policy=RetrainAfterRules())
    assert report.status == "done"
    out = project.to_dataframe().set_index("id")
    assert (out.loc[["i8", "i9"], "decided_by"] == "model").all()
    ok = project.judgements().query("status == 'ok'")
    assert not ok.duplicated(["item", "annotator", "annotator_version"]).any()
    assert project.run(policy=RetrainAfterRules()).decided_now == 0  # and it stays runnable


def test_a_low_confidence_never_turns_an_answer_into_another_label(tmp_path):
    config = """
[project]
name = "low"
[task]
labels = ["a", "b", "c"]
[annotators.kw]
type = "rules"
confidence = 0.3
rules = [{ label = "a", keywords = ["apple"] }]
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["kw"]
"""
    project = lq.init_project(tmp_path / "p", config_text=config)
    project.import_dataframe(pd.DataFrame({"text": ["an apple"]}))
    project.run()
    assert project.to_dataframe()["label"].tolist() == ["a"]


HUMAN = """
[project]
name = "people"
[task]
labels = ["neg", "pos"]
[annotators.people]
type = "human"
cost_per_call = 1.0
cost_per_hour = 36.0
max_seconds = 100
[policy]
type = "cascade"
budget = 3.0
[[policy.tiers]]
annotators = ["people"]
"""


def test_people_answer_each_task_once_and_their_time_stays_within_the_budget(tmp_path):
    project = lq.init_project(tmp_path / "p", config_text=HUMAN)
    project.import_dataframe(items(4), id_column="id")
    report = project.run()
    # each task reserves 1.0 + 36/h x 100 s = 2.0; the budget of 3.0 allows one
    assert report.asked == {"people": 1} and report.budget_stopped == 3
    assert report.open == 4 and report.waiting_human == 1
    with pytest.raises(lq.LabelquorumError, match="no open task"):
        project.add_judgements([{"item": "i000", "annotator": "people", "label": "neg"},
                                {"item": "i000", "annotator": "people", "label": "pos"}])
    with pytest.raises(lq.LabelquorumError, match="has no label"):
        project.add_judgements([{"item": "i000", "annotator": "people"}])
    assert project.add_judgements([{"item": "i000", "annotator": "people", "label": "neg",
                                    "latency": 1000}]) == 1
    assert project.status().total_cost == pytest.approx(2.0)  # time capped at max_seconds
    assert project.run().status == "done"


def test_careless_input_gets_clear_errors_and_leaves_nothing_behind(tmp_path):
    project = lq.init_project(tmp_path / "p", LABELS)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ImportDataError, match="not a file"):
        project.import_file(tmp_path / "dir.csv")
    with pytest.raises(lq.LabelquorumError, match="a count .* or a fraction"):
        project.import_dataframe(items(), id_column="id", split="seed=-1")
    with pytest.raises(lq.ConfigError, match="repeated: a"):
        lq.init_project(tmp_path / "q", ["a", "a", "b"])
    assert not (tmp_path / "q").exists()


def test_the_demo_never_deletes_a_project_that_is_not_a_demo(tmp_path):
    from rich.console import Console

    from labelquorum.demo import run_demo

    lq.init_project(tmp_path / "mine", LABELS)
    with pytest.raises(ProjectError, match="not an earlier demo project"):
        run_demo(tmp_path / "mine", fresh=True, console=Console(), progress_runner=None,
                 print_status=None)
    assert (tmp_path / "mine" / "labelquorum.toml").exists()
