"""The rating scale: parsing, consensus with its confidence, scores, LLM answers and
simulated answers; and the bias-corrected consensus against the plain mean."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from labelquorum.aggregation.ratings import BiasCorrectedRating, MeanRating
from labelquorum.errors import LabelquorumError
from labelquorum.kinds.rating_scale import (
    RatingScale,
    consensus_of,
    parse_rating_answer,
    rating_schema,
    rating_scores,
    simulated_rating,
    weighted_median,
)

LIKERT = RatingScale(("bad", "poor", "fair", "good", "excellent"))
PERCENT = RatingScale(low=0, high=100, step=5)


def test_ordinal_points_parse_by_name_or_number_and_format_by_name():
    assert LIKERT.parse("Good") == 4.0 and LIKERT.parse(" excellent ") == 5.0
    assert LIKERT.parse("2") == 2.0 and LIKERT.parse(3) == 3.0
    assert LIKERT.format(4.0) == "good" and LIKERT.name(1.0) == "bad"
    for bad in ("great", 0, 6, "2.5", 2.5, True, None, float("nan")):
        with pytest.raises(LabelquorumError, match="not a point of the scale.*1 = bad"):
            LIKERT.parse(bad)


def test_numeric_scale_refuses_out_of_range_and_off_step_values():
    assert PERCENT.parse("35") == 35.0 and PERCENT.format(35.0) == "35"
    for bad in ("101", -5, "lots", float("inf")):
        with pytest.raises(LabelquorumError, match="from 0 to 100 in steps of 5"):
            PERCENT.parse(bad)
    # the step binds answers (people's, LLMs'); gold and a consensus (a mean) may lie between
    assert PERCENT.parse("37") == 37.0
    with pytest.raises(LabelquorumError, match="in steps of 5"):
        PERCENT.parse("37", on_step=True)
    with pytest.raises(LabelquorumError, match="min < max"):
        RatingScale(low=3, high=3)


@given(st.lists(st.floats(-50, 50), min_size=1, max_size=9))
def test_weighted_median_with_equal_weights_is_the_median(values):
    assert weighted_median(values) == pytest.approx(float(np.median(values)))


def test_ordinal_consensus_confidence_counts_adjacent_points_half():
    value, confidence, agreement = consensus_of(LIKERT, [4, 4, 5, 1])
    assert value == 4.0  # median 4; the point, not 4.0 +- something
    assert confidence == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert agreement == pytest.approx(0.5)
    # a median half-way between points goes towards the answers' mean
    assert consensus_of(LIKERT, [2, 3, 3, 2, 5, 5])[0] == 3.0
    assert consensus_of(LIKERT, [1, 1, 3, 3])[0] == 2.0  # mean 2: the point itself
    assert consensus_of(LIKERT, [])[0] is None


def test_weights_and_offsets_move_the_consensus():
    assert consensus_of(LIKERT, [1, 5, 5], weights=[5, 1, 1])[0] == 1.0
    # an annotator known to rate 2 points high: their 5 counts as a 3
    value, confidence, _ = consensus_of(LIKERT, [3, 5], method="mean", offsets=[0, 2])
    assert value == 3.0 and confidence == 1.0
    numeric = consensus_of(PERCENT, [40, 50, 90], method="mean")
    assert numeric[0] == pytest.approx(60.0) and numeric[1] == 0.0  # nobody within 5


def test_scores_against_gold():
    s = rating_scores(LIKERT, [1, 2, 3, 4, 5, np.nan], [1, 3, 3, 2, 5, 4])
    assert s["n"] == 5
    assert s["mae"] == pytest.approx(3 / 5) and s["rmse"] == pytest.approx(math.sqrt(5 / 5))
    assert s["exact"] == pytest.approx(3 / 5) and s["within_one"] == pytest.approx(4 / 5)
    assert 0 < s["spearman"] < 1
    assert rating_scores(LIKERT, [3, 3], [1, 5])["spearman"] is None  # constant gold
    assert rating_scores(LIKERT, [], [])["mae"] is None


def test_llm_answers_outside_the_scale_are_refused_with_a_sentence_for_the_model():
    schema = rating_schema(LIKERT, verbalized=False)
    assert schema["properties"]["rating"]["enum"] == list(LIKERT.points)
    assert set(schema["required"]) == {"rating", "reason"}
    numeric = rating_schema(PERCENT, verbalized=True)["properties"]
    assert numeric["rating"] == {"type": "number", "minimum": 0, "maximum": 100}
    assert "confidence" in numeric
    assert parse_rating_answer(LIKERT, {"rating": "Fair", "reason": "ok"}) == (3.0, "ok")
    assert parse_rating_answer(PERCENT, {"rating": 55}) == (55.0, None)
    for data, why in (({"label": "fair"}, 'no "rating"'), ({"rating": "superb"}, "not on"),
                      ({"rating": 120}, "not on the scale"), ({"rating": None}, "must be")):
        scale = PERCENT if data.get("rating") == 120 else LIKERT
        with pytest.raises(ValueError, match=why):
            parse_rating_answer(scale, data)


@given(st.floats(0, 100), st.floats(0, 30), st.floats(-20, 20), st.floats(0.001, 0.999))
def test_simulated_ratings_stay_on_the_scale(truth, noise, bias, u):
    value = simulated_rating(PERCENT, truth, noise, bias, u)
    assert PERCENT.parse(value) == value
    point = simulated_rating(LIKERT, truth / 25 + 1, noise / 10, bias / 10, u)
    assert LIKERT.parse(point) == point


# -- bias-corrected consensus -------------------------------------------------------------
def _biased_table(seed: int, n: int = 150, per_item: int = 3):
    """Six annotators with known biases; each item rated by three of them."""
    rng = np.random.default_rng(seed)
    biases = np.array([1.0, -1.0, 0.6, -0.6, 0.0, 0.0])
    truth = rng.uniform(1, 5, n)
    rows = [(i, f"a{a}", truth[i] + biases[a] + rng.normal(0, 0.3))
            for i in range(n) for a in rng.choice(len(biases), per_item, replace=False)]
    return pd.DataFrame(rows, columns=["item", "annotator", "label"]), truth, biases


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_bias_corrected_consensus_beats_the_plain_mean_on_biased_annotators(seed):
    table, truth, biases = _biased_table(seed)
    model = BiasCorrectedRating().fit(table)
    corrected = np.abs(model.labels_.sort_index().to_numpy() - truth).mean()
    plain = np.abs(MeanRating().fit_predict(table).sort_index().to_numpy() - truth).mean()
    assert corrected < 0.75 * plain
    assert np.allclose(model.biases_.loc[[f"a{k}" for k in range(6)]], biases, atol=0.25)


def test_bias_correction_is_shrunk_for_annotators_with_few_answers():
    table, _, _ = _biased_table(0)
    # a seventh annotator, 2 points high, with only two answers
    extra = pd.DataFrame([(0, "new", table.label[0] + 2), (1, "new", table.label[3] + 2)],
                         columns=table.columns)
    both = pd.concat([table, extra], ignore_index=True)
    loose = BiasCorrectedRating(shrinkage=0).fit(both).biases_["new"]
    shrunk = BiasCorrectedRating(shrinkage=10).fit(both).biases_["new"]
    assert 0 < shrunk < loose / 3


def test_bias_corrected_rating_is_a_well_behaved_estimator():
    table, _, _ = _biased_table(1, n=40)
    model = BiasCorrectedRating().fit(table)
    shuffled = BiasCorrectedRating().fit(table.sample(frac=1, random_state=3))
    assert np.allclose(model.labels_, shuffled.labels_.loc[model.labels_.index])
    assert model.labels_.index.dtype.kind == "i"  # the caller's integer ids
    assert clone(model).get_params() == {"shrinkage": 2.0}
    single = table[table.annotator == "a0"]  # one annotator: nothing to correct against
    assert np.allclose(BiasCorrectedRating().fit(single).labels_, single.set_index(
        "item").label.sort_index())
    with pytest.raises(LabelquorumError, match="shrinkage must be a number >= 0"):
        BiasCorrectedRating(shrinkage=-1).fit(table)


# -- the consensus, attacked --------------------------------------------------------------
answers_on = st.lists(st.integers(1, 5), min_size=1, max_size=8)


@given(answers_on, st.data())
def test_ordinal_consensus_is_a_point_between_the_answers_whatever_their_order(answers, data):
    weights = data.draw(st.lists(st.floats(0.01, 10), min_size=len(answers),
                                 max_size=len(answers)))
    for method in ("median", "mean"):
        value, confidence, agreement = consensus_of(LIKERT, answers, weights, method)
        assert value in {1.0, 2.0, 3.0, 4.0, 5.0}
        assert min(answers) <= value <= max(answers)
        assert 0 <= agreement <= 1 and 0 <= confidence <= 1
        plain = consensus_of(LIKERT, answers, None, method)
        assert plain[2] <= plain[1]  # unweighted: agreement counts full credit only
        order = data.draw(st.permutations(range(len(answers))))
        again = consensus_of(LIKERT, [answers[i] for i in order], [weights[i] for i in order],
                             method)
        assert again[0] == value and again[1] == pytest.approx(confidence)
    if len(set(answers)) == 1:  # unanimous: that point, fully confident
        assert consensus_of(LIKERT, answers, weights) == (float(answers[0]), 1.0, 1.0)


# -- the kind object ------------------------------------------------------------------------
def _task(config_text):
    import tomllib

    from labelquorum.config import TaskConfig
    from labelquorum.task import Task

    return Task.from_config(TaskConfig(**tomllib.loads(config_text)["task"]))


def test_the_kind_parses_llm_answers_and_refuses_them_off_the_scale_or_step():
    from labelquorum.llm.prompt import InvalidAnswer, parse_answer

    likert = _task('[task]\nkind = "rating"\nlabels = ["bad", "ok", "good"]\n')
    numeric = _task('[task]\nkind = "rating"\n[task.rating]\nmin = 0\nmax = 10\nstep = 0.5\n')
    assert parse_answer(likert, '{"rating": "Good", "reason": "fine"}')[:2] == (3.0, None)
    assert parse_answer(likert, "ok")[0] == 2.0  # a bare point name
    assert parse_answer(numeric, 'Sure! {"rating": 7.5, "confidence": 0.8}')[:2] == (7.5, 0.8)
    for content, why in (('{"rating": 7.25}', "not on the scale"), ('{"rating": 11}', "not on"),
                         ('{"rating": "great"}', "not on"), ('{"score": 3}', 'no "rating"')):
        with pytest.raises(InvalidAnswer, match=why):
            parse_answer(numeric if "great" not in content else likert, content)
    assert likert.strategy.chance(likert) == pytest.approx(1 / 3)


def test_the_kind_simulates_with_the_accuracy_model_one_point_off():
    likert = _task('[task]\nkind = "rating"\nlabels = ["bad", "ok", "good"]\n')
    kind = likert.strategy
    right = kind.simulate(likert, "good", 1.0, lambda *k: 0.5)
    assert right == (3.0, 1.0)
    wrong = kind.simulate(likert, 3.0, 0.0, lambda *k: 0.9)  # "up" from the top: down
    assert wrong == (2.0, 0.0)
