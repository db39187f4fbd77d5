"""``labelquorum export --judgements``: the long table that ``labelquorum aggregate`` and
crowd-kit read as it is."""

import pandas as pd
import pytest
from format_projects import labelled_project
from typer.testing import CliRunner

from labelquorum.cli import app


def test_judgement_table_has_every_answer_and_who_gave_it(tmp_path):
    project = labelled_project(tmp_path / "p")
    out = tmp_path / "j.csv"
    assert project.export(out, judgements=True) == 12
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns) == ["task", "worker", "label", "annotator_kind", "score", "cost",
                                "created"]
    c = df[df["task"] == "c"].set_index("worker")
    assert c["label"].to_dict() == {"small": "positive", "gpt": "negative",
                                    "people:alice": "positive", "people:bob": "negative"}
    assert float(c.loc["people:bob", "score"]) == 0.4 and float(c.loc["gpt", "score"]) == 0.7
    assert c.loc["people:alice", "score"] == ""  # no confidence given
    assert c.loc["people:alice", "annotator_kind"] == "human"
    assert df["created"].str.endswith("Z").all()


def test_aggregate_reads_the_exported_table(tmp_path):
    project = labelled_project(tmp_path / "p")
    runner = CliRunner()
    table = tmp_path / "j.jsonl"
    result = runner.invoke(app, ["export", str(table), "--judgements", "-p", str(project.path)])
    assert result.exit_code == 0 and "Wrote 12 judgements" in result.output, result.output
    result = runner.invoke(app, ["aggregate", str(table), "--method", "majority-vote",
                                 "-o", str(tmp_path / "agg.csv")])
    assert result.exit_code == 0, result.output
    assert "4 items, 4 annotators, 12 answers" in result.output
    agg = pd.read_csv(tmp_path / "agg.csv").set_index("item")["label"]
    assert agg["a"] == "positive" and agg["d"] == "negative"


def test_judgements_only_as_tables(tmp_path):
    project = labelled_project(tmp_path / "p")
    result = CliRunner().invoke(app, ["export", str(tmp_path / "j.json"), "--judgements",
                                      "-p", str(project.path)])
    assert result.exit_code == 1 and "CSV, JSONL or Parquet" in result.output


def test_crowd_kit_reads_the_table_directly(tmp_path):
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    project = labelled_project(tmp_path / "p")
    project.export(tmp_path / "j.parquet", judgements=True)
    labels = crowdkit.MajorityVote().fit_predict(pd.read_parquet(tmp_path / "j.parquet"))
    assert labels["a"] == "positive" and labels["d"] == "negative"
