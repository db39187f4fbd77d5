"""The free-text kind's similarity measure: SQuAD-style token F1 after normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelquorum.agreement.text import exact_match, mean_pairwise_f1, normalize, token_f1


def test_normalisation_is_the_stated_one():
    # lower case, punctuation (any script's) removed, English articles dropped, spaces collapsed
    assert normalize("  The Eiffel-Tower, in PARIS!  ") == "eiffeltower in paris"
    assert normalize("«Ça va?» — oui.") == "ça va oui"
    assert normalize("An apple a day") == "apple day"
    assert normalize("ＡＢＣ") == "abc"  # full-width letters fold (NFKC)
    assert normalize("a\U00016a6eb \U00011047x 𝄞") == "ab x 𝄞"  # punctuation past the BMP too


def test_token_f1_counts_shared_tokens_with_multiplicity():
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(2 * (2 / 2) * (2 / 3) / (2 / 2 + 2 / 3))
    assert token_f1("yes yes no", "yes no no") == pytest.approx(2 / 3)
    assert token_f1("Paris", "paris.") == 1.0
    assert token_f1("Paris", "London") == 0.0


def test_empty_answers():
    # two answers that normalise to nothing agree; one empty and one not share nothing
    assert token_f1("", "The.") == 1.0
    assert token_f1("", "Paris") == 0.0


def test_exact_match_after_normalisation():
    assert exact_match("The answer: 42.", "answer 42")
    assert not exact_match("42", "forty-two")


def test_mean_pairwise_f1():
    assert mean_pairwise_f1(["paris", "Paris.", "london"]) == pytest.approx((1 + 0 + 0) / 3)
    assert mean_pairwise_f1(["only one"]) == 1.0
    assert mean_pairwise_f1([]) == 1.0


words = st.lists(st.sampled_from(["the", "cat", "Sat", "on", "mat", "é", "a", "dog", "!"]),
                 max_size=8).map(" ".join)


@given(words, words)
def test_f1_is_symmetric_and_bounded(a, b):
    f = token_f1(a, b)
    assert 0.0 <= f <= 1.0
    assert f == pytest.approx(token_f1(b, a))


@given(words)
def test_an_answer_matches_itself(a):
    assert token_f1(a, a) == 1.0
    assert exact_match(a, a.upper() + " .")


@given(words, words)
def test_exact_match_implies_full_f1(a, b):
    if exact_match(a, b):
        assert token_f1(a, b) == 1.0
