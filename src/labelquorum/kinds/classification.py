"""Classification: one label per item, from the task's label set (value type ``class``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import LabelquorumError
from .base import TaskKind


def unknown_label_message(task: Any, value: str) -> str:
    shown = repr(value) if len(value) <= 80 else f"{value[:80]!r}… ({len(value)} characters)"
    return (f"label {shown} is not in the task's label set ({', '.join(task.labels)}); "
            "add it under [[task.labels]] in labelquorum.toml or fix the data")


def match_label(task: Any, value: Any, raw: str) -> str:
    """An LLM's label name matched case-insensitively to the task's labels."""
    from ..llm.prompt import InvalidAnswer

    if not isinstance(value, str):
        raise InvalidAnswer(f"The label must be a string, not {json.dumps(value)}.", raw)
    folded = {lab.casefold(): lab for lab in task.labels}
    label = folded.get(value.strip().casefold())
    if label is None:
        raise InvalidAnswer(f"{json.dumps(value)} is not one of the labels.", raw)
    return label


class ClassKind(TaskKind, value_type="class"):
    """One label per item; answers are one-hot rows, aggregated by votes or truth inference."""

    vector = True
    one_label = True
    starter = ("tfidf", """# Annotators. tfidf trains on the project's seed gold (import with --split seed=N).
[annotators.tfidf]
type = "tfidf"
""")
    label_logprobs = True
    widget = "choices.html"

    # -- values ------------------------------------------------------------------------
    def parse(self, task, raw, text=None):
        value = str(raw).strip()
        if value not in task.labels:
            raise LabelquorumError(unknown_label_message(task, value))
        return value

    def format(self, task, value):
        return value

    def gold_text(self, task, value):
        return value

    def stored(self, task, value):
        return (None, None) if value is None else (value, None)

    def from_stored(self, task, label, value):
        return label

    def rename(self, task, raw, mapping):
        return mapping.get(str(raw), str(raw))

    def members(self, task, value):
        return [value]

    # -- encoding ----------------------------------------------------------------------
    def encode(self, task, value):
        row = np.zeros(len(task.labels))
        row[task.index[value]] = 1.0
        return row

    def index_of(self, task, value):
        return task.index[value]

    def probs(self, task, values, confidence):
        """The label said gets its confidence, the rest is shared evenly; a confidence at
        or below chance (1/k) is read as just above it."""
        n, k = len(values), len(task.labels)
        probs = np.full((n, k), np.nan)
        confidence = np.maximum(np.asarray(confidence, dtype=float),
                                1.0 / max(k, 1) + 1e-9)
        rows = np.array([i for i, lab in enumerate(values) if lab is not None], dtype=np.int64)
        if len(rows):
            cols = np.array([task.index[values[i]] for i in rows.tolist()], dtype=np.int64)
            probs[rows] = ((1.0 - confidence[rows]) / max(k - 1, 1))[:, None]
            probs[rows, cols] = confidence[rows]
        return probs

    def decode(self, task, consensus, i):
        lab = int(consensus.label[i])
        return task.labels[lab] if lab >= 0 else None

    def same(self, task, a, b):
        return a is not None and a == b

    def sample_consensus(self, task, values, text):
        counts = np.array([values.count(lab) for lab in task.labels], dtype=float)
        probs = counts / counts.sum()
        best = int(np.argmax(counts))  # first in label order on ties
        return task.labels[best], float(probs[best]), probs

    # -- scores ------------------------------------------------------------------------
    def chance(self, task):
        return 1.0 / max(len(task.labels), 1)

    def evaluate(self, task, truth, pred):
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        labels = list(task.labels)
        p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels,
                                                     zero_division=0)
        said = set(pred)
        present = [i for i, lab in enumerate(labels) if s[i] > 0 or lab in said]
        return {"macro_f1": float(np.mean([f[i] for i in present])) if present else 0.0,
                "per_class": [{"label": lab, "precision": float(p[i]), "recall": float(r[i]),
                               "f1": float(f[i]), "support": int(s[i])}
                              for i, lab in enumerate(labels)],
                "metric": "label",
                "confusion": {"labels": labels, "rows": "gold", "columns": "decided",
                              "matrix": confusion_matrix(truth, pred, labels=labels).tolist()}}

    # -- the LLM -----------------------------------------------------------------------
    def llm_schema(self, task, verbalized):
        props: dict[str, Any] = {"label": {"type": "string", "enum": list(task.labels)}}
        if verbalized:
            props["confidence"] = {"type": "number", "minimum": 0, "maximum": 1}
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}

    def llm_answer_members(self, task):
        return ['"label": "<exactly one label name>"']

    def llm_example(self, task, value, text):
        return json.dumps({"label": value})

    def llm_answer_guess(self, task):
        return self.llm_example(task, max(task.labels, key=len), "")

    def llm_reask(self, task, reason):
        names = ", ".join(json.dumps(lab) for lab in task.labels)
        return {"role": "user", "content": f'{reason} Answer again with JSON only, with '
                                           f'"label" taken from: {names}.'}

    def llm_parse(self, task, content, text=""):
        from ..llm.prompt import InvalidAnswer, json_object, read_confidence

        try:
            data = json_object(content)
        except ValueError:
            data = None
        if isinstance(data, dict):
            if "label" not in data:
                raise InvalidAnswer('The JSON has no "label".', content)
            value = data["label"]
            return match_label(task, value, content), read_confidence(data), str(value)
        bare = content.strip().strip('"\'.` ')
        return match_label(task, bare, content), None, bare

    # -- the widget --------------------------------------------------------------------
    # -- formats -----------------------------------------------------------------------
    def labelstudio_result(self, task, value, text=""):
        return [{"from_name": "label", "to_name": task.text_field, "type": "choices",
                 "value": {"choices": list(self.members(task, value))}}]

    def from_labelstudio(self, task, result, text):
        choices, spans = labelstudio_regions(result)
        if spans:
            raise LabelquorumError(f"labels regions (spans) in a {task.kind} task; give "
                                   "choices")
        if not choices:
            return None
        if not self.multilabel and len(choices) != 1:
            raise LabelquorumError(f"{len(choices)} choices "
                                   f"({', '.join(map(str, choices))}) where a "
                                   "classification task takes one label")
        return self.parse(task, list(choices) if self.multilabel else choices[0])

    def hf_feature(self, task):
        import datasets

        return datasets.ClassLabel(names=list(task.labels))

    def hf_encode(self, task, value):
        return task.index[value]

    # -- simulated answers -------------------------------------------------------------
    def simulate(self, task, gold, accuracy, draw: Callable[..., float], confusion=None):
        labels = task.labels
        if isinstance(gold, str) and gold == "":
            return None, np.nan
        if confusion is not None:
            answer = confusion.confuse(gold)
            return answer, confusion.row(answer).get(answer, 0.0)
        if draw() < accuracy:
            return gold, accuracy
        others = [lab for lab in labels if lab != gold]
        return others[int(draw("wrong") * len(others))], accuracy


def labelstudio_regions(result: list[Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """The choices and the labelled spans in Label Studio ``result`` regions; another
    region type is refused."""
    choices: list[Any] = []
    spans: list[dict[str, Any]] = []
    for region in result:
        kind = region.get("type") if isinstance(region, dict) else None
        value = region.get("value") if isinstance(region, dict) else None
        if kind == "choices" and isinstance(value, dict):
            choices.extend(value.get("choices") or [])
        elif kind == "labels" and isinstance(value, dict):
            for label in value.get("labels") or []:
                spans.append({"start": value.get("start"), "end": value.get("end"),
                              "label": label})
        else:
            raise LabelquorumError(f"result type {kind!r} cannot be imported; choices and "
                                   "labels (spans) can")
    return choices, spans


CLASSIFICATION = ClassKind("classification", description="one label per item")
