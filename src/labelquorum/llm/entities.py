"""Spans tasks asked of an LLM: the entity prompt, its JSON schema and the answer's parsing.

The model lists entities by their surface text and type — ``{"entities": [{"text":
"Paris", "type": "LOC"}, ...]}`` — never by offsets (models count characters badly). The
annotator aligns them to character offsets with
:func:`labelquorum.spans.align_typed_entities`: an entity listed once tags every
occurrence; an entity that is not in the text, or whose type is not a label of the task,
is rejected and counted, without failing the answer. An answer that is not such JSON at
all is re-asked, like a label outside the set.
"""

from __future__ import annotations

import json
from typing import Any

from ..task import Task
from .prompt import InvalidAnswer, json_object


def entities_schema(task: Task, verbalized: bool) -> dict[str, Any]:
    entity = {"type": "object",
              "properties": {"text": {"type": "string"},
                             "type": {"type": "string", "enum": list(task.labels)}},
              "required": ["text", "type"], "additionalProperties": False}
    props: dict[str, Any] = {"entities": {"type": "array", "items": entity}}
    if verbalized:
        props["confidence"] = {"type": "number", "minimum": 0, "maximum": 1}
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def entities_example(text: str, value: Any) -> str:
    """A few-shot answer from a spans value (triples, or their JSON text form) on ``text``."""
    spans = json.loads(value) if isinstance(value, str) else value
    seen, out = set(), []
    for start, end, kind in sorted(tuple(s) for s in spans or ()):
        key = (text[int(start):int(end)], str(kind))
        if key not in seen:
            seen.add(key)
            out.append({"text": key[0], "type": key[1]})
    return json.dumps({"entities": out})


def entities_reask(task: Task, reason: str) -> dict[str, Any]:
    names = ", ".join(json.dumps(lab) for lab in task.labels)
    return {"role": "user", "content": f'{reason} Answer again with JSON only: {{"entities": '
                                       f'[{{"text": ..., "type": ...}}]}}, each type taken '
                                       f"from: {names}."}


def parse_entities(content: str | None) -> tuple[list[Any], float | None]:
    """(entities as ``(text, type)`` pairs, verbalized confidence or None).

    Raises :class:`InvalidAnswer` when the answer holds no ``entities`` list. An entity
    that is not an object with string ``text`` and ``type`` is passed on as it is, for
    alignment to reject (and count).
    """
    raw = content or ""
    if not raw.strip():
        raise InvalidAnswer("The answer was empty.", raw)
    try:
        data = json_object(raw)
    except ValueError:
        raise InvalidAnswer("The answer is not JSON.", raw) from None
    confidence = None
    if isinstance(data, dict):
        conf = data.get("confidence")
        if isinstance(conf, (int, float)) and not isinstance(conf, bool):
            confidence = min(max(float(conf), 0.0), 1.0)
        data = data.get("entities")
    if not isinstance(data, list):
        raise InvalidAnswer('The JSON has no "entities" list.', raw)
    out: list[Any] = []
    for ent in data:
        if isinstance(ent, dict):
            kind = ent.get("type", ent.get("label"))
            out.append((ent.get("text"), kind))
        elif isinstance(ent, (list, tuple)) and len(ent) == 2:
            out.append(tuple(ent))
        else:
            out.append(ent)
    return out, confidence
