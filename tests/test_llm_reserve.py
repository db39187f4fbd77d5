"""What an llm item may cost: ``reserve(items)`` against what the scripted server bills."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llm_fixtures import TASK, annotator, ask

from labelquorum.annotators.base import Context, Items
from labelquorum.testing_server import Rule, ScriptedLlmServer

OFF = "zzoff"  # items with this word are answered off the label set, every time


def items_of(*texts):
    return Items([f"i{n}" for n in range(len(texts))], [{"text": t} for t in texts])


def test_every_annotator_reserves_its_max_cost_per_item_by_default(tmp_path):
    from labelquorum.annotators import build_annotator
    from labelquorum.config import RulesConfig

    config = RulesConfig(type="rules", cost_per_call=0.25,
                         rules=[{"label": "positive", "keywords": ["great"]}])
    rules = build_annotator("kw", config, TASK, Context(tmp_path))
    assert rules.reserve(items_of("great", "awful", "")).tolist() == [0.25] * 3


@pytest.fixture(scope="module")
def server():
    with ScriptedLlmServer([Rule(OFF, content='{"label": "mixed, or rather neutral"}'),
                            Rule("great", "positive"), Rule("awful", "negative")]) as s:
        yield s


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(texts=st.lists(st.text(max_size=300) | st.text(min_size=2500, max_size=4000),
                     min_size=1, max_size=3),
       off=st.lists(st.booleans(), min_size=3, max_size=3),
       pool=st.lists(st.text(max_size=200), min_size=1, max_size=6),
       few_shot=st.booleans(), consistency=st.booleans(), reask=st.integers(0, 3),
       max_tokens=st.sampled_from([8, 64, 256]))
def test_the_settled_cost_of_an_item_never_exceeds_its_reservation(
        server, tmp_path, texts, off, pool, few_shot, consistency, reask, max_tokens):
    options = {"reask": reask, "max_tokens": max_tokens, "max_retries": 0}
    if consistency:
        options.update(confidence="self-consistency", samples=2)
    if few_shot:
        options["few_shot"] = {"k": 2, "strategy": "random"}
    ann = annotator(server, tmp_path, **options)
    if few_shot:
        ann.fit_examples([f"p{n}" for n in range(len(pool))], pool,
                         ["positive" if n % 2 else "negative" for n in range(len(pool))])
    texts = [f"{t} {OFF}" if o else t for t, o in zip(texts, off)]
    items = items_of(*texts)
    reserved = ann.reserve(items)
    before = server.count()
    answers = ann.annotate(items)
    sent = server.requests[before:]
    assert len(reserved) == len(texts) and (reserved <= ann.max_cost).all()
    assert (answers.cost <= reserved).all(), (answers.cost, reserved)
    assert all(body["max_tokens"] == max_tokens for body in sent)  # the output bound holds
    # the scripted server bills a token per 4 characters of the JSON-escaped prompt: more
    # than a token per byte only for control characters (\u0001: 6 characters, 1 byte),
    # which it then recorded at the reservation; for any other text the bound held itself
    controls = any(ord(c) < 32 and c not in "\n\r\t\b\f" for c in "".join(texts + pool))
    clamped = [c for group in answers.calls if group for c in group
               if c["response"].get("cost_clamped")]
    assert controls or not clamped
    for n, text in enumerate(texts):
        if OFF in text:  # re-asked: every attempt was paid, and reserved
            calls = 2 if consistency else 1
            assert answers.status[n] == "failed" and len(answers.calls[n]) == calls * (reask + 1)


def test_a_short_item_reserves_a_small_multiple_of_its_real_cost(server, tmp_path):
    ann = annotator(server, tmp_path, reask=0, max_tokens=16, confidence="verbalized")
    items = items_of("a great film")
    reserved = ann.reserve(items)[0]
    answers = ann.annotate(items)
    assert answers.status == ["ok"] and 0 < answers.cost[0] <= reserved
    # the input is counted at a token per UTF-8 byte, plus the JSON schema and the chat
    # template's overheads; the scripted server (like a real tokenizer on English) bills
    # about a token per 4 characters, and not the schema: 4.5x here, on the prompt
    assert reserved <= 5 * answers.cost[0], reserved / answers.cost[0]
    assert not answers.calls[0][0]["response"].get("cost_clamped")


def test_usage_billed_beyond_the_reservation_is_clamped_and_noted(tmp_path):
    with ScriptedLlmServer([Rule("great", "positive")], usage_factor=50) as server:
        ann = annotator(server, tmp_path, reask=0, max_tokens=16)
        items = items_of("a great film")
        reserved = ann.reserve(items)[0]
        answers = ann.annotate(items)
    call = answers.calls[0][0]
    assert answers.status == ["ok"] and answers.cost[0] == pytest.approx(reserved)
    assert call["cost"] == pytest.approx(reserved)
    assert "more than the reservation" in call["response"]["cost_clamped"]


def test_an_item_whose_prompt_is_over_max_prompt_tokens_is_not_sent(server, tmp_path):
    ann = annotator(server, tmp_path, max_prompt_tokens=2000)
    items = items_of("a great film", "a great film " + "é" * 1000)
    assert ann.reserve(items)[1] == 0.0 and 0 < ann.reserve(items)[0] <= ann.max_cost
    before = server.count()
    answers = ask(ann, *items.texts)
    assert server.count() == before + 1
    assert answers.status == ["ok", "failed"] and answers.cost[1] == 0.0
    assert "max_prompt_tokens = 2,000" in answers.errors[1]


def test_the_reservation_counts_the_image_allowance_and_the_examples(server, tmp_path):
    from labelquorum.llm.pricing import IMAGE_TOKEN_ALLOWANCE

    plain = annotator(server, tmp_path).reserve(items_of("a great film"))[0]
    ann = annotator(server, tmp_path, image_field="image")
    items = Items(["i0"], [{"text": "a great film", "image": "https://example.org/a.png"}])
    pictured = ann.reserve(items)[0]
    calls = 1 + ann.config.reask
    assert pictured - plain == pytest.approx(calls * IMAGE_TOKEN_ALLOWANCE * 0.15 / 1e6)
    shots = annotator(server, tmp_path, few_shot={"k": 1, "strategy": "fixed"})
    shots.fit_examples(["p1"], ["x" * 1000], ["positive"])
    shown = shots.reserve(items_of("a great film"))[0]
    assert shown - plain >= calls * 1000 * 0.15 / 1e6
    assert json.dumps(shots.messages({"text": "a great film"},
                                     shots._select("a great film", "i0"))).count("x" * 1000)
    assert np.isfinite(shots.max_cost) and shots.max_cost >= shown
