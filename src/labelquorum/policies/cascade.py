"""Cascade and vote-then-verify.

Cascade: tiers of annotators, cheapest first. An open item is asked of a tier's
annotators; once they have all answered, the item is accepted at that tier when the
consensus has at least ``min_votes`` votes, confidence >= ``min_confidence`` and
agreement >= ``min_agreement``; otherwise it goes to the next tier. The last tier accepts
what it can; items it cannot label keep the best label from all tiers, flagged
``fallback`` (or ``unlabelled`` when nothing labelled them).

An item flagged as a likely prompt injection (:mod:`labelquorum.injection`) is never
accepted on LLM answers alone: a non-LLM annotator in the consensus must agree, or it goes
on; at the last tier it is decided with the flags ``injection,needs-review``, for review.
Every flagged item's decision carries the flag ``injection``, whoever decided it.

When a call of the last tier fails, the item keeps the best label so far but is decided
``failed`` (:class:`~labelquorum.policies.DecisionState`): the next run reopens it and
asks the failed annotator again.

Vote-then-verify is the AutoAnnotator shape (Lu et al.): the specialists label
everything, unanimous items are accepted, the rest go to the verifiers.
"""

from __future__ import annotations

import numpy as np

from ..aggregation import Consensus
from ..config import CascadeConfig, Tier, VoteThenVerifyConfig
from .base import FAILED, NOT_ASKED, Decision, DecisionState, Plan, Policy, PolicyState

HELD = "injection,needs-review"  # flagged text, only LLMs gave the label: for a person


def take(c: Consensus, mask: np.ndarray) -> Consensus:
    values = None if c.values is None else [v for v, m in zip(c.values, mask) if m]
    return Consensus(c.posterior[mask], c.label[mask], c.confidence[mask], c.agreement[mask],
                     c.votes[mask], values)


class Cascade(Policy):
    def __init__(self, tiers: list[Tier], scope: str = "tier"):
        self.tiers = tiers
        self.scope = scope

    @classmethod
    def from_config(cls, cfg: CascadeConfig) -> Cascade:
        return cls(cfg.tiers, cfg.scope)

    def tier_name(self, t: int) -> str:
        return self.tiers[t].name or f"tier {t + 1}"

    def annotators(self) -> list[str]:
        return list(dict.fromkeys(a for tier in self.tiers for a in tier.annotators))

    def step(self, state: PolicyState) -> Plan:
        plan = Plan()
        remaining = state.open.copy()
        seen: list[str] = []
        for t, tier in enumerate(self.tiers):
            if not remaining.any():
                break
            names = tier.annotators
            seen += [a for a in names if a not in seen]
            for a in names:
                plan.ask(a, np.flatnonzero(remaining & (state.status[a] == NOT_ASKED)))
            ready = remaining & state.resolved(names)
            pos = np.flatnonzero(ready)
            if len(pos) == 0:
                remaining = ready
                continue
            scope = names if self.scope == "tier" else list(seen)
            c = state.consensus(scope, pos)
            ok = ((c.votes >= tier.min_votes) & (c.confidence >= tier.min_confidence)
                  & (c.agreement >= tier.min_agreement))
            held = state.unconfirmed(scope, pos, c) & (c.votes > 0)
            ok &= ~held
            if t < len(self.tiers) - 1:
                plan.decide(Decision(pos[ok], take(c, ok), scope, self.tier_name(t)))
            else:
                # the last tier: where one of its calls failed, the label stands for now
                # but the item is reopened, and the failed annotator asked again
                failed = np.zeros(len(pos), dtype=bool)
                for a in names:
                    failed |= state.status[a][pos] == FAILED
                for fail in (False, True):
                    st = DecisionState.FAILED if fail else DecisionState.FINAL
                    for rows, flags in ((ok & (failed == fail), ""),
                                        (held & (failed == fail), HELD)):
                        plan.decide(Decision(pos[rows], take(c, rows), scope,
                                             self.tier_name(t), flags=flags, state=st))
                rest = ~ok & ~held
                self._last_tier(state, plan, pos[rest], take(c, rest), scope, t, seen)
            remaining = np.zeros_like(remaining)
            remaining[pos[~ok]] = True
        return plan

    def _last_tier(self, state, plan, pos, c, scope, t, seen) -> None:
        """Items the last tier could not accept: its label if it gave one, else the best.

        Where a call of the last tier failed, the item is decided ``failed`` (the next run
        asks the failed annotator again), and a fallback label that only LLMs gave on a
        flagged item is held for review like any other."""
        name = self.tier_name(t)
        failed = np.zeros(len(pos), dtype=bool)
        for a in self.tiers[t].annotators:
            failed |= state.status[a][pos] == FAILED
        voted = c.votes > 0
        for fail in (False, True):
            rows = voted & (failed == fail)
            plan.decide(Decision(pos[rows], take(c, rows), scope, name, flags="low-confidence",
                                 state=DecisionState.FAILED if fail else DecisionState.FINAL))
        rest = ~voted
        if not rest.any():
            return
        best = state.consensus(list(seen), pos[rest])
        held = state.unconfirmed(list(seen), pos[rest], best) & (best.votes > 0)
        has = best.votes > 0
        for fail in (False, True):
            state_ = DecisionState.FAILED if fail else DecisionState.FINAL
            of = failed[rest] == fail
            for rows, flags in ((has & ~held & of, "fallback"), (held & of, "fallback," + HELD),
                                (~has & of, "unlabelled")):
                plan.decide(Decision(pos[rest][rows], take(best, rows), list(seen), name,
                                     flags=flags, state=state_))


class VoteThenVerify(Cascade):
    def __init__(self, specialists: list[str], verifiers: list[str],
                 min_votes: int | None = None):
        votes = len(specialists) if min_votes is None else min(min_votes, len(specialists))
        super().__init__([
            Tier(name="specialists", annotators=specialists, min_agreement=1.0,
                 min_votes=votes),
            Tier(name="verifiers", annotators=verifiers),
        ])

    @classmethod
    def from_config(cls, cfg: VoteThenVerifyConfig) -> VoteThenVerify:
        return cls(cfg.specialists, cfg.verifiers, cfg.min_votes)
