"""Per-item language with py3langid (its model ships in the wheel) and each annotator's
accuracy per language on gold, with Wilson intervals, on a mixed-language fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from labelquorum.errors import MissingExtraError, QualityError
from labelquorum.quality import (
    detect_languages,
    language_accuracy,
    untrusted_languages,
    wilson_interval,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mixed_languages.csv"


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


def test_each_sentence_gets_its_language(mixed):
    found = detect_languages(mixed["text"].tolist(), ids=mixed["id"].tolist())
    assert list(found.index) == mixed["id"].tolist()
    assert (found["language"].to_numpy() == mixed["language"].to_numpy()).mean() >= 0.95
    assert found["confidence"].between(0, 1).all()


def test_restricting_the_candidates_and_abstaining_on_text_without_language(mixed):
    texts = mixed["text"].tolist() + ["", "   ", "12345 678"]
    found = detect_languages(texts, languages=["en", "fr", "de", "es"])
    assert found["language"].iloc[:40].tolist() == mixed["language"].tolist()
    assert found["language"].iloc[40:].isna().all()  # no language to speak of


def judgements_for(mixed: pd.DataFrame) -> pd.DataFrame:
    """A model right everywhere but on German, where it is always wrong; a person right
    everywhere."""
    flip = {"positive": "negative", "negative": "positive"}
    rows = []
    for item, lang, gold in zip(mixed["id"], mixed["language"], mixed["label"]):
        rows.append((item, "llm", flip[gold] if lang == "de" else gold))
        rows.append((item, "people:ana", gold))
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


def test_accuracy_per_annotator_and_language_with_wilson_intervals(mixed):
    table = language_accuracy(judgements_for(mixed), dict(zip(mixed["id"], mixed["label"])),
                              dict(zip(mixed["id"], mixed["language"])))
    assert set(table.index.get_level_values("language")) == {"en", "fr", "de", "es"}
    german = table.loc[("llm", "de")]
    assert german["n"] == 10 and german["correct"] == 0 and german["accuracy"] == 0.0
    assert (german["low"], german["high"]) == pytest.approx(wilson_interval(0, 10))
    assert table.loc[("llm", "en"), "accuracy"] == 1.0
    assert (table.xs("people:ana", level="annotator")["accuracy"] == 1.0).all()


def test_languages_where_an_annotator_is_not_to_be_trusted(mixed):
    table = language_accuracy(judgements_for(mixed), dict(zip(mixed["id"], mixed["label"])),
                              dict(zip(mixed["id"], mixed["language"])))
    weak = untrusted_languages(table, min_accuracy=0.8)
    assert weak == {"llm": ["de"]}
    # too few answers to be sure is not the same as weak
    assert untrusted_languages(table, min_accuracy=0.8, min_answers=11) == {}


def test_items_without_a_language_count_under_und(mixed):
    langs = dict(zip(mixed["id"], mixed["language"]))
    langs["en1"] = None
    table = language_accuracy(judgements_for(mixed), dict(zip(mixed["id"], mixed["label"])),
                              langs)
    assert table.loc[("llm", "und"), "n"] == 1


def test_bad_input_is_a_clear_error(mixed):
    with pytest.raises(QualityError, match="xx"):
        detect_languages(["hello"], languages=["en", "xx"])
    with pytest.raises(QualityError, match="min_confidence"):
        detect_languages(["hello"], min_confidence=2)
    with pytest.raises(QualityError, match="ids"):
        detect_languages(["a", "b"], ids=["only one"])
    with pytest.raises(QualityError, match="label"):
        language_accuracy(pd.DataFrame({"item": [1]}), {}, {})


def test_missing_py3langid_names_the_extra(monkeypatch):
    # unit test of the import guard: py3langid made unimportable, the cached model dropped
    from labelquorum.quality import language

    monkeypatch.setitem(sys.modules, "py3langid", None)
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    monkeypatch.setattr(language, "_IDENTIFIER", None)
    with pytest.raises(MissingExtraError, match=r"labelquorum\[quality\]"):
        detect_languages(["hello"])
