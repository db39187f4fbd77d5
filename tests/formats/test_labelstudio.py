"""Label Studio JSON in and out: annotations are people's answers (one worker per
``completed_by``), predictions are model answers (one annotator per ``model_version``)."""

import json
from pathlib import Path

import pandas as pd
import pytest
from format_projects import ITEMS, classification_config, labelled_project
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.cli import app
from labelquorum.errors import ImportDataError

KEEP = ["item", "annotator", "annotator_name", "worker", "annotator_kind", "label",
        "confidence"]


def answers(project):
    j = project.judgements()
    j = j[j["status"] == "ok"][KEEP]
    return sorted(tuple(None if pd.isna(v) else v for v in row)
                  for row in j.itertuples(index=False))


def fresh(root: Path, kind="classification", labels=("negative", "positive"), store_url=None):
    root.mkdir(parents=True)
    (root / "recorded.csv").write_text("item,annotator,label\n")
    return lq.init_project(root, config_text=classification_config(labels, kind, store_url))


def test_round_trip_gives_the_same_judgements_fields_and_gold(tmp_path):
    project = labelled_project(tmp_path / "p")
    out = tmp_path / "tasks.json"
    assert project.export(out) == 4
    tasks = json.loads(out.read_text())
    c = next(t for t in tasks if t["data"]["id"] == "c")
    final = [a for a in c["annotations"] if a.get("labelquorum_final")]
    assert final[0]["result"][0]["value"] == {"choices": ["positive"]}
    assert {p["model_version"]: p["score"] for p in c["predictions"]} == {"small": 0.5,
                                                                          "gpt": 0.7}
    again = fresh(tmp_path / "q")
    result = again.import_file(out)
    assert (result.items, result.with_gold, result.id_column) == (4, 3, "id")
    assert answers(again) == answers(project)
    assert len(answers(again)) == 12
    fields = again.to_dataframe(fields="all").set_index("id")
    assert fields["year"].tolist() == ITEMS["year"].tolist()
    assert fields["gold"].tolist()[:2] == ["positive", "negative"]


LS_EXPORT = [  # as Label Studio exports them (JSON, one object per task)
    {"id": 101, "data": {"text": "Great service, will return."},
     "annotations": [
         {"id": 1, "completed_by": 7, "was_cancelled": False,
          "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                      "value": {"choices": ["positive"]}}]},
         {"id": 2, "completed_by": {"id": 9, "email": "ann@example.org"},
          "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                      "value": {"choices": ["positive"]}}]},
         {"id": 3, "completed_by": 8, "was_cancelled": True, "result": []}],
     "predictions": [{"model_version": "bert-v2", "score": 0.81,
                      "result": [{"type": "choices", "value": {"choices": ["positive"]}}]}]},
    {"id": 102, "data": {"text": "Cold food."}, "annotations": [],
     "predictions": [{"model_version": "bert-v2", "score": 0.66,
                      "result": [{"type": "choices", "value": {"choices": ["negative"]}}]},
                     {"model_version": "rules", "result": [
                         {"type": "choices", "value": {"choices": ["negative"]}}]}]},
]


def test_label_studio_export_becomes_items_and_judgements(tmp_path):
    project = fresh(tmp_path / "p")
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(LS_EXPORT))
    result = project.import_file(path)
    assert result.items == 2 and result.id_column == "id"
    rows = answers(project)
    assert rows == sorted([
        ("101", "people:7", "people", "7", "human", "positive", None),
        ("101", "people:ann@example.org", "people", "ann@example.org", "human", "positive",
         None),
        ("101", "bert-v2", "bert-v2", None, "model", "positive", 0.81),
        ("102", "bert-v2", "bert-v2", None, "model", "negative", 0.66),
        ("102", "rules", "rules", None, "model", "negative", None)])


@pytest.mark.postgres
def test_label_studio_import_into_postgresql_stores_the_same_judgements(tmp_path,
                                                                       postgres_db_url):
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(LS_EXPORT))
    on_sqlite = fresh(tmp_path / "s")
    on_sqlite.import_file(path)
    on_pg = fresh(tmp_path / "pg", store_url=postgres_db_url)
    assert on_pg.import_file(path).judgements == 5
    assert answers(on_pg) == answers(on_sqlite)
    on_pg.close()


def test_spans_come_from_labels_results(tmp_path):
    project = fresh(tmp_path / "p", kind="spans", labels=("PER", "LOC"))
    text = "Ada Lovelace lived in London."
    path = tmp_path / "ls.json"
    region = {"type": "labels", "from_name": "ner", "to_name": "text"}
    path.write_text(json.dumps([{"id": 1, "data": {"text": text}, "annotations": [
        {"completed_by": 3, "result": [
            {**region, "value": {"start": 0, "end": 12, "text": "Ada Lovelace", "labels": ["PER"]}},
            {**region, "value": {"start": 22, "end": 28, "text": "London", "labels": ["LOC"]}}]},
        {"completed_by": 4, "result": []}]}]))
    project.import_file(path)
    got = {r[1]: r[5] for r in answers(project)}
    assert got == {"people:3": '[[0,12,"PER"],[22,28,"LOC"]]', "people:4": "[]"}
    out = tmp_path / "back.json"
    project.export(out)
    again = fresh(tmp_path / "q", kind="spans", labels=("PER", "LOC"))
    again.import_file(out)
    assert answers(again) == answers(project)


@pytest.mark.parametrize("tasks, message", [
    ({"data": {}}, "a JSON list of tasks"),
    ([{"text": "no data key"}], "task 1 has no 'data'.*save plain records as JSONL"),
    ([{"data": {"text": "x"}, "annotations": [{"completed_by": 1, "result": [
        {"type": "choices", "value": {"choices": ["neutral"]}}]}]}],
     "task 1, annotation 1.*'neutral' is not in the task's label set"),
    ([{"data": {"text": "x"}, "predictions": [{"result": [
        {"type": "rating", "value": {"rating": 4}}]}]}],
     "task 1, prediction 1.*result type 'rating'.*choices and labels"),
    ([{"data": {"text": "x"}, "annotations": [{"completed_by": 1, "result": [
        {"type": "choices", "value": {"choices": ["negative", "positive"]}}]}]}],
     "2 choices.*one label"),
])
def test_bad_label_studio_json_is_refused_and_nothing_stored(tmp_path, tasks, message):
    project = fresh(tmp_path / "p")
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks))
    with pytest.raises(ImportDataError, match=message):
        project.import_file(path)
    assert len(project.to_dataframe()) == 0 and len(project.judgements()) == 0


def test_cli_imports_and_exports_label_studio(tmp_path):
    project = labelled_project(tmp_path / "p")
    runner = CliRunner()
    out = tmp_path / "ls.json"
    result = runner.invoke(app, ["export", str(out), "-p", str(project.path)])
    assert result.exit_code == 0 and "Wrote 4 items" in result.output, result.output
    fresh(tmp_path / "q")
    result = runner.invoke(app, ["import", str(out), "-p", str(tmp_path / "q")])
    assert result.exit_code == 0, result.output
    assert "12 judgements" in result.output
