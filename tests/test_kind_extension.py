"""A new kind of task is one class: a ``count`` kind (how many things an item mentions, a
whole number) defined in this file alone runs end to end through a project — import with
gold, simulated annotators, a run with a policy, export, status and the report — with no
other module knowing about it. This is the contract the rating, pairwise and free-text
kinds are built on (see labelquorum.kinds.base)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import labelquorum as lq
from labelquorum import plugins
from labelquorum.errors import ImportDataError, LabelquorumError
from labelquorum.kinds.base import VALUE_TYPES, TaskKind, forget_value_type
from labelquorum.quality.report import build_report


@pytest.fixture
def count_kind():
    class CountKind(TaskKind, value_type="count"):
        """A whole number >= 0; consensus: the weighted median of the answers."""

        needs_labels = False

        def parse(self, task, raw, text=None):
            try:
                value = int(str(raw).strip())
            except ValueError:
                raise LabelquorumError(f"a count is a whole number, not {raw!r}") from None
            if value < 0:
                raise LabelquorumError(f"a count is 0 or more, not {value}")
            return value

        def format(self, task, value):
            return str(value)

        def consensus(self, task, values, weights, text):
            pairs = sorted(zip(values, weights or [1.0] * len(values)))
            half, run = sum(w for _, w in pairs) / 2, 0.0
            for value, w in pairs:
                run += w
                if run >= half:
                    break
            agree = sum(v == value for v in values) / len(values)
            return value, agree, agree

        def simulate(self, task, gold, accuracy, draw, confusion=None):
            gold = self.parse(task, gold)
            if draw() < accuracy:
                return gold, accuracy
            return gold + 1 + int(draw("off") * 2), accuracy

    kind = TaskKind("count", "count", description="how many things an item mentions")
    assert isinstance(kind, CountKind)
    plugins.register(kind)
    yield kind
    plugins.task_kinds.unregister("count")
    forget_value_type("count")


CONFIG = """
[project]
name = "counts"
[task]
kind = "count"
[annotators.a]
type = "simulated"
accuracy = 0.9
[annotators.b]
type = "simulated"
accuracy = 0.8
[annotators.c]
type = "simulated"
accuracy = 0.85
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["a", "b", "c"]
"""


def _items(tmp_path, n=40, bad=None):
    rows = [{"id": f"i{i}", "text": f"item {i} mentions {i % 5} things", "gold": i % 5}
            for i in range(n)]
    if bad is not None:
        rows[3]["gold"] = bad
    path = tmp_path / "items.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_kind_defined_in_one_file_runs_end_to_end(tmp_path, count_kind):
    project = lq.init_project(tmp_path / "p", config_text=CONFIG)
    result = project.import_file(_items(tmp_path), id_column="id")
    assert (result.items, result.with_gold) == (40, 40)
    assert project.gold_labels()["i7"] == 2  # parsed by the kind: a number, not "2"

    report = project.run(seed=1)
    assert report.status == "done"
    out = tmp_path / "labels.csv"
    project.export(out)
    labels = pd.read_csv(out, dtype={"label": str})
    assert len(labels) == 40 and labels["label"].notna().all()
    gold = {f"i{i}": str(i % 5) for i in range(40)}
    right = sum(gold[i] == lab for i, lab in zip(labels["id"], labels["label"]))
    assert right >= 36  # three annotators of 80-90 % and a median beat any one of them
    # the ledger keeps each answer's value and its text form
    j = project.judgements()
    assert set(j["value_type"]) == {"count"}
    assert j["label"].str.fullmatch(r"\d+").all()

    status = project.status()
    assert status.items == 40 and status.decided == 40
    assert status.evaluation_accuracy == pytest.approx(right / 40)

    report = build_report(project, n_boot=0, label_issues=False).data
    assert report["evaluation"]["accuracy"] == pytest.approx(right / 40)
    assert report["evaluation"]["metric"] == "exact match"
    assert report["agreement"]["status"] == "computed"


def test_bad_gold_of_a_new_kind_is_refused_by_the_kind(tmp_path, count_kind):
    project = lq.init_project(tmp_path / "p", config_text=CONFIG)
    with pytest.raises(ImportDataError, match="row 4.*a count is 0 or more, not -2"):
        project.import_file(_items(tmp_path, bad=-2), id_column="id")
    assert project.status().items == 0


def test_a_value_type_is_registered_by_its_class_and_forgotten(count_kind):
    assert "count" in VALUE_TYPES
    assert json.loads(count_kind.to_json(None, 3)) == 3
    with pytest.raises(TypeError, match="no task kind implements the value type 'rating'"):
        TaskKind("stars", "rating")
