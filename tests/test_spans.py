"""Spans: aligning LLM entities to offsets, the token vote, entity-level scores, span values."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelquorum.aggregation import TokenVoteSpans
from labelquorum.errors import LabelquorumError
from labelquorum.spans import (
    align_entities,
    align_typed_entities,
    canonical,
    entity_scores,
    parse_spans,
    spans_to_tags,
    tags_to_spans,
    to_text,
    tokenize,
    vote_spans,
)

TYPES = ("PER", "ORG", "LOC", "MISC")


# -- alignment ----------------------------------------------------------------------------
def test_align_single_mention_tags_every_occurrence():
    text = "Paris is big. Paris is old."
    spans, rejected = align_entities(text, [("Paris", "LOC")])
    assert spans == [(0, 5, "LOC"), (14, 19, "LOC")]
    assert rejected == []


def test_align_repeated_mentions_map_to_successive_occurrences():
    text = "Paris, Paris and Paris."
    spans, rejected = align_entities(text, [("Paris", "LOC"), ("Paris", "LOC")])
    assert spans == [(0, 5, "LOC"), (7, 12, "LOC")]
    assert rejected == []
    # listed more often than it occurs: the extra listing is rejected
    spans, rejected = align_entities("Paris and Rome.", [("Paris", "LOC")] * 2)
    assert spans == [(0, 5, "LOC")]
    assert rejected == [("Paris", "LOC")]


def test_align_ignores_case_and_whitespace():
    text = "We flew to NEW   york\nCity last week."
    spans, rejected = align_entities(text, [(" new york city ", "LOC")])
    assert spans == [(11, 26, "LOC")]
    assert text[11:26] == "NEW   york\nCity"
    assert rejected == []


def test_align_matches_case_insensitively_beyond_ascii():
    text = "Sie wohnt in der GROSSEN Straße in München."
    spans, rejected = align_entities(text, [("straße", "LOC"), ("münchen", "LOC")])
    assert [text[s:e] for s, e, _ in spans] == ["Straße", "München"]
    assert rejected == []


def test_align_needs_word_boundaries_and_rejects_what_is_not_there():
    text = "A Parisian cafe in Berlin."
    spans, rejected = align_entities(text, [("Paris", "LOC"), ("Berlin", "LOC"),
                                            ("Madrid", "LOC"), ("", "LOC"), ("Rome", "")])
    assert spans == [(19, 25, "LOC")]
    assert sorted(rejected) == sorted([("Paris", "LOC"), ("Madrid", "LOC"), ("", "LOC"),
                                       ("Rome", "")])


def test_align_prefers_longer_entities_and_never_overlaps():
    text = "New York is not York."
    spans, rejected = align_entities(text, [("York", "LOC"), ("New York", "LOC")])
    assert spans == [(0, 8, "LOC"), (16, 20, "LOC")]
    assert rejected == []
    # the same surface under two types: the first placed takes the occurrences
    spans, rejected = align_entities("Jordan visited Jordan.", [("Jordan", "PER"),
                                                               ("Jordan", "LOC")])
    assert spans == [(0, 6, "PER"), (15, 21, "PER")]
    assert rejected == [("Jordan", "LOC")]


def test_align_handles_punctuation_in_entities():
    text = "She works at Apple Inc. in the U.S. today."
    spans, rejected = align_entities(text, [("Apple Inc.", "ORG"), ("U.S.", "LOC")])
    assert [text[s:e] for s, e, _ in spans] == ["Apple Inc.", "U.S."]
    assert rejected == []


def test_align_typed_entities_rejects_unknown_types_only():
    spans, rejected = align_typed_entities("Ann met Bo in Rome.", [
        ("Ann", "PER"), ("Bo", "PERSON"), ("Rome", "LOC"), ("Oslo", "LOC")], TYPES)
    assert spans == [(0, 3, "PER"), (14, 18, "LOC")]
    assert rejected == [("Bo", "PERSON"), ("Oslo", "LOC")]


# -- values -------------------------------------------------------------------------------
def test_span_values_are_canonical_json():
    spans = parse_spans('[{"start": 6, "end": 11, "label": "LOC"}, [0, 5, "PER"], [0, 5, "PER"]]',
                        TYPES, "Alice Paris")
    assert spans == ((0, 5, "PER"), (6, 11, "LOC"))
    assert to_text(spans) == '[[0,5,"PER"],[6,11,"LOC"]]'
    assert parse_spans(to_text(spans), TYPES) == spans
    assert parse_spans("[]", TYPES) == ()


@pytest.mark.parametrize("raw, message", [
    ('[{"start": 0, "end": 50, "label": "PER"}]', "past the end of the text"),
    ('[{"start": 3, "end": 3, "label": "PER"}]', "not a non-empty range"),
    ('[{"start": 0, "end": 5, "label": "DATE"}]', "'DATE' is not in the task's label set"),
    ('[{"start": 0, "end": 5}]', "has no label"),
    ('[{"start": "a", "end": 5, "label": "PER"}]', "whole numbers"),
    ('[{"start": 0, "end": 5, "label": "PER", "text": "Bob"}]', "does not match"),
    ('[[0, 5]]', "expected an object with start, end and label"),
    ('{"start": 0}', "must be a list of entities"),
    ('[{"start": 0,', "not valid JSON"),
])
def test_bad_spans_say_what_is_wrong(raw, message):
    with pytest.raises(LabelquorumError, match=message):
        parse_spans(raw, TYPES, "Alice Paris")


# -- token vote ---------------------------------------------------------------------------
TEXT = "Barack Obama met Angela Merkel in Berlin."
A = [(0, 12, "PER"), (17, 30, "PER"), (34, 40, "LOC")]
B = [(0, 6, "PER"), (7, 12, "PER"), (34, 40, "LOC")]
C = [(0, 12, "PER"), (34, 40, "ORG")]


def test_tokenizer_splits_words_and_punctuation():
    text = "U.S. troops, 2 days"
    assert [text[s:e] for s, e in tokenize(text)] == ["U", ".", "S", ".", "troops", ",", "2",
                                                       "days"]


def test_token_vote_majority_per_token():
    spans, confidence, agreement = vote_spans(TEXT, [A, B, C])
    # Barack: B-PER x3; Obama: I-PER x2 vs B-PER; Angela Merkel: PER once, O twice;
    # Berlin: LOC x2 vs ORG
    assert spans == ((0, 12, "PER"), (34, 40, "LOC"))
    assert agreement == 0.0  # no annotator said exactly this
    # tagged tokens: Barack 1, Obama 2/3, Angela 2/3, Merkel 2/3, Berlin 2/3
    assert confidence == pytest.approx((1 + 4 * 2 / 3) / 5)


def test_token_vote_unanimous_and_empty():
    assert vote_spans(TEXT, [A, A]) == (canonical(A), 1.0, 1.0)
    assert vote_spans(TEXT, [[], []]) == ((), 1.0, 1.0)
    assert vote_spans(TEXT, []) == ((), 0.0, 0.0)


def test_token_vote_keeps_adjacent_entities_apart():
    # "Barack" and "Obama" as two people by two annotators of three
    spans, _, agreement = vote_spans(TEXT, [B, B, A])
    assert spans == canonical(B)
    assert agreement == pytest.approx(2 / 3)


def test_token_vote_weights_skill():
    spans, _, _ = vote_spans(TEXT, [A, C], weights=[1.0, 3.0])
    assert spans == ((0, 12, "PER"), (34, 40, "ORG"))
    spans, _, _ = vote_spans(TEXT, [A, C], weights=[3.0, 1.0])
    assert spans == canonical(A)


def test_token_vote_tie_prefers_no_entity_whatever_the_order():
    one, _, _ = vote_spans(TEXT, [A, []])
    two, _, _ = vote_spans(TEXT, [[], A])
    assert one == two == ()


def test_broken_bio_sequences_are_repaired():
    tokens = tokenize("a b c d")
    assert tags_to_spans(tokens, ["I-PER", "I-PER", "O", "I-LOC"]) == (
        (0, 3, "PER"), (6, 7, "LOC"))
    assert tags_to_spans(tokens, ["B-PER", "I-LOC", "O", "O"]) == (
        (0, 1, "PER"), (2, 3, "LOC"))


def test_token_vote_estimator():
    rows = [("s1", "a", A), ("s1", "b", B), ("s1", "c", to_text(C)),
            ("s2", "a", []), ("s2", "b", "[]"), ("s2", "c", None)]
    table = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    texts = {"s1": TEXT, "s2": "Nothing to see."}
    model = TokenVoteSpans(labels=list(TYPES))
    assert model.fit(table, texts) is model
    assert model.labels_["s1"] == ((0, 12, "PER"), (34, 40, "LOC"))
    assert model.labels_["s2"] == ()
    assert model.agreement_["s2"] == 1.0
    # against the consensus (Obama PER, Berlin LOC): a gets 2 of its 3, b 1 of 3, c 1 of 2
    assert model.skills_.to_dict() == pytest.approx({"a": 0.8, "b": 0.4, "c": 0.5})
    weighted = TokenVoteSpans(weights={"c": 5.0}).fit(table, texts)
    assert weighted.labels_["s1"] == canonical(C)
    # refit on shuffled rows gives the same result
    again = TokenVoteSpans(labels=list(TYPES)).fit(table.sample(frac=1, random_state=1), texts)
    assert again.labels_.sort_index().tolist() == model.labels_.sort_index().tolist()


def test_token_vote_estimator_errors():
    table = pd.DataFrame([("s1", "a", [(0, 99, "PER")])], columns=["item", "annotator", "label"])
    with pytest.raises(LabelquorumError, match="item 's1', annotator 'a'.*past the end"):
        TokenVoteSpans().fit(table, {"s1": TEXT})
    with pytest.raises(LabelquorumError, match="has judgements but no text"):
        TokenVoteSpans().fit(table, {})
    with pytest.raises(LabelquorumError, match="not in the task's label set"):
        TokenVoteSpans(labels=["LOC", "ORG"]).fit(
            pd.DataFrame([("s1", "a", [(0, 6, "PER")])], columns=["item", "annotator", "label"]),
            {"s1": TEXT})


# -- scores -------------------------------------------------------------------------------
def test_entity_scores_hand_computed():
    gold = [A, [(0, 5, "ORG")]]
    pred = [C, [(0, 5, "ORG"), (6, 9, "LOC")]]
    scores = entity_scores(gold, pred)
    # PER: gold 2 (Obama, Merkel), predicted 1 (Obama), tp 1
    assert scores.loc["PER", ["tp", "predicted", "gold"]].tolist() == [1, 1, 2]
    assert scores.loc["PER", "precision"] == 1.0
    assert scores.loc["PER", "recall"] == 0.5
    assert scores.loc["PER", "f1"] == pytest.approx(2 / 3)
    # LOC: gold Berlin, predicted the LOC in item 2 only (Berlin was said as ORG)
    assert scores.loc["LOC", ["tp", "predicted", "gold", "f1"]].tolist() == [0, 1, 1, 0.0]
    # ORG: gold 1, predicted 2 (Berlin as ORG wrong, item 2 right)
    assert scores.loc["ORG", "precision"] == 0.5
    assert scores.loc["ORG", "recall"] == 1.0
    # micro: tp 2, predicted 4, gold 4
    assert scores.loc["micro", ["precision", "recall", "f1"]].tolist() == [0.5, 0.5, 0.5]
    assert scores.loc["macro", "recall"] == pytest.approx((0.5 + 0 + 1) / 3)


def test_entity_scores_restricted_types_and_empty():
    scores = entity_scores([A], [C], types=["PER"])
    assert list(scores.index) == ["PER", "micro", "macro"]
    assert scores.loc["micro", "gold"] == 2
    empty = entity_scores([[]], [[]], types=["PER"])
    assert empty.loc["micro", ["precision", "recall", "f1"]].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(LabelquorumError, match="one span list per item"):
        entity_scores([A], [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), min_size=1,
                max_size=12),
       st.lists(st.sampled_from(["Ann", "met", "Bo", ",", "in", "Rome", "."]), min_size=12,
                max_size=12))
def test_bio_round_trip_and_unanimous_vote(tags, words):
    text = " ".join(words[:len(tags)])
    tokens = tokenize(text)
    spans = tags_to_spans(tokens, tags)
    # spans -> tags -> spans is the identity on token-aligned spans
    assert tags_to_spans(tokens, spans_to_tags(tokens, spans)) == spans
    # everyone saying the same thing is the consensus, with full agreement
    assert vote_spans(text, [spans, spans, spans]) == (spans, 1.0, 1.0)
