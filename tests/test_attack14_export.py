"""Attacks on the streamed export (issue #14): items imported from JSONL whose field holds
values of several JSON types (a number in one item, text in another) are exported to
Parquet; Parquet columns have one type, so this must end in a clear error that names the
column and what to do, not in a pyarrow traceback, whether the items share a chunk or not."""

from __future__ import annotations

import json

import pytest
from engine_fixtures import cascade, config, rules_annotator
from typer.testing import CliRunner

from labelquorum.cli import app
from labelquorum.project import init_project


@pytest.mark.parametrize("chunk", [None, 1])
def test_parquet_export_of_a_field_with_mixed_types_says_what_to_do(tmp_path, monkeypatch,
                                                                     chunk):
    from labelquorum import export

    if chunk:
        monkeypatch.setattr(export, "EXPORT_CHUNK", chunk)  # one item per chunk
    project = init_project(tmp_path / "p", config_text=config(
        rules_annotator(), cascade([("rules", ["kw"], 0.7)])))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {"id": "a", "text": "one", "n": 1}, {"id": "b", "text": "two", "n": "two"}]) + "\n",
        encoding="utf-8")
    project.import_file(src, id_column="id")
    project.close()
    result = CliRunner().invoke(app, ["export", "-p", str(tmp_path / "p"),
                                      str(tmp_path / "out.parquet")])
    said = result.output + (str(result.exception) if result.exception else "")
    assert result.exit_code == 1, said
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                     SystemExit), said
    assert "'n'" in said and "--fields" in said, said
    assert not (tmp_path / "out.parquet").exists()
    # the other formats carry the values as they are
    ok = CliRunner().invoke(app, ["export", "-p", str(tmp_path / "p"),
                                  str(tmp_path / "out.jsonl")])
    assert ok.exit_code == 0, ok.output
