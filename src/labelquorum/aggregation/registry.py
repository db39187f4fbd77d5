"""Aggregators by name, for configs and the ``aggregate`` command.

Classes are imported when first used, so listing the names costs nothing.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
from typing import Any

from ..errors import LabelquorumError

AGGREGATORS: dict[str, str] = {
    "majority-vote": "labelquorum.aggregation.majority_vote:MajorityVote",
    "wawa": "labelquorum.aggregation.wawa:Wawa",
    "dawid-skene": "labelquorum.aggregation.dawid_skene:DawidSkene",
    "one-coin-dawid-skene": "labelquorum.aggregation.dawid_skene:OneCoinDawidSkene",
    "glad": "labelquorum.aggregation.glad:GLAD",
    "mace": "labelquorum.aggregation.mace:MACE",
}


def available() -> list[str]:
    """Names whose module is present in this installation."""
    out = []
    for name, path in AGGREGATORS.items():
        module = path.partition(":")[0]
        if importlib.util.find_spec(module) is not None:
            out.append(name)
    return out


def make_aggregator(name: str, **params: Any):
    """An aggregator by name, with the given hyperparameters (e.g. ``seed``)."""
    names = available()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise LabelquorumError(f"unknown aggregation method {name!r}; valid methods: "
                               f"{', '.join(names)}.{hint}")
    module, _, cls_name = AGGREGATORS[name].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in params.items() if k in accepted})


def takes_gold(aggregator) -> bool:
    return "gold" in inspect.signature(aggregator.fit).parameters
