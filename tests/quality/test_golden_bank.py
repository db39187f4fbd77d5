"""The golden bank: only certain items serve, rotation never repeats an item to the same
annotator, and the exposure of items stays balanced."""

from __future__ import annotations

import random
from collections import Counter

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelquorum.errors import QualityError
from labelquorum.quality import GoldenBank, estimate_certainty


def test_only_items_at_or_above_min_certainty_serve():
    bank = GoldenBank({"a": 0.99, "b": 0.9, "c": 0.7, "d": None}, min_certainty=0.9)
    assert bank.serving == ["a", "b"]
    assert set(bank.next_items("ann", [], n=10)) == {"a", "b"}


@settings(max_examples=80, deadline=None)
@given(n_items=st.integers(1, 30), asks=st.lists(st.tuples(st.sampled_from("xyz"),
                                                           st.integers(1, 4)), max_size=40))
def test_rotation_never_repeats_an_item_to_the_same_annotator(n_items, asks):
    bank = GoldenBank({f"g{i}": 0.95 for i in range(n_items)})
    history: dict[str, list[str]] = {}
    served: Counter = Counter()
    for annotator, n in asks:
        seen = history.setdefault(annotator, [])
        picked = bank.next_items(annotator, seen, n=n, served=served)
        assert len(picked) == min(n, n_items - len(seen))
        assert not set(picked) & set(seen) and len(set(picked)) == len(picked)
        seen.extend(picked)
        served.update(picked)


def test_exposure_is_balanced_across_the_bank():
    bank = GoldenBank({f"g{i}": 1.0 for i in range(10)})
    served: Counter = Counter()
    for k in range(30):  # thirty annotators, three golden questions each
        served.update(bank.next_items(f"a{k}", [], n=3, served=served))
    assert max(served.values()) - min(served.values()) <= 1


def test_order_differs_between_annotators_but_is_reproducible():
    bank = GoldenBank({f"g{i}": 1.0 for i in range(50)}, seed=4)
    first = [bank.next_items(f"a{k}", [], n=1)[0] for k in range(20)]
    assert len(set(first)) > 5  # not everyone gets the same first golden question
    assert first == [GoldenBank({f"g{i}": 1.0 for i in range(50)}, seed=4)
                     .next_items(f"a{k}", [], n=1)[0] for k in range(20)]


def test_exhausted_bank_gives_nothing_and_says_how_many_remain():
    bank = GoldenBank({"a": 1.0, "b": 1.0})
    assert bank.remaining("p", ["a"]) == 1
    assert bank.next_items("p", ["a", "b"]) == []
    assert bank.remaining("p", ["a", "b", "zzz"]) == 0


@pytest.mark.parametrize("args, phrase", [
    (({"a": 1.2},), "certainty"),
    (({"a": 0.9}, 1.5), "min_certainty"),
    (("a",), "mapping"),
])
def test_bad_bank_is_a_clear_error(args, phrase):
    with pytest.raises(QualityError, match=phrase):
        GoldenBank(*args)


def test_bad_request_is_a_clear_error():
    with pytest.raises(QualityError, match="n must"):
        GoldenBank({"a": 1.0}).next_items("p", [], n=0)


def test_certainty_is_the_share_of_chosen_annotators_agreeing_with_gold():
    judgements = pd.DataFrame({
        "item": ["g1"] * 4 + ["g2"] * 4 + ["x"],
        "annotator": ["s1", "s2", "s3", "weak"] * 2 + ["s1"],
        "label": ["a", "a", "b", "b", "b", "b", "b", "a", "a"],
    })
    cert = estimate_certainty(judgements, {"g1": "a", "g2": "b"}, annotators=["s1", "s2", "s3"])
    assert cert.to_dict() == pytest.approx({"g1": 2 / 3, "g2": 1.0})
    everyone = estimate_certainty(judgements, {"g1": "a", "g2": "b", "g3": "a"})
    assert everyone["g1"] == 0.5 and pd.isna(everyone["g3"])  # nobody answered g3


def test_bank_takes_a_series_and_random_source():
    bank = GoldenBank(pd.Series({"a": 1.0, "b": 0.95}), min_certainty=0.95)
    assert sorted(bank.next_items("p", [], n=2, rng=random.Random(1))) == ["a", "b"]
