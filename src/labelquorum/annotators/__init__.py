"""Annotators: small models, lexicons, rules, recorded and simulated judgements, people.

``build_annotator`` turns one ``[annotators.NAME]`` config section into a backend. A new
backend is a subclass of :class:`Annotator` registered in ``BACKENDS``.
"""

from __future__ import annotations

from typing import Any

from ..task import Task
from .base import Annotator, Answers, Context, Items
from .human import HumanAnnotator
from .replay import ReplayAnnotator
from .rules import RulesAnnotator
from .simulated import SimulatedAnnotator
from .tfidf import TfidfAnnotator
from .vader import VaderAnnotator


def _embedding(*args, **kwargs):
    from .embedding import EmbeddingAnnotator

    return EmbeddingAnnotator(*args, **kwargs)


BACKENDS: dict[str, Any] = {
    "tfidf": TfidfAnnotator,
    "embedding": _embedding,
    "vader": VaderAnnotator,
    "rules": RulesAnnotator,
    "replay": ReplayAnnotator,
    "simulated": SimulatedAnnotator,
    "human": HumanAnnotator,
}


def build_annotator(name: str, config: Any, task: Task, context: Context,
                    gold: dict[str, Any] | None = None) -> Annotator:
    """Build the backend for one annotator config; simulated ones get the gold they need."""
    cls = BACKENDS[config.type]
    if config.type == "simulated":
        return cls(name, config, task, context, gold=gold)
    return cls(name, config, task, context)


__all__ = ["Annotator", "Answers", "Context", "Items", "BACKENDS", "build_annotator"]
