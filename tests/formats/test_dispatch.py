"""Choosing the format: by suffix, by --format, and clear errors for the rest."""

import pytest
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.cli import app
from labelquorum.errors import ExportError, ImportDataError


@pytest.fixture
def project(tmp_path):
    p = lq.init_project(tmp_path / "p", labels=["negative", "positive"])
    (tmp_path / "a.csv").write_text("id,text\n1,good\n")
    p.import_file(tmp_path / "a.csv")
    return p


def test_unknown_formats_name_the_valid_ones(project, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'xml'.*labelstudio, hf"):
        project.export(tmp_path / "x.out", format="xml")
    with pytest.raises(ExportError, match=r"--format \(hf for a Hugging Face"):
        project.export(tmp_path / "x.out")
    with pytest.raises(ImportDataError, match="unknown import format 'xml'"):
        project.import_file(tmp_path / "a.csv", format="xml")
    with pytest.raises(ImportDataError, match="cannot import a list; give a file path"):
        project.import_items([{"text": "x"}])


def test_format_option_overrides_the_suffix(project, tmp_path):
    (tmp_path / "b.txt").write_text('{"id": "2", "text": "bad"}\n')
    assert project.import_file(tmp_path / "b.txt", format="jsonl").items == 1
    project.export(tmp_path / "out.txt", format="csv")
    assert (tmp_path / "out.txt").read_text().startswith("id,label,confidence")


def test_cli_format_option_on_import_and_export(project, tmp_path):
    runner = CliRunner()
    (tmp_path / "c.data").write_text('{"id": "3", "text": "fine"}\n')
    result = runner.invoke(app, ["import", str(tmp_path / "c.data"), "--format", "jsonl",
                                 "-p", str(project.path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", str(tmp_path / "o.data"), "--format", "jsonl",
                                 "-p", str(project.path)])
    assert result.exit_code == 0 and "Wrote 2 items" in result.output, result.output
    result = runner.invoke(app, ["export", str(tmp_path / "o.conll"), "-p", str(project.path)])
    assert result.exit_code == 1 and "only a spans task exports to it" in result.output
