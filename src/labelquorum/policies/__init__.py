"""Policies: which annotators to ask about which items, and which items to decide."""

from __future__ import annotations

from .auto import Auto
from .base import (
    ABSTAIN,
    FAILED,
    NOT_ASKED,
    OK,
    PENDING,
    REOPENABLE,
    AnnotatorInfo,
    Decision,
    DecisionState,
    Plan,
    Policy,
    PolicyState,
)
from .cascade import Cascade, VoteThenVerify
from .chain import Chain
from .grouped import Grouped
from .offline import OfflineRun, run_offline


def build_policy(cfg) -> Policy:
    """The policy a ``[policy]`` config describes, by its registered type; with
    ``group_by``, that policy once per group of the field's values."""
    if getattr(cfg, "group_by", None):
        inner = cfg.model_copy(update={"group_by": None})
        return Grouped(cfg.group_by, lambda: build_policy(inner))
    from ..plugins import policies

    return policies.get(cfg.type).build(cfg)


__all__ = [
    "ABSTAIN",
    "FAILED",
    "NOT_ASKED",
    "OK",
    "PENDING",
    "REOPENABLE",
    "AnnotatorInfo",
    "Auto",
    "Cascade",
    "Chain",
    "Decision",
    "DecisionState",
    "Grouped",
    "OfflineRun",
    "Plan",
    "Policy",
    "PolicyState",
    "VoteThenVerify",
    "build_policy",
    "run_offline",
]
