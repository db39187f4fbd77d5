"""Import: CSV, JSONL, Parquet; clear errors naming row and field; all or nothing."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.errors import ImportDataError, LabelquorumError


@pytest.fixture
def project(tmp_path):
    return lq.init_project(tmp_path / "p", labels=["negative", "positive"])


def count_items(project):
    return len(project.to_dataframe())


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_csv_jsonl_parquet_import_with_gold(project, tmp_path):
    write(tmp_path / "a.csv", "id,text,gold\n1,good film,positive\n2,bad film,negative\n3,meh,\n")
    rows = [{"id": "4", "text": "lovely", "label": "positive"}, {"id": "5", "text": "awful"}]
    write(tmp_path / "b.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    pd.DataFrame({"id": ["6"], "text": ["fine"], "gold": ["positive"]}).to_parquet(
        tmp_path / "c.parquet")
    assert project.import_file(tmp_path / "a.csv", id_column="id").with_gold == 2
    assert project.import_file(tmp_path / "b.jsonl", id_column="id").with_gold == 1
    assert project.import_file(tmp_path / "c.parquet", id_column="id").items == 1
    df = project.to_dataframe()
    assert df["id"].tolist() == ["1", "2", "3", "4", "5", "6"]
    assert df.set_index("id")["gold"].to_dict()["4"] == "positive"
    assert pd.isna(df.set_index("id")["gold"]["3"])


def test_derived_ids_are_stable_and_duplicates_refused(project, tmp_path):
    path = write(tmp_path / "a.csv", "text\nsame words\nother words\nsame words\n")
    with pytest.raises(ImportDataError) as exc:
        project.import_file(path)
    assert "row 3" in str(exc.value) and "same as row 1" in str(exc.value)
    assert "--allow-duplicates" in str(exc.value)
    assert count_items(project) == 0
    project.import_file(path, allow_duplicates=True)
    ids = project.to_dataframe()["id"].tolist()
    assert ids[2] == ids[0] + "-2"
    other = lq.init_project(tmp_path / "q", labels=["negative", "positive"])
    other.import_file(path, allow_duplicates=True)
    assert other.to_dataframe()["id"].tolist() == ids  # same content, same ids


@pytest.mark.parametrize("content,expected", [
    ("id,text,gold\n1,a,positive\n2,b,neutral\n", ["row 2", "field 'gold'", "'neutral'",
                                                   "negative, positive"]),
    ("id,text\n1,a\n1,b\n", ["row 2", "field 'id'", "duplicate id '1'", "first seen in row 1"]),
    ("id,body\n1,a\n", ["missing column 'text'", "columns found: id, body"]),
    ("id,text\n1,a\n2,\"b,c\",extra\n", ["row 2 has 3 fields where the header has 2"]),
    ("id,text\n1,a\n2,\n", ["row 2", "field 'text'", "empty value"]),
])
def test_bad_csv_is_refused_with_row_and_field_and_nothing_stored(project, tmp_path, content,
                                                                  expected):
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(ImportDataError) as exc:
        project.import_file(path, id_column="id")
    for part in expected:
        assert part in str(exc.value)
    assert count_items(project) == 0


def test_non_utf8_bytes_name_the_row(project, tmp_path):
    path = write(tmp_path / "bad.csv", b"id,text\n1,fine\n2,caf\xe9\n")
    with pytest.raises(ImportDataError, match="row 2.*not UTF-8"):
        project.import_file(path, id_column="id")
    assert count_items(project) == 0


def test_malformed_jsonl_names_the_line(project, tmp_path):
    path = write(tmp_path / "bad.jsonl", '{"text": "a"}\n{"text": "b"\n')
    with pytest.raises(ImportDataError, match="row 2.*malformed JSON"):
        project.import_file(path)


def test_ids_already_in_project_refuse_the_whole_file(project, tmp_path):
    project.import_file(write(tmp_path / "a.csv", "id,text\n1,a\n"), id_column="id")
    with pytest.raises(ImportDataError, match="'1' is already in the project"):
        project.import_file(write(tmp_path / "b.csv", "id,text\n2,b\n1,c\n"), id_column="id")
    assert count_items(project) == 1


def test_gold_roles_split_is_deterministic_and_disjoint(project, tmp_path):
    lines = "\n".join(f"{i},text {i},{'positive' if i % 2 else 'negative'}" for i in range(100))
    path = write(tmp_path / "a.csv", "id,text,label\n" + lines + "\n")
    result = project.import_file(path, id_column="id", split="seed=20,control=0.1")
    assert result.roles == {"seed": 20, "control": 10, "evaluation": 70}
    with pytest.raises(LabelquorumError, match="unknown gold role 'train'"):
        project.import_file(path, id_column="id", split="train=5")


def test_unknown_file_type_and_missing_file(project, tmp_path):
    with pytest.raises(ImportDataError, match="unknown file type '.xlsx'"):
        project.import_file(tmp_path / "a.xlsx")
    with pytest.raises(ImportDataError, match="file not found"):
        project.import_file(tmp_path / "missing.csv")


def test_cli_import_error_exits_non_zero_with_clean_message(project, tmp_path):
    path = write(tmp_path / "bad.csv", "id,text,gold\n1,a,maybe\n")
    proc = subprocess.run([sys.executable, "-m", "labelquorum.cli", "import", str(path),
                           "--project", str(project.path), "--id-column", "id"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "row 1" in proc.stderr and "'maybe'" in proc.stderr
    assert "Traceback" not in proc.stderr
