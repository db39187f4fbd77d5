"""Bradley–Terry system scores: crowd-kit's numbers, known strengths, ties, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelquorum.aggregation.bradley_terry import BradleyTerry, kendall_tau
from labelquorum.errors import LabelquorumError

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "bradley_terry_crowdkit.json")
                     .read_text())


def table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["left", "right", "label"])


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_scores_equal_crowdkit_run_to_convergence(name):
    case = FIXTURE["cases"][name]
    ours = BradleyTerry(ties=case["ties"]).fit(table(case["comparisons"]))
    theirs = pd.Series(dict(map(tuple, case["scores"])))
    assert ours.converged_
    assert list(ours.scores_.index) == list(theirs.index)  # same systems, caller's types
    np.testing.assert_allclose(ours.scores_.to_numpy(), theirs.to_numpy(), atol=1e-6)
    assert ours.scores_.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_two_mm_steps_equal_crowdkit_defaults(name):
    """crowd-kit 1.4.2 stops after two MM steps whatever its tol (its stopping check
    compares the score vector with itself); two of our steps give its numbers, so the
    update and the normalisation are the same."""
    case = FIXTURE["cases"][name]
    ours = BradleyTerry(ties=case["ties"], max_iter=2, tol=0).fit(table(case["comparisons"]))
    theirs = pd.Series(dict(map(tuple, case["scores_default"])))
    np.testing.assert_allclose(ours.scores_.to_numpy(), theirs.to_numpy(), atol=1e-12)


def test_known_strengths_are_recovered():
    case = FIXTURE["cases"]["known_strengths"]
    truth = pd.Series(case["strengths"]) / sum(case["strengths"].values())
    scores = BradleyTerry().fit_predict(table(case["comparisons"]))
    assert kendall_tau(scores, truth) == pytest.approx(1.0)
    np.testing.assert_allclose(scores[truth.index], truth, atol=0.03)


def test_crowdkit_live_when_installed():
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    rng = np.random.default_rng(3)
    strengths = {f"m{i}": s for i, s in enumerate([5.0, 3.0, 1.5, 1.0, 0.2])}
    names = list(strengths)
    rows = []
    for _ in range(600):
        i, j = rng.choice(len(names), 2, replace=False)
        p = strengths[names[i]] / (strengths[names[i]] + strengths[names[j]])
        rows.append([names[i], names[j], names[i] if rng.random() < p else names[j]])
    df = table(rows)
    theirs = crowdkit.BradleyTerry(n_iter=50_000, tol=0).fit(
        df.assign(worker="w")).scores_
    ours = BradleyTerry(ties="ignore").fit_predict(df)
    np.testing.assert_allclose(ours[theirs.index], theirs, atol=1e-6)


def test_two_systems_score_is_the_win_share():
    rows = [["a", "b", "a"]] * 7 + [["b", "a", "b"]] * 3
    scores = BradleyTerry().fit_predict(table(rows))
    assert scores["a"] == pytest.approx(0.7)


def test_a_tie_counts_half_a_win_or_nothing():
    rows = [["a", "b", "a"]] * 3 + [["a", "b", "b"], ["a", "b", None], ["b", "a", ""]]
    half = BradleyTerry(ties="half").fit(table(rows))
    assert half.win_probability("a", "b") == pytest.approx(4 / 6)
    ignored = BradleyTerry(ties="ignore").fit(table(rows))
    assert ignored.win_probability("a", "b") == pytest.approx(3 / 4)


def test_a_system_that_never_wins_is_named_and_prior_smooths():
    rows = [["a", "b", "a"], ["b", "c", "b"], ["c", "a", "c"], ["d", "a", "a"],
            ["d", "b", "b"]]
    with pytest.raises(LabelquorumError, match=r"\bd never beat any other system.*prior"):
        BradleyTerry().fit(table(rows))
    smoothed = BradleyTerry(prior=1.0).fit_predict(table(rows))
    assert smoothed.idxmin() == "d" and np.isfinite(smoothed).all()


def test_systems_never_compared_are_refused_even_with_a_prior():
    rows = [["a", "b", "a"], ["b", "a", "b"], ["c", "d", "c"], ["d", "c", "d"]]
    with pytest.raises(LabelquorumError, match="2 groups of systems never compared"):
        BradleyTerry(prior=1.0).fit(table(rows))


@pytest.mark.parametrize("rows, message", [
    ([["a", "b", "c"]], "names neither side"),
    ([["a", None, "a"]], "no left or no right"),
])
def test_bad_rows_are_refused_by_name(rows, message):
    with pytest.raises(LabelquorumError, match=message):
        BradleyTerry().fit(table(rows))


def test_missing_columns_and_bad_settings_are_refused():
    with pytest.raises(LabelquorumError, match="right missing"):
        BradleyTerry().fit(pd.DataFrame({"left": ["a"], "label": ["a"]}))
    with pytest.raises(LabelquorumError, match="choose one of half, ignore"):
        BradleyTerry(ties="drop").fit(table([["a", "b", "a"], ["b", "a", "b"]]))
    with pytest.raises(LabelquorumError, match="virtual ties >= 0"):
        BradleyTerry(prior=-1).fit(table([["a", "b", "a"], ["b", "a", "b"]]))


def test_self_comparisons_are_dropped_and_empty_input_is_empty():
    rows = [["a", "b", "a"], ["b", "a", "b"], ["a", "a", "a"]]
    scores = BradleyTerry().fit_predict(table(rows))
    assert scores["a"] == pytest.approx(0.5)
    assert BradleyTerry().fit_predict(table([])).empty


outcomes = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from("lrt")),
                    min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(outcomes, st.randoms(use_true_random=False))
def test_scores_ignore_row_order_and_which_side_a_system_is_on(rows, rnd):
    """With one virtual tie per compared pair (and a chain of ties that connects the four
    systems) the scores always exist; shuffling the rows or swapping left and right in any
    row leaves them unchanged, and they sum to 1."""
    named = [["s0", "s1", None], ["s1", "s2", None], ["s2", "s3", None]]
    named += [[f"s{a}", f"s{b}", {"l": f"s{a}", "r": f"s{b}", "t": None}[w]]
              for a, b, w in rows]
    base = BradleyTerry(prior=1.0).fit_predict(table(named))
    flipped = [[r, l, w] if rnd.random() < 0.5 else [l, r, w] for l, r, w in named]
    rnd.shuffle(flipped)
    other = BradleyTerry(prior=1.0).fit_predict(table(flipped))
    np.testing.assert_allclose(base.to_numpy(), other[base.index].to_numpy(), atol=1e-9)
    assert base.sum() == pytest.approx(1.0)


def test_kendall_tau_compares_shared_systems():
    a = pd.Series({"x": 3.0, "y": 2.0, "z": 1.0, "only_a": 9.0})
    assert kendall_tau(a, pd.Series({"x": 0.5, "y": 0.3, "z": 0.2})) == pytest.approx(1.0)
    assert kendall_tau(a, pd.Series({"x": 0.1, "y": 0.3, "z": 0.6})) == pytest.approx(-1.0)
    assert np.isnan(kendall_tau(a, pd.Series({"x": 1.0})))
