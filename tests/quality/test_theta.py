"""Golden-question quality θ (Liu et al.): the estimate, its intervals and the test, checked
against a brute-force likelihood and against simulated annotators of known quality."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chi2, norm
from sklearn.base import clone

from labelquorum.errors import LabelquorumError, QualityError
from labelquorum.quality import GoldenTheta, theta_skills, theta_table, wilson_interval


def loglik_grid(correct, certainty, chance, grid):
    q = chance + np.outer(grid, certainty - chance)  # (grid, items)
    with np.errstate(divide="ignore"):
        return np.where(correct[None, :], np.log(q), np.log1p(-q)).sum(axis=1)


def simulate(rng, theta, certainty, chance):
    q = chance + theta * (certainty - chance)
    return rng.random(len(certainty)) < q


answers_and_certainty = st.integers(2, 5).flatmap(lambda k: st.tuples(
    st.just(k),
    st.lists(st.tuples(st.booleans(), st.floats(1 / k + 0.05, 1.0)), min_size=1, max_size=40)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers_and_certainty)
def test_theta_is_the_maximum_of_the_likelihood_on_a_fine_grid(case):
    k, rows = case
    correct = np.array([r[0] for r in rows])
    certainty = np.array([r[1] for r in rows])
    est = GoldenTheta(n_labels=k).fit(correct, certainty=certainty)
    grid = np.linspace(0, 1, 20001)
    ll = loglik_grid(correct, certainty, 1 / k, grid)
    best = grid[np.argmax(ll)]
    # the estimate is at least as likely as every grid point (up to rounding) ...
    assert est.loglik_ >= ll.max() - 1e-7
    # ... and sits where the grid peaks (the likelihood is concave: one peak)
    assert abs(est.theta_ - best) <= 1e-4 + 1e-3 * (ll.max() - ll.min() < 1e-6)


@settings(max_examples=100, deadline=None)
@given(answers_and_certainty)
def test_wald_interval_is_theta_plus_minus_z_over_the_curvature_of_the_grid(case):
    k, rows = case
    correct = np.array([r[0] for r in rows])
    certainty = np.array([r[1] for r in rows])
    est = GoldenTheta(n_labels=k, level=0.9).fit(correct, certainty=certainty)
    low, high = est.interval_
    assert 0.0 <= low <= est.theta_ <= high <= 1.0
    if est.interval_method_ != "wald":
        assert est.theta_ in (0.0, 1.0) or not np.isfinite(est.se_)
        return
    h = 1e-4
    t = est.theta_
    ll = loglik_grid(correct, certainty, 1 / k, np.array([t - h, t, t + h]))
    curvature = -(ll[0] - 2 * ll[1] + ll[2]) / h**2  # observed Fisher information
    half = norm.ppf(0.95) / math.sqrt(curvature)
    assert low == pytest.approx(max(0.0, t - half), abs=1e-4)
    assert high == pytest.approx(min(1.0, t + half), abs=1e-4)


@settings(max_examples=60, deadline=None)
@given(answers_and_certainty)
def test_likelihood_interval_holds_exactly_the_grid_points_within_the_chi2_cut(case):
    k, rows = case
    correct = np.array([r[0] for r in rows])
    certainty = np.array([r[1] for r in rows])
    est = GoldenTheta(n_labels=k, interval="likelihood").fit(correct, certainty=certainty)
    grid = np.linspace(0, 1, 4001)
    ll = loglik_grid(correct, certainty, 1 / k, grid)
    inside = grid[2 * (est.loglik_ - ll) <= chi2.ppf(0.95, 1)]
    low, high = est.interval_
    assert low <= inside.min() + 1e-9 and inside.max() - 1e-9 <= high
    assert inside.min() - low <= 2.5e-4 and high - inside.max() <= 2.5e-4


def test_with_certainty_one_the_score_interval_is_wilsons_interval_on_accuracy():
    # 14 of 20 right, 3 labels: accuracy = 1/3 + θ·(2/3), so θ maps linearly onto it
    correct = np.array([True] * 14 + [False] * 6)
    est = GoldenTheta(n_labels=3, interval="score").fit(correct)
    low, high = wilson_interval(14, 20)
    assert est.theta_ == pytest.approx((0.7 - 1 / 3) / (2 / 3))
    assert est.interval_[0] == pytest.approx((low - 1 / 3) / (2 / 3), abs=1e-6)
    assert est.interval_[1] == pytest.approx((high - 1 / 3) / (2 / 3), abs=1e-6)
    assert est.accuracy_interval() == pytest.approx((low, high), abs=1e-6)


def test_closed_form_when_every_item_has_the_same_certainty():
    correct = np.array([True] * 15 + [False] * 5)
    est = GoldenTheta(n_labels=2).fit(correct, certainty=np.full(20, 0.9))
    assert est.theta_ == pytest.approx((0.75 - 0.5) / (0.9 - 0.5))
    assert est.n_answers_ == 20 and est.n_correct_ == 15


def test_perfect_and_chance_annotators_sit_on_the_bounds_with_a_nondegenerate_interval():
    perfect = GoldenTheta(n_labels=2).fit(np.ones(20, bool))
    assert perfect.theta_ == 1.0
    assert perfect.interval_method_ == "score"  # the fallback at a boundary
    assert 0.5 < perfect.interval_[0] < 1.0 and perfect.interval_[1] == 1.0
    guesser = GoldenTheta(n_labels=2).fit(np.array([True] * 9 + [False] * 11))
    assert guesser.theta_ == 0.0 and guesser.interval_[0] == 0.0
    assert 0.0 < guesser.interval_[1] < 0.5
    # far below chance: even θ = 0 is barely compatible, the interval shrinks onto it
    contrarian = GoldenTheta(n_labels=2).fit(np.array([True] * 3 + [False] * 17))
    assert contrarian.theta_ == 0.0 and contrarian.interval_[1] < 0.05


@pytest.mark.parametrize("method", ["wald", "score", "likelihood"])
def test_interval_covers_the_true_quality_of_simulated_annotators(method):
    rng = np.random.default_rng(7)
    hits, trials = 0, 600
    for _ in range(trials):
        theta = rng.uniform(0.3, 0.9)
        certainty = rng.uniform(0.8, 1.0, size=80)
        correct = simulate(rng, theta, certainty, 0.25)
        est = GoldenTheta(n_labels=4, interval=method).fit(correct, certainty=certainty)
        hits += est.interval_[0] <= theta <= est.interval_[1]
    assert 0.92 <= hits / trials <= 0.98


def test_one_sided_test_holds_its_level_and_has_power():
    rng = np.random.default_rng(3)
    certainty = np.linspace(0.85, 1.0, 60)

    def rejection_rate(theta):
        rejected = 0
        for _ in range(2000):
            est = GoldenTheta(n_labels=2).fit(simulate(rng, theta, certainty, 0.5),
                                              certainty=certainty)
            rejected += est.test(0.6, alpha=0.05).reject
        return rejected / 2000

    assert rejection_rate(0.6) <= 0.05 + 0.015  # at the null's edge: at most α (+ MC noise)
    assert rejection_rate(0.4) <= 0.01
    assert rejection_rate(0.95) >= 0.8


def test_test_result_says_what_was_tested():
    est = GoldenTheta(n_labels=2).fit(np.array([True] * 19 + [False]))
    result = est.test(0.5, alpha=0.05)
    # 19 of 20 when q = 0.75: P(C >= 19) = 20·0.75^19·0.25 + 0.75^20
    assert result.reject and result.p_value == pytest.approx(0.0243126, abs=1e-6)
    assert result.theta0 == 0.5 and result.alternative == "greater"
    assert "θ ≤ 0.5" in result.null
    low = est.test(0.99, alternative="less")
    assert not low.reject


def test_answers_and_gold_compare_labels_and_abstentions_are_left_out():
    est = GoldenTheta(n_labels=2).fit(["pos", "neg", None, "pos"], ["pos", "pos", "neg", "pos"])
    assert est.n_answers_ == 3 and est.n_correct_ == 2


def test_estimator_is_clonable_and_keeps_hyperparameters_as_given():
    est = GoldenTheta(n_labels=3, level=0.9, interval="score")
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "theta_")


@pytest.mark.parametrize("kwargs, fit_args, phrase", [
    ({"n_labels": 2}, ([],), "no golden answers"),
    ({"n_labels": 1}, ([True],), "n_labels"),
    ({"n_labels": 2, "level": 1.5}, ([True],), "level"),
    ({"n_labels": 2, "interval": "bayes"}, ([True],), "interval"),
    ({"n_labels": 2}, ([True, False], None, [0.9]), "certainty"),
    ({"n_labels": 4}, ([True], None, [0.1]), "chance"),
    ({"n_labels": 2}, ([True, False], None, [0.5, 0.5]), "no information"),
    ({"n_labels": 2}, (["a", "b"], ["a"]), "same length"),
])
def test_bad_input_is_a_clear_quality_error(kwargs, fit_args, phrase):
    with pytest.raises(QualityError, match=phrase) as info:
        GoldenTheta(**kwargs).fit(*fit_args)
    assert isinstance(info.value, LabelquorumError)
    assert str(info.value).endswith(".")


def test_unfitted_estimator_says_to_fit_first():
    with pytest.raises(QualityError, match="fit"):
        GoldenTheta(n_labels=2).test(0.5)


def test_theta_table_has_one_row_per_annotator_and_feeds_vote_weights():
    rows = []
    for j in range(20):
        rows.append(("good", f"g{j}", "a"))
        rows.append(("bad", f"g{j}", "a" if j < 11 else "b"))
    judgements = pd.DataFrame(rows, columns=["annotator", "item", "label"])
    gold = {f"g{j}": "a" for j in range(20)}
    certainty = {f"g{j}": 0.95 for j in range(20)}
    table = theta_table(judgements, gold, certainty, n_labels=2, theta0=0.5)
    assert list(table.index) == ["bad", "good"]
    assert table.loc["good", "theta"] == 1.0 and table.loc["good", "n"] == 20
    assert table.loc["bad", "theta"] < 0.3
    assert bool(table.loc["good", "passes"]) and not bool(table.loc["bad", "passes"])
    weights = theta_skills(table["theta"], n_labels=2)
    assert weights["good"] > weights["bad"] >= 0.0


def test_theta_table_ignores_items_without_gold_and_names_a_missing_column():
    judgements = pd.DataFrame({"annotator": ["x", "x"], "item": ["g1", "other"],
                               "label": ["a", "b"]})
    table = theta_table(judgements, {"g1": "a"}, None, n_labels=2)
    assert table.loc["x", "n"] == 1
    with pytest.raises(QualityError, match="label"):
        theta_table(judgements.drop(columns="label"), {"g1": "a"}, None, n_labels=2)
