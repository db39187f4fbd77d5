"""Multilabel answers (binary relevance) and numeric ratings."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from labelquorum.aggregation.multilabel import BinaryRelevance
from labelquorum.aggregation.ratings import MeanRating, MedianRating, WeightedMeanRating
from labelquorum.aggregation.token_vote import TokenVoteSpans
from labelquorum.errors import LabelquorumError


def test_binary_relevance_aggregates_each_label_with_any_method():
    rng = np.random.default_rng(0)
    truth = {f"i{k}": {lab for lab in "abc" if rng.random() < 0.4} for k in range(150)}
    rows = []
    for item, labels in truth.items():
        for w, acc in enumerate([0.95, 0.9, 0.85, 0.5, 0.5]):
            said = {lab for lab in "abc" if (lab in labels) == (rng.random() < acc)}
            rows.append((item, f"w{w}", "|".join(sorted(said))))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    exact = {}
    for method in ("majority-vote", "dawid-skene"):
        model = BinaryRelevance(method=method, labels=["a", "b", "c"]).fit(df)
        exact[method] = np.mean([set(model.labels_[i]) == truth[i] for i in truth])
        assert list(model.probas_.columns) == ["a", "b", "c"]
        assert model.probas_.to_numpy().min() >= 0 and model.probas_.to_numpy().max() <= 1
    # two annotators answer at random: estimating skills per label beats counting votes
    assert exact["majority-vote"] > 0.7
    assert exact["dawid-skene"] > exact["majority-vote"] and exact["dawid-skene"] > 0.85
    ds = BinaryRelevance(method="dawid-skene").fit(df)
    assert ds.skills_.loc["w0"].mean() > ds.skills_.loc["w4"].mean()


def test_binary_relevance_accepts_lists_and_empty_answers_and_refuses_unknown_labels():
    df = pd.DataFrame({"item": ["x", "x", "y", "y"], "annotator": ["u", "v", "u", "v"],
                       "label": [["a", "b"], ["a"], [], ""]})
    model = BinaryRelevance(labels=["a", "b"]).fit(df)
    assert model.labels_["x"][0] == "a" and model.labels_["y"] == ()
    with pytest.raises(LabelquorumError, match="not in the label set"):
        BinaryRelevance(labels=["a"]).fit(df)


def test_ratings_mean_median_and_weighted():
    df = pd.DataFrame({"item": ["x"] * 4 + ["y"] * 2, "annotator": ["a", "b", "c", "d", "a", "b"],
                       "label": [1, 2, 3, 10, "4", 5.0]})
    assert MeanRating().fit_predict(df)["x"] == pytest.approx(4.0)
    assert MedianRating().fit_predict(df)["x"] == pytest.approx(2.5)
    weighted = WeightedMeanRating({"a": 1, "b": 1, "c": 1, "d": 0}).fit_predict(df)
    assert weighted["x"] == pytest.approx(2.0) and weighted["y"] == pytest.approx(4.5)
    with pytest.raises(LabelquorumError, match="no skill for annotator 'd'"):
        WeightedMeanRating({"a": 1, "b": 1, "c": 1}).fit(df)
    bad = df.assign(label=["1", "two", 3, 4, 5, 6])
    with pytest.raises(LabelquorumError, match="'two'.*not a number"):
        MeanRating().fit(bad)


def test_binary_relevance_and_ratings_keep_integer_ids():
    df = pd.DataFrame({"item": [10, 10, 20, 20, 30], "annotator": [1, 2, 1, 2, 2],
                       "label": ["a|b", "a", "", "b", "b"]})
    model = BinaryRelevance(method="dawid-skene", labels=["a", "b"], params={"n_iter": 5}).fit(df)
    assert model.labels_.index.dtype.kind == "i" and model.labels_.loc[10] == ("a",)
    assert model.probas_.index.tolist() == [10, 20, 30]
    assert model.skills_.index.tolist() == [1, 2]
    ratings = df.assign(label=[1, 2, 3, 4, 5])
    assert MeanRating().fit_predict(ratings).loc[20] == pytest.approx(3.5)
    assert MedianRating().fit(ratings).spread_.index.dtype.kind == "i"
    weighted = WeightedMeanRating({1: 3.0, "2": 1.0}).fit_predict(ratings)  # matched as text
    assert weighted.loc[10] == pytest.approx(1.25) and weighted.index.tolist() == [10, 20, 30]


@pytest.mark.parametrize("make", [lambda: BinaryRelevance(method="wawa", params={"seed": 1}),
                                  MeanRating, MedianRating,
                                  lambda: WeightedMeanRating({"a": 1.0})],
                         ids=["BinaryRelevance", "MeanRating", "MedianRating", "WeightedMeanRating"])
def test_binary_relevance_and_ratings_are_clonable_estimators(make):
    est = make()
    twin = clone(est)
    assert type(twin) is type(est) and twin.get_params() == est.get_params()
    assert repr(est).startswith(type(est).__name__)
    assert est.set_params(**est.get_params()) is est


def test_binary_relevance_validates_its_parameters_when_fitting():
    df = pd.DataFrame({"item": ["x"], "annotator": ["u"], "label": ["a"]})
    with pytest.raises(LabelquorumError, match="valid methods"):
        BinaryRelevance(method="dawid-skeen").fit(df)
    with pytest.raises(LabelquorumError, match="sep must be"):
        BinaryRelevance(sep="").fit(df)


def test_token_vote_keeps_integer_ids_and_is_clonable():
    text = "Barack Obama visited Berlin."
    obama, berlin = [0, 12, "PER"], [21, 27, "LOC"]
    table = pd.DataFrame([(7, 1, [obama, berlin]), (7, 2, [obama]), (7, 3, [berlin]),
                          (8, 1, []), (8, 2, [])], columns=["item", "annotator", "label"])
    model = TokenVoteSpans(weights={"3": 5.0}).fit(table, {7: text, 8: "Nothing."})
    assert model.labels_.loc[7] == ((21, 27, "LOC"),)  # annotator 3 weighs 5 (matched as text)
    assert model.labels_.index.tolist() == [7, 8] and model.labels_.index.dtype.kind == "i"
    assert model.skills_.index.tolist() == [1, 2, 3] and model.skills_.index.dtype.kind == "i"
    assert clone(model).get_params() == model.get_params()
