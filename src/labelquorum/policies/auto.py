"""``policy.type = "auto"``: a policy chosen on calibration gold, then followed.

Step 1 asks every candidate annotator about the calibration gold items (the *probes*; a
reviewer's label counts as gold too). Nothing is decided until those answers are in. Then
:func:`labelquorum.policies.search.search` scores every candidate policy the project's
annotators allow — single annotators, truth inference over subsets, vote-then-verify,
cascades, chains — by K-fold cross-validation inside the calibration gold, and chooses
the cheapest whose accuracy's lower bound reaches ``target_accuracy``, or the most
accurate whose cost per item fits ``budget_per_item`` (or ``budget`` spread over every
item of the project). Every later step is the chosen policy's.

The choice is a pure function of the probes' answers (remembered while they do not
change), so a resumed run chooses what the interrupted one chose. When no candidate
meets the target the run stops with an error that says how close the best came; the
probes' answers stay stored and paid for once.

Candidates are priced by what the probes' answers cost where the state knows it
(``PolicyState.cost``, as :func:`~labelquorum.policies.run_offline` fills it), and by
each annotator's cost bound (``max_cost``) elsewhere.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import PolicyError
from .base import FAILED, NOT_ASKED, OK, Plan, Policy, PolicyState
from .search import Probe, SearchResult, make_policy, search

__all__ = ["Auto", "probe_of"]


def probe_of(state: PolicyState, names: list[str]) -> Probe:
    """The candidates' answers on the reference items every one of them has answered."""
    ref = state.reference_positions()
    pos = ref[state.resolved(names)[ref]]
    answers = np.stack([np.where(state.status[a][pos] == OK, state.label[a][pos], -1)
                        for a in names], axis=1) if names else np.zeros((len(pos), 0))
    failed = np.stack([state.status[a][pos] == FAILED for a in names], axis=1)
    probs = np.stack([state.probs[a][pos] for a in names], axis=1)
    cost = np.empty((len(pos), len(names)))
    for j, a in enumerate(names):
        known = state.cost[a][pos] if state.cost is not None else np.full(len(pos), np.nan)
        cost[:, j] = np.where(np.isfinite(known), known, state.annotators[a].max_cost)
    language = None if state.language is None else state.language[pos]
    return Probe(list(names), tuple(state.labels), answers, state.reference[pos], cost,
                 failed=failed, probs=probs, ids=state.item_ids[pos], language=language)


class Auto(Policy):
    def __init__(self, annotators: list[str], target_accuracy: float | None = None,
                 budget_per_item: float | None = None, budget: float | None = None,
                 folds: int = 5, confidence_level: float = 0.95, margin: float = 0.02,
                 min_reference: int = 30, per_language: bool = True,
                 language_gap: float = 0.05):
        self.candidates = annotators
        self.target_accuracy = target_accuracy
        self.budget_per_item = budget_per_item
        self.budget = budget
        self.folds = folds
        self.confidence_level = confidence_level
        self.margin = margin
        self.min_reference = min_reference
        self.per_language = per_language
        self.language_gap = language_gap

    @property
    def uses_language(self) -> bool:
        """Candidates with a calibrated gate use per-language trust: the run records the
        items' languages first."""
        return self.per_language

    @classmethod
    def from_config(cls, cfg) -> Auto:
        return cls(list(cfg.annotators or []), cfg.target_accuracy, cfg.budget_per_item,
                   cfg.budget, cfg.folds, cfg.confidence_level, cfg.margin, cfg.min_reference,
                   cfg.per_language, cfg.language_gap)

    def annotators(self) -> list[str]:
        return list(self.candidates)

    def per_item_budget(self, state: PolicyState) -> float | None:
        if self.target_accuracy is not None:
            return None
        if self.budget_per_item is not None:
            return self.budget_per_item
        return None if self.budget is None else self.budget / max(len(state.item_ids), 1)

    def step(self, state: PolicyState) -> Plan:
        names = self.annotators()
        ref = state.reference_positions()
        if state.multilabel or state.values is not None:
            raise PolicyError("an auto policy chooses among classification policies; this "
                              "task is not a classification task")
        if not len(ref):
            raise PolicyError("an auto policy chooses on calibration gold, and this project "
                              "has none. Import gold items with labelquorum import FILE "
                              "--split calibration=N (50 or more items), then run again")
        plan = Plan()
        for a in names:
            plan.ask(a, ref[state.open[ref] & (state.status[a][ref] == NOT_ASKED)])
        if plan.asks or state.pending(names)[ref[state.open[ref]]].any():
            return plan  # the probes: nothing is decided before the choice
        result = self.choice(state)
        chosen = self.__dict__["_memo"][1]
        out = chosen.step(state)
        out.notes.insert(0, self.note(result))
        return out

    @property
    def last_choice(self) -> SearchResult | None:
        """The search behind the latest choice (None before the probes are in)."""
        memo = self.__dict__.get("_memo")
        return None if memo is None else memo[2]

    def choice(self, state: PolicyState) -> SearchResult:
        """The search over the probes' answers, remembered while they do not change."""
        probe = probe_of(state, self.annotators())
        digest = hashlib.sha1(repr((self.candidates, self.target_accuracy,
                                    self.per_item_budget(state), self.folds,
                                    self.confidence_level, self.margin,
                                    self.min_reference, self.per_language,
                                    self.language_gap)).encode())
        for part in (probe.ids.astype(str), probe.truth, probe.answers, probe.failed,
                     np.nan_to_num(probe.probs, nan=-1.0), probe.cost):
            digest.update(np.ascontiguousarray(part).tobytes())
        if probe.language is not None:
            digest.update(repr(probe.language.tolist()).encode())
        key = digest.hexdigest()
        memo = self.__dict__.get("_memo")
        if memo is None or memo[0] != key:
            result = search(probe, target=self.target_accuracy,
                            budget=self.per_item_budget(state), folds=self.folds,
                            level=self.confidence_level, margin=self.margin,
                            min_reference=self.min_reference,
                            per_language=self.per_language, language_gap=self.language_gap)
            memo = self.__dict__["_memo"] = (key, make_policy(result.chosen.config), result)
        return memo[2]

    @staticmethod
    def note(result: SearchResult) -> str:
        c = result.chosen
        low, high = c.interval
        goal = (f"target accuracy {result.target:g}" if result.target is not None
                else f"budget {result.budget:.6g} USD per item")
        return (f"auto chose {c.family}: {c.name} for the {goal}; on {c.n} calibration items "
                f"(cross-validated) it was right on {c.accuracy:.3f} ({round(100 * c.level)} % interval "
                f"{low:.3f}-{high:.3f}) at {c.cost:.6g} USD per item, among "
                f"{len(result.scored)} candidates; 'labelquorum tune' shows them all")
