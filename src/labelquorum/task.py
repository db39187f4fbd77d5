"""The task: what is labelled, with which labels, shown how."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import TaskConfig
from .errors import LabelquorumError
from .plugins import task_kind

MULTI_SEP = "|"


@dataclass(frozen=True)
class Task:
    kind: str
    labels: tuple[str, ...]
    descriptions: tuple[str, ...]
    guidelines: str
    fields: tuple[str, ...]
    text_field: str
    language_field: str | None = None  # the input column with each item's language

    @classmethod
    def from_config(cls, cfg: TaskConfig) -> Task:
        return cls(cfg.kind, tuple(cfg.label_names), tuple(lab.description for lab in cfg.labels),
                   cfg.guidelines, tuple(cfg.fields), cfg.text_field, cfg.language_field)

    @property
    def multilabel(self) -> bool:
        return self.value_type == "labelset"

    @property
    def spans(self) -> bool:
        return self.value_type == "spans"

    @property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    @property
    def value_type(self) -> str:
        """What the task kind labels with: ``class``, ``labelset`` or ``spans``."""
        return task_kind(self.kind).value_type

    def parse_label(self, raw: Any, text: str | None = None) -> str | tuple:
        """A task value from its text form ('a', 'a|b' for multilabel, a JSON list of
        [start, end, type] for spans); raise on unknown labels. ``text`` (spans only) is the
        item's text, to check offsets against."""
        if self.spans:
            from .spans import parse_spans

            return parse_spans(raw, self.labels, text)
        if self.multilabel:
            if hasattr(raw, "tolist") and not isinstance(raw, str):  # numpy arrays (Parquet)
                raw = raw.tolist()
            parts = raw if isinstance(raw, (list, tuple)) else [
                p.strip() for p in str(raw).split(MULTI_SEP) if p.strip()]
            unknown = [p for p in parts if p not in self.labels]
            if unknown:
                raise LabelquorumError(self.unknown_label_message(unknown[0]))
            return tuple(sorted(set(parts), key=self.labels.index))
        value = str(raw).strip()
        if value not in self.labels:
            raise LabelquorumError(self.unknown_label_message(value))
        return value

    def format_label(self, value: str | tuple[str, ...] | None) -> str | None:
        if value is None:
            return None
        if self.spans:
            from .spans import to_text

            return to_text(value)
        return MULTI_SEP.join(value) if isinstance(value, tuple) else value

    def unknown_label_message(self, value: str) -> str:
        shown = repr(value) if len(value) <= 80 else \
            f"{value[:80]!r}… ({len(value)} characters)"
        return (f"label {shown} is not in the task's label set ({', '.join(self.labels)}); "
                "add it under [[task.labels]] in labelquorum.toml or fix the data")
