"""Aggregators by name, for configs and the ``aggregate`` command.

The names are those of :data:`labelquorum.plugins.aggregators` (the built-ins and any
plugin's); classes are imported when first used, so listing the names costs nothing.
"""

from __future__ import annotations

import inspect
from typing import Any


def available() -> list[str]:
    """Every registered aggregation method."""
    from ..plugins import aggregators

    return list(aggregators.names())


def make_aggregator(name: str, **params: Any):
    """An aggregator by name, with the given hyperparameters (e.g. ``seed``); those its
    class does not take are left out."""
    from ..plugins import aggregators

    cls = aggregators.get(name).estimator_class
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in params.items() if k in accepted})


def takes_gold(aggregator) -> bool:
    return "gold" in inspect.signature(aggregator.fit).parameters
