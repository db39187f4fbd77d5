"""The money budget is a hard cap, and what it stops comes back when it is raised.

Hypothesis draws projects (items, text lengths), paid tiers (per-call prices, concurrent
or batched, one or two annotators), budgets (zero, tiny, exactly a multiple of the
price, exactly the whole run's cost, anything), failure patterns and kill points (a
``progress`` callback that raises, in process, after N calls; the next run resumes). After
every run, killed or not, the committed spend — the cost of every stored judgement — is
within the budget; items the budget stopped are decided ``budget`` and reopened by a run
with more budget; a budget equal to the whole run's cost labels everything.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from engine_fixtures import (
    KEYWORD,
    Killed,
    budget_line,
    cascade,
    config,
    decisions,
    judged,
    kill_after,
    llm_annotator,
    make_project,
    rules_annotator,
    set_budget,
    simulated_annotator,
    spent,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labelquorum.llm import client
from labelquorum.testing_server import Rule, ScriptedLlmServer

EPS = 1e-9
STATES = {"final", "review", "budget", "failed"}
PRICES = [0.0, 0.01, 0.1, 0.25, 1 / 3, 0.7, 1.0]


# -- the simulated paid tier ---------------------------------------------------------------
def flaky(annotators: dict, failures: dict[str, int]) -> dict:
    """Paid annotators whose call on an item fails while ``failures[(name, item)]`` > 0
    (the count is shared by every run of the example, so a failure happens once)."""
    for name, ann in annotators.items():
        if ann.config.type != "simulated":
            continue
        predict = ann.predict

        def failing(items, _predict=predict, _name=name):
            answers = _predict(items)
            errors = list(answers.errors or [None] * len(items))
            for i, item in enumerate(items.ids):
                if failures.get((_name, item), 0) > 0:
                    failures[(_name, item)] -= 1
                    errors[i] = "scripted failure"
            answers.errors = errors
            return answers

        ann.predict = failing  # the batched path and the concurrent one both call it
    return annotators


@st.composite
def simulated_cases(draw):
    n = draw(st.integers(1, 9))
    keyword = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    lengths = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    gold = draw(st.lists(st.sampled_from(["negative", "positive"]), min_size=n, max_size=n))
    rows = [(f"i{i}", (f"a {KEYWORD} film " if kw else "a film ") + "x" * length + f" #{i}", g)
            for i, (kw, length, g) in enumerate(zip(keyword, lengths, gold))]
    paid = []
    for a in range(draw(st.integers(1, 2))):
        price = draw(st.sampled_from(PRICES) | st.floats(0.001, 1.5))
        concurrent = draw(st.booleans())
        paid.append({"name": f"paid{a}", "price": price,
                     "latency": 0.001 if concurrent else 0.0,
                     "concurrency": draw(st.integers(1, 3)),
                     "batch_size": draw(st.integers(1, 4))})
    reach = sum(1 for kw in keyword if not kw)  # items the rules leave to the paid tier
    per_item = sum(p["price"] for p in paid)
    full = reach * per_item  # what the whole run costs
    smallest = min([p["price"] for p in paid if p["price"] > 0], default=1.0)
    budget = draw(st.one_of(
        st.just(0.0),
        st.floats(0.0, smallest, exclude_max=True),  # less than any one call
        st.integers(0, reach).map(lambda k: k * per_item),  # exactly k items' calls
        st.just(full),  # exactly the whole run
        st.sampled_from([p["price"] for p in paid]),  # exactly one call
        st.floats(0.0, max(full * 1.3, 0.01)),
    ))
    failures = {}
    # failures only where the paid tier is one annotator: a tier of two that accepts an
    # item despite one failed call is its own defect (test_engine_failures.py)
    for a in paid if len(paid) == 1 else []:
        for i in draw(st.sets(st.integers(0, n - 1), max_size=3)):
            failures[(a["name"], f"i{i}")] = draw(st.integers(1, 2))
    kills = draw(st.lists(st.integers(1, 8), max_size=3))
    return {"rows": rows, "paid": paid, "budget": budget, "full": full,
            "failures": failures, "kills": kills}


def _simulated_project(root: Path, case) -> object:
    annotators = rules_annotator() + "".join(
        simulated_annotator(p["name"], p["price"], latency=p["latency"],
                            concurrency=p["concurrency"], batch_size=p["batch_size"])
        for p in case["paid"])
    policy = cascade([("rules", ["kw"], 0.7), ("paid", [p["name"] for p in case["paid"]], 0.0)],
                     budget=case["budget"])
    return make_project(root, config(annotators, policy), case["rows"])


def _check_decided(project, report, paid: list[str]) -> pd.DataFrame:
    """After a run that was not killed: every item is decided; what the budget stopped
    is decided ``budget``, what failed ``failed``; the report and status count both open."""
    dec = decisions(project)
    assert len(dec) == report.items, "an item was left without a decision"
    assert set(dec["state"]) <= STATES
    reopenable = dec["state"].isin(["budget", "failed"])
    assert report.open == int(reopenable.sum())
    assert dec.loc[dec["state"] == "budget", "flags"].str.contains("budget").all()
    # no paid call is stored twice
    j = project.judgements()
    ok = j[j["annotator"].isin(paid) & (j["status"] == "ok")]
    assert not ok.duplicated(["item", "annotator"]).any(), "a paid answer was stored twice"
    return dec


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=simulated_cases())
@example(case={"rows": [("i0", "a film #0", "positive"), ("i1", "a film #1", "negative")],
               "paid": [{"name": "paid0", "price": 0.1, "latency": 0.001, "concurrency": 3,
                         "batch_size": 1}],
               "budget": 0.1 + 0.1, "full": 0.2, "failures": {}, "kills": []})
@example(case={"rows": [(f"i{i}", f"a film #{i}", "positive") for i in range(3)],
               "paid": [{"name": "paid0", "price": 1 / 3, "latency": 0.0, "concurrency": 1,
                         "batch_size": 2}],
               "budget": 1 / 3, "full": 1.0, "failures": {("paid0", "i0"): 1},
               "kills": [2, 3]})
def test_committed_spend_never_exceeds_the_budget_and_stopped_items_reopen(case):
    budget, paid = case["budget"], [p["name"] for p in case["paid"]]
    failures = dict(case["failures"])
    with tempfile.TemporaryDirectory() as tmp:
        project = _simulated_project(Path(tmp) / "p", case)
        try:
            for calls in case["kills"]:
                try:
                    project.run(annotators=flaky(project.build_annotators(), failures),
                                progress=kill_after(calls))
                except Killed:
                    pass
                assert spent(project) <= budget + EPS, "a killed run spent past the budget"
            # run until no failed call is left to ask again (each fails at most twice)
            for _ in range(4):
                report = project.run(annotators=flaky(project.build_annotators(), failures))
                assert spent(project) <= budget + EPS, "a run spent past the budget"
                dec = _check_decided(project, report, paid)
                if not (dec["state"] == "failed").any():
                    break
            assert not (dec["state"] == "failed").any()
            stopped = set(dec.index[dec["state"] == "budget"])
            if budget >= case["full"] - 1e-12:
                assert not stopped, "a budget equal to the whole run's cost stopped items"
            assert report.budget_stopped <= len(stopped)

            # more budget: the stopped items reopen, and are asked and labelled
            project = set_budget(project, None)
            for _ in range(3):  # a failure the budget kept from happening happens now
                report = project.run(annotators=flaky(project.build_annotators(), failures))
                dec = _check_decided(project, report, paid)
                if not (dec["state"] == "failed").any():
                    break
            assert (dec["state"] == "final").all()
            assert report.open == 0
            for item in stopped:
                for name in paid:
                    assert item in judged(project, name, "ok"), (item, name)
            assert spent(project) == pytest.approx(case["full"], abs=1e-9)
        finally:
            project.close()


def test_items_stopped_before_anyone_answered_are_decided_budget_and_come_back(tmp_path):
    """Row 3: the first tier is paid and the budget lets two of six calls out. The four
    others were answered by nobody: decided ``budget`` with no label (not a final
    'unlabelled'), counted open by the run and by ``labelquorum status`` alike, and a run
    with more budget asks and labels them."""
    rows = [(f"i{i}", f"a film #{i}", "positive" if i % 2 else "negative") for i in range(6)]
    annotators = simulated_annotator("paid", 1.0, batch_size=4)
    project = make_project(tmp_path / "p", config(
        annotators, cascade([("paid", ["paid"], 0.0)], budget=2.5)), rows)
    report = project.run()
    assert spent(project) == pytest.approx(2.0)
    dec = decisions(project)
    stopped = dec[dec["state"] == "budget"]
    assert len(stopped) == 4 and report.budget_stopped == 4
    assert stopped["label"].isna().all()
    assert (dec.loc[dec["state"] != "budget", "state"] == "final").all()
    assert report.open == 4
    status = project.status()
    assert (status.open, status.decided) == (report.open, 2)

    project = set_budget(project, 10.0)
    report = project.run()
    dec = decisions(project)
    assert (dec["state"] == "final").all() and dec["label"].notna().all()
    assert judged(project, "paid", "ok") == {r[0] for r in rows}
    assert report.open == 0 and project.status().open == 0
    assert spent(project) == pytest.approx(6.0)
    project.close()


# -- the llm annotator against the scripted server ----------------------------------------
LLM_POLICY = [("rules", ["kw"], 0.7), ("llm", ["llm"], 0.0)]


@st.composite
def llm_cases(draw, adversarial: bool):
    n = draw(st.integers(1, 6))
    rows, rules = [], []
    for i in range(n):
        kw = draw(st.booleans())
        long = adversarial and draw(st.booleans())
        length = draw(st.integers(2500, 6000) if long else st.integers(0, 200))
        marker = f"item{i}x"
        rows.append((f"i{i}", (f"a {KEYWORD} film " if kw else "an uneven film ")
                     + "y" * length + f" {marker}"))
        fault = draw(st.sampled_from(["none", "500", "429"]
                                     + (["garbage"] if adversarial else [])))
        times = draw(st.integers(1, 3))
        if fault == "garbage":
            rules.append(Rule(marker, content="I would rather not say. " * 20, times=times))
        elif fault != "none":
            rules.append(Rule(marker, fault=fault, times=times, retry_after=0.01))
    price_input = draw(st.floats(1.0, 3000.0))
    price_output = draw(st.floats(1.0, 6000.0))
    budget_calls = draw(st.one_of(st.just(0.0), st.just(0.5), st.integers(1, n).map(float),
                                  st.floats(0.0, n + 1.0)))
    kills = draw(st.lists(st.integers(1, 6), max_size=2))
    return {"rows": rows, "rules": rules, "price_input": price_input,
            "price_output": price_output, "budget_calls": budget_calls, "kills": kills,
            "concurrency": draw(st.integers(1, 3))}


def _llm_check(case, executor=None) -> None:
    rules = [*case["rules"], Rule("film", "positive", confidence=0.9)]
    # retries back off for milliseconds, not half a second: the same calls, sooner
    with mock.patch.object(client, "BACKOFF_BASE", 0.005), \
            ScriptedLlmServer(rules, latency=0.002) as server, \
            tempfile.TemporaryDirectory() as tmp:
        annotators = rules_annotator() + llm_annotator(
            "llm", server.base_url, price_input=case["price_input"],
            price_output=case["price_output"], concurrency=case["concurrency"],
            max_retries=1, extra="breaker_cooldown = 0.0")
        project = make_project(Path(tmp) / "p", config(annotators, cascade(LLM_POLICY),
                                                       executor=executor), case["rows"])
        # the budget is counted in calls: ``budget_calls`` times what one call reserves
        reserve = project.build_annotators(["llm"])["llm"].max_cost
        budget = case["budget_calls"] * reserve
        project = set_budget(project, budget)
        try:
            for calls in case["kills"]:
                try:
                    project.run(progress=kill_after(calls))
                except Killed:
                    pass
                assert spent(project) <= budget + EPS, "a killed run spent past the budget"
            for _ in range(4):  # failed calls are asked again by the next run
                report = project.run()
                assert spent(project) <= budget + EPS, (
                    f"spent {spent(project):.6f} of a budget of {budget:.6f} "
                    f"({case['budget_calls']} calls of {reserve:.6f})")
                dec = decisions(project)
                assert len(dec) == report.items
                assert report.open == int(dec["state"].isin(["budget", "failed"]).sum())
                if not (dec["state"] == "failed").any():
                    break
            stopped = set(dec.index[dec["state"] == "budget"])
            project = set_budget(project, None)
            for _ in range(3):  # a fault the budget kept from being served is served now
                project.run()
                dec = decisions(project)
                if not (dec["state"] == "failed").any():
                    break
            assert (dec["state"] == "final").all()
            assert stopped <= judged(project, "llm", "ok")
        finally:
            project.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=llm_cases(adversarial=False))
def test_llm_spend_never_exceeds_the_budget_through_faults_and_kills(case):
    """Prompts within the reservation's allowance, answers within the label set: 500s and
    429s (retried, or failing the call), kills, any budget."""
    _llm_check(case)


LONG_ITEM = {"rows": [("i0", "an uneven film " + "y" * 6000 + " item0x")], "rules": [],
             "price_input": 1000.0, "price_output": 1000.0, "budget_calls": 1.0,
             "kills": [], "concurrency": 1}
REASKED = {"rows": [("i0", "an uneven film item0x")],
           "rules": [Rule("item0x", content="I would rather not say. " * 20, times=2)],
           "price_input": 1000.0, "price_output": 1000.0, "budget_calls": 1.0,
           "kills": [], "concurrency": 1}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=llm_cases(adversarial=True))
@example(case=LONG_ITEM)
@example(case=REASKED)
def test_llm_spend_never_exceeds_the_budget_with_long_items_and_reasks(case):
    """Items longer than any allowance, and answers outside the label set (re-asked): the
    reservation is only an estimate, yet the budget is documented as a hard cap."""
    _llm_check(case)


def test_a_budget_of_what_plan_estimates_labels_nearly_everything(tmp_path):
    """Row 14: ``labelquorum plan`` says what the run costs; with that as the budget, the
    run labels close to all items. (Reserving each call's worst case for the whole plan
    up front stopped such a run at about 13 %.)

    A call reserves a true bound (a token per byte of its prompt, ``max_tokens`` out, every
    re-ask), released as it settles, so what a budget cannot buy is about one reservation
    at its end: here ``max_tokens = 32`` and one re-ask, as a user who labels with short
    answers sets them, and 200 items, so the budget is many reservations deep."""
    rng = np.random.default_rng(3)
    words = ["plot", "cast", "music", "pace", "ending", "script", "camera", "score"]
    rows = [(f"i{i:03d}", f"an uneven film #{i}: " + " ".join(rng.choice(words, 30)))
            for i in range(200)]
    with ScriptedLlmServer([Rule("film", "positive", confidence=0.9)]) as server:
        annotators = llm_annotator("llm", server.base_url, price_input=0.15,
                                   price_output=0.6, concurrency=4,
                                   extra="max_tokens = 32\nreask = 1")
        project = make_project(tmp_path / "p", config(annotators, cascade(
            [("llm", ["llm"], 0.0)])), rows)
        estimate = project.plan(sample=200).worst_case_cost
        assert estimate > 0
        project = set_budget(project, estimate)
        report = project.run()
        labelled = decisions(project)
        labelled = labelled[(labelled["state"] == "final") & labelled["label"].notna()]
        share = len(labelled) / len(rows)
        assert share >= 0.8, (f"a budget of the plan's estimate (${estimate:.6f}) labelled "
                              f"{share:.0%} of the items; spent ${spent(project):.6f}")
        assert spent(project) <= estimate + EPS
        assert report.budget_stopped == len(rows) - len(labelled)
        project.close()


# -- a chain stopped by the budget between its links --------------------------------------
@pytest.mark.parametrize("budget", [0.0, 2.0])
def test_a_chain_link_keeps_its_share_once_across_budget_stops(tmp_path, budget):
    """Row 7: a free first link answers ten items, keeps its five most confident and
    forwards five to a paid second link; the budget stops some (or all) of those calls.
    A later run with more budget asks the second link about the stopped ones: the first
    link has kept exactly five overall, and none of the items it forwarded."""
    rows = [(f"i{i}", f"a film #{i}", "positive" if i % 3 else "negative") for i in range(10)]
    annotators = (simulated_annotator("first", 0.0, accuracy=0.95)
                  .replace("accuracy = 0.95", "accuracy = 0.95\naccuracy_hard = 0.55")
                  + simulated_annotator("second", 1.0, batch_size=1))
    policy = f'\n[policy]\ntype = "chain"\nlinks = ["first", "second"]\n{budget_line(budget)}\n'
    project = make_project(tmp_path / "p", config(annotators, policy), rows)
    report = project.run()
    dec = decisions(project)
    kept = set(dec.index[dec["tier"] == "link 1: first"])
    assert len(kept) == 5 and (dec.loc[sorted(kept), "state"] == "final").all()
    forwarded = set(dec.index) - kept
    stopped = set(dec.index[dec["state"] == "budget"])
    assert len(stopped) == 5 - int(budget) and stopped <= forwarded
    assert report.budget_stopped == len(stopped)

    project = set_budget(project, 10.0)
    project.run()
    dec = decisions(project)
    assert (dec["state"] == "final").all()
    assert set(dec.index[dec["tier"] == "link 1: first"]) == kept, (
        "the first link kept items it had forwarded")
    assert set(dec.index[dec["tier"] == "link 2: second"]) == forwarded
    assert judged(project, "second") == forwarded
    assert spent(project) == pytest.approx(5.0)
    project.close()


FAULTS_AND_KILLS = {
    "rows": [(f"i{i}", f"{'a ' + KEYWORD if i == 0 else 'an uneven'} film item{i}x")
             for i in range(5)],
    "rules": [Rule("item1x", fault="500", times=2, retry_after=0.01),
              Rule("item2x", fault="429", times=1, retry_after=0.01)],
    "price_input": 1000.0, "price_output": 2000.0, "budget_calls": 2.5, "kills": [2, 4],
    "concurrency": 2}


@pytest.mark.ray
@pytest.mark.parametrize("case", [FAULTS_AND_KILLS, LONG_ITEM, REASKED],
                         ids=["faults-and-kills", "long-item", "re-asked"])
def test_llm_spend_on_ray_never_exceeds_the_budget(case, ray_address):
    """The same hard cap with the calls made by Ray workers: the run's process admits
    each call's reservation before handing it to a worker and settles it on the answer."""
    _llm_check(case, executor=("ray", ray_address))
