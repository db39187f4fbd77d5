"""Every built-in aggregator passes the aggregator conformance kit; broken ones fail it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelquorum.aggregation.base import Aggregator, Encoded
from labelquorum.aggregation.majority_vote import normalise
from labelquorum.aggregation.registry import AGGREGATORS, make_aggregator
from labelquorum.aggregation.weighted_vote import WeightedVote
from labelquorum.testing import (
    ConformanceError,
    check_aggregator,
    check_aggregator_bad_input,
    check_aggregator_probabilities,
    check_aggregator_row_order,
    check_aggregator_unanimous,
    crowd_table,
)

EM = {"dawid-skene", "one-coin-dawid-skene", "glad", "mace"}


@pytest.mark.parametrize("name", sorted(AGGREGATORS))
def test_every_registered_aggregator_conforms(name):
    check_aggregator(lambda: make_aggregator(name, seed=0), em=name in EM)


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
