"""The task: what is labelled, with which labels, shown how."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .config import TaskConfig
from .errors import LabelquorumError
from .kinds.base import TaskKind, hook_failed
from .kinds.classification import unknown_label_message
from .kinds.multilabel import SEP as MULTI_SEP
from .plugins import task_kind

__all__ = ["MULTI_SEP", "Task"]


@dataclass(frozen=True)
class Task:
    kind: str
    labels: tuple[str, ...]
    descriptions: tuple[str, ...]
    guidelines: str
    fields: tuple[str, ...]
    text_field: str
    language_field: str | None = None  # the input column with each item's language
    # what the kind reads from its own part of [task] (a rating task's scale): hashable,
    # from :meth:`TaskKind.settings`; None for kinds that have none
    settings: Any = None
    #: the whole ``[task]`` section, for the settings of one kind (pairwise's fields)
    config: TaskConfig | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_config(cls, cfg: TaskConfig) -> Task:
        return cls(cfg.kind, tuple(cfg.label_names), tuple(lab.description for lab in cfg.labels),
                   cfg.guidelines, tuple(cfg.fields), cfg.text_field, cfg.language_field,
                   task_kind(cfg.kind).settings(cfg), cfg)

    @cached_property
    def strategy(self) -> TaskKind:
        """The task's kind object: what varies by kind (see :mod:`labelquorum.kinds`)."""
        return task_kind(self.kind)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (to a worker process) without its kind object: the worker finds the
        kind by name in its own registry, as it finds a plugin's."""
        return {k: v for k, v in self.__dict__.items() if k != "strategy"}

    @property
    def multilabel(self) -> bool:
        """Answers are label sets (kept for callers outside labelquorum)."""
        return self.strategy.multilabel

    @property
    def spans(self) -> bool:
        """Answers are spans (kept for callers outside labelquorum)."""
        return self.value_type == "spans"

    @cached_property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    @property
    def value_type(self) -> str:
        """What the task kind labels with: ``class``, ``labelset``, ``spans``, ..."""
        return self.strategy.value_type

    def parse_label(self, raw: Any, text: str | None = None) -> Any:
        """A task value from its text or stored form (see :meth:`TaskKind.parse`); raise
        :class:`~labelquorum.errors.LabelquorumError` on bad input. ``text`` is the item's
        text, where values refer into it (spans)."""
        try:
            return self.strategy.parse(self, raw, text)
        except LabelquorumError:
            raise
        except Exception as exc:  # a bug in the kind, named as such
            raise hook_failed(self.kind, "parse", exc) from exc

    def format_label(self, value: Any) -> str | None:
        """A task value's text form, None for none."""
        return None if value is None else self.strategy.format(self, value)

    def unknown_label_message(self, value: str) -> str:
        return unknown_label_message(self, value)
