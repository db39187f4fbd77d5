"""The ``[task]`` section: what is labelled, with which labels."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from ..errors import ConfigError, PluginError
from .base import Strict

# keys the annotation page keeps for itself (label hotkeys may not take them)
RESERVED_KEYS = {"u": "undo", "s": "skip"}


class LabelConfig(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    hotkey: str | None = None


class TaskConfig(Strict):
    kind: str = "classification"
    """A registered task kind (:mod:`labelquorum.plugins`)."""
    labels: list[LabelConfig] = Field(default_factory=list)
    """The label set (at least two), for kinds that label with one: every kind but
    ``free-text``."""
    guidelines: str = ""
    fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    text_field: str = "text"
    language_field: str | None = None
    """The input column that gives each item's language (an ISO 639-1 code such as
    ``en``); default: a column named ``language`` when the input has one. Items without
    one get theirs from py3langid at the first run that uses per-language trust."""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from ..plugins import task_kinds

        names = task_kinds.names()
        if value not in names:
            broken = task_kinds.broken(value)
            if broken is not None:
                raise broken
            quoted = [repr(n) for n in names]
            raise ValueError(f"expected one of {', '.join(quoted[:-1])} or {quoted[-1]}")
        return value

    @model_validator(mode="after")
    def _kind_check(self) -> TaskConfig:
        """The task kind's own check of the section (a plugin's kind may have one)."""
        from ..plugins import task_kinds

        check = task_kinds.get(self.kind).check
        if check is not None:
            try:
                check(self)
            except ValueError as exc:
                raise ConfigError(str(exc), key="task") from None
            except Exception as exc:  # noqa: BLE001 - a plugin's bug, not the user's config
                raise PluginError(f"the check of task kind {self.kind!r} (from "
                                  f"{task_kinds.origin(self.kind)}) failed: "
                                  f"{type(exc).__name__}: {exc}", key="task") from None
        return self

    @property
    def value_type(self) -> str:
        """What the kind labels with: ``class``, ``labelset`` or ``spans``."""
        from ..plugins import task_kinds

        return task_kinds.get(self.kind).value_type

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _enough_labels(self) -> TaskConfig:
        """Kinds that label with the label set need two labels or more."""
        from ..plugins import task_kinds

        if task_kinds.get(self.kind).needs_labels and len(self.labels) < 2:
            raise ValueError(f"a {self.kind} task needs at least 2 labels under "
                             f"[[task.labels]]; found {len(self.labels)}")
        return self

    @model_validator(mode="after")
    def _unique_labels(self) -> TaskConfig:
        names = [label.name for label in self.labels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"label names must be unique; repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _hotkeys(self) -> TaskConfig:
        """Every label must be reachable by its key on the annotation page: a hotkey is one
        character, not one the page keeps for itself, and no two labels share one (labels
        without a hotkey take 1-9 by position)."""
        taken: dict[str, list[str]] = {}
        for i, label in enumerate(self.labels):
            key = label.hotkey
            if key is None:
                if i < 9:
                    taken.setdefault(str(i + 1), []).append(label.name)
                continue
            if len(key) != 1 or not key.isprintable() or key.isspace():
                raise ValueError(
                    f"label {label.name!r} has hotkey {key!r}; a hotkey is one printable "
                    "character such as 'p' or '7' (Enter, Space and Tab belong to the page)")
            if key.lower() in RESERVED_KEYS:
                raise ValueError(
                    f"label {label.name!r} has hotkey {key!r}, which the annotation page "
                    f"keeps for {RESERVED_KEYS[key.lower()]}; choose another key")
            taken.setdefault(key.lower(), []).append(label.name)
        for key, names in taken.items():
            if len(names) > 1:
                raise ValueError(
                    f"labels {', '.join(repr(n) for n in names)} share the hotkey {key!r} "
                    "(labels without a hotkey take 1-9 by their position); give each its "
                    "own key")
        return self

    judge: str | None = None
    """``free-text`` tasks: the ``llm`` annotator (an ``[annotators.NAME]`` outside the
    policy) that scores every answer against ``rubric`` from 1 to 5 with a reason. Unset:
    answers are not scored, and the answer most similar to the others is the label."""
    rubric: str = ""
    """``free-text`` tasks: what each judge score means (shown to the judge with the
    guidelines). Empty: a default rubric from 5 (correct and complete) to 1 (wrong)."""
    accept_score: int = Field(4, ge=1, le=5)
    """``free-text`` tasks: an item is accepted when its best answer's judge score is at
    least this; below it, the item goes to the policy's next tier."""

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]
