"""The policy contract: the whole set of open items in, asks and decisions out.

A policy's :meth:`Policy.step` receives a :class:`PolicyState` — every item's judgements
so far (as arrays over item positions), which requests are outstanding, the budget left,
and each annotator's kind, cost and skill — and returns a :class:`Plan`: which
annotators to ask about which items, which items to decide, and which trainable
annotators to refit. Policies keep no state of their own: everything they need is in the
state, which the run rebuilds from the store after a crash, so a resumed run makes the
same choices as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from ..aggregation import Consensus, vote
from ..aggregation.voting import METHODS as VOTES
from ..calibration import Calibration
from ..errors import LabelquorumError
from ..kinds.base import hook_failed

NOT_ASKED, PENDING, OK, ABSTAIN, FAILED = 0, 1, 2, 3, 4
RESOLVED = (OK, ABSTAIN, FAILED)


class DecisionState(StrEnum):
    """Whether a decided item is decided for good, and if not, why (``decisions.state``).

    ``final`` and ``review`` close the item: no run reopens it, and nothing but another
    review writes over a ``review``. ``budget`` (stopped by the budget) and ``failed``
    (the calls that should have decided it failed) keep the best label so far and are
    reopened by the next run, which asks again what was not answered."""

    FINAL = "final"
    REVIEW = "review"
    BUDGET = "budget"
    FAILED = "failed"


REOPENABLE = (DecisionState.BUDGET.value, DecisionState.FAILED.value)


@dataclass(frozen=True)
class AnnotatorInfo:
    name: str
    kind: str
    max_cost: float
    skill: float
    deferred: bool


@dataclass
class PolicyState:
    """Arrays over item positions (all of the project's items, in import order)."""

    item_ids: np.ndarray
    open: np.ndarray  # bool (n,): not yet decided
    labels: tuple[str, ...]
    multilabel: bool
    status: dict[str, np.ndarray]  # int8 (n,) per annotator: NOT_ASKED..FAILED
    label: dict[str, np.ndarray]  # int (n,): label index, -1 if none (classification)
    probs: dict[str, np.ndarray]  # float (n, k): per-label probabilities, NaN if none
    annotators: dict[str, AnnotatorInfo]
    budget_left: float | None
    tie_keys: np.ndarray
    aggregator: str = "weighted"
    # value kinds (spans, ...): per annotator, each item's value or None
    values: dict[str, list] | None = None
    texts: list[str] | None = None  # kinds that read the text (spans): each item's text
    suspicious: np.ndarray | None = None  # bool (n,): text reads like prompt injection
    # per annotator, bool (n,): the ledger holds a request for the item (in any state,
    # including one the budget stopped before it was sent); None: same as status != NOT_ASKED
    planned: dict[str, np.ndarray] | None = None
    # a deferred annotator's people, answer by answer: name -> [(position, person, label)];
    # truth inference weighs each person on their own (votes see their pooled shares)
    workers: dict[str, list[tuple[int, str, int]]] | None = None
    # int (n,): the right label's index where another source knows it (calibration gold, a
    # reviewer's label), -1 elsewhere: what calibrated gates fit each annotator on
    reference: np.ndarray | None = None
    # float (n,) per annotator: what its answer cost (USD), NaN where unknown
    cost: dict[str, np.ndarray] | None = None
    # object (n,): each item's language (an ISO 639-1 code), None where unknown; what
    # per-language trust groups the reference items by (labelquorum.policies.trust)
    language: np.ndarray | None = None
    # item fields the policy asked for (:meth:`Policy.item_fields`), name -> each item's
    # value as text ("" where the item lacks it)
    fields: dict[str, np.ndarray] | None = None
    # the task (its kind aggregates a value kind's answers); None: a classification task
    task: Any = None

    def was_planned(self, name: str) -> np.ndarray:
        """Items the annotator was asked about, or was to be asked about, at any time."""
        asked = self.status[name] != NOT_ASKED
        return asked if self.planned is None else asked | self.planned[name]

    def unconfirmed(self, names: list[str], positions: np.ndarray, c: Consensus) -> np.ndarray:
        """Flagged items (see :mod:`labelquorum.injection`) whose consensus no non-LLM
        annotator among ``names`` agrees with: an LLM answer alone must not decide them."""
        if self.suspicious is None:
            return np.zeros(len(positions), dtype=bool)
        out = self.suspicious[positions].copy()
        if not out.any():
            return out
        for a in names:
            if self.annotators[a].kind == "llm":
                continue
            answered = self.status[a][positions] == OK
            if self.values is not None:  # a value kind: the same value as the consensus
                kind, task = self.task.strategy, self.task
                said = [self.values[a][p] for p in positions.tolist()]
                agrees = answered & np.array(
                    [kind.same(task, v, cv) for v, cv in zip(said, c.values)], dtype=bool)
            elif self.multilabel:
                said = self.probs[a][positions] >= 0.5
                agrees = answered & (said == c.label.astype(bool)).all(axis=1)
            else:
                agrees = answered & (self.label[a][positions] == c.label)
            out &= ~agrees
        return out

    def resolved(self, names: list[str]) -> np.ndarray:
        """Items every named annotator has answered (ok, abstain or failed)."""
        out = np.ones(len(self.item_ids), dtype=bool)
        for name in names:
            out &= self.status[name] >= OK
        return out

    def pending(self, names: list[str]) -> np.ndarray:
        out = np.zeros(len(self.item_ids), dtype=bool)
        for name in names:
            out |= self.status[name] == PENDING
        return out

    def reference_positions(self) -> np.ndarray:
        """Items whose right label another source knows (classification tasks)."""
        if self.reference is None or self.multilabel or self.values is not None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.reference >= 0)

    def confidence_of(self, name: str, positions: np.ndarray) -> np.ndarray:
        """The annotator's stated probability of its own answer (NaN without an answer)."""
        lab = self.label[name][positions]
        out = np.full(len(positions), np.nan)
        has = lab >= 0
        out[has] = self.probs[name][positions[has], lab[has]]
        return out

    def calibration(self, names: list[str], min_items: int = 20) -> Calibration:
        """Each named annotator's calibrated P(right), fitted on the reference items it
        answered (see :mod:`labelquorum.calibration`)."""
        cache = self.__dict__.setdefault("_calibrations", {})
        key = (tuple(names), min_items)
        if key not in cache:
            ref = self.reference_positions()
            answers = {}
            for a in names:
                lab = np.where(self.status[a][ref] == OK, self.label[a][ref], -1)
                answers[a] = (lab, self.confidence_of(a, ref))
            truth = self.reference[ref] if len(ref) else np.zeros(0, dtype=np.int64)
            cache[key] = Calibration.fit(answers, truth, len(self.labels), min_items=min_items,
                                         ece=False)  # gates read P(right), not the ECE
        return cache[key]

    def calibrated_consensus(self, cal: Calibration, names: list[str],
                             positions: np.ndarray) -> Consensus:
        """Truth inference over the named annotators' answers with their calibrated
        probabilities of being right: the posterior's top label and its probability."""
        from ..aggregation.base import pick

        def answers(at):
            return ({a: np.where(self.status[a][at] == OK, self.label[a][at], -1)
                     for a in names}, {a: self.confidence_of(a, at) for a in names})

        if tuple(names) not in cal.weights:  # how much each one's word counts, together
            ref = self.reference_positions()
            cal.fit_combination(*answers(ref), self.reference[ref])
        labels, conf = answers(positions)
        post = cal.posterior(labels, conf)
        lab = np.stack(list(labels.values()), axis=1)
        have = lab >= 0
        votes = have.sum(axis=1)
        best = np.where(votes > 0, pick(post, self.tie_keys[positions]), -1)
        confidence = np.where(votes > 0, post[np.arange(len(positions)), np.maximum(best, 0)],
                              0.0)
        agree = ((lab == best[:, None]) & have).sum(axis=1) / np.maximum(votes, 1)
        return Consensus(post, best, confidence, np.where(votes > 0, agree, 0.0), votes)

    def consensus(self, names: list[str], positions: np.ndarray) -> Consensus:
        """Aggregate the named annotators' judgements on the given items.

        With a vote (``majority``, ``weighted``) each item is aggregated on its own; with a
        truth-inference method the named annotators' skills are estimated from all their
        answers so far, and the items' posteriors come from that fit.
        """
        if self.values is not None:
            return self._values_consensus(names, positions)
        if self.aggregator not in VOTES:
            return self._fitted_consensus(names, positions)
        k = len(self.labels)
        labels = np.stack([self.label[a][positions] for a in names], axis=1) if names else \
            np.full((len(positions), 0), -1)
        probs = np.stack([self.probs[a][positions] for a in names], axis=1) if names else \
            np.full((len(positions), 0, k), np.nan)
        weights = np.array([self.annotators[a].skill for a in names], dtype=float)
        return vote(labels, probs, weights, self.tie_keys[positions], self.aggregator,
                    self.multilabel)


    def _values_consensus(self, names: list[str], positions: np.ndarray) -> Consensus:
        """A value kind's consensus of the named annotators' answers, item by item
        (:meth:`TaskKind.consensus`; weighted by skill unless the aggregator is
        ``majority``)."""
        kind, task = self.task.strategy, self.task
        n = len(positions)
        conf, agree, votes = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64)
        values: list = []
        # a kind whose consensus needs the annotators' answers on every item (a rating's
        # bias correction) fits that once per state and set of annotators
        cache = self.__dict__.setdefault("_value_fits", {})
        if tuple(names) not in cache:
            cache[tuple(names)] = kind.fit_consensus(task, {
                a: [v if s == OK else None for v, s in zip(self.values[a], self.status[a])]
                for a in names})
        fitted = cache[tuple(names)]
        for i, p in enumerate(positions.tolist()):
            given = [a for a in names if self.status[a][p] == OK
                     and self.values[a][p] is not None]
            weights = None if self.aggregator == "majority" else [
                self.annotators[a].skill for a in given]
            extra = {} if fitted is None else {"fitted": fitted, "annotators": given}
            try:
                value, conf[i], agree[i] = kind.consensus(
                    task, [self.values[a][p] for a in given], weights,
                    self.texts[p] if self.texts is not None else None, **extra)
            except LabelquorumError:
                raise
            except Exception as exc:  # a bug in the kind, named as such
                raise hook_failed(task.kind, "consensus", exc) from exc
            votes[i] = len(given)
            values.append(value)
        return Consensus(np.zeros((n, 0)), np.full(n, -1, dtype=np.int64), conf, agree, votes,
                         values)

    def _fitted_consensus(self, names: list[str], positions: np.ndarray) -> Consensus:
        from ..aggregation.base import pick
        from ..aggregation.registry import make_aggregator

        cache = self.__dict__.setdefault("_fits", {})
        key = (self.aggregator, tuple(names))
        if key not in cache:
            people = self.workers or {}
            rows = [(self.item_ids[p], a, self.labels[self.label[a][p]])
                    for a in names if a not in people
                    for p in np.flatnonzero(self.status[a] == OK).tolist()]
            rows += [(self.item_ids[p], f"{a}:{who}" if who else a, self.labels[lab])
                     for a in names if a in people for p, who, lab in people[a]
                     if self.status[a][p] == OK]
            if rows:
                model = make_aggregator(self.aggregator, labels=list(self.labels))
                model.fit(pd.DataFrame(rows, columns=["item", "annotator", "label"]))
                cache[key] = model.probas_
            else:
                cache[key] = pd.DataFrame(columns=list(self.labels), dtype=float)
        post = cache[key].reindex(self.item_ids[positions]).fillna(0.0).to_numpy()
        labels = np.stack([self.label[a][positions] for a in names], axis=1) if names else \
            np.full((len(positions), 0), -1)
        have = labels >= 0
        votes = have.sum(axis=1)
        best = np.where(votes > 0, pick(post, self.tie_keys[positions]), -1)
        conf = np.where(votes > 0, post[np.arange(len(positions)), np.maximum(best, 0)], 0.0)
        agree = ((labels == best[:, None]) & have).sum(axis=1) / np.maximum(votes, 1)
        return Consensus(post, best, conf, np.where(votes > 0, agree, 0.0), votes)



@dataclass
class Decision:
    """Items to decide, with the consensus that decides them."""

    positions: np.ndarray
    consensus: Consensus  # rows aligned with positions
    decided_by: list[str]  # annotators whose judgements made the consensus
    tier: str
    flags: str = ""
    state: str = DecisionState.FINAL


@dataclass
class Plan:
    asks: dict[str, np.ndarray] = field(default_factory=dict)  # annotator -> positions
    decisions: list[Decision] = field(default_factory=list)
    refit: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the run's report, once each
    # per deferred annotator, a score per item (n,): when the budget cannot pay for all of
    # its tasks, the highest-scored are admitted first (labelquorum.active)
    priority: dict[str, np.ndarray] = field(default_factory=dict)

    def ask(self, annotator: str, positions: np.ndarray) -> None:
        if len(positions):
            prev = self.asks.get(annotator)
            self.asks[annotator] = positions if prev is None else np.union1d(prev, positions)

    def decide(self, decision: Decision) -> None:
        if len(decision.positions):
            self.decisions.append(decision)

    @property
    def empty(self) -> bool:
        return not self.asks and not self.decisions and not self.refit


class Policy:
    """Base class; subclasses implement :meth:`step` from the state alone."""

    def annotators(self) -> list[str]:
        raise NotImplementedError

    def item_fields(self) -> list[str]:
        """Item fields the policy reads from :attr:`PolicyState.fields` (none by default:
        the run reads no item fields for the policy)."""
        return []

    def step(self, state: PolicyState) -> Plan:
        raise NotImplementedError
