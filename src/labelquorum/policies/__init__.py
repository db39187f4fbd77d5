"""Policies: which annotators to ask about which items, and which items to decide."""

from __future__ import annotations

from ..config import AutoConfig, CascadeConfig, ChainConfig, VoteThenVerifyConfig
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
    if getattr(cfg, "group_by", None):
        inner = cfg.model_copy(update={"group_by": None})
        return Grouped(cfg.group_by, lambda: build_policy(inner))
    if isinstance(cfg, CascadeConfig):
        return Cascade.from_config(cfg)
    if isinstance(cfg, VoteThenVerifyConfig):
        return VoteThenVerify.from_config(cfg)
    if isinstance(cfg, ChainConfig):
        return Chain.from_config(cfg)
    if isinstance(cfg, AutoConfig):
        return Auto.from_config(cfg)
    raise TypeError(f"no policy for {type(cfg).__name__}")


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
