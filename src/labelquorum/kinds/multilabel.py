"""Multilabel: a set of labels per item, possibly empty (value type ``labelset``).

A value is a tuple of label names in the task's order; its text form joins them with
``|`` (``"a|b"``, ``""`` for the empty set).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from ..errors import LabelquorumError
from .base import TaskKind
from .classification import ClassKind, match_label, unknown_label_message

SEP = "|"


class LabelSetKind(ClassKind, value_type="labelset"):
    """Several labels may apply; answers are multi-hot rows, each label voted on its own."""

    multilabel = True
    one_label = False
    label_logprobs = False
    unit = "label assignments"

    # -- values ------------------------------------------------------------------------
    def parse(self, task, raw, text=None):
        if hasattr(raw, "tolist") and not isinstance(raw, str):  # numpy arrays (Parquet)
            raw = raw.tolist()
        parts = raw if isinstance(raw, (list, tuple)) else [
            p.strip() for p in str(raw).split(SEP) if p.strip()]
        unknown = [p for p in parts if p not in task.labels]
        if unknown:
            raise LabelquorumError(unknown_label_message(task, str(unknown[0])))
        return tuple(sorted(set(parts), key=task.labels.index))

    def format(self, task, value):
        return SEP.join(value) if isinstance(value, (tuple, list)) else value

    def gold_text(self, task, value):
        return SEP.join(value) if isinstance(value, list) else value

    def stored(self, task, value):
        if value is None:
            return None, None
        return SEP.join(value), list(value)

    def from_stored(self, task, label, value):
        return tuple(value) if value is not None else self.parse(task, label)

    def rename(self, task, raw, mapping):
        raw = raw if isinstance(raw, (list, tuple)) else str(raw).split(SEP)
        return [mapping.get(str(r), str(r)) for r in raw]

    def members(self, task, value):
        if isinstance(value, str):
            return [p for p in value.split(SEP) if p]
        return list(value)

    # -- encoding ----------------------------------------------------------------------
    def encode(self, task, value):
        row = np.zeros(len(task.labels))
        row[[task.index[v] for v in value]] = 1.0
        return row

    def index_of(self, task, value):
        return -1

    def probs(self, task, values, confidence):
        """Each label said gets the confidence, each one not said its complement (a
        confidence at or below 0.5 is read as just above it)."""
        n, k = len(values), len(task.labels)
        probs = np.full((n, k), np.nan)
        confidence = np.maximum(np.asarray(confidence, dtype=float), 0.5 + 1e-9)
        for i, lab in enumerate(values):
            if lab is not None:
                probs[i] = 1.0 - confidence[i]
                probs[i, [task.index[name] for name in lab]] = confidence[i]
        return probs

    def decode(self, task, consensus, i):
        if not consensus.votes[i]:
            return None
        return tuple(task.labels[j] for j in np.flatnonzero(consensus.label[i]))

    def gold_consensus_row(self, task, value):
        return self.encode(task, value), -1

    def same(self, task, a, b):
        return a is not None and b is not None and set(a) == set(b)

    def sample_consensus(self, task, values, text):
        freq = np.array([sum(lab in v for v in values) for lab in task.labels]) / len(values)
        value = tuple(lab for lab, f in zip(task.labels, freq) if f >= 0.5)
        return value, float(np.maximum(freq, 1 - freq).mean()), freq

    # -- scores ------------------------------------------------------------------------
    def chance(self, task):
        return 2.0 ** -len(task.labels)

    def evaluate(self, task, truth, pred):
        from sklearn.metrics import precision_recall_fscore_support
        from sklearn.preprocessing import MultiLabelBinarizer

        labels = list(task.labels)
        binar = MultiLabelBinarizer(classes=labels)
        y_true = binar.fit_transform([self.members(task, t) for t in truth])
        y_pred = binar.transform([self.members(task, p) for p in pred])
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
        present = [i for i in range(len(labels)) if s[i] > 0 or np.sum(y_pred[:, i])]
        return {"macro_f1": float(np.mean([f[i] for i in present])) if present else 0.0,
                "per_class": [{"label": lab, "precision": float(p[i]), "recall": float(r[i]),
                               "f1": float(f[i]), "support": int(s[i])}
                              for i, lab in enumerate(labels)],
                "metric": "exact match"}

    # -- the LLM -----------------------------------------------------------------------
    def llm_schema(self, task, verbalized):
        props: dict[str, Any] = {"labels": {"type": "array", "items": {
            "type": "string", "enum": list(task.labels)}}}
        if verbalized:
            props["confidence"] = {"type": "number", "minimum": 0, "maximum": 1}
        return {"type": "object", "properties": props, "required": list(props),
                "additionalProperties": False}

    def llm_answer_members(self, task):
        return ['"labels": [every label that applies, possibly none]']

    def llm_example(self, task, value, text):
        values = list(value) if isinstance(value, (list, tuple)) else self.parse(task, value)
        return json.dumps({"labels": list(values)})

    def llm_answer_guess(self, task):
        return self.llm_example(task, list(task.labels), "")

    def llm_reask(self, task, reason):
        names = ", ".join(json.dumps(lab) for lab in task.labels)
        return {"role": "user", "content": f'{reason} Answer again with JSON only, with '
                                           f'"labels" (a list) taken from: {names}.'}

    def llm_parse(self, task, content, text=""):
        from ..llm.prompt import InvalidAnswer, json_object, read_confidence

        def chosen(values):
            said = {match_label(task, v, content) for v in values}
            return tuple(lab for lab in task.labels if lab in said)

        try:
            data = json_object(content)
        except ValueError:
            data = None
        if isinstance(data, dict):
            values = data.get("labels", data.get("label"))
            if isinstance(values, str):
                values = [v for v in re.split(r"[|,]", values) if v.strip()]
            if not isinstance(values, list):
                raise InvalidAnswer('The JSON has no "labels" list.', content)
            return chosen(values), read_confidence(data), content
        if data is not None and isinstance(data, list):
            return chosen(data), None, content
        bare = content.strip().strip('"\'.` ')
        return chosen([p for p in re.split(r"[|,\n]", bare) if p.strip()]), None, content

    # -- the widget --------------------------------------------------------------------
    def form_answer(self, task, form):
        return list(form)

    # -- formats -----------------------------------------------------------------------
    def hf_feature(self, task):
        import datasets

        return datasets.Sequence(datasets.ClassLabel(names=list(task.labels)))

    def hf_encode(self, task, value):
        return [task.index[x] for x in self.parse(task, value)]

    # -- simulated answers -------------------------------------------------------------
    def simulate(self, task, gold, accuracy, draw, confusion=None):
        if isinstance(gold, str):
            gold = self.parse(task, gold)  # 'a|b', not the characters of the string
        labels = task.labels
        if confusion is not None:
            # each true label is confused on its own; an empty gold set stays empty
            said = {confusion.confuse(true, true) for true in gold}
            out = tuple(lab for lab in labels if lab in said)
            return out, min((confusion.row(lab).get(lab, 0.0) for lab in out), default=1.0)
        chosen = set(gold)
        for lab in labels:
            if draw(lab) >= accuracy:
                chosen ^= {lab}
        return tuple(lab for lab in labels if lab in chosen), accuracy


MULTILABEL = LabelSetKind("multilabel", description="a set of labels per item")

__all__ = ["MULTILABEL", "LabelSetKind", "TaskKind"]
