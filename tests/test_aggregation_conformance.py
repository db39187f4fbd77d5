"""Every built-in aggregator passes the aggregator conformance kit; broken ones fail it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelquorum.aggregation.base import Aggregator, Encoded
from labelquorum.aggregation.mace import MACE
from labelquorum.aggregation.majority_vote import MajorityVote, normalise
from labelquorum.aggregation.registry import available, make_aggregator
from labelquorum.aggregation.weighted_vote import WeightedVote
from labelquorum.testing import (
    ConformanceError,
    check_aggregator,
    check_aggregator_bad_input,
    check_aggregator_clone,
    check_aggregator_finite,
    check_aggregator_probabilities,
    check_aggregator_row_order,
    check_aggregator_types,
    check_aggregator_unanimous,
    crowd_table,
)

EM = {"dawid-skene", "one-coin-dawid-skene", "glad", "mace"}


@pytest.mark.parametrize("name", sorted(available()))
def test_every_registered_aggregator_conforms(name):
    check_aggregator(lambda: make_aggregator(name, seed=0), em=name in EM)


@pytest.mark.parametrize("check", [check_aggregator_clone, check_aggregator_types,
                                   check_aggregator_finite], ids=lambda f: f.__name__)
@pytest.mark.parametrize("make", [lambda: MACE(method="em", smoothing=0),
                                  lambda: MACE(smoothing=0)], ids=["em", "vb"])
def test_mace_without_smoothing_conforms(make, check):
    check(make)


def test_weighted_vote_conforms_given_skills():
    skills = {f"w{j}": s for j, s in enumerate((0.9, 0.8, 0.7, 0.6, 0.5))}
    skills.update({"solo-annotator": 0.5})
    check_aggregator(lambda: WeightedVote(skills=skills), rename_annotators=False)


class FirstRowWins(Aggregator):
    """Broken on purpose: the label is whatever the first row says, so row order matters."""

    def _fit(self, enc: Encoded) -> np.ndarray:
        post = np.zeros((enc.n_items, enc.n_labels))
        first = np.unique(enc.item, return_index=True)[1]
        post[enc.item[first], enc.label[first]] = 1.0
        return post


class Unnormalised(Aggregator):
    """Broken on purpose: scaled vote counts instead of probabilities."""

    def _fit(self, enc: Encoded) -> np.ndarray:
        return enc.counts() * 0.1


class Contrarian(Aggregator):
    """Broken on purpose: picks the least voted label."""

    def _fit(self, enc: Encoded) -> np.ndarray:
        return normalise(enc.counts().max(axis=1, keepdims=True) - enc.counts() + 1e-3)


class KeyErrorOnBadInput:
    """Broken on purpose: reads columns the way a bare pandas script does."""

    def fit(self, table: pd.DataFrame):
        table["annotator"]  # the raw KeyError the kit must catch
        if table.empty or table["label"].isna().all():
            raise ValueError("nothing to aggregate")
        return self


class StringIds(MajorityVote):
    """Broken on purpose: turns item ids and labels into text, as every aggregator once did."""

    def _set_result(self, enc: Encoded, posterior: np.ndarray) -> None:
        super()._set_result(enc, posterior)
        self.labels_ = self.labels_.set_axis(self.labels_.index.astype(str)).astype(str)
        self.probas_ = self.probas_.set_axis(self.probas_.index.astype(str))
        self.probas_.columns = self.probas_.columns.astype(str)


class StringSkills(MajorityVote):
    """Broken on purpose: keeps item ids and labels, but indexes skills_ by text."""

    def _fit(self, enc: Encoded) -> np.ndarray:
        posterior = super()._fit(enc)
        self.skills_ = self.skills_.set_axis(self.skills_.index.astype(str))
        return posterior


class NotAnEstimator:
    """Broken on purpose: fits and predicts, but has no get_params (not a BaseEstimator)."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, table: pd.DataFrame):
        model = MajorityVote(seed=self.seed).fit(table)
        self.labels_, self.probas_ = model.labels_, model.probas_
        return self


class LogicInInit(Aggregator):
    """Broken on purpose: __init__ copies a hyperparameter, so clone() cannot rebuild it."""

    def __init__(self, seed: int = 0, labels=None):
        self.seed = seed
        self.labels = list(labels) if labels is not None else None

    def _fit(self, enc: Encoded) -> np.ndarray:
        return normalise(enc.counts())


class FittedInInit(Aggregator):
    """Broken on purpose: sets a learned attribute in __init__."""

    def __init__(self, seed: int = 0, labels=None):
        self.seed = seed
        self.labels = labels
        self.skills_ = None

    def _fit(self, enc: Encoded) -> np.ndarray:
        return normalise(enc.counts())


class NaNWhenUnanimous(Aggregator):
    """Broken on purpose: divides by the count of disagreeing votes, 0 on a unanimous item."""

    def _fit(self, enc: Encoded) -> np.ndarray:
        counts = enc.counts()
        others = counts.sum(axis=1, keepdims=True) - counts.max(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return normalise(counts) * (others / others)


@pytest.mark.parametrize("broken, check, message", [
    (StringIds, check_aggregator_types, "labels_.index .item ids. has dtype"),
    (StringSkills, check_aggregator_types, "skills_.index .annotator ids. has dtype"),
    (NotAnEstimator, check_aggregator_clone, "get_params"),
    (lambda: LogicInInit(labels=("L0", "L1", "L2")), check_aggregator_clone, "Cannot clone"),
    (FittedInInit, check_aggregator_clone, "__init__ sets skills_"),
    (NaNWhenUnanimous, check_aggregator_finite, "every item unanimous: probabilities"),
], ids=["StringIds", "StringSkills", "NotAnEstimator", "LogicInInit", "FittedInInit",
        "NaNWhenUnanimous"])
def test_the_kit_fails_a_broken_aggregator_naming_the_check(broken, check, message):
    with pytest.raises(ConformanceError, match=message) as caught:
        check(broken)
    assert caught.value.check == check.__name__.removeprefix("check_")


def test_an_aggregator_that_depends_on_row_order_fails():
    with pytest.raises(ConformanceError, match="aggregator_row_order"):
        check_aggregator_row_order(FirstRowWins)


def test_probabilities_that_do_not_sum_to_one_fail():
    with pytest.raises(ConformanceError, match="sum to"):
        check_aggregator_probabilities(Unnormalised)


def test_an_aggregator_that_overrules_unanimity_fails():
    with pytest.raises(ConformanceError, match="every annotator said"):
        check_aggregator_unanimous(Contrarian)


def test_raw_pandas_errors_on_bad_input_fail():
    with pytest.raises(ConformanceError, match="expected a LabelquorumError"):
        check_aggregator_bad_input(KeyErrorOnBadInput)


def test_crowd_table_is_seeded_and_honest():
    table, truth = crowd_table(n_items=500, accuracies=(0.9, 0.9, 0.9), seed=3)
    again, _ = crowd_table(n_items=500, accuracies=(0.9, 0.9, 0.9), seed=3)
    assert table.equals(again)
    right = (table["label"].to_numpy() == truth.reindex(table["item"]).to_numpy()).mean()
    assert 0.87 < right < 0.93
