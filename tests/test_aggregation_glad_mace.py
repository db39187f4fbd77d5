"""GLAD and MACE: behaviour a user would notice, on generated crowds of known quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelquorum.aggregation import MajorityVote
from labelquorum.aggregation.glad import GLAD
from labelquorum.aggregation.mace import MACE
from labelquorum.errors import LabelquorumError

ESTIMATORS = [GLAD, MACE]


def crowd(n_items=300, per_item=5, good=6, spammers=6, k=3, seed=0):
    """A generated crowd: `good` annotators right 80-90 % of the time, `spammers` who
    always answer label 0 (or a random label for odd ones). Returns (judgements, truth)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    m = good + spammers
    accuracy = np.r_[rng.uniform(0.8, 0.9, good), np.zeros(spammers)]
    rows = []
    for i in range(n_items):
        for w in rng.choice(m, per_item, replace=False):
            if w < good:
                right = rng.random() < accuracy[w]
                label = truth[i] if right else (truth[i] + rng.integers(1, k)) % k
            else:
                label = 0 if w % 2 == 0 else rng.integers(0, k)
            rows.append((f"item{i}", f"ann{w}", f"c{label}"))
    df = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    return df, pd.Series([f"c{t}" for t in truth], index=[f"item{i}" for i in range(n_items)])


@pytest.fixture(scope="module")
def data():
    return crowd()


def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return float((labels == truth.reindex(labels.index)).mean())


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_beats_majority_vote_when_spammers_are_present(cls, data):
    df, truth = data
    mv = accuracy(MajorityVote().fit(df).labels_, truth)
    est = cls().fit(df)
    assert est.fit(df) is est
    assert accuracy(est.labels_, truth) > mv + 0.05
    skills = est.skills_
    good = skills[[f"ann{w}" for w in range(6)]]
    spam = skills[[f"ann{w}" for w in range(6, 12)]]
    assert good.min() > spam.max()  # spammers are found out


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_probabilities_and_refit(cls, data):
    df, _ = data
    est = cls().fit(df)
    probas = est.probas_.copy()
    assert list(probas.columns) == ["c0", "c1", "c2"]
    assert np.allclose(probas.sum(axis=1), 1.0)
    assert ((probas >= 0) & (probas <= 1)).all().all()
    assert (probas.idxmax(axis=1) == est.labels_).all()
    est.fit(df)
    pd.testing.assert_frame_equal(est.probas_, probas)
    pd.testing.assert_frame_equal(cls().fit(df).probas_, probas)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_row_order_and_annotator_names_do_not_matter(cls, data):
    df, _ = data
    base = cls().fit(df)
    shuffled = df.sample(frac=1.0, random_state=3)
    names = {f"ann{w}": f"z{(w * 7) % 12:02d}" for w in range(12)}  # changes sorted order
    renamed = shuffled.assign(annotator=shuffled["annotator"].map(names))
    pd.testing.assert_frame_equal(cls().fit(shuffled).probas_, base.probas_)
    other = cls().fit(renamed)
    pd.testing.assert_series_equal(other.labels_, base.labels_)
    # MACE's random restarts are drawn per annotator code, so a renamed crowd may stop at
    # another point of the same optimum: equal to the optimisation's tolerance
    np.testing.assert_allclose(other.probas_.to_numpy(), base.probas_.to_numpy(), atol=1e-3)
    skills = other.skills_.rename(index={v: k for k, v in names.items()})
    np.testing.assert_allclose(skills[base.skills_.index], base.skills_, atol=1e-3)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_gold_items_keep_their_label(cls, data):
    df, truth = data
    plain = cls().fit(df)
    # gold that contradicts the crowd on some items, plus one item without judgements
    wrong = truth.index[:10]
    gold = {item: "c1" if truth[item] != "c1" else "c2" for item in wrong}
    gold["never-judged"] = "c0"
    est = cls().fit(df, gold=gold)
    for item, label in gold.items():
        if item in est.probas_.index:
            assert est.labels_[item] == label
            assert est.probas_.loc[item, label] == 1.0
    assert "never-judged" not in est.labels_.index
    assert est.labels_.index.equals(plain.labels_.index)
    # a Series works too, and true gold does not hurt
    seeded = cls().fit(df, gold=truth.iloc[:50])
    assert accuracy(seeded.labels_, truth) >= accuracy(plain.labels_, truth)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_gold_label_outside_the_label_set_is_an_error(cls, data):
    df, _ = data
    with pytest.raises(LabelquorumError, match="not in the label set"):
        cls().fit(df, gold={"item0": "nope"})


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_single_judgements_and_crowdkit_columns(cls, data):
    df, _ = data
    extra = pd.DataFrame([("lonely", "ann0", "c2"), ("item0", "newcomer", "c1")],
                         columns=df.columns)
    both = pd.concat([df, extra], ignore_index=True)
    ours = cls().fit(both)
    assert ours.labels_["lonely"] == "c2"
    assert np.isfinite(ours.probas_.to_numpy()).all()
    assert np.isfinite(ours.skills_["newcomer"])
    theirs = cls().fit(both.rename(columns={"item": "task", "annotator": "worker"}))
    pd.testing.assert_series_equal(theirs.labels_, ours.labels_)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_one_item_one_annotator(cls):
    est = cls().fit(pd.DataFrame({"task": ["a"], "worker": ["w"], "label": ["x"]}))
    assert est.labels_["a"] == "x"
    assert est.probas_.loc["a", "x"] == pytest.approx(1.0)


def test_glad_records_its_iterations(data):
    df, _ = data
    glad = GLAD(n_iter=3, tol=0).fit(df)
    assert glad.n_iter_ == 3 and len(glad.loss_history_) == 3
    assert (glad.betas_ > 0).all()
    assert glad.alphas_.equals(glad.skills_.rename("alpha"))


def test_mace_spam_distribution(data):
    df, _ = data
    mace = MACE(method="em").fit(df)
    assert np.allclose(mace.spam_.sum(axis=1), 1.0)
    # the even spammers always answer c0
    assert (mace.spam_.loc[["ann6", "ann8", "ann10"], "c0"] > 0.9).all()


@pytest.mark.parametrize("bad", [{"n_iter": 0}, {"n_iter": 2.5}, {"tol": -1}])
def test_glad_bad_hyperparameters(bad, data):
    with pytest.raises(LabelquorumError):
        GLAD(**bad).fit(data[0])


@pytest.mark.parametrize("bad", [{"method": "gibbs"}, {"n_restarts": 0}, {"alpha": 0}])
def test_mace_bad_hyperparameters(bad, data):
    with pytest.raises(LabelquorumError):
        MACE(**bad).fit(data[0])


@st.composite
def tables(draw):
    k = draw(st.integers(2, 3))
    n_items, n_workers = draw(st.integers(1, 8)), draw(st.integers(1, 4))
    rows = []
    for i in range(n_items):
        unanimous = draw(st.booleans())
        fixed = draw(st.integers(0, k - 1))
        for w in range(n_workers):
            if draw(st.booleans()) or w == 0:
                label = fixed if unanimous else draw(st.integers(0, k - 1))
                rows.append((f"i{i}", f"w{w}", f"L{label}"))
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_unanimous_items_get_the_unanimous_label(df):
    """GLAD: whenever every annotator of a unanimous item is estimated better than chance
    (ability > 0). MACE: always, since knowing can only add weight to the given label."""
    glad, mace = GLAD().fit(df), MACE(n_restarts=2).fit(df)
    for item, group in df.groupby("item"):
        if group["label"].nunique() != 1:
            continue
        label = group["label"].iloc[0]
        if (glad.skills_[group["annotator"]] > 0).all():
            assert glad.labels_[item] == label
        assert mace.labels_[item] == label


@pytest.mark.parametrize("method", ["em", "vb"])
def test_mace_without_smoothing_is_finite_on_a_unanimous_crowd(method):
    """No annotator ever spams here, so the spamming counts are all 0: with smoothing=0
    the spam distributions must still be defined (uniform), not 0 / 0."""
    df = pd.DataFrame([(f"i{i}", f"w{w}", f"L{i % 3}") for i in range(12) for w in range(3)],
                      columns=["item", "annotator", "label"])
    mace = MACE(method=method, smoothing=0).fit(df)
    assert np.isfinite(mace.probas_.to_numpy()).all()
    assert np.isfinite(mace.skills_.to_numpy()).all() and np.isfinite(mace.spam_.to_numpy()).all()
    assert (mace.labels_ == df.groupby("item")["label"].first()).all()
    assert np.allclose(mace.probas_.max(axis=1), 1.0)
    assert np.allclose(mace.spam_.sum(axis=1), 1.0)
