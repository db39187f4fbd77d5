"""Cascade, vote-then-verify and the money budget, through the real run loop."""

import numpy as np
import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.aggregation import MajorityVote, WeightedVote

LABELS = ["neg", "pos"]


def make_project(tmp_path, answers: dict[str, dict[str, tuple[str, float]]], policy: str,
                 costs: dict[str, float] | None = None, n_items: int = 6):
    """Items i0..i{n-1}; `answers[annotator][item] = (label, confidence)` served by replay."""
    rows = [{"item": item, "annotator": ann, "label": lab, "confidence": conf}
            for ann, per in answers.items() for item, (lab, conf) in per.items()]
    pd.DataFrame(rows).to_csv(tmp_path / "answers.csv", index=False)
    costs = costs or {}
    anns = "\n".join(
        f'[annotators.{a}]\ntype = "replay"\npath = "answers.csv"\n'
        f"cost_per_call = {costs.get(a, 0.0)}\n" for a in answers)
    text = f"""
[project]
name = "t"
[task]
labels = {LABELS!r}
{anns}
{policy}
"""
    project = lq.init_project(tmp_path, LABELS, config_text=text)
    items = pd.DataFrame({"id": [f"i{k}" for k in range(n_items)],
                          "text": [f"text {k}" for k in range(n_items)]})
    project.import_dataframe(items, id_column="id")
    return project


CASCADE = """
[policy]
type = "cascade"
[[policy.tiers]]
name = "cheap"
annotators = ["a", "b"]
min_confidence = 0.7
min_agreement = 1.0
[[policy.tiers]]
name = "expensive"
annotators = ["c"]
"""


def test_cascade_accepts_confident_agreement_and_escalates_the_rest(tmp_path):
    answers = {
        "a": {"i0": ("pos", 0.9), "i1": ("pos", 0.9), "i2": ("pos", 0.55), "i3": ("neg", 0.9)},
        "b": {"i0": ("pos", 0.8), "i1": ("neg", 0.9), "i2": ("pos", 0.6), "i3": ("neg", 0.95)},
        "c": {f"i{k}": ("neg", 0.99) for k in range(6)},
    }
    project = make_project(tmp_path, answers, CASCADE, costs={"c": 0.5})
    report = project.run()
    assert report.status == "done"
    out = project.to_dataframe().set_index("id")
    assert out.loc["i0", "tier"] == "cheap" and out.loc["i0", "label"] == "pos"
    assert out.loc["i3", "tier"] == "cheap" and out.loc["i3", "label"] == "neg"
    # disagreement (i1), low confidence (i2) and no votes (i4, i5) go to the next tier
    for item in ["i1", "i2", "i4", "i5"]:
        assert out.loc[item, "tier"] == "expensive"
        assert out.loc[item, "label"] == "neg"
        assert out.loc[item, "cost"] == pytest.approx(0.5)
    assert out.loc["i0", "cost"] == 0
    assert out.loc["i1", "annotators"] == "a;b;c"
    assert report.asked == {"a": 6, "b": 6, "c": 4}
    # a second run has nothing left to do and asks nobody
    again = project.run()
    assert again.asked == {} and again.decided_now == 0


def test_vote_then_verify_sends_only_non_unanimous_items_to_the_verifier(tmp_path):
    answers = {
        "s1": {"i0": ("pos", 0.6), "i1": ("pos", 0.6), "i2": ("neg", 0.6)},
        "s2": {"i0": ("pos", 0.6), "i1": ("neg", 0.6), "i2": ("neg", 0.6)},
        "v": {f"i{k}": ("pos", 0.9) for k in range(3)},
    }
    policy = """
[policy]
type = "vote-then-verify"
specialists = ["s1", "s2"]
verifiers = ["v"]
"""
    project = make_project(tmp_path, answers, policy, n_items=3)
    report = project.run()
    out = project.to_dataframe().set_index("id")
    assert out["tier"].to_dict() == {"i0": "specialists", "i1": "verifiers", "i2": "specialists"}
    assert out["label"].to_dict() == {"i0": "pos", "i1": "pos", "i2": "neg"}
    assert report.asked["v"] == 1


def test_budget_stops_escalation_and_keeps_best_label_so_far(tmp_path):
    answers = {
        "a": {f"i{k}": ("pos", 0.6) for k in range(6)},
        "b": {f"i{k}": ("pos", 0.6) for k in range(6)},
        "c": {f"i{k}": ("neg", 0.99) for k in range(6)},
    }
    policy = CASCADE.replace('type = "cascade"', 'type = "cascade"\nbudget = 1.0')
    project = make_project(tmp_path, answers, policy, costs={"c": 0.4})
    report = project.run()
    out = project.to_dataframe().set_index("id")
    assert report.asked["c"] == 2  # 2 x 0.4 fits in 1.0; a third call would not
    assert report.budget_stopped == 4
    assert out["cost"].sum() <= 1.0
    stopped = out[out["flags"] == "budget"]
    assert len(stopped) == 4
    assert (stopped["label"] == "pos").all()  # best label so far, from the cheap tier
    status = project.status()
    assert status.total_cost == pytest.approx(0.8)
    assert status.flags == {"budget": 4}
    # raising the budget reopens the flagged items on the next run
    text = (project.path / "labelquorum.toml").read_text().replace("budget = 1.0",
                                                                    "budget = 10.0")
    (project.path / "labelquorum.toml").write_text(text)
    project = lq.open_project(project.path)
    report = project.run()
    out = project.to_dataframe().set_index("id")
    assert report.asked == {"c": 4}
    assert (out["label"] == "neg").all() and (out["flags"] == "").all()
    assert out["cost"].sum() == pytest.approx(2.4)


def test_majority_and_weighted_vote():
    df = pd.DataFrame({
        "task": ["x", "x", "x", "y", "y"],
        "worker": ["w1", "w2", "w3", "w1", "w2"],
        "label": ["a", "a", "b", "a", "b"],
    })
    assert MajorityVote().fit_predict(df)["x"] == "a"
    weighted = WeightedVote(skills={"w1": 1.0, "w2": 1.0, "w3": 5.0}).fit(df)
    assert weighted.labels_["x"] == "b"  # one skilled annotator outweighs two others
    np.testing.assert_allclose(weighted.probas_.loc["y"], [0.5, 0.5])  # a tie
    np.testing.assert_allclose(weighted.probas_.sum(axis=1), 1.0)


def test_vote_ties_do_not_depend_on_label_names_or_row_order():
    rng = np.random.default_rng(0)
    items = [f"t{k}" for k in range(200)]
    df = pd.DataFrame({"item": np.repeat(items, 2), "annotator": ["u", "v"] * 200,
                       "label": ["a", "b"] * 200})
    first = MajorityVote(seed=3).fit_predict(df)
    shuffled = df.sample(frac=1, random_state=1)
    assert first.equals(MajorityVote(seed=3).fit_predict(shuffled).loc[first.index])
    renamed = df.replace({"label": {"a": "zz", "b": "aa"}})
    again = MajorityVote(seed=3, labels=["zz", "aa"]).fit_predict(renamed)
    assert (again.map({"zz": "a", "aa": "b"}) == first).all()
    assert 60 < (first == "a").sum() < 140  # ties split, not always the first label
    del rng
