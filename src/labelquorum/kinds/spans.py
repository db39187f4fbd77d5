"""Spans (NER): typed character spans of the item's text (value type ``spans``).

A value is a canonical tuple of ``(start, end, type)`` triples; its text form is compact
JSON (``[[0,5,"PER"]]``). The helpers — parsing, alignment of an LLM's entities, the token
vote and entity-level scores — live in :mod:`labelquorum.spans`; this module is what the
generic machinery calls.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import spans as S
from ..errors import LabelquorumError
from .base import TaskKind


class SpansKind(TaskKind, value_type="spans"):
    """Typed spans; answers are held per item and voted token by token."""

    needs_text = True
    starter = ("spacy", """# Annotators. spacy is spaCy's entity recogniser (the `spacy` extra); its types are
# mapped to the task's by type_map (see the README).
[annotators.spacy]
type = "spacy"
""")
    unit = "entities"
    answer_name = "entity list"
    off_label = "without an entity list"
    widget = "spans.html"
    gold_columns = ("entities", "gold", "label")
    per_label_method = "each entity type's spans compared as a set"

    # -- values ------------------------------------------------------------------------
    def parse(self, task, raw, text=None):
        return S.parse_spans(raw, task.labels, text)

    def format(self, task, value):
        return S.to_text(value)

    def gold_value(self, task, value):
        return self.parse(task, value)

    def gold_text(self, task, value):
        return S.to_text(value)

    def stored(self, task, value):
        if value is None:
            return None, None
        return S.to_text(value), [list(x) for x in value]

    def from_stored(self, task, label, value):
        return S.canonical(value) if value is not None else self.parse(task, label)

    def rename(self, task, raw, mapping):
        """Spans with their types renamed; malformed input is left for parsing to refuse."""
        if not mapping:
            return raw
        try:
            spans = json.loads(raw) if isinstance(raw, str) else raw
            out = []
            for ent in spans:
                if isinstance(ent, dict):
                    kind = ent.get("label", ent.get("type"))
                    out.append({"start": ent.get("start"), "end": ent.get("end"),
                                "label": mapping.get(str(kind), kind)})
                else:
                    start, end, kind = ent
                    out.append((start, end, mapping.get(str(kind), kind)))
            return out
        except (TypeError, ValueError):
            return raw

    def to_json(self, task, value):
        return S.to_text(value or ())

    def check_answer(self, task, value, text):
        if value and max(end for _, end, _ in value) > len(text):
            return (f"spans {value!r} reach past the end of the text "
                    f"({len(text)} characters)")
        return None

    def members(self, task, value):
        spans = self.parse(task, value) if isinstance(value, str) else value
        return [kind for _, _, kind in spans]

    def project(self, task, value, target):
        """The value restricted to one entity type (per-type agreement)."""
        return S.to_text(tuple(s for s in self.parse(task, value) if s[2] == target))

    # -- consensus ---------------------------------------------------------------------
    def consensus(self, task, values, weights, text):
        return S.vote_spans(text or "", values, weights)

    def sample_consensus(self, task, values, text):
        spans, _share, agreement = S.vote_spans(text, values)
        return spans, agreement, None

    def key(self, value):
        return S.canonical(value) if value is not None else None

    def same(self, task, a, b):
        return a is not None and b is not None and S.canonical(a) == S.canonical(b)

    # -- scores ------------------------------------------------------------------------
    def chance(self, task):
        return 0.0

    def evaluate(self, task, truth, pred):
        scores = S.entity_scores([self.parse(task, t) for t in truth],
                                 [self.parse(task, p) for p in pred], task.labels)
        return {"micro_f1": float(scores.loc["micro", "f1"]),
                "macro_f1": float(scores.loc["macro", "f1"]),
                "per_class": [{"label": k, "precision": float(r.precision),
                               "recall": float(r.recall), "f1": float(r.f1),
                               "support": int(r.gold)}
                              for k, r in scores.loc[list(task.labels)].iterrows()],
                "metric": "entity"}

    def status_f1(self, task, truth, decided):
        def spans(text):
            return self.parse(task, text) if isinstance(text, str) else ()

        scores = S.entity_scores([spans(t) for t in truth], [spans(d) for d in decided],
                                 task.labels)
        return float(scores.loc["micro", "f1"])

    # -- the LLM: entities by surface text and type, aligned to offsets ----------------
    def llm_schema(self, task, verbalized):
        from ..llm.entities import entities_schema

        return entities_schema(task, verbalized)

    def llm_task(self, task):
        return "You are a careful data annotator. Find the named entities in the item."

    def llm_labels_heading(self, task):
        return "Entity types:"

    def llm_preamble(self, task):
        return [("Find every named entity of the types above in the item. List each distinct "
                 "entity once (it is tagged wherever it occurs); an empty list means none.")]

    def llm_answer_members(self, task):
        return [('"entities": [{"text": "<the entity exactly as written in the item>", '
                 '"type": "<one type name>"}, ...]')]

    def llm_confidence_member(self, task):
        return '"confidence": <probability from 0 to 1 that the list is right>'

    def llm_assistant_task(self, task):
        return ("You help a person mark the named entities in an item. List them and say "
                "briefly why.")

    def llm_example(self, task, value, text):
        from ..llm.entities import entities_example

        return entities_example(text, value)

    def llm_answer_guess(self, task):
        return json.dumps({"entities": [{"text": "x" * 12, "type": lab}
                                        for lab in task.labels]})

    def llm_reask(self, task, reason):
        from ..llm.entities import entities_reask

        return entities_reask(task, reason)

    def llm_parse(self, task, content, text=""):
        from ..llm.entities import parse_entities

        entities, vconf = parse_entities(content)
        spans, rejected = S.align_typed_entities(text, entities, task.labels)
        log = {"entities": len(entities),
               "rejected_entities": [list(e) if isinstance(e, tuple) else e for e in rejected]}
        return S.canonical(spans), vconf, content or "", log

    # -- the widget --------------------------------------------------------------------
    def view(self, task, value, text):
        """The entities with their text, for the page to mark (the assistant's advice)."""
        if value is None:
            return {"entities": []}
        text = text or ""
        try:
            spans = self.parse(task, value, text)
        except LabelquorumError:  # an assistant that answers off the text: no marks
            return {"entities": []}
        return {"entities": [{"start": a, "end": b, "type": kind, "text": text[a:b]}
                             for a, b, kind in spans]}

    def marks(self, task, text, label):
        try:
            spans = self.parse(task, label, text)
        except LabelquorumError:
            return None
        return S.segments(text, spans)

    def editor(self, task, text, candidates):
        for label in candidates:
            if label is not None and self.marks(task, text, label) is not None:
                spans = self.parse(task, label, text)
                break
        else:
            spans = ()
        value = S.to_text(spans)
        return {"text": text, "value": value, "marks": self.marks(task, text, value) or [],
                "entities": [(text[a:b], kind) for a, b, kind in spans]}

    # -- formats -----------------------------------------------------------------------
    def labelstudio_result(self, task, value, text=""):
        spans = self.parse(task, value) if isinstance(value, str) else value
        return [{"from_name": "label", "to_name": task.text_field, "type": "labels",
                 "value": {"start": s, "end": e, "text": text[s:e], "labels": [t]}}
                for s, e, t in spans]

    def from_labelstudio(self, task, result, text):
        from .classification import labelstudio_regions

        choices, spans = labelstudio_regions(result)
        if choices:
            raise LabelquorumError("choices in a spans task; give labels regions")
        return self.parse(task, spans, text)

    def gold_json(self, task, text_form):
        return json.loads(text_form)

    # -- simulated answers -------------------------------------------------------------
    def simulate(self, task, gold, accuracy, draw, confusion=None):
        if isinstance(gold, str):
            if not gold:
                return None, np.nan
            gold = self.parse(task, gold)
        out: list[Any] = []
        labels = task.labels
        for start, end, kind in self.parse(task, gold):
            if draw(start, end) < accuracy:
                out.append((start, end, kind))
            elif draw(start, end, "how") < 0.5:
                others = [lab for lab in labels if lab != kind]
                out.append((start, end, others[int(draw(start, end, "type") * len(others))]))
        return tuple(out), accuracy


SPANS = SpansKind("spans", description="typed spans of the item's text (NER)")

__all__ = ["SPANS", "SpansKind"]
