"""The task-kind contract (labelquorum.kinds): a kind made the short way behaves like its
value type, bad declarations are refused with a sentence, kinds and tasks survive the
trip to a worker process, and the defaults a new value type inherits do what they say."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from labelquorum.kinds import CLASSIFICATION, MULTILABEL, SPANS, ClassKind, TaskKind
from labelquorum.kinds.base import forget_value_type
from labelquorum.llm.prompt import InvalidAnswer, parse_answer, system_message
from labelquorum.task import Task


def task(kind: str, labels=("neg", "pos")) -> Task:
    return Task(kind, tuple(labels), ("",) * len(labels), "", ("text",), "text")


def test_a_kind_made_the_short_way_behaves_like_its_value_type():
    yes_no = TaskKind("yes-no", "class", description="two labels")
    assert isinstance(yes_no, ClassKind) and yes_no.name == "yes-no"
    t = task("classification")
    assert yes_no.parse(t, " pos ") == "pos"
    assert list(yes_no.encode(t, "pos")) == [0.0, 1.0]
    assert yes_no.chance(t) == 0.5


@pytest.mark.parametrize("args, message", [
    (("stars", "ratings"), "value_type 'ratings' is not one of class, labelset, spans"),
    (("stars",), "give its value_type"),
])
def test_a_bad_value_type_is_refused_with_the_valid_ones(args, message):
    with pytest.raises(TypeError, match=message):
        TaskKind(*args)


def test_a_subclass_given_another_value_type_is_refused():
    with pytest.raises(TypeError, match="does not match ClassKind's 'class'"):
        ClassKind("odd", "spans")


@pytest.mark.parametrize("kind", ["classification", "multilabel", "spans"])
def test_a_task_and_its_kind_survive_pickling(kind):
    t = task(kind)
    assert t.strategy.name == kind  # cached on the task
    back = pickle.loads(pickle.dumps(t))
    assert back == t and back.strategy is t.strategy  # found again by name
    assert pickle.loads(pickle.dumps(t.strategy)).value_type == t.value_type


def test_stored_forms_round_trip_for_the_built_in_kinds():
    cases = [(CLASSIFICATION, task("classification"), "pos"),
             (MULTILABEL, task("multilabel", ("a", "b", "c")), ("a", "c")),
             (SPANS, task("spans", ("PER", "LOC")), ((0, 5, "PER"), (9, 14, "LOC")))]
    for kind, t, value in cases:
        label, stored = kind.stored(t, value)
        assert kind.from_stored(t, label, stored) == value
        assert kind.parse(t, kind.format(t, value)) == value
        assert kind.same(t, kind.gold_value(t, pickle.loads(pickle.dumps(stored))
                                            if stored is not None else value), value)


@pytest.fixture
def note_kind():
    class NoteKind(TaskKind, value_type="note"):
        needs_labels = False

        def parse(self, task, raw, text=None):
            return str(raw).strip()

    yield NoteKind("note")
    forget_value_type("note")


def test_default_consensus_is_the_weighted_plurality_of_equal_answers(note_kind):
    t = task("classification")
    value, confidence, agreement = note_kind.consensus(t, ["x", "y", "y"], [3.0, 1.0, 1.0],
                                                       None)
    assert (value, confidence, agreement) == ("x", 0.6, pytest.approx(1 / 3))
    assert note_kind.consensus(t, [], None, None) == (None, 0.0, 0.0)


def test_default_llm_prompt_and_parsing_of_a_new_value_type(note_kind, monkeypatch):
    from labelquorum import plugins

    plugins.register(note_kind)
    try:
        t = task("note")
        assert 'Answer with JSON only: {"value": <the answer>}' in system_message(t, False)
        assert parse_answer(t, '{"value": " fine ", "confidence": 2}') == (
            "fine", 1.0, '{"value": " fine ", "confidence": 2}')
        with pytest.raises(InvalidAnswer, match='no "value"'):
            parse_answer(t, '{"label": "x"}')
    finally:
        plugins.task_kinds.unregister("note")


def test_vector_kinds_spread_a_confidence_over_the_labels():
    t = task("classification", ("a", "b", "c"))
    probs = CLASSIFICATION.probs(t, ["b", None], np.array([0.8, 0.9]))
    assert probs[0] == pytest.approx([0.1, 0.8, 0.1]) and np.isnan(probs[1]).all()
    assert SPANS.probs(task("spans"), [()], np.array([0.5])) is None
