"""People's answers through ``Project.add_judgements``: each person is a worker, and a
task with ``overlap`` takes that many answers from different people before it is done."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.aggregation import make_aggregator
from labelquorum.cli import app

CONFIG = """
[project]
name = "people"

[task]
labels = ["neg", "pos"]

[annotators.rules]
type = "rules"
rules = [{ label = "pos", keywords = ["never-said"] }]

[annotators.people]
type = "human"
overlap = 3

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "rules"
annotators = ["rules"]

[[policy.tiers]]
name = "people"
annotators = ["people"]
"""

ITEMS = [f"i{n}" for n in range(10)]


def truth(item: str) -> str:
    return "pos" if int(item[1:]) % 2 else "neg"


@pytest.fixture
def project(tmp_path):
    p = lq.init_project(tmp_path / "p", config_text=CONFIG)
    p.import_dataframe(pd.DataFrame({"id": ITEMS, "text": [f"text {i}" for i in ITEMS]}),
                       id_column="id")
    report = p.run()
    assert report.waiting_human == 10
    yield p
    p.close()


def answers(worker: str, wrong: bool = False) -> list[dict]:
    return [{"item": i, "annotator": "people", "worker": worker,
             "label": "pos" if wrong else truth(i)} for i in ITEMS]


def test_three_people_answer_each_item_and_are_three_workers(project, tmp_path):
    assert project.add_judgements(answers("alice") + answers("bob")) == 20
    # two of three answers in: the people's tasks are still open
    report = project.run()
    assert report.waiting_human == 10 and report.decided_now == 0
    assert project.add_judgements(answers("carol", wrong=True)) == 10
    j = project.judgements()
    human = j[j["annotator_kind"] == "human"]
    assert len(human) == 30
    assert sorted(human["worker"].unique()) == ["alice", "bob", "carol"]
    assert sorted(human["annotator"].unique()) == ["people:alice", "people:bob",
                                                   "people:carol"]
    assert (human.groupby("item")["worker"].nunique() == 3).all()
    skills = make_aggregator("dawid-skene", seed=0).fit(human).skills_
    assert sorted(skills.index) == ["people:alice", "people:bob", "people:carol"]
    assert skills["people:carol"] < min(skills["people:alice"], skills["people:bob"])
    # the exported table, through the CLI: one skill per person
    human[["item", "annotator", "label"]].to_csv(tmp_path / "answers.csv", index=False)
    result = CliRunner().invoke(app, ["aggregate", str(tmp_path / "answers.csv"),
                                      "--skills", str(tmp_path / "skills.csv")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "skills.csv")) == 3
    # all three answers in: the run decides every item from the people's pooled votes
    report = project.run()
    assert report.open == 0 and report.waiting_human == 0
    out = project.to_dataframe().set_index("id")
    assert out["label"].to_dict() == {i: truth(i) for i in ITEMS}


def test_a_task_takes_overlap_answers_from_different_people(project):
    one = [{"item": "i0", "annotator": "people", "worker": "alice", "label": "neg"}]
    assert project.add_judgements(one) == 1
    with pytest.raises(lq.LabelquorumError, match="'alice' has answered item 'i0'"):
        project.add_judgements(one)
    with pytest.raises(lq.LabelquorumError, match="worker"):  # who answered is needed
        project.add_judgements([{"item": "i0", "annotator": "people", "label": "neg"}])
    assert project.add_judgements([
        {"item": "i0", "annotator": "people", "worker": w, "label": "neg"}
        for w in ("bob", "carol")]) == 2
    with pytest.raises(lq.LabelquorumError, match="no open task for item 'i0'"):
        project.add_judgements([{"item": "i0", "annotator": "people", "worker": "dan",
                                 "label": "neg"}])
    human = project.judgements().query("annotator_kind == 'human'")
    assert sorted(human["worker"]) == ["alice", "bob", "carol"]


def test_a_careless_latency_or_cost_gets_a_clear_error(project):
    for key, bad in (("latency", "slow"), ("cost", -1)):
        with pytest.raises(lq.LabelquorumError, match=f"{key} .* is not a number"):
            project.add_judgements([{"item": "i1", "annotator": "people", "worker": "alice",
                                     "label": "pos", key: bad}])
    assert (project.judgements()["annotator_kind"] != "human").all()  # nothing was stored
