"""The learning loop: trainable annotators retrained within a run on labels verified by
another source, promoted only when not worse on calibration gold, and resumed exactly."""

from __future__ import annotations

import importlib.resources
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

import labelquorum as lq
from labelquorum.engine.learning import refits
from labelquorum.engine.training import pool, trainable_names
from labelquorum.store import schema

SAMPLE = importlib.resources.files("labelquorum") / "data" / "sst2_sample.csv"


def config(*, every: int | None = 100, llm_accuracy: float = 0.9, self_weight: float = 0.0,
           gate: str = "calibrated", min_train: int = 20,
           specialists=("tfidf",)) -> str:
    retrain = f"retrain_every = {every}" if every else ""
    specialists = list(specialists)
    return f"""
[project]
name = "learning"
seed = 11

[task]
labels = ["negative", "positive"]

[annotators.tfidf]
type = "tfidf"
min_train = {min_train}

[annotators.words]
type = "tfidf"
min_train = {min_train}
ngram_max = 1
max_features = 300

[annotators.llm]
type = "simulated"
stands_for = "llm"
truth_field = "truth"
accuracy = {llm_accuracy}
cost_per_call = 0.002

[policy]
type = "vote-then-verify"
specialists = {specialists!r}
verifiers = ["llm"]
gate = "{gate}"
min_reference = 30
{retrain}
self_training_weight = {self_weight}
"""


def make(tmp_path, name="p", rows=640, split="seed=40,calibration=120", **kw):
    """Gold seed and calibration items, then ordinary items (no gold role, so verified
    labels on them can train the models) whose truth only the simulated LLM reads."""
    project = lq.init_project(tmp_path / name, labels=[], config_text=config(**kw))
    df = pd.read_csv(SAMPLE).head(rows)
    df["truth"] = df["label"]
    project.import_dataframe(df.head(160), id_column="id", gold_column="label", split=split)
    project.import_dataframe(df.iloc[160:].drop(columns=["label"]), id_column="id")
    return project


def test_retrains_within_a_run_and_records_each_refit(tmp_path):
    project = make(tmp_path)
    report = project.run()
    rows = refits(project.store, report.run_id)
    assert len(rows) >= 2, report.notes  # 480 items to decide, a refit every 100 verified
    assert all(r["annotator"] == "tfidf" for r in rows)
    for r in rows:
        assert r["score"] is not None and r["previous_score"] is not None
        assert r["promoted"] == (r["score"] >= r["previous_score"])
    versions = {r["version"] for r in rows if r["promoted"]}
    with project.store.connect() as conn:
        stored = set(conn.execute(select(schema.judgements.c.annotator_version).where(
            schema.judgements.c.annotator == "tfidf")).scalars())
    assert versions <= stored  # judgements record the version that gave them


def test_never_trained_on_its_own_accepted_guesses(tmp_path):
    project = make(tmp_path, gate="unanimous")  # one specialist: it accepts what it labels
    project.run()
    d = schema.decisions
    it = schema.items
    with project.store.connect() as conn:  # gold of any role is never trained on anyway
        own_only = set(conn.execute(
            select(d.c.item_id).join(it, it.c.id == d.c.item_id)
            .where((d.c.decided_by == "tfidf") & it.c.gold_role.is_(None))).scalars())
    assert own_only, "the specialists accepted nothing alone: the test needs some"
    names = trainable_names(project.build_annotators())
    found = pool(project.store, project.task, None, names)
    assert not own_only & set(found.ids)
    with_weight = pool(project.store, project.task, None, names, self_weight=0.3)
    assert own_only <= set(with_weight.ids)
    weights = dict(zip(with_weight.ids, with_weight.weights))
    assert {weights[i] for i in own_only} == {0.3}


def test_calibration_gold_is_never_trained_on(tmp_path):
    project = make(tmp_path)
    project.run()
    it = schema.items
    with project.store.connect() as conn:
        calibration = set(conn.execute(select(it.c.id).where(it.c.gold_role == "calibration"))
                          .scalars())
    found = pool(project.store, project.task, None, frozenset(), 1.0)
    assert calibration and not calibration & set(found.ids)


def test_a_worse_version_is_kept_back_and_the_run_says_so(tmp_path):
    # a verifier that is wrong 85 % of the time: what it verifies teaches the model badly
    project = make(tmp_path, llm_accuracy=0.15, gate="unanimous", every=20,
                   specialists=("tfidf", "words"))
    report = project.run()
    rows = refits(project.store, report.run_id)
    kept_back = [r for r in rows if not r["promoted"]]
    assert kept_back, rows
    assert all(r["score"] < r["previous_score"] for r in kept_back)
    assert any("kept back" in note for note in report.notes)
    # the version kept back never answered anything
    with project.store.connect() as conn:
        stored = set(conn.execute(select(schema.judgements.c.annotator_version).where(
            schema.judgements.c.annotator == "tfidf")).scalars())
    assert not {r["version"] for r in kept_back} & stored


class Killed(Exception):
    pass


def test_resume_after_a_refit_retrains_exactly(tmp_path, monkeypatch):
    """Killed right after the second refit, the resumed run retrains the promoted version
    on exactly its stored items, so the export equals the uninterrupted run's."""
    whole = make(tmp_path, "whole")
    whole.run()
    expected = _labels(whole)

    project = make(tmp_path, "killed")
    from labelquorum.engine import learning

    real = learning.Learner.refit
    calls = {"n": 0}

    def refit_then_die(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed("killed after the second refit")
        return out

    monkeypatch.setattr(learning.Learner, "refit", refit_then_die)
    with pytest.raises(Killed):
        project.run()
    monkeypatch.setattr(learning.Learner, "refit", real)
    report = lq.open_project(tmp_path / "killed").run()
    assert report.resumed
    assert _labels(project) == expected
    first = [(r["annotator"], r["version"], r["promoted"]) for r in refits(whole.store)]
    again = [(r["annotator"], r["version"], r["promoted"]) for r in refits(project.store)]
    assert again == first


def _labels(project) -> dict[str, str]:
    d = schema.decisions
    with project.store.connect() as conn:
        return dict(conn.execute(select(d.c.item_id, d.c.label)).all())


def test_without_retrain_every_nothing_is_retrained_mid_run(tmp_path):
    project = make(tmp_path, every=None)
    report = project.run()
    assert refits(project.store, report.run_id) == []


def test_the_loop_beats_no_loop_on_calibration_gold(tmp_path):
    """What the loop is for: a specialist that starts from 40 gold labels ends more
    accurate on held-out calibration gold after learning from verified labels."""
    project = make(tmp_path)
    report = project.run()
    rows = [r for r in refits(project.store, report.run_id) if r["promoted"]]
    assert rows and rows[-1]["score"] > rows[0]["previous_score"]
    assert json.dumps(rows[-1]["score"])
    assert np.isfinite(rows[-1]["score"])
