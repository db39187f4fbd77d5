"""Annotators: small models, lexicons, rules, recorded and simulated judgements, people.

``build_annotator`` turns one ``[annotators.NAME]`` config section into a backend. A new
backend is a subclass of :class:`Annotator` registered in ``BACKENDS`` (as a
``module:Class`` path, imported only when used, so heavy libraries load on demand).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..task import Task
from .base import Annotator, Answers, Context, Items

BACKENDS: dict[str, str] = {
    "tfidf": "labelquorum.annotators.tfidf:TfidfAnnotator",
    "embedding": "labelquorum.annotators.embedding:EmbeddingAnnotator",
    "vader": "labelquorum.annotators.vader:VaderAnnotator",
    "rules": "labelquorum.annotators.rules:RulesAnnotator",
    "replay": "labelquorum.annotators.replay:ReplayAnnotator",
    "simulated": "labelquorum.annotators.simulated:SimulatedAnnotator",
    "human": "labelquorum.annotators.human:HumanAnnotator",
    "llm": "labelquorum.annotators.llm:LlmAnnotator",
}


def backend_class(type_name: str) -> type[Annotator]:
    module, _, cls = BACKENDS[type_name].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_annotator(name: str, config: Any, task: Task, context: Context,
                    gold: dict[str, Any] | None = None) -> Annotator:
    """Build the backend for one annotator config; simulated ones get the gold they need."""
    cls = backend_class(config.type)
    if config.type == "simulated":
        return cls(name, config, task, context, gold=gold)
    return cls(name, config, task, context)


__all__ = [
    "BACKENDS",
    "Annotator",
    "Answers",
    "Context",
    "Items",
    "backend_class",
    "build_annotator",
]
