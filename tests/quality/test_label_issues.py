"""Label issues with cleanlab: out-of-sample probabilities from the project's own trainable
annotators, flagged items on a generated corpus with known flipped labels, CROWDLAB over
several annotators, and the project-level call."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.annotators import Context
from labelquorum.annotators.tfidf import TfidfAnnotator
from labelquorum.config import TaskConfig, TfidfConfig
from labelquorum.errors import MissingExtraError, QualityError
from labelquorum.quality import cross_val_probs, crowd_label_issues, label_issues
from labelquorum.quality.label_issues import project_label_issues
from labelquorum.task import Task

LABELS = ["negative", "positive"]
GOOD = ["great", "lovely", "superb", "charming", "delightful", "moving", "brilliant", "warm", "funny", "fresh"]
BAD = ["dull", "awful", "tedious", "clumsy", "boring", "flat", "lifeless", "messy", "stale", "grim"]
FILLER = ["the", "film", "story", "cast", "plot", "scene", "ending", "music", "camera", "script", "was", "is", "and"]


def corpus(n=240, flip=0.1, seed=0):
    """Short reviews whose sentiment words decide the label; a `flip` share of labels is
    then flipped (the known errors)."""
    rng = np.random.default_rng(seed)
    texts, truth = [], []
    for i in range(n):
        y = i % 2
        words = list(rng.choice(GOOD if y else BAD, 3)) + list(rng.choice(FILLER, 5))
        rng.shuffle(words)
        texts.append(" ".join(words) + f" r{i}")  # a unique token per review
        truth.append(LABELS[y])
    flipped = rng.choice(n, int(flip * n), replace=False)
    given = list(truth)
    for j in flipped:
        given[j] = LABELS[1 - LABELS.index(given[j])]
    return texts, truth, given, {int(j) for j in flipped}


def tfidf_factory(tmp_path):
    task = Task.from_config(TaskConfig(labels=LABELS))
    cfg = TfidfConfig(type="tfidf", calibration="none")
    return task, (lambda: TfidfAnnotator("tfidf", cfg, task, Context(tmp_path)))


def test_flipped_labels_are_flagged_with_good_precision_and_recall(tmp_path):
    texts, _, given, flipped = corpus()
    task, make = tfidf_factory(tmp_path)
    probs = cross_val_probs(make, texts, given, task, n_splits=5, seed=0)
    assert probs.shape == (len(texts), 2) and np.allclose(probs.sum(axis=1), 1)
    result = label_issues(given, probs, LABELS, ids=[f"t{i}" for i in range(len(texts))])
    flagged = {int(i[1:]) for i in result.issues.index[result.issues.is_label_issue]}
    precision = len(flagged & flipped) / max(1, len(flagged))
    recall = len(flagged & flipped) / len(flipped)
    assert precision >= 0.7 and recall >= 0.7, (precision, recall)
    # the review queue: flagged items only, the likeliest error first
    queue = result.review_queue()
    assert set(queue) == {f"t{i}" for i in flagged}
    scores = result.issues.loc[queue, "label_quality"].to_numpy()
    assert (np.diff(scores) >= 0).all()
    assert result.summary.loc[0, "n_issues"] == len(flagged)
    assert result.summary.loc[0, "n_items"] == len(texts)


def test_probabilities_are_out_of_sample(tmp_path):
    # an in-sample fit memorises each review's unique token and so agrees with flipped
    # labels; the out-of-sample probability of a flipped label stays low
    texts, _, given, flipped = corpus(flip=0.1, seed=2)
    task, make = tfidf_factory(tmp_path)
    probs = cross_val_probs(make, texts, given, task, n_splits=4, seed=1)
    given_idx = np.array([LABELS.index(y) for y in given])
    p_given = probs[np.arange(len(given)), given_idx]
    flipped_rows = sorted(flipped)
    assert np.median(p_given[flipped_rows]) < 0.5
    full = make().fit(texts, given)
    from labelquorum.annotators import Items
    inside = full.predict(Items([str(i) for i in range(len(texts))],
                                [{"text": t} for t in texts])).probs
    assert np.median(inside[flipped_rows, given_idx[flipped_rows]]) > \
        np.median(p_given[flipped_rows])


def test_scores_are_in_the_unit_interval_and_lower_for_flipped_items(tmp_path):
    texts, _, given, flipped = corpus(seed=3)
    task, make = tfidf_factory(tmp_path)
    result = label_issues(given, cross_val_probs(make, texts, given, task), LABELS)
    q = result.issues["label_quality"].to_numpy()
    assert ((q >= 0) & (q <= 1)).all()
    rows = np.array(sorted(flipped))
    rest = np.setdiff1d(np.arange(len(texts)), rows)
    assert np.median(q[rows]) < np.median(q[rest])
    assert list(result.issues.index) == list(range(len(texts)))  # default ids: positions


def test_crowdlab_ranks_annotators_and_scores_the_consensus():
    rng = np.random.default_rng(5)
    n = 300
    truth = rng.integers(0, 2, n)
    accuracy = {"careful": 0.92, "average": 0.8, "coin": 0.55}
    rows = []
    for who, acc in accuracy.items():
        for i in range(n):
            y = truth[i] if rng.random() < acc else 1 - truth[i]
            rows.append((f"x{i}", who, LABELS[y]))
    judgements = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    guess = np.where(rng.random(n) < 0.75, truth, 1 - truth)  # a weak model, right 75 %
    probs = np.where(guess[:, None] == np.arange(2), 0.7, 0.3)
    result = crowd_label_issues(judgements, probs, LABELS, items=[f"x{i}" for i in range(n)])
    q = result.annotators["annotator_quality"]
    assert q["careful"] > q["average"] > q["coin"]
    issues = result.issues
    assert ((issues.label_quality >= 0) & (issues.label_quality <= 1)).all()
    wrong = issues.consensus_label != pd.Series([LABELS[t] for t in truth], index=issues.index)
    assert wrong.sum() >= 3
    assert issues.label_quality[wrong].mean() < issues.label_quality[~wrong].mean()
    # a higher threshold flags more; the flagged share of wrong consensus labels is higher
    strict = crowd_label_issues(judgements, probs, LABELS, items=list(issues.index),
                                threshold=0.65).issues.is_label_issue
    assert set(issues.index[issues.is_label_issue]) <= set(strict.index[strict])
    assert strict[wrong].mean() > strict[~wrong].mean()
    queue = result.review_queue()
    assert issues.label_quality[queue].is_monotonic_increasing
    assert result.summary.loc[0, "n_items"] == n


def test_project_label_issues_reads_the_verified_pool(tmp_path):
    texts, _, given, flipped = corpus(n=200, seed=4)
    project = lq.init_project(tmp_path / "p", LABELS)
    ids = [f"r{i}" for i in range(len(texts))]
    project.import_dataframe(pd.DataFrame({"id": ids, "text": texts, "gold": given}),
                             id_column="id", gold_column="gold", split="seed=200")
    result = project_label_issues(project, n_splits=5)
    flagged = set(result.issues.index[result.issues.is_label_issue])
    truth = {f"r{i}" for i in flipped}
    assert len(flagged & truth) / len(truth) >= 0.6
    assert result.info["annotator"] == "tfidf"


@pytest.mark.parametrize("labels, probs, phrase", [
    (["negative", "maybe"], np.full((2, 2), 0.5), "maybe"),
    (["negative", "positive"], np.full((3, 2), 0.5), "rows"),
    (["negative", "positive"], np.full((2, 3), 1 / 3), "columns"),
    (["negative", "positive"], np.array([[0.5, 0.6], [0.5, 0.5]]), "sum to 1"),
])
def test_bad_input_is_a_clear_error(labels, probs, phrase):
    with pytest.raises(QualityError, match=phrase):
        label_issues(labels, probs, LABELS)


def test_too_few_verified_labels_for_cross_validation_is_a_clear_error(tmp_path):
    task, make = tfidf_factory(tmp_path)
    with pytest.raises(QualityError, match="verified labels"):
        cross_val_probs(make, ["good", "bad", "good"], ["positive", "negative", "positive"],
                        task, n_splits=5)


def test_missing_cleanlab_names_the_extra(monkeypatch):
    # unit test of the import guard: cleanlab made unimportable
    monkeypatch.setitem(sys.modules, "cleanlab", None)
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)
    with pytest.raises(MissingExtraError, match=r"labelquorum\[quality\]"):
        label_issues(["negative", "positive"], np.full((2, 2), 0.5), LABELS)
