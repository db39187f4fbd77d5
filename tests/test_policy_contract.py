"""The policy contract, seen from the run: asks, decisions, people who answer later.

A rank-based chain and a cascade with people as the last tier are driven through the
same run loop a user calls (``project.run()``); answers from people arrive through
``project.add_judgements``; a policy written outside the package runs the same way.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.policies import NOT_ASKED, OK, Decision, Plan, Policy, PolicyState

LABELS = ["negative", "positive"]

# The cheap link's recorded answers: (label, confidence); "" abstains.
RECORDED = {
    "i0": ("negative", 0.55),
    "i1": ("positive", 0.97),
    "i2": ("negative", 0.80),
    "i3": ("positive", 0.91),
    "i4": ("", None),
    "i5": ("positive", 0.80),
    "i6": ("negative", 0.99),
    "i7": ("positive", 0.62),
    "i8": ("negative", 0.93),
    "i9": ("positive", 0.70),
}
TEXTS = {
    "i0": "a dull plot", "i1": "a great cast", "i2": "boring", "i3": "superb music",
    "i4": "the camera", "i5": "fine acting", "i6": "awful ending", "i7": "a moving story",
    "i8": "clumsy script", "i9": "charming",
}
# The five most confident answers; i2 and i5 tie at 0.80 and i2 comes first in import order.
KEPT = ["i1", "i2", "i3", "i6", "i8"]
# What the person answers for the other five (all different from the cheap link's label).
PEOPLE_SAY = {"i0": "positive", "i4": "negative", "i5": "negative", "i7": "negative",
              "i9": "negative"}

BASE = """
[project]
name = "policy-contract"

[task]
labels = ["negative", "positive"]

[annotators.cheap]
type = "replay"
path = "recorded.csv"
kind = "llm"

[annotators.rules]
type = "rules"
rules = [
  { label = "positive", keywords = ["great", "superb", "charming"] },
  { label = "negative", keywords = ["dull", "boring", "awful"] },
]

[annotators.people]
type = "human"
cost_per_call = 0.25
"""

CHAIN = BASE + """
[policy]
type = "chain"
links = ["cheap", "people"]
"""

CASCADE = BASE + """
[policy]
type = "cascade"

[[policy.tiers]]
name = "cheap"
annotators = ["cheap"]
min_confidence = 0.9

[[policy.tiers]]
name = "people"
annotators = ["people"]
"""


def make_project(directory: Path, config: str) -> lq.Project:
    project = lq.init_project(directory, labels=[], config_text=config)
    with (directory / "recorded.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["item", "annotator", "label", "confidence"])
        for item, (label, conf) in RECORDED.items():
            out.writerow([item, "cheap", label, "" if conf is None else conf])
    items = directory / "items.csv"
    pd.DataFrame({"id": list(TEXTS), "text": list(TEXTS.values())}).to_csv(items, index=False)
    project.import_file(items, id_column="id")
    return project


@pytest.fixture
def chain_project(tmp_path):
    with make_project(tmp_path / "chain", CHAIN) as project:
        yield project


@pytest.fixture
def cascade_project(tmp_path):
    with make_project(tmp_path / "cascade", CASCADE) as project:
        yield project


def answers(items) -> list[dict]:
    return [{"item": i, "annotator": "people", "label": PEOPLE_SAY[i]} for i in items]


def exported(project: lq.Project) -> pd.DataFrame:
    return project.to_dataframe().set_index("id")


# -- the rank-based chain -------------------------------------------------------------
def test_chain_keeps_the_most_confident_half_and_waits_for_people(chain_project):
    n = len(TEXTS)
    report = chain_project.run()
    assert report.status == "waiting"
    assert report.decided_now == n // 2
    assert report.waiting_human == n - n // 2
    assert report.asked == {"cheap": n, "people": n - n // 2}

    df = exported(chain_project)
    decided = df[df["label"].notna()]
    assert sorted(decided.index) == KEPT
    assert (decided["decided_by"] == "cheap").all()
    assert (decided["tier"] == "link 1: cheap").all()
    for item in KEPT:
        assert decided.loc[item, "label"] == RECORDED[item][0]
    # the abstention ranks last and goes on to people
    assert pd.isna(df.loc["i4", "label"])
    assert chain_project.status().waiting_human == n - n // 2


def test_chain_link_with_people_decides_only_when_all_answers_arrived(chain_project):
    chain_project.run()
    forwarded = sorted(PEOPLE_SAY)

    assert chain_project.add_judgements(answers(forwarded[:2])) == 2
    report = chain_project.run()
    # a link is ranked as a whole: two answers of five decide nothing yet
    assert report.status == "waiting"
    assert report.decided_now == 0
    assert report.waiting_human == 3
    assert exported(chain_project).loc[forwarded, "label"].isna().all()

    assert chain_project.add_judgements(answers(forwarded[2:])) == 3
    report = chain_project.run()
    assert report.status == "done"
    assert report.decided_now == len(forwarded)
    assert report.waiting_human == 0 and report.open == 0

    df = exported(chain_project)
    assert df["label"].notna().all()
    for item in forwarded:
        assert df.loc[item, "label"] == PEOPLE_SAY[item]
        assert df.loc[item, "decided_by"] == "people"
        assert df.loc[item, "tier"] == "link 2: people"
        assert df.loc[item, "annotators"] == "cheap;people"  # both were consulted
        assert df.loc[item, "cost"] == pytest.approx(0.25)
    assert (df.loc[KEPT, "decided_by"] == "cheap").all()
    assert chain_project.status().last_run == "done"


# -- people as the last tier of a cascade -----------------------------------------------
def test_cascade_defers_unsure_items_to_people_and_uses_their_answers(cascade_project):
    confident = sorted(i for i, (lab, c) in RECORDED.items() if lab and c >= 0.9)
    unsure = sorted(set(TEXTS) - set(confident))

    report = cascade_project.run()
    assert report.status == "waiting"
    assert report.decided_now == len(confident)
    assert report.waiting_human == len(unsure)
    df = exported(cascade_project)
    assert (df.loc[confident, "tier"] == "cheap").all()
    assert df.loc[unsure, "label"].isna().all()

    people = {i: ("positive" if i in ("i0", "i2") else "negative") for i in unsure}
    stored = cascade_project.add_judgements(
        [{"item": i, "annotator": "people", "label": lab} for i, lab in people.items()])
    assert stored == len(unsure)
    report = cascade_project.run()
    assert report.status == "done"
    assert report.decided_now == len(unsure)
    assert report.waiting_human == 0

    df = exported(cascade_project)
    for item, label in people.items():
        assert df.loc[item, "label"] == label
        assert df.loc[item, "tier"] == "people"
        assert df.loc[item, "decided_by"] == "people"
    for item in confident:
        assert df.loc[item, "label"] == RECORDED[item][0]


# -- answers from people: errors ---------------------------------------------------------
def test_answer_without_an_open_task_is_refused(cascade_project):
    with pytest.raises(lq.LabelquorumError) as before_run:
        cascade_project.add_judgements([{"item": "i0", "annotator": "people",
                                         "label": "positive"}])
    message = str(before_run.value)
    assert "no open task" in message and "'i0'" in message and "'people'" in message
    assert "labelquorum run" in message

    cascade_project.run()
    # i1 was decided by the cheap tier: people have no task for it
    with pytest.raises(lq.LabelquorumError, match="no open task for item 'i1'"):
        cascade_project.add_judgements([{"item": "i1", "annotator": "people",
                                         "label": "positive"}])
    # an unknown item, and an annotator with no tasks
    with pytest.raises(lq.LabelquorumError, match="no open task for item 'nope'"):
        cascade_project.add_judgements([{"item": "nope", "annotator": "people",
                                         "label": "positive"}])
    with pytest.raises(lq.LabelquorumError, match="'rules' is not a human annotator"):
        cascade_project.add_judgements([{"item": "i0", "annotator": "rules",
                                         "label": "positive"}])
    # a task is answered once; a second answer finds no open task
    cascade_project.add_judgements([{"item": "i0", "annotator": "people",
                                     "label": "positive"}])
    with pytest.raises(lq.LabelquorumError, match="no open task for item 'i0'"):
        cascade_project.add_judgements([{"item": "i0", "annotator": "people",
                                         "label": "negative"}])
    people = cascade_project.judgements().query("annotator == 'people'")
    assert list(people["label"]) == ["positive"]


def test_unknown_label_is_refused_and_nothing_is_stored(cascade_project):
    cascade_project.run()
    before = len(cascade_project.judgements())
    waiting = cascade_project.status().waiting_human
    batch = [{"item": "i0", "annotator": "people", "label": "negative"},
             {"item": "i2", "annotator": "people", "label": "neutral"}]
    with pytest.raises(lq.LabelquorumError) as raised:
        cascade_project.add_judgements(batch)
    message = str(raised.value)
    assert "'neutral'" in message and "negative" in message and "positive" in message
    # all or nothing: the valid answer in the same batch is not stored either
    assert len(cascade_project.judgements()) == before
    assert cascade_project.status().waiting_human == waiting
    report = cascade_project.run()
    assert report.status == "waiting" and report.waiting_human == waiting


# -- a policy from outside the package ---------------------------------------------------
class RulesThenRecorded(Policy):
    """Ask the rules about every open item; ask the recorded annotator only where the rules
    abstain; decide each item once its answers are in."""

    def annotators(self) -> list[str]:
        return ["rules", "cheap"]

    def step(self, state: PolicyState) -> Plan:
        plan = Plan()
        open_ = state.open
        plan.ask("rules", np.flatnonzero(open_ & (state.status["rules"] == NOT_ASKED)))
        by_rules = np.flatnonzero(open_ & (state.status["rules"] == OK))
        plan.decide(Decision(by_rules, state.consensus(["rules"], by_rules), ["rules"],
                             "rules"))
        abstained = open_ & state.resolved(["rules"]) & (state.status["rules"] != OK)
        plan.ask("cheap", np.flatnonzero(abstained & (state.status["cheap"] == NOT_ASKED)))
        by_cheap = np.flatnonzero(abstained & state.resolved(["cheap"]))
        plan.decide(Decision(by_cheap, state.consensus(["cheap"], by_cheap), ["cheap"],
                             "recorded"))
        return plan


def test_third_party_policy_runs_through_the_run_loop(chain_project):
    policy = RulesThenRecorded()
    annotators = chain_project.build_annotators(policy.annotators())
    report = chain_project.run(policy=policy, annotators=annotators)

    by_rules = {"i0": "negative", "i1": "positive", "i2": "negative", "i3": "positive",
                "i6": "negative", "i9": "positive"}
    rest = sorted(set(TEXTS) - set(by_rules))
    assert report.status == "done" and report.open == 0
    assert report.decided_now == len(TEXTS)
    assert report.asked == {"rules": len(TEXTS), "cheap": len(rest)}

    df = exported(chain_project)
    for item, label in by_rules.items():
        assert (df.loc[item, "label"], df.loc[item, "tier"]) == (label, "rules")
    for item in rest:
        expected = RECORDED[item][0] or None
        assert df.loc[item, "tier"] == "recorded"
        assert df.loc[item, "decided_by"] == "cheap"
        if expected is None:  # the recorded annotator abstained: decided, unlabelled
            assert pd.isna(df.loc[item, "label"]) and df.loc[item, "flags"] == "unlabelled"
        else:
            assert df.loc[item, "label"] == expected
    # nothing is left to do: a second run asks no one
    again = chain_project.run(policy=policy, annotators=annotators)
    assert again.asked == {} and again.decided_now == 0


# ---------------------------------------------------------------------------
# Retraining on verified labels (AutoAnnotator's "retrain every beta items")
# ---------------------------------------------------------------------------
RETRAIN_CONFIG = """
[project]
name = "retrain"

[task]
labels = ["neg", "pos"]

[annotators.rules]
type = "rules"
rules = [{ label = "pos", keywords = ["great"] }, { label = "neg", keywords = ["awful"] }]

[annotators.model]
type = "tfidf"
min_train = 4

[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["rules", "model"]
"""


class RetrainAfterRules(Policy):
    """Test policy: rules label what they can; then the model is retrained on those labels
    and relabels the rest, which it could not label before (too few labels to train)."""

    def annotators(self):
        return ["rules", "model"]

    def step(self, state):
        plan = Plan()
        open_ = state.open
        for name in ("rules", "model"):
            plan.ask(name, np.flatnonzero(open_ & (state.status[name] == NOT_ASKED)))
        if plan.asks:
            return plan
        ruled = np.flatnonzero(open_ & (state.status["rules"] == OK))
        if len(ruled):
            plan.decide(Decision(ruled, state.consensus(["rules"], ruled), ["rules"], "rules"))
            return plan
        rest = np.flatnonzero(open_)
        model_silent = (state.status["model"][rest] != OK).all()
        if len(rest) and model_silent:
            plan.refit = ["model"]
            plan.ask("model", rest)
            return plan
        if len(rest):
            plan.decide(Decision(rest, state.consensus(["model"], rest), ["model"], "model"))
        return plan


def test_a_policy_can_retrain_a_model_on_verified_labels_and_relabel(tmp_path):
    project = lq.init_project(tmp_path / "p", config_text=RETRAIN_CONFIG)
    texts = ["a great film", "great acting", "great fun", "a great cast",
             "an awful film", "awful acting", "awful fun", "an awful cast",
             "the film was fun acting", "the cast film"]
    project.import_dataframe(pd.DataFrame({"id": [f"i{k}" for k in range(10)], "text": texts}),
                             id_column="id")
    report = project.run(policy=RetrainAfterRules())
    assert report.status == "done"
    out = project.to_dataframe().set_index("id")
    assert (out.loc[["i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7"], "decided_by"] == "rules").all()
    assert (out.loc[["i8", "i9"], "decided_by"] == "model").all()
    assert out.loc[["i8", "i9"], "label"].isin(["neg", "pos"]).all()
    model = project.judgements().query("annotator == 'model' and item == 'i8'")
    # first an abstention from the untrained model, then a label from the retrained one
    assert model["status"].tolist() == ["abstain", "ok"]
    assert model["annotator_version"].nunique() == 2
