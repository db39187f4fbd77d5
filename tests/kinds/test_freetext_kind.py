"""The free-text kind's rules, without a project: values, consensus, scores, the judge's
parsing and the simulated annotator's mistakes."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelquorum.agreement.text import exact_match
from labelquorum.config import TaskConfig
from labelquorum.errors import LabelquorumError
from labelquorum.kinds.freetext import FREE_TEXT, JUDGE, Answer, Verdict, corrupt
from labelquorum.llm.prompt import InvalidAnswer
from labelquorum.task import Task


def task(**keys) -> Task:
    return Task.from_config(TaskConfig(kind="free-text", guidelines="Answer the question.",
                                       **keys))


JUDGED = task(judge="judge")
UNJUDGED = task()


def test_values_parse_from_text_and_stored_form_and_refuse_empty():
    assert FREE_TEXT.parse(JUDGED, "  Paris ") == "Paris"
    a = FREE_TEXT.from_stored(JUDGED, "Paris", {"text": "Paris", "score": 5, "reason": "right"})
    assert (a, a.score, a.reason) == ("Paris", 5, "right")
    label, value = FREE_TEXT.stored(JUDGED, a)
    assert label == "Paris" and value == {"text": "Paris", "score": 5, "reason": "right"}
    with pytest.raises(LabelquorumError, match="empty"):
        FREE_TEXT.parse(JUDGED, "   ")
    with pytest.raises(LabelquorumError, match="text, not int"):
        FREE_TEXT.parse(JUDGED, 42)


def test_best_scored_answer_wins_and_ties_go_to_the_earlier_answer():
    a, b, c = Answer("Lyon", 2, "wrong"), Answer("Paris", 5, "right"), Answer("paris!", 5, "ok")
    value, conf, agreement = FREE_TEXT.consensus(JUDGED, [a, b, c], None, "q")
    assert value == "Paris" and value.score == 5 and conf == 1.0
    assert agreement == pytest.approx(1 / 3)  # Paris~paris! agree, Lyon agrees with neither


def test_an_item_is_accepted_only_when_its_best_score_reaches_accept_score():
    four = [Answer("Paris", 4, "minor")]
    assert FREE_TEXT.consensus(JUDGED, four, None, "q")[1] == 1.0
    assert FREE_TEXT.consensus(task(judge="judge", accept_score=5), four, None, "q")[1] == 0.0
    # an unjudged answer never wins over a judged one, nor is accepted on its own
    value, conf, _ = FREE_TEXT.consensus(JUDGED, [Answer("Lyon"), Answer("Paris", 3, "")],
                                         None, "q")
    assert value == "Paris" and conf == 0.0
    assert FREE_TEXT.consensus(JUDGED, [Answer("Lyon")], None, "q")[1] == 0.0


def test_without_a_judge_the_medoid_answer_wins_with_the_mean_similarity():
    value, conf, agreement = FREE_TEXT.consensus(
        UNJUDGED, ["the city of Paris", "Paris", "Paris, France"], None, "q")
    assert value == "Paris"
    assert conf == agreement


def test_scores_against_gold():
    truth = ["Paris", "Berlin", "Rome"]
    pred = [Answer("paris.", 5, ""), Answer("Berlin, Germany", 3, ""), Answer("Rome")]
    out = FREE_TEXT.evaluate(JUDGED, truth, pred)
    assert out["exact_match"] == pytest.approx(2 / 3)
    assert out["token_f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert out["judge_mean"] == pytest.approx(4.0) and out["judged"] == 2
    assert FREE_TEXT.correct(JUDGED, "The Paris", "paris") and FREE_TEXT.chance(JUDGED) == 0.0


@pytest.mark.parametrize("content", [
    "not json at all", '{"score": 7, "reason": "great"}', '{"score": "5", "reason": "x"}',
    '{"score": true, "reason": "x"}', '{"score": 4}', '{"score": 4, "reason": "  "}',
    '["score", 4]'])
def test_the_judge_never_reads_a_score_from_garbage(content):
    with pytest.raises(InvalidAnswer):
        JUDGE.llm_parse(None, content)


def test_the_judge_reads_a_valid_verdict_even_inside_other_text():
    got = JUDGE.llm_parse(None, 'Sure: ```json\n{"score": 4.0, "reason": "Minor slip."}\n```')
    assert got[0] == Verdict(4, "Minor slip.")
    schema = JUDGE.llm_schema(None, False)
    assert schema["required"] == ["score", "reason"] and not schema["additionalProperties"]
    assert json.loads(json.dumps(schema))["properties"]["score"]["enum"] == [1, 2, 3, 4, 5]


@given(st.text(alphabet="abcdefg XYZ", min_size=1).filter(str.strip), st.integers(0, 10**6))
def test_a_simulated_mistake_never_matches_the_gold(gold, seed):
    rng = random.Random(seed)
    cache: dict = {}

    def draw(*key):
        return cache.setdefault(key, rng.random())

    assert not exact_match(corrupt(gold, draw), gold)


def test_the_simulated_annotator_is_right_with_probability_p():
    gold = "The capital of France is Paris"
    right = 0
    for i in range(400):
        rng = random.Random(i)
        answer, _ = FREE_TEXT.simulate(JUDGED, gold, 0.7, lambda *k, r=rng: r.random())
        right += exact_match(answer, gold)
    assert 0.6 < right / 400 < 0.8


scored = st.lists(st.tuples(st.sampled_from(["Paris", "Rome", "paris.", "Lyon"]),
                            st.one_of(st.none(), st.integers(1, 5))), min_size=1, max_size=6)


@given(scored, st.integers(1, 5))
def test_consensus_takes_the_first_best_scored_answer(answers, accept):
    values = [Answer(t, s, "r" if s else None) for t, s in answers]
    t = task(judge="judge", accept_score=accept)
    value, conf, agreement = FREE_TEXT.consensus(t, values, None, "q")
    judged = [s for _, s in answers if s is not None]
    assert 0.0 <= agreement <= 1.0
    if not judged:
        assert conf == 0.0  # nothing judged: never accepted
        return
    top = max(judged)
    first = next(i for i, (_, s) in enumerate(answers) if s == top)
    assert value is values[first] or (value == values[first] and value.score == top)
    assert conf == (1.0 if top >= accept else 0.0)
