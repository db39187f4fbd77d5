"""The ``[policy]`` section of the built-in policies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import ConfigError
from .base import Strict, did_you_mean


class Tier(Strict):
    name: str | None = None
    """Shown in `status` and the export's `tier` column."""
    annotators: list[str] = Field(min_length=1)
    """Annotators asked at this tier."""
    min_confidence: float = Field(0.0, ge=0, le=1)
    """Consensus confidence needed to accept."""
    min_agreement: float = Field(0.0, ge=0, le=1)
    """Share of votes agreeing with the consensus."""
    min_votes: int = Field(1, ge=1)
    """Votes (non-abstaining answers) needed."""


class PolicyBase(Strict):
    """The keys every ``[policy]`` section has. A policy's model subclasses it, adds
    ``type: Literal["name"]`` and returns the annotators it names from
    :meth:`references`."""

    aggregator: str = "weighted"
    """How answers become a consensus: ``majority`` or ``weighted`` (probability-weighted vote,
    per item), or a truth-inference method (``majority-vote``, ``wawa``, ``dawid-skene``,
    ``one-coin-dawid-skene``, ``glad``, ``mace``, or one a plugin adds) that estimates every
    annotator's skill from all answers so far, so models, LLMs and people are weighed in one
    pool, each person of a people tier as their own worker."""
    budget: float | None = Field(None, ge=0)
    """Money budget in USD; escalation stops when the next call would exceed it."""
    retrain_every: int | None = Field(None, ge=1)
    """The learning loop: retrain the trainable annotators within a run each time this many
    more labels are verified by another source; the run then takes the open items this many
    at a time, so later items are asked of the retrained models. None: only at the start of
    each run."""
    self_training_weight: float = Field(0.0, ge=0, le=1)
    """Weight, in [0, 1], of the trainable annotators' own accepted guesses (items only they
    decided) in their training data; 0: never trained on."""
    group_by: str | None = Field(None, min_length=1)
    """An item field (e.g. ``attribute``): the policy runs on each group of items sharing
    its value on its own, calibrated, gated and ranked on that group alone
    (:mod:`labelquorum.policies.grouped`)."""

    @field_validator("aggregator")
    @classmethod
    def _known_aggregator(cls, value: str) -> str:
        names = aggregator_names()
        if value not in names:
            from ..plugins import aggregators

            broken = aggregators.broken(value)
            if broken is not None:
                raise broken
            raise ValueError(f"unknown aggregator {value!r}; valid: "
                             f"{', '.join(names)}.{did_you_mean(value, names)}")
        return value

    def references(self) -> list[tuple[str, list[str]]]:
        """The annotators this policy names, by config key (checked against
        ``[annotators]``); a policy type that names annotators returns them here."""
        return []


def aggregator_names() -> tuple[str, ...]:
    """What ``policy.aggregator`` takes: the per-item votes, then every registered
    truth-inference method."""
    from ..aggregation.voting import METHODS
    from ..plugins import aggregators

    return (*METHODS, *aggregators.names())


class GateBase(PolicyBase):
    margin: float = Field(0.02, ge=0, le=1)
    """Calibrated gate: how far above the next tiers' estimated accuracy an item's
    calibrated probability of being right must be for a tier to accept it."""
    min_reference: int = Field(30, ge=1)
    """Calibrated gate: reference answers (calibration gold, reviews) each annotator needs
    before its confidence is trusted; below that the thresholds decide."""
    gate_bound: Literal["estimate", "lower-bound"] = "lower-bound"
    """Calibrated gate: accept only where a 95 % lower bound over the accepted reference
    items reaches the bar (``lower-bound``: a guarantee; with few reference items it
    accepts little), or where the calibrated probability of being right does
    (``estimate``)."""
    people_order: Literal["least-confident", "margin", "entropy", "random", "import"] = \
        "least-confident"
    """When the budget cannot pay for every task a people's tier is given, which go first:
    ``least-confident`` (1 - the top probability of the consensus so far), ``margin``
    (closest top two), ``entropy``, ``random``, or ``import`` order."""
    per_language: bool = True
    """Calibrated gate and ``auto``: an annotator shown weaker on one language's reference
    items than on the rest is not trusted there: its answers on that language neither accept
    an item nor calibrate it, so the items go on to the next tier (in the last tier, its
    items are decided on the other answers where there are any, flagged
    ``untrusted-language``). Acts only when items have languages
    (:mod:`labelquorum.policies.trust`)."""
    language_gap: float = Field(0.05, ge=0, le=1)
    """Per-language trust: how far below the lower end of an annotator's 95 % interval on
    the other languages' reference items the upper end of its interval on a language must
    lie for it to be untrusted there."""


class CascadeConfig(GateBase):
    """Tiers, cheapest first; an item is accepted at the first tier whose consensus passes its
    thresholds; the last tier takes the rest (flagged `low-confidence` when it does not pass,
    `fallback` when it gave no label and an earlier tier did). Where a call of the last tier
    failed, the item keeps the best label so far but is decided `failed`: the next run asks
    the failed annotator again. `decided_by` names only the annotators that answered.
    """
    type: Literal["cascade"]
    tiers: list[Tier] = Field(min_length=1)
    """The list of tiers."""
    scope: Literal["tier", "cumulative"] = "tier"
    """Consensus over the tier's own annotators, or `cumulative` (all tiers so far)."""
    gate: Literal["thresholds", "calibrated"] = "thresholds"
    """`thresholds`: a tier accepts an item when its consensus passes the tier's own `min_*`
    keys; `calibrated`: only where the calibrated consensus is shown to be at least as
    accurate as what would decide the item otherwise (see the truth-inference explanation)."""
    target_accuracy: float | None = Field(None, gt=0, le=1)
    """Calibrated gate: the accuracy a tier's accepted items must be shown to reach, in
    place of the later tiers' estimated accuracy plus ``margin``; the last tier's answers
    are then taken as the reference itself (such as people whose disagreements are
    reviewed) and its own vote decides what reaches it."""

    @model_validator(mode="after")
    def _target_needs_calibration(self) -> CascadeConfig:
        if self.target_accuracy is not None and self.gate != "calibrated":
            raise ConfigError("is the calibrated gate's bar; set policy.gate = "
                              "\"calibrated\" (and import calibration gold), or remove it",
                              key="policy.target_accuracy")
        return self

    def references(self) -> list[tuple[str, list[str]]]:
        return [(f"policy.tiers[{i}].annotators", t.annotators)
                for i, t in enumerate(self.tiers)]


class VoteThenVerifyConfig(GateBase):
    """The AutoAnnotator shape: specialists label everything; items whose calibrated consensus
    clears the gate are accepted (with `gate = "unanimous"`, or without enough calibration
    gold: items the specialists all agree on); the rest go to the verifiers, and are decided
    by truth inference over every answer, or by the verifiers' own answers where those were
    more accurate on the calibration gold.
    """
    type: Literal["vote-then-verify"]
    specialists: list[str] = Field(min_length=1)
    """The specialist annotators."""
    verifiers: list[str] = Field(min_length=1)
    """The verifiers of items the specialists disagree on."""
    min_votes: int | None = Field(None, ge=1)
    """Specialist votes needed for unanimity to count; default: every specialist."""
    gate: Literal["unanimous", "calibrated"] = "calibrated"
    """`calibrated`: the specialists' consensus is accepted only where it is shown to be at
    least as accurate as what would decide the item otherwise (see the truth-inference
    explanation); `unanimous`: where the specialists all agree."""

    def references(self) -> list[tuple[str, list[str]]]:
        return [("policy.specialists", self.specialists), ("policy.verifiers", self.verifiers)]


class ChainConfig(PolicyBase):
    """A rank-based chain (LLM Chain Ensembles, Farr et al.): each link keeps its most confident
    ⌊remaining / links left⌋ items and forwards the rest; the last link keeps all. An item's
    label comes from the link, among those that labelled it, where it ranked highest *within
    that link* (its mid-rank confidence percentile among all that link's answers; a tie goes
    to the later link), so raw confidences of different models are never compared. An item
    flagged as a prompt injection is never kept by a link on LLM answers alone: it goes on to
    the next link, and the last decides it flagged `injection,needs-review` unless a non-LLM
    annotator of the chain agrees with its label. A link keeps its share once: items it
    forwarded that the budget stopped stay forwarded when a later run reopens them.
    """
    type: Literal["chain"]
    links: list[str | Annotated[list[str], Field(min_length=1)]] = Field(min_length=1)
    """Annotators in order; a link may be a group of annotators (a list) whose consensus is the
    link's answer, e.g. ``[["flan-t5-xl", "flan-ul2"], "chatgpt"]``."""
    confidence: Literal["own", "agreement"] = "own"
    """How a link ranks its answers: ``own`` (its confidence: a model's own, or a group's
    consensus confidence) or ``agreement`` (the share of the chain's answers so far that
    agree with this link's label; for models that give no confidence, with a group as the
    first link)."""
    label_from: Literal["most-confident-link", "keeping-link"] = "most-confident-link"
    """Which link labels a kept item: the one where it ranked highest, or the keeping one."""

    def references(self) -> list[tuple[str, list[str]]]:
        return [("policy.links", [a for link in self.links
                                  for a in ([link] if isinstance(link, str) else link)])]


class AutoConfig(GateBase):
    """A policy chosen on calibration gold (:mod:`labelquorum.policies.auto`)."""

    type: Literal["auto"]
    annotators: list[str] | None = Field(None, min_length=1)
    """The candidates; default: every annotator of the project that is not a person (people
    cannot be probed at once)."""
    target_accuracy: float | None = Field(None, gt=0, lt=1)
    """Choose the cheapest policy whose accuracy's lower confidence bound reaches this."""
    budget_per_item: float | None = Field(None, ge=0)
    """Choose the most accurate policy whose cost per item (USD) is at most this. Give this,
    ``target_accuracy`` or ``budget``."""
    folds: int = Field(5, ge=2, le=20)
    """Cross-validation folds inside the calibration gold."""
    confidence_level: float = Field(0.95, gt=0.5, lt=1)
    """Level of the (one-sided) lower confidence bound compared with ``target_accuracy``."""

    @model_validator(mode="after")
    def _one_goal(self) -> AutoConfig:
        if self.target_accuracy is not None and self.budget_per_item is not None:
            raise ValueError("give target_accuracy or budget_per_item, not both")
        if self.target_accuracy is None and self.budget_per_item is None and self.budget is None:
            raise ValueError("an auto policy needs a goal: target_accuracy (the cheapest policy "
                             "that reaches it), budget_per_item or budget (the most accurate "
                             "policy within it)")
        return self

    def references(self) -> list[tuple[str, list[str]]]:
        return [("policy.annotators", list(self.annotators or []))]

