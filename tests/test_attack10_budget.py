"""Attack on issue #10: a budget too small for the calibrated gate's probes."""

from __future__ import annotations

import importlib.resources

import pandas as pd

import labelquorum as lq

SAMPLE = importlib.resources.files("labelquorum") / "data" / "sst2_sample.csv"

CONFIG = """
[project]
name = "b"
seed = 1

[task]
labels = ["negative", "positive"]

[annotators.tfidf]
type = "tfidf"
min_train = 20

[annotators.llm]
type = "simulated"
stands_for = "llm"
accuracy = 0.9
cost_per_call = 0.002

[policy]
type = "vote-then-verify"
specialists = ["tfidf"]
verifiers = ["llm"]
budget = 0.05
"""


def test_a_budget_spent_on_probes_is_named_as_the_reason(tmp_path):
    project = lq.init_project(tmp_path / "p", labels=[], config_text=CONFIG)
    df = pd.read_csv(SAMPLE).head(400)
    project.import_dataframe(df, id_column="id", gold_column="label",
                             split="seed=40,calibration=100")
    report = project.run()
    assert report.cost <= 0.05 + 1e-9  # the cap held
    gate = [n for n in report.notes if n.startswith("calibrated gate")]
    assert gate and "budget" in gate[0], report.notes
    assert "Add calibration gold" not in gate[0]
