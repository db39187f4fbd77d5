"""The alternative annotator test (Calderon et al. 2025): can an LLM replace the people?
Synthetic crowds where the answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from labelquorum.errors import QualityError
from labelquorum.quality import alt_test
from labelquorum.quality.alt_test import benjamini_yekutieli

LABELS = ["a", "b", "c", "d"]


def crowd(rng, n_items=100, human_acc=(0.75, 0.75, 0.75, 0.75, 0.75), llm_acc=0.9,
          llm="gpt"):
    truth = rng.integers(0, len(LABELS), n_items)

    def answer(acc):
        wrong = (truth + rng.integers(1, len(LABELS), n_items)) % len(LABELS)
        return np.where(rng.random(n_items) < acc, truth, wrong)

    rows = []
    for k, acc in enumerate(human_acc):
        rows += [(f"i{i}", f"h{k}", LABELS[v]) for i, v in enumerate(answer(acc))]
    rows += [(f"i{i}", llm, LABELS[v]) for i, v in enumerate(answer(llm_acc))]
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


def test_an_llm_better_than_every_person_passes_with_full_winning_rate():
    result = alt_test(crowd(np.random.default_rng(0), llm_acc=0.97), llm="gpt")
    assert result.passed and result.winning_rate == 1.0
    assert list(result.per_person.index) == ["h0", "h1", "h2", "h3", "h4"]
    assert (result.per_person["rho_llm"] > result.per_person["rho_human"]).all()
    assert "can replace" in result.verdict and result.verdict.endswith(".")


def test_a_guessing_llm_fails():
    result = alt_test(crowd(np.random.default_rng(1), llm_acc=0.25), llm="gpt")
    assert not result.passed and result.winning_rate == 0.0
    assert result.advantage_probability < 0.5
    assert "cannot replace" in result.verdict


def test_epsilon_is_the_cost_benefit_margin():
    # an LLM a little worse than the people: it fails with no margin, passes with the
    # margin the paper suggests for expert annotators
    data = crowd(np.random.default_rng(2), n_items=200, llm_acc=0.68)
    assert not alt_test(data, llm="gpt", epsilon=0.0).passed
    assert alt_test(data, llm="gpt", epsilon=0.2).passed


def test_winning_rate_counts_the_people_beaten_after_correction():
    # three careless people (the LLM beats them) and three careful ones (it does not)
    data = crowd(np.random.default_rng(3), n_items=150, llm_acc=0.8,
                 human_acc=(0.45, 0.45, 0.45, 0.97, 0.97, 0.97))
    result = alt_test(data, llm="gpt", epsilon=0.0)
    wins = result.per_person["wins"]
    assert wins[["h0", "h1", "h2"]].all() and not wins[["h3", "h4", "h5"]].any()
    assert result.winning_rate == 0.5 and result.passed  # ω >= 0.5 passes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.floats(0.01, 0.2))
def test_benjamini_yekutieli_rejects_what_the_adjusted_p_values_reject(pvalues, alpha):
    rejected = benjamini_yekutieli(np.array(pvalues), alpha)
    adjusted = false_discovery_control(np.array(pvalues), method="by")
    assert rejected.tolist() == (adjusted <= alpha).tolist()


def test_ratings_use_negative_rmse_alignment():
    rng = np.random.default_rng(4)
    truth = rng.uniform(1, 5, 80)
    rows = []
    for k in range(4):
        rows += [(i, f"h{k}", t + rng.normal(0, 1.0)) for i, t in enumerate(truth)]
    rows += [(i, "judge", t + rng.normal(0, 0.2)) for i, t in enumerate(truth)]
    data = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    assert alt_test(data, llm="judge", metric="neg_rmse").passed
    noisy = data.assign(label=np.where(data.annotator == "judge",
                                       rng.uniform(1, 5, len(data)), data.label))
    assert not alt_test(noisy, llm="judge", metric="neg_rmse").passed


def test_items_without_the_llm_or_other_people_are_left_out():
    data = crowd(np.random.default_rng(5), n_items=60)
    extra = pd.DataFrame([("lonely", "h0", "a"), ("nollm", "h0", "a"), ("nollm", "h1", "b")],
                         columns=["item", "annotator", "label"])
    result = alt_test(pd.concat([data, extra]), llm="gpt")
    assert result.per_person.loc["h0", "n_items"] == 60


@pytest.mark.parametrize("change, kwargs, phrase", [
    (lambda d: d[d.annotator.isin(["h0", "gpt"])], {}, "two people"),
    (lambda d: d, {"llm": "claude"}, "claude"),
    (lambda d: d, {"epsilon": 1.5}, "epsilon"),
    (lambda d: d, {"alpha": 0}, "alpha"),
    (lambda d: d, {"metric": "f1"}, "metric"),
    (lambda d: d.drop(columns="label"), {}, "label"),
])
def test_bad_input_is_a_clear_error(change, kwargs, phrase):
    data = change(crowd(np.random.default_rng(6), n_items=40))
    with pytest.raises(QualityError, match=phrase):
        alt_test(data, **{"llm": "gpt", **kwargs})
