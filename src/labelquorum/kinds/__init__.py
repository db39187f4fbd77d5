"""Task kinds: one strategy object per kind of labelling job (see :mod:`.base`).

The built-in kinds — ``classification``, ``multilabel`` and ``spans`` — are registered in
:data:`labelquorum.builtins.TASK_KINDS`; a plugin adds one through the
``labelquorum.task_kinds`` entry-point group. A module here that defines a new value type
(``class RatingKind(TaskKind, value_type="rating")``) is imported below.
"""

from __future__ import annotations

from .base import VALUE_TYPES, TaskKind, value_type_class
from .classification import CLASSIFICATION, ClassKind
from .freetext import FREE_TEXT, FreeTextKind
from .multilabel import MULTILABEL, LabelSetKind
from .rating import RATING, RatingKind
from .spans import SPANS, SpansKind

BUILTIN_KINDS = [CLASSIFICATION, MULTILABEL, SPANS, RATING, FREE_TEXT]

__all__ = [
    "BUILTIN_KINDS",
    "CLASSIFICATION",
    "FREE_TEXT",
    "MULTILABEL",
    "RATING",
    "SPANS",
    "VALUE_TYPES",
    "ClassKind",
    "FreeTextKind",
    "LabelSetKind",
    "RatingKind",
    "SpansKind",
    "TaskKind",
    "value_type_class",
]
