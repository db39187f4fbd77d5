"""Label Studio JSON: a list of tasks, each with ``data`` (the item's fields) and
optionally ``annotations`` and ``predictions``.

Import: ``data`` becomes the item (its ``id``, else the task's ``id``, gives the item id;
a ``gold`` key the gold label). Each annotation is one person's answer: the worker is
its ``completed_by`` (a user id, or the user's email when Label Studio gives an object);
cancelled annotations are skipped. Each prediction is a model's answer: the annotator is
its ``model_version`` (``labelstudio`` when it has none) and the confidence its
``score``. Results of type ``choices`` give classes and label sets, results of type
``labels`` give spans (``start``, ``end``, ``labels``); other result types are refused.

Export: one task per item: ``data`` holds the item's fields, ``id`` and ``gold``; the
final label is an annotation marked ``"ground_truth": true, "labelquorum_final": true``
(skipped when the file is imported again: it is a decision, not an answer), each
person's answer an annotation with ``completed_by`` (the worker), and each model and LLM
answer a prediction with ``model_version`` (the annotator) and ``score`` (its
confidence). Results name ``from_name = "label"`` and ``to_name`` = the task's text
field, so a labelling config with ``<Choices name="label" toName="text">`` (or
``<Labels name="label" toName="text">`` for spans) shows them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ExportError, ImportDataError, LabelquorumError
from ..kinds.freetext_judge import answer_digest
from ..store.schema import VERDICT
from . import Source

if TYPE_CHECKING:
    from ..project import Project
    from ..task import Task

FINAL_KEY = "labelquorum_final"
FROM_NAME = "label"
NO_MODEL = "labelstudio"
JUDGEMENT_COLUMNS = ["row", "kind", "who", "label", "value", "confidence"]


# -- import --------------------------------------------------------------------------------
def read(path: Path, task: Task) -> Source:
    where = str(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ImportDataError(f"cannot read the file: {exc.strerror}", path=where) from None
    except UnicodeDecodeError:
        raise ImportDataError("bytes that are not UTF-8; re-save the file as UTF-8",
                              path=where) from None
    except json.JSONDecodeError as exc:
        raise ImportDataError(f"malformed JSON: {exc.msg} at line {exc.lineno}, column "
                              f"{exc.colno}", path=where) from None
    if not isinstance(tasks, list):
        raise ImportDataError("a Label Studio file is a JSON list of tasks (each an object "
                              f"with 'data'); found a JSON {type(tasks).__name__}", path=where)
    items: list[dict[str, Any]] = []
    answers: list[tuple] = []
    for n, t in enumerate(tasks, start=1):
        if not isinstance(t, dict) or not isinstance(t.get("data"), dict):
            raise ImportDataError(f"task {n} has no 'data' object (the item's fields); a "
                                  ".json file is read as Label Studio tasks: save plain "
                                  "records as JSONL (.jsonl) instead", path=where, row=n)
        data = dict(t["data"])
        if "id" not in data and t.get("id") is not None:
            data["id"] = t["id"]
        items.append(data)
        text = data.get(task.text_field)
        for k, ann in enumerate(t.get("annotations") or [], start=1):
            if not isinstance(ann, dict) or ann.get("was_cancelled") or ann.get(FINAL_KEY):
                continue
            value = _value(ann.get("result"), task, text, where, n, f"annotation {k}")
            if value is not None:
                answers.append((n - 1, "human", _worker(ann.get("completed_by")), *value,
                                _score(ann.get("score"), where, n, f"annotation {k}")))
        for k, pred in enumerate(t.get("predictions") or [], start=1):
            if not isinstance(pred, dict):
                continue
            value = _value(pred.get("result"), task, text, where, n, f"prediction {k}")
            if value is not None:
                who = str(pred.get("model_version") or NO_MODEL)
                answers.append((n - 1, "model", who, *value,
                                _score(pred.get("score"), where, n, f"prediction {k}")))
    if not items:
        raise ImportDataError("the file has no tasks", path=where)
    return Source(pd.DataFrame(items), where,
                  pd.DataFrame(answers, columns=JUDGEMENT_COLUMNS))


def _worker(raw: Any) -> str | None:
    if isinstance(raw, dict):
        raw = raw.get("email") or raw.get("username") or raw.get("id")
    return None if raw is None or str(raw).strip() == "" else str(raw).strip()


def _score(raw: Any, where: str, n: int, what: str) -> float | None:
    if raw is None:
        return None
    try:
        score = float(raw)
    except (TypeError, ValueError):
        score = -1.0
    if not 0.0 <= score <= 1.0:
        raise ImportDataError(f"task {n}, {what}: score {raw!r} is not a confidence between "
                              "0 and 1", path=where, row=n)
    return score


def _value(result: Any, task: Task, text: Any, where: str, n: int,
           what: str) -> tuple[str, Any] | None:
    """(label text, structured value) of one annotation's or prediction's result; None
    when it gives no answer (an empty result outside spans tasks)."""
    if not isinstance(result, list):
        raise ImportDataError(f"task {n}, {what}: 'result' must be a list of regions",
                              path=where, row=n)
    try:
        parsed = task.strategy.from_labelstudio(
            task, result, None if text is None else str(text))
    except LabelquorumError as exc:
        raise ImportDataError(f"task {n}, {what}: {exc}", path=where, row=n) from None
    if parsed is None:
        return None
    return task.strategy.stored(task, parsed)  # the ledger's label and value (a rating's number)


# -- export --------------------------------------------------------------------------------
def _result(task: Task, label: Any, text: str) -> list[dict[str, Any]]:
    return task.strategy.labelstudio_result(task, task.parse_label(label), text)


def write(project: Project, path: Path, fields: str | list[str] | None) -> int:
    from ..export import FIELD_PREFIX, choose_fields, export_frame, field_names, item_records

    task = project.task
    records = item_records(project)
    chosen = choose_fields(field_names(records), fields)
    keep = set(chosen) | {task.text_field, *task.fields}
    frame = export_frame(project, "none")
    decisions = dict(zip(frame["id"], zip(frame["label"].tolist(), frame["confidence"].tolist(),
                                          frame["decided_by"].tolist(), frame["gold"].tolist())))
    j = project.judgements()
    j = j[j["status"] == "ok"]
    verdicts = _verdicts(j)  # a free-text judge's scores: on the answers, not answers
    j = j[j["value_type"] != VERDICT]
    by_item: dict[str, list[tuple]] = {}
    for row in zip(j["item"].tolist(), j["annotator"].tolist(), j["annotator_kind"].tolist(),
                   j["worker"].tolist(), j["label"].tolist(), j["confidence"].tolist(),
                   j["annotator_name"].tolist()):
        by_item.setdefault(row[0], []).append(row)
    out = []
    for n, (item, values) in enumerate(records, start=1):
        data = {(FIELD_PREFIX + k if k in ("id", "gold") else k): v
                for k, v in values.items() if k in keep}
        data["id"] = item
        label, confidence, decided_by, gold = decisions[item]
        if not _missing(gold):
            data["gold"] = task.strategy.gold_json(task, gold)
        text = str(data.get(task.text_field, ""))
        annotations, predictions = [], []
        if isinstance(label, str) and label != "":
            annotations.append({"result": _result(task, label, text), "ground_truth": True,
                                FINAL_KEY: True, "confidence": _number(confidence),
                                "decided_by": decided_by})
        for _, who, kind, worker, answer, score, name in by_item.get(item, ()):
            if kind == "human":
                entry: dict[str, Any] = {"result": _result(task, answer, text),
                                         "completed_by": None if _missing(worker) else worker}
                target = annotations
            else:
                entry = {"model_version": who, "result": _result(task, answer, text)}
                target = predictions
            if not _missing(score):
                entry["score"] = float(score)
            verdict = verdicts.get((item, name, answer_digest(answer)))
            if verdict is not None:
                entry["judge_score"], entry["judge_reason"] = verdict
            target.append(entry)
        out.append({"id": n, "data": data, "annotations": annotations,
                    "predictions": predictions})
    try:
        # one task a line: readable, and json's C encoder (indent= falls back to Python)
        dumps = json.dumps
        path.write_text("[\n" + ",\n".join(dumps(t, ensure_ascii=False) for t in out) + "\n]\n",
                        encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    return len(out)


def _verdicts(j) -> dict[tuple[str, str, str], tuple[Any, Any]]:
    """(item, writer, answer hash) -> (score, reason) of a free-text judge's verdicts."""
    out = {}
    rows = j[j["value_type"] == VERDICT]
    for item, value in zip(rows["item"].tolist(), rows["value"].tolist()):
        v = value if isinstance(value, dict) else json.loads(value or "{}")
        out[(item, v.get("writer"), v.get("answer_sha"))] = (v.get("score"), v.get("reason"))
    return out


def _number(v: Any) -> float | None:
    return None if _missing(v) else float(v)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
