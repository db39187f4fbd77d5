"""What a user notices of each built-in annotator backend."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from labelquorum.annotators import Context, Items, build_annotator
from labelquorum.config import (
    ReplayConfig,
    Rule,
    RulesConfig,
    SimulatedConfig,
    TaskConfig,
    TfidfConfig,
    VaderConfig,
    parse_config,
)
from labelquorum.errors import AnnotatorError, ConfigError
from labelquorum.task import Task

SENTIMENT = ["negative", "neutral", "positive"]
POSITIVE = ["wonderful", "great", "excellent", "delightful", "superb", "lovely", "brilliant"]
NEGATIVE = ["terrible", "awful", "horrible", "dreadful", "boring", "poor", "clumsy"]
SUBJECTS = ["the film", "this book", "the service", "our trip", "the meal", "the hotel",
            "the concert", "her novel", "the app", "this camera"]


def task(labels=SENTIMENT, kind="classification") -> Task:
    return Task.from_config(TaskConfig(kind=kind, labels=list(labels)))


def items_of(texts, fields=None) -> Items:
    fields = fields or [{} for _ in texts]
    return Items([f"i{k}" for k in range(len(texts))],
                 [{"text": t, **f} for t, f in zip(texts, fields)])


def build(tmp_path, config, the_task=None, *, gold=None, seed=0, name="ann"):
    return build_annotator(name, config, the_task or task(), Context(tmp_path, seed), gold=gold)


def reviews(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Easy, separable positive/negative sentences."""
    rng = random.Random(seed)
    labels = ["positive" if k % 2 else "negative" for k in range(n)]
    texts = [f"{rng.choice(SUBJECTS)} was {rng.choice(POSITIVE if lab == 'positive' else NEGATIVE)}"
             f" and {rng.choice(POSITIVE if lab == 'positive' else NEGATIVE)} ." for lab in labels]
    return texts, labels


# -- tfidf -----------------------------------------------------------------------------


def test_tfidf_learns_an_easy_separable_task(tmp_path):
    annotator = build(tmp_path, TfidfConfig(type="tfidf"))
    train_texts, train_labels = reviews(60, seed=1)
    assert annotator.fit(train_texts, train_labels) is annotator
    texts, gold = reviews(100, seed=2)
    answers = annotator.annotate(items_of(texts))
    accuracy = np.mean([a == g for a, g in zip(answers.labels, gold)])
    assert accuracy >= 0.95
    assert set(answers.status) == {"ok"}
    assert annotator.note is None
    np.testing.assert_allclose(answers.probs.sum(axis=1), 1.0)
    assert (answers.probs[:, SENTIMENT.index("neutral")] == 0).all()  # never seen in training


def test_tfidf_learns_multilabel_topics(tmp_path):
    topics = task(["food", "price"], kind="multilabel")
    words = {"food": ["pasta", "soup", "salad"], "price": ["bill", "cost", "euros"]}
    rng = random.Random(3)

    def sample(n):
        texts, labels = [], []
        for _ in range(n):
            chosen = tuple(t for t in ("food", "price") if rng.random() < 0.5)
            parts = [f"the {rng.choice(words[t])} was noted" for t in chosen] or ["we sat down"]
            texts.append(" and ".join(parts))
            labels.append(chosen)
        return texts, labels

    annotator = build(tmp_path, TfidfConfig(type="tfidf"), topics)
    annotator.fit(*sample(80))
    texts, gold = sample(50)
    answers = annotator.annotate(items_of(texts))
    assert np.mean([a == g for a, g in zip(answers.labels, gold)]) >= 0.9


def test_tfidf_abstains_with_a_note_below_min_train(tmp_path):
    annotator = build(tmp_path, TfidfConfig(type="tfidf", min_train=10))
    annotator.fit(*reviews(6, seed=1))
    answers = annotator.annotate(items_of(reviews(5, seed=2)[0]))
    assert answers.status == ["abstain"] * 5 and answers.labels == [None] * 5
    assert "6 verified labels, needs 10" in annotator.note


def test_tfidf_abstains_with_a_note_on_one_class(tmp_path):
    annotator = build(tmp_path, TfidfConfig(type="tfidf", min_train=4))
    texts, _ = reviews(12, seed=1)
    annotator.fit(texts, ["positive"] * 12)
    assert set(annotator.annotate(items_of(texts)).status) == {"abstain"}
    assert "only one class (positive)" in annotator.note


def test_tfidf_unfitted_abstains(tmp_path):
    annotator = build(tmp_path, TfidfConfig(type="tfidf"))
    assert annotator.annotate(items_of(["a fine film"])).status == ["abstain"]


def test_tfidf_version_follows_its_training_data(tmp_path):
    annotator = build(tmp_path, TfidfConfig(type="tfidf"))
    before = annotator.version
    annotator.fit(*reviews(20, seed=1))
    after = annotator.version
    annotator.fit(*reviews(20, seed=1))
    assert before != after == annotator.version


# -- vader -----------------------------------------------------------------------------

VADER_TEXTS = {
    "the film was wonderful and great .": 0.8316,
    "the film was terrible and awful .": -0.7269,
    "the report lists revenue by region .": 0.0,
    "the film was ok .": 0.296,
    "slightly annoying": -0.3415,
}


def test_vader_default_ranges_label_polarity_and_abstain_on_neutral(tmp_path):
    annotator = build(tmp_path, VaderConfig(type="vader"))
    answers = annotator.annotate(items_of(list(VADER_TEXTS)))
    assert answers.labels == ["positive", "negative", None, "positive", "negative"]
    assert answers.status[2] == "abstain"
    assert (answers.confidence >= 0.5).all() and (answers.confidence <= 1).all()


def test_vader_maps_score_ranges_to_labels_per_config(tmp_path):
    ranges = {"negative": (-1.0, -0.5), "neutral": (-0.05, 0.05), "positive": (0.5, 1.0)}
    annotator = build(tmp_path, VaderConfig(type="vader", ranges=ranges))
    answers = annotator.annotate(items_of(list(VADER_TEXTS)))
    # 0.296 and -0.3415 fall between the ranges: abstain, never a guess
    assert answers.labels == ["positive", "negative", "neutral", None, None]
    assert answers.status == ["ok", "ok", "ok", "abstain", "abstain"]


def test_vader_ranges_can_use_any_label_names(tmp_path):
    ranges = {"complaint": (-1.0, -0.05), "praise": (0.05, 1.0)}
    annotator = build(tmp_path, VaderConfig(type="vader", ranges=ranges),
                      task(["complaint", "praise"]))
    answers = annotator.annotate(items_of(list(VADER_TEXTS)[:2]))
    assert answers.labels == ["praise", "complaint"]


def test_vader_is_refused_for_multilabel_tasks():
    with pytest.raises(ConfigError, match="vader labels classification tasks only"):
        parse_config({"task": {"kind": "multilabel", "labels": ["negative", "positive"]},
                      "annotators": {"v": {"type": "vader"}},
                      "policy": {"type": "chain", "links": ["v"]}})


# -- rules -----------------------------------------------------------------------------


def rules(tmp_path, the_task=None, **config):
    config.setdefault("rules", [Rule(label="positive", keywords=["good", "great"]),
                                Rule(label="negative", keywords=["bad"])])
    return build(tmp_path, RulesConfig(type="rules", **config), the_task)


def test_rules_keywords_are_whole_words_and_case_insensitive(tmp_path):
    answers = rules(tmp_path).annotate(items_of(
        ["A GOOD day", "the badge is red", "Bad.", "goodness me", "(great)"]))
    assert answers.labels == ["positive", None, "negative", None, "positive"]
    assert answers.confidence[0] == pytest.approx(0.8)


def test_rules_can_be_case_sensitive(tmp_path):
    answers = rules(tmp_path, case_sensitive=True).annotate(items_of(["GOOD", "good"]))
    assert answers.labels == [None, "positive"]


def test_rules_keywords_with_punctuation_match_as_whole_words(tmp_path):
    annotator = rules(tmp_path, rules=[Rule(label="positive", keywords=["c++", "$5"])])
    answers = annotator.annotate(items_of(["i write c++ daily", "only $5!", "abc++", "x$5"]))
    assert answers.labels == ["positive", "positive", None, None]


def test_rules_regex_patterns(tmp_path):
    annotator = rules(tmp_path, rules=[Rule(label="positive", pattern=r"\b[45] stars?\b"),
                                       Rule(label="negative", pattern=r"\b[12] stars?\b")])
    answers = annotator.annotate(items_of(["5 stars", "rated 1 star", "3 stars", "45 stars"]))
    assert answers.labels == ["positive", "negative", None, None]


def test_rules_tie_between_labels_abstains_and_more_rules_win(tmp_path):
    annotator = rules(tmp_path, rules=[Rule(label="positive", keywords=["good"]),
                                       Rule(label="positive", pattern="recommend"),
                                       Rule(label="negative", keywords=["bad"])])
    answers = annotator.annotate(items_of(["good and bad", "good, bad, would recommend",
                                           "nothing here"]))
    assert answers.labels == [None, "positive", None]
    assert answers.status == ["abstain", "ok", "abstain"]


def test_rules_multilabel_returns_every_matched_label(tmp_path):
    topics = task(["food", "service", "price"], kind="multilabel")
    annotator = rules(tmp_path, topics, rules=[
        Rule(label="price", keywords=["bill"]), Rule(label="food", keywords=["soup"]),
        Rule(label="service", pattern="waiter|staff")])
    answers = annotator.annotate(items_of(["the bill for the soup", "the waiter", "hello"]))
    assert answers.labels == [("food", "price"), ("service",), None]


# -- replay ----------------------------------------------------------------------------


def replay(tmp_path, csv: str, the_task=None, **config):
    (tmp_path / "rec.csv").write_text(csv)
    config.setdefault("annotator", "gpt")
    return build(tmp_path, ReplayConfig(type="replay", path="rec.csv", **config), the_task)


def test_replay_serves_recorded_labels_and_confidences(tmp_path):
    annotator = replay(tmp_path, "item,annotator,label,confidence\n"
                                 "i0,gpt,positive,0.9\ni1,gpt,negative,0.6\n"
                                 "i0,crowd,negative,1.0\ni2,gpt,neutral,\n")
    answers = annotator.annotate(items_of(["a", "b", "c"]))
    assert answers.labels == ["positive", "negative", "neutral"]
    np.testing.assert_allclose(answers.confidence, [0.9, 0.6, np.nan])
    np.testing.assert_allclose(answers.probs[0], [0.05, 0.05, 0.9])
    np.testing.assert_allclose(answers.probs[2], [0.0, 1.0, 0.0])  # no confidence: certain
    assert annotator.kind == "replay"


def test_replay_without_confidences_gives_labels_only(tmp_path):
    annotator = replay(tmp_path, "item,annotator,label\ni0,gpt,positive\n")
    answers = annotator.annotate(items_of(["a", "b"]))
    assert answers.labels == ["positive", None] and answers.probs is None


@pytest.mark.parametrize("header", ["task,worker,label", "id,worker,label"])
def test_replay_accepts_crowd_kit_column_names(tmp_path, header):
    annotator = replay(tmp_path, f"{header}\ni0,gpt,negative\ni1,gpt,positive\n")
    assert annotator.annotate(items_of(["a", "b"])).labels == ["negative", "positive"]


def test_replay_missing_item_abstains(tmp_path):
    annotator = replay(tmp_path, "item,annotator,label\ni1,gpt,positive\n")
    answers = annotator.annotate(items_of(["a", "b"]))
    assert answers.labels == [None, "positive"] and answers.status == ["abstain", "ok"]


def test_replay_last_row_of_an_item_wins(tmp_path):
    annotator = replay(tmp_path, "item,annotator,label\ni0,gpt,positive\ni0,gpt,negative\n")
    assert annotator.annotate(items_of(["a"])).labels == ["negative"]


def test_replay_unknown_annotator_names_the_ones_found(tmp_path):
    with pytest.raises(AnnotatorError, match="no rows for annotator 'gpt'") as caught:
        replay(tmp_path, "item,annotator,label\ni0,crowd,positive\ni1,llama,negative\n")
    assert "annotators in the file: crowd, llama" in str(caught.value)


def test_replay_defaults_to_its_own_name(tmp_path):
    (tmp_path / "rec.csv").write_text("item,annotator,label\ni0,ann,positive\n")
    annotator = build(tmp_path, ReplayConfig(type="replay", path="rec.csv"), name="ann")
    assert annotator.annotate(items_of(["a"])).labels == ["positive"]


def test_replay_missing_file_and_columns_are_clear_errors(tmp_path):
    with pytest.raises(AnnotatorError, match="no file at"):
        build(tmp_path, ReplayConfig(type="replay", path="nope.csv"))
    with pytest.raises(AnnotatorError, match="needs columns item,annotator,label"):
        replay(tmp_path, "row,who,answer\ni0,gpt,positive\n")


def test_replay_confidence_outside_unit_interval_is_refused(tmp_path):
    with pytest.raises(AnnotatorError, match="item 'i1' confidence 85; confidences must lie in"):
        replay(tmp_path, "item,annotator,label,confidence\ni0,gpt,positive,0.5\n"
                         "i1,gpt,negative,85\n")


def test_replay_label_map_maps_native_labels(tmp_path):
    annotator = replay(tmp_path, "item,annotator,label\ni0,gpt,POS\ni1,gpt,NEG\ni2,gpt,neutral\n",
                       label_map={"POS": "positive", "NEG": "negative"})
    assert annotator.annotate(items_of(["a", "b", "c"])).labels == [
        "positive", "negative", "neutral"]


def test_replay_label_outside_the_set_is_a_failed_answer_never_a_label(tmp_path):
    annotator = replay(tmp_path, "item,annotator,label,confidence\ni0,gpt,sarcastic,0.9\n"
                                 "i1,gpt,positive,0.7\n")
    answers = annotator.annotate(items_of(["a", "b"]))
    assert answers.labels == [None, "positive"]
    assert answers.status == ["failed", "ok"]
    assert "sarcastic" in answers.errors[0] and "label set" in answers.errors[0]
    assert np.isnan(answers.probs[0]).all()


def test_replay_multilabel_reads_pipe_separated_sets(tmp_path):
    topics = task(["food", "service", "price"], kind="multilabel")
    annotator = replay(tmp_path, "item,annotator,label\ni0,gpt,price|food\ni1,gpt,service\n",
                       topics)
    assert annotator.annotate(items_of(["a", "b"])).labels == [("food", "price"), ("service",)]


def test_replay_from_a_full_config(tmp_path):
    (tmp_path / "rec.csv").write_text("item,annotator,label\ni0,gpt,yes\n")
    config = parse_config({
        "task": {"labels": ["negative", "positive"]},
        "annotators": {"llm": {"type": "replay", "path": "rec.csv", "annotator": "gpt",
                               "kind": "llm", "label_map": {"yes": "positive"}}},
        "policy": {"type": "chain", "links": ["llm"]}})
    annotator = build_annotator("llm", config.annotators["llm"], Task.from_config(config.task),
                                Context(tmp_path))
    assert annotator.kind == "llm"
    assert annotator.annotate(items_of(["a"])).labels == ["positive"]


# -- simulated -------------------------------------------------------------------------


def simulated(tmp_path, gold, the_task=None, seed=0, **config):
    return build(tmp_path, SimulatedConfig(type="simulated", **config), the_task, gold=gold,
                 seed=seed)


def gold_for(n: int, seed: int = 0) -> tuple[Items, dict[str, str]]:
    rng = random.Random(seed)
    items = items_of([f"text {k}" for k in range(n)])
    return items, {i: rng.choice(SENTIMENT) for i in items.ids}


def test_simulated_with_accuracy_one_returns_gold(tmp_path):
    items, gold = gold_for(200)
    answers = simulated(tmp_path, gold, accuracy=1.0).annotate(items)
    assert answers.labels == [gold[i] for i in items.ids]
    np.testing.assert_allclose(answers.confidence, 1.0)


@pytest.mark.parametrize("accuracy", [0.6, 0.85])
def test_simulated_observed_accuracy_is_near_the_configured_one(tmp_path, accuracy):
    items, gold = gold_for(2000)
    answers = simulated(tmp_path, gold, accuracy=accuracy).annotate(items)
    observed = np.mean([a == gold[i] for i, a in zip(items.ids, answers.labels)])
    assert abs(observed - accuracy) <= 0.05
    wrong = [a for i, a in zip(items.ids, answers.labels) if a != gold[i]]
    assert set(wrong) == set(SENTIMENT)  # mistakes spread over the other labels


def test_simulated_accuracy_falls_with_difficulty(tmp_path):
    items, gold = gold_for(2000)
    hard = Items(items.ids, [{**f, "difficulty": 1.0} for f in items.fields])
    annotator = simulated(tmp_path, gold, accuracy=0.95, accuracy_hard=0.55,
                          difficulty_field="difficulty")
    answers = annotator.annotate(hard)
    assert abs(np.mean([a == gold[i] for i, a in zip(items.ids, answers.labels)]) - 0.55) <= 0.05
    np.testing.assert_allclose(answers.confidence, 0.55)


def test_simulated_answers_do_not_depend_on_batch_or_order(tmp_path):
    items, gold = gold_for(300)
    annotator = simulated(tmp_path, gold, accuracy=0.7, batch_size=7)
    whole = dict(zip(items.ids, annotator.annotate(items).labels))
    order = list(range(len(items)))
    random.Random(1).shuffle(order)
    shuffled = items.take(order)
    again = dict(zip(shuffled.ids, annotator.annotate(shuffled).labels))
    assert whole == again
    one_by_one = {i: simulated(tmp_path, gold, accuracy=0.7).annotate(items.take([k])).labels[0]
                  for k, i in enumerate(items.ids[:20])}
    assert one_by_one == {i: whole[i] for i in items.ids[:20]}


def test_simulated_depends_on_the_seed_and_its_name(tmp_path):
    items, gold = gold_for(300)
    base = simulated(tmp_path, gold, accuracy=0.6).annotate(items).labels
    assert simulated(tmp_path, gold, accuracy=0.6).annotate(items).labels == base
    assert simulated(tmp_path, gold, accuracy=0.6, seed=1).annotate(items).labels != base


def test_simulated_confusion_model_follows_its_matrix(tmp_path):
    items = items_of([f"t{k}" for k in range(3000)])
    gold = {i: "negative" for i in items.ids}
    # rows need not sum to 1: they are normalised
    confusion = {"negative": {"negative": 6, "neutral": 3, "positive": 1}}
    answers = simulated(tmp_path, gold, confusion=confusion).annotate(items)
    share = {lab: answers.labels.count(lab) / len(items) for lab in SENTIMENT}
    assert share == pytest.approx({"negative": 0.6, "neutral": 0.3, "positive": 0.1}, abs=0.03)
    conf = dict(zip(answers.labels, answers.confidence))
    assert conf["negative"] == pytest.approx(0.6)  # its own row's diagonal, normalised
    assert conf["positive"] == conf["neutral"] == 1.0  # no row: always correct


def test_simulated_confusion_without_a_row_is_always_correct(tmp_path):
    items, gold = gold_for(100)
    answers = simulated(tmp_path, gold, confusion={"negative": {"positive": 1.0}}).annotate(items)
    for item, label in zip(items.ids, answers.labels):
        assert label == ("positive" if gold[item] == "negative" else gold[item])


def test_simulated_items_without_gold_abstain(tmp_path):
    items, gold = gold_for(10)
    del gold["i3"], gold["i7"]
    answers = simulated(tmp_path, gold, accuracy=0.9).annotate(items)
    assert [s for s in answers.status if s == "abstain"] == ["abstain", "abstain"]
    assert answers.labels[3] is None and answers.labels[7] is None
    assert np.isnan(answers.probs[3]).all()


@pytest.mark.parametrize("stands_for", ["llm", "human", "model"])
def test_simulated_is_marked_simulated_and_its_kind_is_what_it_stands_for(tmp_path, stands_for):
    items, gold = gold_for(5)
    annotator = simulated(tmp_path, gold, accuracy=0.9, stands_for=stands_for)
    assert annotator.simulated is True
    assert annotator.kind == stands_for
    assert "simulated" in annotator.describe()
    calls = annotator.annotate(items).calls
    assert calls and all(c["simulated"] is True for c in calls)


def test_simulated_with_latency_is_io_bound_and_reports_it(tmp_path):
    items, gold = gold_for(3)
    annotator = simulated(tmp_path, gold, accuracy=1.0, latency=0.01, cost_per_call=0.002)
    assert annotator.io_bound
    answers = asyncio.run(annotator.aannotate_one(items.take([1])))
    assert answers.labels == [gold["i1"]]
    assert answers.latency.tolist() == [0.01] and answers.cost.tolist() == [0.002]
    assert not simulated(tmp_path, gold, accuracy=1.0).io_bound


def test_simulated_multilabel_accuracy_flips_labels(tmp_path):
    topics = task(["food", "service", "price"], kind="multilabel")
    items = items_of([f"t{k}" for k in range(1000)])
    rng = random.Random(0)
    gold = {i: tuple(t for t in topics.labels if rng.random() < 0.5) for i in items.ids}
    perfect = simulated(tmp_path, gold, topics, accuracy=1.0).annotate(items)
    assert perfect.labels == [gold[i] for i in items.ids]
    noisy = simulated(tmp_path, gold, topics, accuracy=0.9).annotate(items)
    per_label = np.mean([(lab in a) == (lab in gold[i]) for i, a in zip(items.ids, noisy.labels)
                         for lab in topics.labels])
    assert abs(per_label - 0.9) <= 0.03


def test_simulated_multilabel_reads_gold_written_as_text(tmp_path):
    topics = task(["food", "service", "price"], kind="multilabel")
    items = items_of(["a", "b"])
    gold = {"i0": "price|food", "i1": ""}
    answers = simulated(tmp_path, gold, topics, accuracy=1.0).annotate(items)
    assert answers.labels == [("food", "price"), ()]


def test_simulated_multilabel_confusion_maps_each_true_label(tmp_path):
    topics = task(["food", "service", "price"], kind="multilabel")
    items = items_of(["a", "b", "c"])
    gold = {"i0": ("food", "service"), "i1": (), "i2": ("price",)}
    confusion = {"food": {"price": 1.0}, "service": {"service": 1.0}}
    answers = simulated(tmp_path, gold, topics, confusion=confusion).annotate(items)
    assert answers.labels == [("service", "price"), (), ("price",)]
    assert answers.status == ["ok", "ok", "ok"]
