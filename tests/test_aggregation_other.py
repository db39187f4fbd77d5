"""Multilabel answers (binary relevance) and numeric ratings."""

import numpy as np
import pandas as pd
import pytest

from labelquorum.aggregation.multilabel import BinaryRelevance
from labelquorum.aggregation.ratings import MeanRating, MedianRating, WeightedMeanRating
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
