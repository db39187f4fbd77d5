"""MajorityVote, WeightedVote, Wawa, DawidSkene and OneCoinDawidSkene on the long table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelquorum.aggregation.dawid_skene import DawidSkene, OneCoinDawidSkene
from labelquorum.aggregation.majority_vote import MajorityVote
from labelquorum.aggregation.wawa import Wawa
from labelquorum.aggregation.weighted_vote import WeightedVote
from labelquorum.errors import LabelquorumError

ALL = [MajorityVote, Wawa, DawidSkene, OneCoinDawidSkene]
EM = [DawidSkene, OneCoinDawidSkene]


def crowd(n_items=400, accuracies=(0.8, 0.75, 0.7, 0.65, 0.6), per_item=None, k=3, seed=0):
    """A generated long table; annotator j is right with probability accuracies[j] and
    otherwise picks one of the other labels uniformly. Returns (judgements, truth)."""
    rng = np.random.default_rng(seed)
    acc = np.asarray(accuracies)
    m = len(acc)
    per_item = per_item or m
    truth = rng.integers(0, k, n_items)
    rows = []
    for i in range(n_items):
        for w in rng.choice(m, per_item, replace=False):
            right = rng.random() < acc[w]
            label = truth[i] if right else (truth[i] + rng.integers(1, k)) % k
            rows.append((f"item{i}", f"w{w}", f"c{label}"))
    df = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    return df, pd.Series([f"c{t}" for t in truth], index=[f"item{i}" for i in range(n_items)])


def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return float((labels.reindex(truth.index) == truth).mean())


def adversarial_crowd(seed=0):
    """Binary; two good annotators, two that flip most answers, one coin-flipper."""
    return crowd(600, accuracies=(0.9, 0.85, 0.15, 0.2, 0.5), k=2, seed=seed)


# --- small hand-built tables -----------------------------------------------------------

TABLE = pd.DataFrame({
    "item": ["a", "a", "a", "b", "b", "b", "c", "c", "d"],
    "annotator": ["x", "y", "z", "x", "y", "z", "x", "z", "y"],
    "label": ["cat", "cat", "dog", "dog", "dog", "dog", "cat", "dog", "cat"],
})


def test_majority_vote_by_hand():
    mv = MajorityVote().fit(TABLE)
    assert mv.labels_["a"] == "cat" and mv.labels_["b"] == "dog" and mv.labels_["d"] == "cat"
    assert mv.probas_.loc["a", "cat"] == pytest.approx(2 / 3)
    assert mv.probas_.loc["c"].tolist() == [0.5, 0.5]
    assert mv.labels_["c"] in {"cat", "dog"}
    # skills: agreement with the majority label; z disagrees on a, agrees on b
    assert mv.skills_["y"] == 1.0


def test_weighted_vote_follows_the_skills():
    wv = WeightedVote({"x": 1.0, "y": 1.0, "z": 5.0}).fit(TABLE)
    assert wv.labels_["a"] == "dog" and wv.labels_["c"] == "dog"
    assert wv.probas_.loc["a", "dog"] == pytest.approx(5 / 7)
    assert WeightedVote(pd.Series({"x": 1, "y": 1, "z": 1})).fit(TABLE).labels_["a"] == "cat"


def test_weighted_vote_names_the_annotator_without_a_skill():
    with pytest.raises(LabelquorumError, match="'z'"):
        WeightedVote({"x": 1.0, "y": 1.0}).fit(TABLE)
    with pytest.raises(LabelquorumError, match="non-negative"):
        WeightedVote({"x": 1.0, "y": 1.0, "z": -1}).fit(TABLE)


def test_weighted_vote_with_all_zero_skills_is_uniform():
    wv = WeightedVote({"x": 0, "y": 0, "z": 0}).fit(TABLE)
    assert np.allclose(wv.probas_.to_numpy(), 0.5)


def test_wawa_weights_by_agreement_with_majority():
    wawa = Wawa().fit(TABLE)
    mv = MajorityVote().fit(TABLE)
    pd.testing.assert_series_equal(wawa.skills_, mv.skills_)
    assert wawa.labels_["b"] == "dog"


@pytest.mark.parametrize("cls", ALL)
def test_crowd_kit_column_names(cls):
    ours = cls().fit(TABLE)
    theirs = cls().fit(TABLE.rename(columns={"item": "task", "annotator": "worker"}))
    pd.testing.assert_series_equal(ours.labels_, theirs.labels_)
    pd.testing.assert_frame_equal(ours.probas_, theirs.probas_)


@pytest.mark.parametrize("cls", ALL)
def test_single_judgement_items_and_annotators(cls):
    df = pd.concat([TABLE, pd.DataFrame({"item": ["e", "f"], "annotator": ["solo", "y"],
                                         "label": ["cat", "dog"]})])
    est = cls().fit(df)
    assert est.labels_["e"] == "cat" and est.labels_["f"] == "dog"
    assert np.allclose(est.probas_.sum(axis=1), 1)


@pytest.mark.parametrize("cls", ALL)
def test_one_judgement_in_all(cls):
    est = cls().fit(pd.DataFrame({"task": [1], "worker": ["w"], "label": ["yes"]}))
    assert est.labels_.tolist() == ["yes"]
    assert est.probas_.to_numpy().tolist() == [[1.0]]


# --- generated crowds --------------------------------------------------------------------

def test_dawid_skene_beats_majority_vote_with_adversarial_annotators():
    df, truth = adversarial_crowd()
    mv = accuracy(MajorityVote().fit_predict(df), truth)
    ds = accuracy(DawidSkene().fit_predict(df), truth)
    assert ds > mv + 0.1
    assert ds > 0.95


def test_dawid_skene_learns_the_confusion_matrices():
    df, _ = adversarial_crowd()
    ds = DawidSkene().fit(df)
    errors = ds.errors_
    assert np.allclose(errors.sum(axis=1), 1)
    assert errors.loc[("w0", "c0"), "c0"] == pytest.approx(0.9, abs=0.06)
    assert errors.loc[("w2", "c0"), "c1"] == pytest.approx(0.85, abs=0.06)
    assert ds.skills_["w0"] > 0.8
    assert ds.skills_["w2"] < 0.3
    assert ds.priors_.sum() == pytest.approx(1)
    assert 1 <= ds.n_iter_ == len(ds.loss_history_) <= 100
    assert np.all(np.diff(ds.loss_history_) > -1e-9)  # EM never lowers the likelihood


def test_one_coin_skills_are_the_accuracies():
    df, truth = crowd(800, accuracies=(0.95, 0.8, 0.7, 0.6, 0.55), seed=1)
    oc = OneCoinDawidSkene().fit(df)
    assert oc.skills_.to_numpy() == pytest.approx([0.95, 0.8, 0.7, 0.6, 0.55], abs=0.06)
    assert np.allclose(oc.errors_.sum(axis=1), 1)
    assert accuracy(oc.labels_, truth) >= accuracy(MajorityVote().fit_predict(df), truth)


@pytest.mark.parametrize("cls", ALL)
def test_probabilities_sum_to_one_and_refit_is_idempotent(cls):
    df, _ = crowd(300, per_item=3, seed=2)
    est = cls()
    first = est.fit(df)
    assert first is est
    labels, probas = est.labels_.copy(), est.probas_.copy()
    assert np.allclose(probas.sum(axis=1), 1)
    assert ((probas >= 0) & (probas <= 1)).all().all()
    est.fit(df)
    pd.testing.assert_series_equal(est.labels_, labels)
    pd.testing.assert_frame_equal(est.probas_, probas)


def _without_ties(est, df):
    """Items whose top two probabilities differ clearly."""
    p = np.sort(est.probas_.to_numpy(), axis=1)
    return est.probas_.index[p[:, -1] - p[:, -2] > 1e-6]


@pytest.mark.parametrize("cls", ALL)
def test_row_order_does_not_matter(cls):
    df, _ = crowd(300, per_item=3, seed=3)
    a = cls().fit(df)
    b = cls().fit(df.sample(frac=1, random_state=7))
    pd.testing.assert_series_equal(a.labels_, b.labels_)
    pd.testing.assert_frame_equal(a.probas_, b.probas_, atol=1e-9, rtol=0)


@pytest.mark.parametrize("cls", ALL)
def test_renaming_annotators_and_labels_does_not_matter(cls):
    # binary with 3 votes per item: no majority-vote ties, which Wawa would carry into its
    # skills (a tie is broken by the label's position, and renaming labels reorders them)
    df, _ = crowd(300, per_item=3, k=2, seed=4)
    a = cls().fit(df)
    names = {f"w{j}": f"annotator-{9 - j}" for j in range(5)}
    relabel = {"c0": "zeta", "c1": "alpha"}
    renamed = df.assign(annotator=df["annotator"].map(names), label=df["label"].map(relabel))
    b = cls().fit(renamed)
    clear = _without_ties(a, df)
    assert len(clear) > 200
    assert (a.labels_[clear].map(relabel) == b.labels_[clear]).all()
    back = b.probas_.rename(columns={v: k for k, v in relabel.items()})[a.probas_.columns]
    assert np.allclose(a.probas_.to_numpy(), back.to_numpy(), atol=1e-9)


# --- gold seeding --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", EM)
def test_gold_fixes_gold_items_and_improves_accuracy(cls):
    df, truth = crowd(600, accuracies=(0.35, 0.4, 0.45, 0.7, 0.5), per_item=3, seed=5)
    gold = truth.iloc[:150]
    rest = truth.iloc[150:]
    plain = cls().fit(df)
    seeded = cls().fit(df, gold=gold)
    assert (seeded.labels_[gold.index] == gold).all()
    assert np.allclose(seeded.probas_.loc[gold.index].max(axis=1), 1)
    assert accuracy(seeded.labels_, rest) > accuracy(plain.labels_, rest)
    # dict gold, and gold for an item with no judgements is ignored
    as_dict = {**gold.to_dict(), "never-seen": "c0"}
    pd.testing.assert_series_equal(cls().fit_predict(df, gold=as_dict), seeded.labels_)


def test_gold_label_outside_the_label_set_is_an_error():
    with pytest.raises(LabelquorumError, match="not in the label set"):
        DawidSkene().fit(TABLE, gold={"a": "bird"})
    with pytest.raises(LabelquorumError, match="dict or a pandas Series"):
        DawidSkene().fit(TABLE, gold=[("a", "cat")])


def test_bad_hyperparameters_are_named():
    with pytest.raises(LabelquorumError, match="n_iter"):
        DawidSkene(n_iter=-1).fit(TABLE)
    with pytest.raises(LabelquorumError, match="tol"):
        OneCoinDawidSkene(tol="small").fit(TABLE)


def test_n_iter_zero_is_majority_vote_initialisation():
    df, _ = crowd(200, per_item=3, seed=6)
    ds = DawidSkene(n_iter=0).fit(df)
    assert ds.n_iter_ == 0
    pd.testing.assert_frame_equal(ds.probas_, MajorityVote().fit(df).probas_)


# --- properties ----------------------------------------------------------------------------

LABELS = ["a", "b", "c"]


@st.composite
def tables(draw):
    """Any sparse table: items x annotators with some cells empty."""
    n_items = draw(st.integers(1, 12))
    n_workers = draw(st.integers(1, 5))
    rows = []
    for i in range(n_items):
        for w in range(n_workers):
            lab = draw(st.sampled_from(LABELS + [None]))
            if lab is not None:
                rows.append((f"i{i}", f"w{w}", lab))
    if not rows:
        rows.append(("i0", "w0", "a"))
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


def unanimous(df: pd.DataFrame) -> pd.Series:
    g = df.groupby("item")["label"]
    one = g.nunique() == 1
    return g.first()[one]


@pytest.mark.parametrize("cls", [MajorityVote, Wawa])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=tables(), seed=st.integers(0, 3))
def test_votes_give_unanimous_items_their_label(cls, df, seed):
    est = cls(seed=seed).fit(df)
    want = unanimous(df)
    assert (est.labels_[want.index] == want).all()
    assert np.allclose(est.probas_.sum(axis=1), 1)


@st.composite
def good_crowds(draw):
    """Dense tables where every annotator errs on at most a fifth of the items, and the
    true labels are balanced: every annotator is better than chance."""
    n_workers = draw(st.integers(3, 5))
    n_items = draw(st.integers(6, 15))
    rows = []
    for w in range(n_workers):
        wrong = draw(st.sets(st.integers(0, n_items - 1), max_size=n_items // 5))
        for i in range(n_items):
            truth = i % len(LABELS)
            shift = draw(st.integers(1, len(LABELS) - 1)) if i in wrong else 0
            rows.append((f"i{i}", f"w{w}", LABELS[(truth + shift) % len(LABELS)]))
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


@pytest.mark.parametrize("cls", EM)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=good_crowds())
def test_em_gives_unanimous_items_their_label_when_annotators_beat_chance(cls, df):
    est = cls().fit(df)
    want = unanimous(df)
    assert (est.labels_[want.index] == want).all()
    assert np.allclose(est.probas_.sum(axis=1), 1)


@pytest.mark.parametrize("cls", EM)
def test_gold_seeds_every_item_when_item_ids_are_numbers(cls):
    # numeric ids sort as numbers (1, 2, ..., 12), not as text (1, 10, 11, 12, 2, ...):
    # every gold item must still be found
    df, truth = crowd(12, accuracies=(0.6, 0.55, 0.5), seed=4)
    df["item"] = df["item"].str.removeprefix("item").astype(int) + 1
    gold = {int(i.removeprefix("item")) + 1: label for i, label in truth.items()}
    labels = cls().fit(df, gold=gold).labels_
    assert labels.to_dict() == gold  # integer ids stay integers
    # gold is matched by text, so ids read from a file as text find the items too
    as_text = cls().fit(df, gold={str(k): v for k, v in gold.items()}).labels_
    pd.testing.assert_series_equal(as_text, labels)


# --- the caller's types ----------------------------------------------------------------

def typed(df: pd.DataFrame) -> pd.DataFrame:
    """The generated crowd with integer item ids, annotator ids and labels."""
    return df.assign(item=df["item"].str.removeprefix("item").astype(int),
                     annotator=df["annotator"].str.removeprefix("w").astype(int),
                     label=df["label"].str.removeprefix("c").astype(int))


@pytest.mark.parametrize("cls", ALL)
def test_integer_ids_and_labels_come_back_as_integers(cls):
    df, truth = crowd(200, per_item=3, seed=8)
    est = cls().fit(typed(df))
    as_text = cls().fit(df)
    assert est.labels_.loc[1] == int(as_text.labels_.loc["item1"].removeprefix("c"))
    assert est.labels_.dtype.kind == "i" and list(est.probas_.columns) == [0, 1, 2]
    assert est.skills_.index.tolist() == [0, 1, 2, 3, 4]
    assert est.skills_.loc[0] == pytest.approx(as_text.skills_.loc["w0"], abs=0.05)
    gold = pd.Series([int(t[1:]) for t in truth], index=range(len(truth)))
    # integer gold compares with the labels as they are (ties may fall otherwise: the
    # seeded choice hashes the item id, and 1 is not "item1")
    assert accuracy(est.labels_, gold) > 0.75 and accuracy(as_text.labels_, truth) > 0.75
    users = pd.DataFrame({"item": range(200), "note": "x"})
    assert len(users.merge(est.labels_.rename("consensus"), left_on="item",
                           right_index=True)) == 200
    if cls is Wawa:  # its skills follow the majority's ties, which hash the item id
        return
    same_rows = as_text.probas_.loc[[f"item{i}" for i in est.probas_.index]]
    np.testing.assert_allclose(est.probas_.to_numpy(), same_rows.to_numpy(), rtol=0, atol=1e-12)


def test_dawid_skene_learned_frames_keep_the_types():
    df, _ = adversarial_crowd()
    ds = DawidSkene().fit(typed(df))
    assert ds.errors_.loc[(0, 0), 0] == pytest.approx(0.9, abs=0.06)
    assert ds.priors_.index.tolist() == [0, 1] and ds.skills_.index.tolist() == list(range(5))


def test_labels_come_back_as_given_or_as_the_column_holds_them():
    df, _ = crowd(60, per_item=3, seed=9)
    ints = typed(df)
    assert MajorityVote(labels=[2, 1, 0]).fit(ints).probas_.columns.tolist() == [2, 1, 0]
    floats = MajorityVote().fit(ints.assign(label=ints["label"].astype(float)))
    assert floats.labels_.dtype.kind == "f" and floats.probas_.columns.tolist() == [0.0, 1.0, 2.0]
    spaced = MajorityVote().fit(df.assign(label=" " + df["label"] + " "))
    assert spaced.probas_.columns.tolist() == ["c0", "c1", "c2"]  # text is stripped
    mixed = MajorityVote().fit(df.assign(item=[int(i[4:]) if int(i[4:]) % 2 else i
                                               for i in df["item"]]))
    assert mixed.labels_.loc[1] == MajorityVote().fit(df).labels_.loc["item1"]


def test_aggregators_are_clonable_with_their_hyperparameters():
    from sklearn.base import clone

    ds = DawidSkene(n_iter=7, tol=1e-3, seed=2, labels=["c0", "c1", "c2"])
    twin = clone(ds)
    assert twin.get_params() == ds.get_params() and twin is not ds
    assert repr(ds) == "DawidSkene(labels=['c0', 'c1', 'c2'], n_iter=7, seed=2, tol=0.001)"
    assert ds.set_params(n_iter=3) is ds and ds.n_iter == 3
    with pytest.raises(LabelquorumError, match="seed must be an integer"):
        MajorityVote(seed="1").fit(TABLE)
    with pytest.raises(LabelquorumError, match="labels must be a list"):
        Wawa(labels="cat").fit(TABLE)
