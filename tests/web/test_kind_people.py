"""People label a kind that no built-in page knows: a ``count`` kind defined in this file
(a whole number per item, no label set, no annotation widget) is served by the web app —
the annotate page says it has no widget, the JSON API takes numbers, the kind refuses a
bad one with its own sentence, and the next run decides the items from the answers."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import Session, add_users

from labelquorum import init_project, plugins
from labelquorum.errors import LabelquorumError
from labelquorum.kinds.base import TaskKind, forget_value_type

CONFIG = """
[project]
name = "counts"
[task]
kind = "count"
[annotators.people]
type = "human"
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["people"]
"""


@pytest.fixture
def count_kind():
    class CountKind(TaskKind, value_type="count"):
        needs_labels = False

        def parse(self, task, raw, text=None):
            if isinstance(raw, bool) or not str(raw).strip().isdigit():
                raise LabelquorumError(f"a count is a whole number of 0 or more, not {raw!r}")
            return int(str(raw).strip())

        def format(self, task, value):
            return str(value)

    kind = CountKind("count")
    plugins.register(kind)
    yield kind
    plugins.task_kinds.unregister("count")
    forget_value_type("count")


def test_people_answer_a_new_kind_through_the_web_api(tmp_path, count_kind):
    from labelquorum.web import create_app

    project = init_project(tmp_path / "p", config_text=CONFIG)
    project.import_dataframe(pd.DataFrame({"id": ["a", "b"],
                                           "text": ["two cats", "three dogs"]}),
                             id_column="id")
    project.run()
    add_users(project, {"ann": "annotator"})
    ann = Session(create_app(project), "ann")

    page = ann.get("/annotate")
    assert page.status_code == 200
    assert 'data-testid="no-widget"' in page.text and "count tasks" in page.text

    answers = {"two cats": 2, "three dogs": 3}
    for _ in range(2):
        item = ann.next()
        bad = ann.post("/api/submit", json={"id": item["id"], "label": -1})
        assert bad.status_code == 422 and "a count is a whole number" in bad.text
        ok = ann.post("/api/submit", json={"id": item["id"],
                                           "label": answers[item["fields"]["text"]]})
        assert ok.status_code == 200, ok.text
    assert ann.next() is None

    project.run()
    out = tmp_path / "labels.csv"
    project.export(out)
    labels = pd.read_csv(out)
    assert dict(zip(labels["id"], labels["label"])) == {"a": 2, "b": 3}
    j = project.judgements()
    assert sorted(j["value"]) == [2, 3] and set(j["value_type"]) == {"count"}
