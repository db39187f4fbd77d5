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
from .base import FAILED, NOT_ASKED, OK, Decision, DecisionState, Plan, Policy, PolicyState
from .trust import distrust, flag_decisions, trusted_view, untrusted_items

HELD = "injection,needs-review"  # flagged text, only LLMs gave the label: for a person


def take(c: Consensus, mask: np.ndarray) -> Consensus:
    values = None if c.values is None else [v for v, m in zip(c.values, mask) if m]
    return Consensus(c.posterior[mask], c.label[mask], c.confidence[mask], c.agreement[mask],
                     c.votes[mask], values)


class Cascade(Policy):
    def __init__(self, tiers: list[Tier], scope: str = "tier", gate: str = "thresholds",
                 margin: float = 0.02, min_reference: int = 30,
                 people_order: str = "least-confident", gate_bound: str = "lower-bound",
                 per_language: bool = True, language_gap: float = 0.05,
                 target_accuracy: float | None = None):
        self.tiers = tiers
        self.per_language = per_language
        self.language_gap = language_gap
        self.target_accuracy = target_accuracy
        self.gate_bound = gate_bound
        self.scope = scope
        self.gate = gate
        self.margin = margin
        self.min_reference = min_reference
        self.people_order = people_order

    @classmethod
    def from_config(cls, cfg: CascadeConfig) -> Cascade:
        return cls(cfg.tiers, cfg.scope, cfg.gate, cfg.margin, cfg.min_reference,
                   cfg.people_order, cfg.gate_bound, cfg.per_language, cfg.language_gap,
                   cfg.target_accuracy)

    def _ask_tier(self, state: PolicyState, plan: Plan, names: list[str], wanted: np.ndarray,
                  so_far: np.ndarray | None) -> None:
        """Ask a tier's annotators about the wanted items they were not asked about; a
        people's annotator gets its tasks scored by how uncertain the consensus so far is
        (:mod:`labelquorum.active`), so a short budget buys the most useful ones."""
        for a in names:
            plan.ask(a, np.flatnonzero(wanted & (state.status[a] == NOT_ASKED)))
            if state.annotators[a].deferred and a in plan.asks:
                from ..active import UncertaintySampling

                k = len(state.labels)
                post = so_far if so_far is not None else np.full((len(state.item_ids), k),
                                                                 1.0 / max(k, 1))
                plan.priority[a] = UncertaintySampling(self.people_order).score(
                    post, state.item_ids)

    @staticmethod
    def _remember(so_far: np.ndarray | None, pos: np.ndarray, c: Consensus) -> None:
        if so_far is not None and c.posterior.shape[1] == so_far.shape[1]:
            so_far[pos] = c.posterior

    @property
    def uses_language(self) -> bool:
        """Whether the items' languages change what this policy does (per-language trust
        in the calibrated gate): the run records them first."""
        return self.per_language and self.gate == "calibrated"

    def tier_name(self, t: int) -> str:
        return self.tiers[t].name or f"tier {t + 1}"

    def annotators(self) -> list[str]:
        return list(dict.fromkeys(a for tier in self.tiers for a in tier.annotators))

    def step(self, state: PolicyState) -> Plan:
        plan = Plan()
        if self.gate == "calibrated" and self._step_calibrated(state, plan):
            return plan
        remaining = state.open.copy()
        seen: list[str] = []
        so_far = self._posterior_so_far(state)
        for t, tier in enumerate(self.tiers):
            if not remaining.any():
                break
            names = tier.annotators
            seen += [a for a in names if a not in seen]
            self._ask_tier(state, plan, names, remaining, so_far)
            ready = remaining & state.resolved(names)
            pos = np.flatnonzero(ready)
            if len(pos) == 0:
                remaining = ready
                continue
            scope = names if self.scope == "tier" else list(seen)
            c = state.consensus(scope, pos)
            self._remember(so_far, pos, c)
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

    def _posterior_so_far(self, state: PolicyState) -> np.ndarray | None:
        """Per item, the consensus posterior of the tiers before (uniform until one
        decides); only kept when a tier has people to prioritise."""
        if not any(state.annotators[a].deferred for a in self.annotators()):
            return None
        k = len(state.labels)
        return np.full((len(state.item_ids), k), 1.0 / max(k, 1))

    # -- the calibrated gate ------------------------------------------------------------
    def _step_calibrated(self, state: PolicyState, plan: Plan) -> bool:
        """Gates on calibrated probabilities; False (with a note) when the reference items
        are too few to calibrate every annotator, and the thresholds decide instead.

        Every annotator of every tier is asked about the open reference items (calibration
        gold) first: that is what calibrates them. Until those answers are in, nothing is
        decided. Then a tier accepts an item only when the calibrated probability that the
        consensus of everything asked so far is right reaches the estimated accuracy of
        what would decide it otherwise (all tiers' answers combined) plus ``margin``; the
        last tier decides the rest by truth inference over every answer."""
        names = self.annotators()
        ref = state.reference_positions()
        if not len(ref):
            plan.notes.append("calibrated gate: no reference items (calibration gold or "
                              "reviewed labels); the tiers' thresholds decide. Import gold "
                              "with --split calibration=N to calibrate the annotators.")
            return False
        probes = {a: ref[state.open[ref] & (state.status[a][ref] == NOT_ASKED)
                         & ~state.was_planned(a)[ref]] for a in names}
        cost = sum(len(ps) * state.annotators[a].max_cost for a, ps in probes.items())
        if state.budget_left is not None and cost > state.budget_left:
            plan.notes.append(
                f"calibrated gate: asking every annotator about the {len(ref)} reference "
                f"items could cost up to {cost:.4g} USD, more than the {state.budget_left:.4g} "
                "USD the budget has left; the tiers' thresholds decide. Raise policy.budget, "
                "or import fewer calibration items.")
            return False
        for a in names:
            plan.ask(a, ref[state.open[ref] & (state.status[a][ref] == NOT_ASKED)])
        # wait for the open reference items' answers; a closed one (decided earlier, or a
        # review) counts with the answers it has, since nothing can be asked about it
        if not state.resolved(names)[ref[state.open[ref]]].all():
            first = self.tiers[0].annotators
            for a in first:  # the first tier works meanwhile; nothing is decided yet
                plan.ask(a, np.flatnonzero(state.open & (state.status[a] == NOT_ASKED)))
            return True
        # per-language trust: every later step sees the untrusted answers as abstentions
        # (calibration and gates included); ``full`` keeps them for the last tier
        masks = self._untrusted(state, plan, names)
        full, state = state, trusted_view(state, masks)
        cal, gates, final = self._calibrate(state, names, ref)
        if not cal.usable(names):
            few = min(cal.fits[a].n for a in names)
            unasked = any((state.status[a][ref] == NOT_ASKED).any() for a in names)
            fix = ("The budget stopped the annotators' answers on the reference items: raise "
                   "policy.budget, or lower policy.min_reference." if unasked
                   and state.budget_left is not None else "Add calibration gold.")
            if masks:
                fix += (" Answers in a language where their annotator is not trusted do not "
                        "count (policy.per_language).")
            plan.notes.append(f"calibrated gate: an annotator has {few} answers on reference "
                              f"items, needs {self.min_reference} (policy.min_reference); the "
                              f"tiers' thresholds decide. {fix}")
            return False
        remaining = state.open.copy()
        seen: list[str] = []
        so_far = self._posterior_so_far(state)
        last = len(self.tiers) - 1
        for t, tier in enumerate(self.tiers):
            if not remaining.any():
                break
            seen += [a for a in tier.annotators if a not in seen]
            self._ask_tier(state, plan, tier.annotators, remaining, so_far)
            ready = remaining & state.resolved(tier.annotators)
            pos = np.flatnonzero(ready)
            if not len(pos):
                remaining = ready
                continue
            c = state.calibrated_consensus(cal, list(seen), pos)
            self._remember(so_far, pos, c)
            held = state.unconfirmed(list(seen), pos, c) & (c.votes > 0)
            if t < last:
                ok = (c.votes >= tier.min_votes) & gates[t].accept(c.confidence) & ~held
                if masks:  # accepted only on a trusted answer of this tier
                    ok &= np.any([state.label[a][pos] >= 0 for a in tier.annotators], axis=0)
                plan.decide(Decision(pos[ok], take(c, ok), list(seen), self.tier_name(t)))
                remaining = np.zeros_like(remaining)
                remaining[pos[~ok]] = True
                continue
            if self.target_accuracy is not None or final != list(seen):
                # the last tier's own answers, where it gave one; with a target accuracy
                # they are the reference itself, and its plain vote decides: a combination
                # that takes correlated annotators for independent ones could overrule them
                own = (state.consensus(list(tier.annotators), pos)
                       if self.target_accuracy is not None
                       else state.calibrated_consensus(cal, final, pos))
                mine = own.votes > 0
                c = Consensus(np.where(mine[:, None], own.posterior, c.posterior),
                              np.where(mine, own.label, c.label),
                              np.where(mine, own.confidence, c.confidence),
                              np.where(mine, own.agreement, c.agreement), c.votes)
            if masks:
                c, held = self._untrusted_last(full, cal, list(seen), pos, c, held)
            before = len(plan.decisions)
            self._decide_last(full, plan, pos, c, held, list(seen), t)
            if masks:  # the last tier's own answer there is not trusted: set aside or used
                flagged = np.zeros(len(state.item_ids), dtype=bool)
                for a, mask in masks.items():
                    if a in tier.annotators:
                        flagged |= mask & (full.label[a] >= 0)
                plan.decisions[before:] = flag_decisions(plan.decisions[before:], flagged)
            remaining = np.zeros_like(remaining)
        return True

    @staticmethod
    def _untrusted_last(full, cal, seen, pos, c, held):
        """The last tier, where only untrusted answers were given: nothing else can decide
        the item, so they do (the decision is flagged)."""
        none = c.votes == 0
        if not none.any():
            return c, held
        every = full.calibrated_consensus(cal, seen, pos)
        use = none & (every.votes > 0)
        c = Consensus(np.where(use[:, None], every.posterior, c.posterior),
                      np.where(use, every.label, c.label),
                      np.where(use, every.confidence, c.confidence),
                      np.where(use, every.agreement, c.agreement),
                      np.where(use, every.votes, c.votes))
        held = held | (use & full.unconfirmed(seen, pos, c))
        return c, held

    def _untrusted(self, state: PolicyState, plan: Plan, names: list[str]):
        """Per annotator not trusted on a language (:mod:`labelquorum.policies.trust`), the
        items of that language; a note for each, once."""
        if not self.per_language or state.language is None:
            return {}
        found = distrust(state, names, state.language, gap=self.language_gap)
        last = set(self.tiers[-1].annotators)
        for d in found:
            plan.notes.append(d.note("language", last_tier=d.annotator in last))
        return untrusted_items(state, found, state.language)

    def _calibrate(self, state: PolicyState, names: list[str], ref: np.ndarray):
        """The calibration, gates and final deciders for the reference answers as they are:
        a pure function of them, remembered while they do not change (every step of a run
        would otherwise refit the same thing)."""
        import hashlib

        digest = hashlib.sha1(repr((names, self.margin, self.min_reference,
                                    self.gate_bound, self.target_accuracy)).encode())
        digest.update(state.reference[ref].tobytes())
        for a in names:
            digest.update(state.status[a][ref].tobytes())
            digest.update(state.label[a][ref].tobytes())
            digest.update(state.confidence_of(a, ref).tobytes())
        key = digest.hexdigest()
        memo = self.__dict__.setdefault("_memo", {})
        if key not in memo:
            cal = state.calibration(names, self.min_reference)
            memo.clear()
            memo[key] = (cal, *(self._gates(state, cal, names, ref) if cal.usable(names)
                                 else ([], names)))
        cal, gates, final = memo[key]
        state.__dict__.setdefault("_calibrations", {})[(tuple(names), self.min_reference)] = cal
        return cal, gates, final

    def _gates(self, state, cal, names, ref) -> tuple[list, list[str]]:
        """Per tier but the last, its :class:`~labelquorum.calibration.Threshold`: the
        lowest consensus probability at which the calibrated probability of being right
        (``gate_bound = "estimate"``), or a lower 95 % bound over the reference items above
        it (``"lower-bound"``), reaches the bar — the accuracy on reference items of every
        tier's answers combined (what decides an item the tier forwards), plus the margin.
        Both are measured cross-fitted: each reference item's consensus comes from
        calibrations fitted without it. Also returns the annotators whose answers decide
        what reaches the last tier: all of them combined where that was significantly more
        accurate on the reference items than the last tier's own answers, else the last
        tier's."""
        from ..calibration import calibrated_threshold, cross_fitted, selective_threshold

        truth = state.reference[ref]
        sets, seen = [], []
        for tier in self.tiers[:-1]:
            seen += [a for a in tier.annotators if a not in seen]
            sets.append(tuple(seen))
        answers = {a: (np.where(state.status[a][ref] == OK, state.label[a][ref], -1),
                       state.confidence_of(a, ref)) for a in names}
        last = tuple(self.tiers[-1].annotators)
        oof = cross_fitted(answers, truth, len(state.labels), sets + [tuple(names), last])
        # the last tier decides by every answer combined, unless its own answers alone were
        # as accurate on the reference items (annotators that err together mislead a
        # combination that takes them for independent witnesses)
        together, alone = oof[tuple(names)][1].mean(), oof[last][1].mean()
        # the combination replaces the last tier's own answers only where it was shown
        # better on the same items (a one-sided McNemar test at about 2.5 %): with a few
        # dozen reference items, "more often right" alone is mostly chance
        wins = int((oof[tuple(names)][1] > oof[last][1]).sum())
        losses = int((oof[tuple(names)][1] < oof[last][1]).sum())
        better = wins > losses and (wins - losses) ** 2 >= 4.0 * (wins + losses)
        final = list(names) if better else list(last)
        bar = (float(max(together, alone)) + self.margin if self.target_accuracy is None
               else self.target_accuracy)
        if self.gate_bound == "lower-bound":
            return [selective_threshold(*oof[s], bar) for s in sets], final
        k = len(state.labels)
        return [calibrated_threshold(*oof[s], bar, n_labels=k) for s in sets], final

    def _decide_last(self, state, plan, pos, c, held, seen, t) -> None:
        """The last tier: the posterior over every answer decides; ``failed`` where one of
        its calls failed, ``fallback`` where only earlier tiers gave a label."""
        name = self.tier_name(t)
        failed = np.zeros(len(pos), dtype=bool)
        own = np.zeros(len(pos), dtype=bool)
        for a in self.tiers[t].annotators:
            failed |= state.status[a][pos] == FAILED
            own |= state.label[a][pos] >= 0
        voted = c.votes > 0
        for fail in (False, True):
            st = DecisionState.FAILED if fail else DecisionState.FINAL
            of = failed == fail
            for rows, flags in ((voted & own & ~held & of, ""), (voted & own & held & of, HELD),
                                (voted & ~own & ~held & of, "fallback"),
                                (voted & ~own & held & of, "fallback," + HELD),
                                (~voted & of, "unlabelled")):
                plan.decide(Decision(pos[rows], take(c, rows), seen, name, flags=flags,
                                     state=st))

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
    """With ``gate = "calibrated"`` (the default) the specialists' answers are accepted
    where their calibrated consensus is likelier right than the verifiers would be, and
    the verifiers' items are decided by truth inference over everyone's answers; without
    enough calibration gold, or with ``gate = "unanimous"``, unanimity accepts."""

    def __init__(self, specialists: list[str], verifiers: list[str],
                 min_votes: int | None = None, gate: str = "calibrated",
                 margin: float = 0.02, min_reference: int = 30,
                 people_order: str = "least-confident", gate_bound: str = "lower-bound",
                 per_language: bool = True, language_gap: float = 0.05):
        votes = len(specialists) if min_votes is None else min(min_votes, len(specialists))
        super().__init__([
            Tier(name="specialists", annotators=specialists, min_agreement=1.0,
                 min_votes=votes),
            Tier(name="verifiers", annotators=verifiers),
        ], gate="thresholds" if gate == "unanimous" else gate, margin=margin,
            min_reference=min_reference, people_order=people_order, gate_bound=gate_bound,
            per_language=per_language, language_gap=language_gap)

    @classmethod
    def from_config(cls, cfg: VoteThenVerifyConfig) -> VoteThenVerify:
        return cls(cfg.specialists, cfg.verifiers, cfg.min_votes, cfg.gate, cfg.margin,
                   cfg.min_reference, cfg.people_order, cfg.gate_bound, cfg.per_language,
                   cfg.language_gap)
