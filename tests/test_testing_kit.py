"""The conformance kit: every built-in annotator passes it, and broken toy backends fail it."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from pydantic import BaseModel

from labelquorum.annotators import Annotator, Answers, Context, Items, build_annotator
from labelquorum.annotators.base import spread_confidence
from labelquorum.config import (
    EmbeddingConfig,
    HumanConfig,
    ReplayConfig,
    Rule,
    RulesConfig,
    SimulatedConfig,
    TaskConfig,
    TfidfConfig,
    VaderConfig,
)
from labelquorum.task import Task
from labelquorum.testing import (
    ConformanceError,
    check_annotator,
    check_annotator_factory,
    check_batching_invariance,
    check_order_invariance,
)

SEED = 7
SENTIMENT = ("negative", "neutral", "positive")
TOPICS = ("food", "service", "price")
WORDS = {
    "positive": ["wonderful", "great", "excellent", "delightful", "superb", "lovely"],
    "negative": ["terrible", "awful", "horrible", "dreadful", "boring", "bad"],
    "neutral": ["on tuesday", "in the city", "at noon", "printed", "blue", "ordered"],
}
SUBJECTS = ["the film", "this book", "the service", "our trip", "the meal", "the hotel"]
CLAUSES = {
    "food": ["the pasta was salty", "the soup tasted of garlic", "dessert came with cream"],
    "service": ["the waiter was rude", "staff smiled at us", "nobody took our order"],
    "price": ["the bill was high", "it costs ten euros", "prices are fair"],
}


def sentiment(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    labels = [SENTIMENT[i % 3] for i in range(n)]
    return [f"{rng.choice(SUBJECTS)} was {rng.choice(WORDS[lab])} ." for lab in labels], labels


def topics(n: int, seed: int) -> tuple[list[str], list[tuple[str, ...]]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        chosen = tuple(t for t in TOPICS if rng.random() < 0.5)
        clauses = [rng.choice(CLAUSES[t]) for t in chosen] or ["we went there on a tuesday"]
        texts.append(" and ".join(clauses) + " .")
        labels.append(chosen)
    return texts, labels


def as_items(texts: list[str], prefix: str = "i") -> Items:
    return Items([f"{prefix}{k}" for k in range(len(texts))], [{"text": t} for t in texts])


def task_of(kind: str) -> Task:
    labels = SENTIMENT if kind == "classification" else TOPICS
    return Task.from_config(TaskConfig(kind=kind, labels=list(labels)))


def write_replay(tmp_path, ids: list[str], gold: list) -> str:
    """A recording covering most items, with confidences, one unknown label and a mapped one."""
    rows = ["item,annotator,label,confidence"]
    for k, (item, label) in enumerate(zip(ids, gold)):
        if k % 7 == 6:
            continue  # no row: abstains
        text = "|".join(label) if isinstance(label, tuple) else label
        if k % 11 == 3:
            text = "not-a-label"  # reaches the kit as a failed answer
        elif k % 5 == 0 and text == "positive":
            text = "POS"  # mapped by label_map
        rows.append(f"{item},recorder,{text},{'' if k % 4 == 0 else 0.5 + (k % 5) / 10}")
    (tmp_path / "recorded.csv").write_text("\n".join(rows) + "\n")
    return "recorded.csv"


def built_in_cases():
    """(name, task kind, config factory(tmp_path, item ids, gold)) for each built-in."""
    sim = {"type": "simulated"}
    confusion_cls = {"negative": {"negative": 7, "neutral": 2, "positive": 1},
                     "positive": {"positive": 0.9, "neutral": 0.1}}
    confusion_ml = {"food": {"food": 0.8, "price": 0.2}, "service": {"service": 0.6, "food": 0.4}}
    cases = [
        ("tfidf", "classification", lambda *a: TfidfConfig(type="tfidf", min_train=6)),
        ("tfidf-isotonic", "classification",
         lambda *a: TfidfConfig(type="tfidf", calibration="isotonic", batch_size=5)),
        ("tfidf-uncalibrated", "classification",
         lambda *a: TfidfConfig(type="tfidf", calibration="none", ngram_max=1)),
        ("vader", "classification", lambda *a: VaderConfig(type="vader", ranges={
            "negative": (-1.0, -0.05), "neutral": (-0.05, 0.05), "positive": (0.05, 1.0)})),
        ("vader-partial-ranges", "classification", lambda *a: VaderConfig(type="vader")),
        ("rules", "classification", lambda *a: RulesConfig(type="rules", rules=[
            Rule(label="positive", keywords=WORDS["positive"]),
            Rule(label="negative", keywords=WORDS["negative"][:3]),
            Rule(label="negative", pattern=r"\b(bor|dread)\w*")])),
        ("replay", "classification", lambda tmp, ids, gold: ReplayConfig(
            type="replay", path=write_replay(tmp, ids, gold), annotator="recorder",
            label_map={"POS": "positive"}, cost_per_call=0.002)),
        ("simulated-accuracy", "classification",
         lambda *a: SimulatedConfig(**sim, accuracy=0.7, accuracy_hard=0.4)),
        ("simulated-confusion", "classification",
         lambda *a: SimulatedConfig(**sim, confusion=confusion_cls, stands_for="human")),
        ("simulated-latency", "classification",
         lambda *a: SimulatedConfig(**sim, accuracy=0.8, latency=0.002, cost_per_call=0.01)),
        ("human", "classification", lambda *a: HumanConfig(type="human")),
        ("embedding", "classification", lambda *a: EmbeddingConfig(type="embedding", min_train=6)),
        ("tfidf", "multilabel", lambda *a: TfidfConfig(type="tfidf", min_train=6)),
        ("rules", "multilabel", lambda *a: RulesConfig(type="rules", rules=[
            Rule(label="food", keywords=["pasta", "soup", "dessert"]),
            Rule(label="service", pattern=r"waiter|staff|order"),
            Rule(label="price", keywords=["bill", "costs", "prices"])])),
        ("replay", "multilabel", lambda tmp, ids, gold: ReplayConfig(
            type="replay", path=write_replay(tmp, ids, gold), annotator="recorder")),
        ("simulated-accuracy", "multilabel", lambda *a: SimulatedConfig(**sim, accuracy=0.75)),
        ("simulated-confusion", "multilabel",
         lambda *a: SimulatedConfig(**sim, confusion=confusion_ml)),
        ("simulated-latency", "multilabel",
         lambda *a: SimulatedConfig(**sim, accuracy=0.9, latency=0.002)),
        ("embedding", "multilabel", lambda *a: EmbeddingConfig(type="embedding", min_train=6)),
    ]
    return [pytest.param(name, kind, make, id=f"{name}-{kind}") for name, kind, make in cases]


@pytest.mark.parametrize("name, kind, make_config", built_in_cases())
def test_every_built_in_annotator_passes_the_kit(tmp_path, name, kind, make_config):
    if name == "embedding":
        embedder = pytest.importorskip("labelquorum.annotators.embedder")
        if not embedder.available_backends():
            pytest.skip("no embedding backend installed (the 'ml' extra)")
    data = sentiment if kind == "classification" else topics
    train_texts, train_labels = data(45, seed=1)
    texts, gold = data(24, seed=2)
    texts.append("the quarterly report lists revenue by region .")  # no cue at all
    gold.append(gold[0])
    items = as_items(texts)
    gold_by_id = dict(zip(items.ids[:-2], gold))  # the last two have no gold: simulated abstains
    config = make_config(tmp_path, items.ids, gold)
    task = task_of(kind)

    def make() -> Annotator:
        return build_annotator("probe", config, task, Context(tmp_path, SEED), gold=gold_by_id)

    fit_data = (train_texts, train_labels) if make().trainable else None
    check_annotator_factory(make, items, fit_data=fit_data)


def test_an_unfitted_trainable_annotator_passes_by_abstaining(tmp_path):
    task = task_of("classification")
    annotator = build_annotator("probe", TfidfConfig(type="tfidf"), task, Context(tmp_path))
    items = as_items(sentiment(6, seed=3)[0])
    check_annotator(annotator, items)
    assert set(annotator.annotate(items).status) == {"abstain"}


# -- broken toy backends: the kit must catch each ---------------------------------------


class ToyConfig(BaseModel):
    type: str = "toy"
    cost_per_call: float = 0.0
    batch_size: int = 256
    concurrency: int = 4
    label_map: dict[str, str] = {}


class ToyBackend(Annotator):
    """A conforming toy: the label follows the text's length."""

    def label_for(self, text: str) -> str:
        return self.task.labels[len(text) % len(self.task.labels)]

    def predict(self, items: Items) -> Answers:
        labels = [self.label_for(t) for t in items.texts]
        confidence = np.full(len(items), 0.6)
        return Answers(labels=labels, confidence=confidence,
                       probs=spread_confidence(labels, confidence, self.task))


class BrokenWrongCount(ToyBackend):
    def predict(self, items):
        answers = super().predict(items)
        answers.labels = answers.labels[:-1] if len(items) > 1 else answers.labels
        return answers


class BrokenNonDeterministic(ToyBackend):
    calls = itertools.count()

    def predict(self, items):
        shift = next(self.calls)
        return Answers(labels=[self.task.labels[(len(t) + shift) % 3] for t in items.texts])


class BrokenNegativeCost(ToyBackend):
    def predict(self, items):
        answers = super().predict(items)
        answers.cost = np.full(len(items), -0.01)
        return answers


class BrokenProbabilitiesNotSummingToOne(ToyBackend):
    def predict(self, items):
        answers = super().predict(items)
        answers.probs = np.full((len(items), len(self.task.labels)), 0.6)
        return answers


class BrokenConfidenceAboveOne(ToyBackend):
    def predict(self, items):
        answers = super().predict(items)
        answers.confidence = np.full(len(items), 1.5)
        return answers


class BrokenAnswersByPosition(ToyBackend):
    def predict(self, items):
        return Answers(labels=[self.task.labels[i % 3] for i in range(len(items))])


class BrokenBatchDependent(ToyBackend):
    def predict(self, items):
        return Answers(labels=[self.task.labels[len(items) % 3]] * len(items))


class BrokenSkipsLabelValidation(ToyBackend):
    def finish(self, answers, n):
        answers = super().finish(answers, n)
        answers.labels = ["not-a-label"] * n
        answers.status = ["ok"] * n
        return answers


class BrokenStatus(ToyBackend):
    def finish(self, answers, n):
        answers = super().finish(answers, n)
        answers.status = ["done"] * n
        return answers


class BrokenRaises(ToyBackend):
    def predict(self, items):
        raise RuntimeError("model file went missing")


class BrokenDiffersPerInstance(ToyBackend):
    instances = itertools.count()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shift = next(self.instances)

    def predict(self, items):
        return Answers(labels=[self.task.labels[(len(t) + self.shift) % 3] for t in items.texts])


class BrokenFitReturnsNone(ToyBackend):
    trainable = True

    def fit(self, texts, labels):
        self.fitted_ = True


class ToyOutsideLabelSet(ToyBackend):
    """Returns a label outside the set; the base turns it into a failed answer."""

    def predict(self, items):
        return Answers(labels=["sarcastic"] * len(items))


def toy(cls, tmp_path, **config) -> Annotator:
    return cls("toy", ToyConfig(**config), task_of("classification"), Context(tmp_path, SEED))


@pytest.fixture
def items():
    return as_items(sentiment(12, seed=4)[0])


def test_a_conforming_toy_backend_passes(tmp_path, items):
    check_annotator_factory(lambda: toy(ToyBackend, tmp_path, batch_size=5), items)


def test_a_label_outside_the_set_reaches_the_kit_as_a_failed_answer(tmp_path, items):
    annotator = toy(ToyOutsideLabelSet, tmp_path)
    check_annotator(annotator, items)
    answers = annotator.annotate(items)
    assert set(answers.status) == {"failed"} and set(answers.labels) == {None}


@pytest.mark.parametrize("cls, check", [
    (BrokenWrongCount, "answer_count"),
    (BrokenNonDeterministic, "repeatable"),
    (BrokenNegativeCost, "costs"),
    (BrokenProbabilitiesNotSummingToOne, "probabilities"),
    (BrokenConfidenceAboveOne, "confidence"),
    (BrokenAnswersByPosition, "order_invariance"),
    (BrokenBatchDependent, "batching_invariance"),
    (BrokenSkipsLabelValidation, "labels_in_label_set"),
    (BrokenStatus, "status"),
    (BrokenRaises, "answer_count"),
], ids=lambda v: v.__name__ if isinstance(v, type) else v)
def test_the_kit_fails_a_broken_backend_naming_the_check(tmp_path, items, cls, check):
    with pytest.raises(ConformanceError) as caught:
        check_annotator(toy(cls, tmp_path), items)
    assert caught.value.check == check
    assert repr(check) in str(caught.value)


@pytest.mark.parametrize("cls", [BrokenNegativeCost, BrokenProbabilitiesNotSummingToOne,
                                 BrokenConfidenceAboveOne, BrokenSkipsLabelValidation])
def test_a_failure_names_the_offending_item(tmp_path, items, cls):
    with pytest.raises(ConformanceError) as caught:
        check_annotator(toy(cls, tmp_path), items)
    assert caught.value.item == items.ids[0]
    assert f"on item {items.ids[0]!r}" in str(caught.value)


def test_a_raising_backend_is_reported_with_its_error(tmp_path, items):
    with pytest.raises(ConformanceError, match="RuntimeError: model file went missing"):
        check_annotator(toy(BrokenRaises, tmp_path), items)


def test_fresh_instances_that_disagree_fail_the_factory_check(tmp_path, items):
    check_annotator(toy(BrokenDiffersPerInstance, tmp_path), items)  # each alone conforms
    with pytest.raises(ConformanceError) as caught:
        check_annotator_factory(lambda: toy(BrokenDiffersPerInstance, tmp_path), items)
    assert caught.value.check == "fresh_instances_agree"


def test_fit_must_return_self(tmp_path, items):
    with pytest.raises(ConformanceError, match="must return the annotator itself") as caught:
        check_annotator(toy(BrokenFitReturnsNone, tmp_path), items,
                        fit_data=(items.texts, ["positive"] * len(items)))
    assert caught.value.check == "fit"


def test_order_and_batching_checks_need_two_items(tmp_path, items):
    for check in (check_order_invariance, check_batching_invariance):
        with pytest.raises(ValueError, match="at least two items"):
            check(toy(ToyBackend, tmp_path), items.take([0]))
