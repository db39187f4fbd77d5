"""Import takes an ``id`` column when there is one, says which column it used, and refuses
duplicate ids naming both rows."""

import pytest
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.cli import app
from labelquorum.errors import ImportDataError


@pytest.fixture
def project(tmp_path):
    return lq.init_project(tmp_path / "p", labels=["negative", "positive"])


def test_an_id_column_gives_the_ids_and_is_named(project, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,text,gold\nr7,good film,positive\nr9,bad film,negative\n")
    result = project.import_file(path)
    assert result.id_column == "id"
    df = project.to_dataframe()
    assert df["id"].tolist() == ["r7", "r9"]


def test_without_an_id_column_ids_come_from_content_and_that_is_said(project, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text\ngood film\n")
    result = project.import_file(path)
    assert result.id_column is None
    assert len(project.to_dataframe()["id"][0]) == 16


def test_id_column_option_still_overrides(project, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,key,text\n1,k1,good film\n1,k2,bad film\n")
    result = project.import_file(path, id_column="key")
    assert result.id_column == "key"
    assert project.to_dataframe()["id"].tolist() == ["k1", "k2"]


def test_duplicate_ids_in_the_id_column_name_both_rows(project, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,text\na,one\nb,two\na,three\n")
    with pytest.raises(ImportDataError) as exc:
        project.import_file(path)
    message = str(exc.value)
    assert "row 3" in message and "first seen in row 1" in message and "'a'" in message
    assert "--id-column" in message  # how to fix: name another column
    assert len(project.to_dataframe()) == 0


def test_cli_prints_the_id_column(tmp_path):
    lq.init_project(tmp_path / "p", labels=["negative", "positive"])
    (tmp_path / "a.csv").write_text("id,text\nx1,good\nx2,bad\n")
    out = CliRunner().invoke(app, ["import", str(tmp_path / "a.csv"), "-p", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    assert "ids from column 'id'" in out.output
    assert "gold from column" not in out.output  # there is none
    (tmp_path / "b.csv").write_text("text\nfine\n")
    out = CliRunner().invoke(app, ["import", str(tmp_path / "b.csv"), "-p", str(tmp_path / "p")])
    assert "ids derived from content" in out.output
    (tmp_path / "c.csv").write_text("id,text,label\nx3,good,positive\n")
    out = CliRunner().invoke(app, ["import", str(tmp_path / "c.csv"), "-p", str(tmp_path / "p")])
    assert "ids from column 'id', gold from column 'label'" in " ".join(out.output.split())
