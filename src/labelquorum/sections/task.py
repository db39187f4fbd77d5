"""The ``[task]`` section: what is labelled, with which labels."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import ConfigError, PluginError
from .base import Strict

# keys the annotation page keeps for itself (label hotkeys may not take them)
RESERVED_KEYS = {"u": "undo", "s": "skip"}


class LabelConfig(Strict):
    name: str = Field(min_length=1)
    """The label as stored and exported."""
    description: str = ""
    """Shown to people and used in prompts."""
    hotkey: str | None = None
    """Keyboard shortcut in the web app."""


class RatingConfig(Strict):
    """``[task.rating]``: the scale and consensus of a ``rating`` task."""

    min: float | None = None
    """A numeric scale's lowest rating (a task without labels); an ordinal scale's points
    are the task's labels instead, numbered 1 to n."""
    max: float | None = None
    """A numeric scale's highest rating."""
    step: float | None = Field(None, gt=0)
    """A numeric scale's step: ratings must be ``min + k * step``; default: any number."""
    consensus: Literal["median", "mean", "bias-corrected"] | None = None
    """How an item's ratings become its rating: ``median``, ``mean``, or ``bias-corrected``
    (the mean after removing each annotator's bias, estimated jointly from all their
    answers and shrunk when they gave few). Default: ``median`` on an ordinal scale (then
    the nearest point), ``mean`` on a numeric one; weighted by skill unless
    ``policy.aggregator = "majority"``."""
    tolerance: float | None = Field(None, ge=0)
    """Numeric scales: how far from the consensus a rating still agrees with it (for the
    confidence, agreement and exact accuracy). Default: the step, else 1/20 of the range.
    It must stay below the range (with a step) or half the range (without), or every answer
    would agree; ``0``: only equal ratings agree. On an ordinal scale the same point agrees and an adjacent one counts half."""


class TaskConfig(Strict):
    kind: str = "classification"
    """A registered task kind: ``classification`` (one label per item), ``multilabel`` (a set
    of labels), ``spans`` (named entities: the labels are the entity types), ``pairwise``
    (which of two responses is better), or one a plugin adds (:mod:`labelquorum.plugins`;
    ``labelquorum plugins`` lists them)."""
    labels: list[LabelConfig] = Field(default_factory=list)
    """The labels: names, or tables with `name`, `description` and `hotkey`. A kind that
    labels with classes needs at least two; a kind may fill them in itself (pairwise: A, B
    and, when allowed, tie); a ``rating`` task's labels are its ordinal points, lowest first,
    and a numeric scale needs none; ``free-text`` takes none."""
    guidelines: str = ""
    """How to choose a label."""
    fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    """Item fields shown to annotators; import requires them."""
    text_field: str = "text"
    """The field text models read."""
    rating: RatingConfig | None = None
    """``kind = "rating"``: the scale (numeric: ``min``, ``max``, ``step``) and consensus."""
    language_field: str | None = None
    """The input column that gives each item's language (an ISO 639-1 code such as
    ``en``); default: a column named ``language`` when the input has one. Items without
    one get theirs from py3langid at the first run that uses per-language trust."""
    allow_tie: bool = False
    """Pairwise tasks: offer ``tie`` besides ``A`` and ``B``."""
    prompt_field: str = "prompt"
    """Pairwise tasks: the field holding the prompt both responses answer."""
    response_fields: list[str] = Field(default_factory=lambda: ["response_a", "response_b"],
                                       min_length=2, max_length=2)
    """Pairwise tasks: the fields holding response A and response B."""
    system_fields: list[str] = Field(default_factory=lambda: ["model_a", "model_b"],
                                     min_length=2, max_length=2)
    """Pairwise tasks: the fields naming the systems that wrote response A and B (optional
    in the data; they rank the systems and are never shown to people)."""

    @model_validator(mode="before")
    @classmethod
    def _kind_completes(cls, data: Any) -> Any:
        """The kind fills in what it decides (:meth:`TaskKind.complete`) first."""
        from ..plugins import task_kinds

        kind = data.get("kind") if isinstance(data, dict) else None
        if isinstance(kind, str) and kind in task_kinds.names():
            return task_kinds.get(kind).complete(dict(data))
        return data

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

    @model_validator(mode="after")
    def _rating_section_needs_rating_kind(self) -> TaskConfig:
        if self.rating is not None and self.kind != "rating":
            raise ValueError(f"[task.rating] applies to kind = \"rating\" only; this task's "
                             f"kind is {self.kind!r}: remove the section or change the kind")
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
