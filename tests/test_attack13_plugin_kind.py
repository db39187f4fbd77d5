"""Attack on issue #13's extension point: a third party's task kind with a bug in one of
its hooks. The user did nothing wrong, so the error must name the kind (and where it came
from) in a sentence, through the CLI's clean error path, not end in a raw traceback."""

from __future__ import annotations

import pandas as pd
import pytest

import labelquorum as lq
from labelquorum import plugins
from labelquorum.errors import LabelquorumError
from labelquorum.kinds.base import TaskKind, forget_value_type

CONFIG = """
[project]
name = "brittle"
[task]
kind = "brittle"
[annotators.a]
type = "simulated"
accuracy = 0.9
[annotators.b]
type = "simulated"
accuracy = 0.8
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["a", "b"]
"""


@pytest.fixture
def brittle_kind():
    class BrittleKind(TaskKind, value_type="brittle"):
        """Whole numbers; its parse chokes on 'boom' and its consensus on a 13 (bugs)."""

        needs_labels = False

        def parse(self, task, raw, text=None):
            if str(raw).strip() == "boom":
                raise KeyError("boom")  # a bug, not a refusal
            try:
                return int(str(raw).strip())
            except ValueError:
                raise LabelquorumError(f"a count is a whole number, not {raw!r}") from None

        def format(self, task, value):
            return str(value)

        def consensus(self, task, values, weights, text):
            if 13 in values:
                return 1 / 0  # a bug
            return values[0], 1.0, 1.0

        def simulate(self, task, gold, accuracy, draw, confusion=None):
            return self.parse(task, gold), accuracy

    kind = TaskKind("brittle", "brittle", description="a kind with bugs")
    plugins.register(kind)
    yield kind
    plugins.task_kinds.unregister("brittle")
    forget_value_type("brittle")


def test_a_kind_whose_parse_has_a_bug_is_named_at_import(tmp_path, brittle_kind):
    project = lq.init_project(tmp_path / "p", config_text=CONFIG)
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "gold": ["1", "boom"]})
    with pytest.raises(LabelquorumError, match="task kind 'brittle'.*KeyError"):
        project.import_dataframe(frame, id_column="id")
    assert project.status().items == 0


def test_a_kind_whose_consensus_has_a_bug_is_named_by_the_run(tmp_path, brittle_kind):
    project = lq.init_project(tmp_path / "p", config_text=CONFIG)
    project.import_dataframe(pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"],
                                           "gold": ["1", "13"]}), id_column="id")
    with pytest.raises(LabelquorumError, match="task kind 'brittle'.*ZeroDivisionError"):
        project.run()
