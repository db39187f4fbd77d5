"""Every export carries the item's fields by default (``--fields none|all|a,b``)."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.cli import app
from labelquorum.errors import ExportError
from labelquorum.export import COLUMNS


@pytest.fixture
def project(tmp_path):
    p = lq.init_project(tmp_path / "p", labels=["negative", "positive"])
    rows = [{"id": "a", "text": "good film", "year": 1999, "score": 0.5, "tags": ["x", "y"],
             "label": "positive", "confidence": "high"},
            {"id": "b", "text": "bad film", "year": 2001, "score": 1.25, "tags": [],
             "label": "negative", "confidence": "low"}]
    p.import_dataframe(pd.DataFrame(rows), gold_column="label")
    return p


def read(path):
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if path.suffix == ".jsonl":
        return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])
    return pd.read_parquet(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_fields_are_exported_by_default_after_the_usual_columns(project, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    assert project.export(out) == 2
    df = read(out)
    assert list(df.columns[:len(COLUMNS)]) == COLUMNS
    assert list(df.columns[len(COLUMNS):]) == ["text", "year", "score", "tags",
                                               "field_confidence"]
    assert df["text"].tolist() == ["good film", "bad film"]
    # a field named like an output column keeps its value under the field_ prefix
    assert df["field_confidence"].tolist() == ["high", "low"]
    assert df["gold"].tolist() == ["positive", "negative"]
    if suffix == ".csv":
        assert df["year"].tolist() == ["1999", "2001"]
        assert json.loads(df["tags"][0]) == ["x", "y"]  # lists as JSON, not Python repr
    else:
        assert df["year"].tolist() == [1999, 2001]
        assert df["score"].tolist() == [0.5, 1.25]
        assert list(df["tags"][0]) == ["x", "y"]


def test_fields_none_and_a_chosen_list(project, tmp_path):
    project.export(tmp_path / "none.csv", fields="none")
    assert list(read(tmp_path / "none.csv").columns) == COLUMNS
    project.export(tmp_path / "two.jsonl", fields="year,text")
    assert list(read(tmp_path / "two.jsonl").columns) == COLUMNS + ["year", "text"]
    project.export(tmp_path / "list.jsonl", fields=["confidence"])
    assert list(read(tmp_path / "list.jsonl").columns) == COLUMNS + ["field_confidence"]


def test_an_unknown_field_is_refused_naming_the_fields(project, tmp_path):
    with pytest.raises(ExportError, match=r"'colour'.*text, year, score, tags, confidence"):
        project.export(tmp_path / "x.csv", fields="text,colour")
    assert not (tmp_path / "x.csv").exists()


def test_cli_fields_option(project, tmp_path):
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(app, ["export", str(out), "-p", str(project.path),
                                      "--fields", "text"])
    assert result.exit_code == 0, result.output
    assert list(read(out).columns) == COLUMNS + ["text"]
    result = CliRunner().invoke(app, ["export", str(out), "-p", str(project.path),
                                      "--fields", "nope"])
    assert result.exit_code == 1 and "nope" in result.output


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_an_export_imports_back_with_the_same_ids_gold_and_fields(project, tmp_path, suffix):
    project.export(tmp_path / f"out{suffix}")
    again = lq.init_project(tmp_path / "q", labels=["negative", "positive"])
    result = again.import_file(tmp_path / f"out{suffix}")
    assert (result.id_column, result.gold_column) == ("id", "gold")
    assert again.gold_labels() == project.gold_labels()
    back = again.to_dataframe(fields="all").set_index("id")
    first = project.to_dataframe(fields="all").set_index("id")
    for name in ("text", "year", "score"):
        assert back[name].tolist() == first[name].tolist()
    assert [list(v) for v in back["tags"]] == [list(v) for v in first["tags"]]
