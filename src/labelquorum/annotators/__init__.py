"""Annotators: small models, lexicons, rules, spaCy NER, recorded and simulated judgements,
people.

``build_annotator`` turns one ``[annotators.NAME]`` config section into a backend. A new
backend is a subclass of :class:`Annotator` with a config model, registered as a
:class:`labelquorum.plugins.AnnotatorType` (the built-ins in :mod:`labelquorum.builtins`,
by ``module:Class`` paths imported only when used, so heavy libraries load on demand; a
plugin's through the ``labelquorum.annotators`` entry-point group).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..task import Task
from .base import Annotator, Answers, Context, Items


def backend_class(type_name: str) -> type[Annotator]:
    """The class a registered annotator type builds (imported now)."""
    from ..plugins import annotators

    factory = annotators.get(type_name).factory
    if isinstance(factory, str):
        module, _, cls = factory.partition(":")
        return getattr(importlib.import_module(module), cls)
    return factory


def build_annotator(name: str, config: Any, task: Task, context: Context,
                    gold: dict[str, Any] | None = None) -> Annotator:
    """Build the backend for one annotator config; simulated ones get the gold they need."""
    from ..plugins import annotators

    return annotators.get(config.type).build(name, config, task, context, gold=gold)


__all__ = [
    "Annotator",
    "Answers",
    "Context",
    "Items",
    "backend_class",
    "build_annotator",
]
