"""Trust by group: an annotator shown weaker on one group of items is not trusted there.

Jadhav et al. found LLMs 10–14 points below a fine-tuned model on Marathi: an annotator's
accuracy, and the calibration a gate fits on all reference items at once, can hide a
language where it is much weaker. Here reference items (calibration gold, reviewed labels)
are grouped by an item field — the language, for ``policy.per_language`` — and each
annotator's accuracy on a group is compared with its accuracy on the rest.

The rule: annotator *a* is **not trusted** on group *g* when it labelled at least
:data:`MIN_ANSWERS` reference items of *g* and as many of the others, and the 95 % Wilson
intervals of its accuracy on *g* and on the other reference items are apart by more than
``gap``: the upper end on *g* lies below the lower end elsewhere minus ``gap``. Two
disjoint intervals are a strict test (about 1 % two-sided at these sizes), which matters
because every annotator is tested on every group: a person right 92 % of the time
everywhere is not distrusted on the language where chance gave them 79 % of 24 items.
Being shown weaker than elsewhere (not merely below some bar) keeps a cheap model that is
equally modest everywhere trusted: its calibration already says how far to believe it.
Items of an unknown group never make a group.

A policy then treats the annotator's answers on those items as if it had abstained
(:func:`trusted_view`): they neither calibrate it nor let a tier accept an item, so the
items go on to the next tier. When the annotator is in the last tier, that tier decides
its items on the other answers where there are any, on the untrusted ones where there are
none, and flags the decision :data:`FLAG`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..calibration import wilson_interval
from .base import ABSTAIN, OK, Decision, PolicyState

__all__ = ["FLAG", "MIN_ANSWERS", "Distrust", "distrust", "flag_decisions", "trusted_view",
           "untrusted_items"]

MIN_ANSWERS = 10  # reference answers on the group, and elsewhere, before it is judged
FLAG = "untrusted-language"


@dataclass(frozen=True)
class Distrust:
    """An annotator not trusted on one group, with the evidence."""

    annotator: str
    group: str
    answers: int  # its labelled reference items in the group
    right: int
    low: float  # 95 % Wilson interval of its accuracy there
    high: float
    elsewhere: float  # its accuracy on the other reference items
    elsewhere_low: float  # the lower end of its 95 % Wilson interval
    gap: float

    def note(self, what: str = "language", last_tier: bool = False) -> str:
        then = ("it is in the last tier, so its items there are decided on the other "
                "annotators' answers where there are any, on its own where there are none, "
                "and flagged " + FLAG if last_tier else "its answers there do not accept an item, which goes on to "
                "the next tier")
        return (f"per-{what} trust: {self.annotator} is not trusted on {what} {self.group}: "
                f"right on {self.right} of {self.answers} reference items there "
                f"({100 * self.right / self.answers:.0f} %, 95 % interval "
                f"{100 * self.low:.0f}–{100 * self.high:.0f} %) against "
                f"{100 * self.elsewhere:.0f} % on its other reference items (interval from "
                f"{100 * self.elsewhere_low:.0f} %; the gap between the intervals is more "
                f"than policy.language_gap, {self.gap:g}); {then}.")


def distrust(state: PolicyState, names: list[str], groups: np.ndarray | None, *,
             gap: float = 0.05, min_answers: int = MIN_ANSWERS) -> list[Distrust]:
    """The (annotator, group) pairs the rule above distrusts, from the reference answers
    in ``state``; ``groups`` gives each item's group (None: unknown)."""
    ref = state.reference_positions()
    if groups is None or not len(ref):
        return []
    g = np.asarray(groups, dtype=object)[ref]
    known = np.array([x is not None for x in g], dtype=bool)
    keys = sorted({str(x) for x in g[known]})
    if len(keys) < 2:
        return []
    truth = state.reference[ref]
    out = []
    for a in names:
        answered = state.status[a][ref] == OK
        right = answered & (state.label[a][ref] == truth)
        for key in keys:
            inside = answered & known & (g == key)
            rest = answered & ~(known & (g == key))
            n, m = int(inside.sum()), int(rest.sum())
            if n < min_answers or m < min_answers:
                continue
            k, j = int(right[inside].sum()), int(right[rest].sum())
            low, high = wilson_interval(k, n)
            rest_low = wilson_interval(j, m)[0]
            if high < rest_low - gap:
                out.append(Distrust(a, key, n, k, low, high, j / m, rest_low, gap))
    return out


def untrusted_items(state: PolicyState, found: list[Distrust],
                    groups: np.ndarray) -> dict[str, np.ndarray]:
    """Per distrusted annotator, bool (n,): the items of the groups it is not trusted on."""
    g = np.asarray(groups, dtype=object)
    out: dict[str, np.ndarray] = {}
    for d in found:
        mask = out.setdefault(d.annotator, np.zeros(len(state.item_ids), dtype=bool))
        mask |= g == d.group
    return out


def trusted_view(state: PolicyState, masks: dict[str, np.ndarray]) -> PolicyState:
    """The state as if each annotator had abstained on the items it is not trusted on."""
    if not masks:
        return state
    status, label, probs = dict(state.status), dict(state.label), dict(state.probs)
    for a, mask in masks.items():
        hide = mask & (state.status[a] == OK)
        status[a] = np.where(hide, ABSTAIN, state.status[a]).astype(state.status[a].dtype)
        label[a] = np.where(hide, -1, state.label[a])
        probs[a] = np.where(hide[:, None], np.nan, state.probs[a])
    return replace(state, status=status, label=label, probs=probs)


def flag_decisions(decisions: list[Decision], flagged: np.ndarray,
                   flag: str = FLAG) -> list[Decision]:
    """The decisions with ``flag`` added to the items where ``flagged`` (bool over item
    positions) is set: a decision covering both kinds is split in two."""
    from .cascade import take

    out = []
    for d in decisions:
        mine = flagged[d.positions]
        if not mine.any():
            out.append(d)
            continue
        flags = f"{d.flags},{flag}" if d.flags else flag
        for rows, fl in ((~mine, d.flags), (mine, flags)):
            if rows.any():
                out.append(replace(d, positions=d.positions[rows],
                                   consensus=take(d.consensus, rows), flags=fl))
    return out
