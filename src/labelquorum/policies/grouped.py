"""``policy.group_by``: the configured policy run on each group of items on its own.

An item field (``attribute``, ``language``, ``source`` ...) partitions the items; each
group gets its own instance of the configured policy, which sees a :class:`PolicyState`
cut down to the group's items: their answers, their reference items (calibration gold,
reviewed labels), their ranks. So a calibrated gate trusts an annotator on the groups
where it was shown right on that group's reference items and not elsewhere, a chain
ranks within a group, and an ``auto`` policy chooses per group.

Items whose field is missing or empty form one group of their own. Every group sees the
whole budget left: the run admits every ask against the budget as usual, so the groups
together never overspend it, but a group planned earlier (in sorted order of the values)
is served first when it runs short.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import PolicyError
from .base import Decision, Plan, Policy, PolicyState

__all__ = ["Grouped", "restrict"]


def restrict(state: PolicyState, positions: np.ndarray) -> PolicyState:
    """The state of the items at ``positions`` alone (positions renumbered 0..m-1)."""
    pos = np.asarray(positions, dtype=np.int64)

    def cut(arrays):
        return None if arrays is None else {a: v[pos] for a, v in arrays.items()}

    workers = None
    if state.workers is not None:
        index = np.full(len(state.item_ids), -1, dtype=np.int64)
        index[pos] = np.arange(len(pos))
        workers = {a: [(int(index[p]), who, lab) for p, who, lab in rows if index[p] >= 0]
                   for a, rows in state.workers.items()}
    return PolicyState(
        state.item_ids[pos], state.open[pos], state.labels, state.multilabel,
        cut(state.status), cut(state.label), cut(state.probs), state.annotators,
        state.budget_left, state.tie_keys[pos], state.aggregator,
        None if state.values is None else {a: [v[p] for p in pos.tolist()]
                                           for a, v in state.values.items()},
        None if state.texts is None else [state.texts[p] for p in pos.tolist()],
        suspicious=None if state.suspicious is None else state.suspicious[pos],
        planned=cut(state.planned), workers=workers,
        reference=None if state.reference is None else state.reference[pos],
        cost=cut(state.cost), fields=cut(state.fields),
        language=None if state.language is None else state.language[pos], task=state.task)


class Grouped(Policy):
    """Run a fresh policy from ``make()`` on each group of items sharing a value of the
    item field ``field``; the groups' plans are merged into one."""

    def __init__(self, field: str, make: Callable[[], Policy]):
        self.field = field
        self.make = make
        self._template = make()
        self._policies: dict[str, Policy] = {}

    def annotators(self) -> list[str]:
        return self._template.annotators()

    def item_fields(self) -> list[str]:
        return list(dict.fromkeys([self.field, *self._template.item_fields()]))

    @property
    def uses_language(self) -> bool:
        """The configured policy's: the run records the items' languages for it."""
        return bool(getattr(self._template, "uses_language", False))

    def policy_of(self, value: str) -> Policy:
        """The group's own policy (made on first use, then kept: its memos are its own)."""
        if value not in self._policies:
            self._policies[value] = self.make()
        return self._policies[value]

    def _groups(self, values: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """(value, positions) per group in sorted order of the values; remembered while
        the run hands over the same array (the board's, which never changes)."""
        memo = self.__dict__.get("_index")
        if memo is None or memo[0] is not values:
            uniq, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            parts = np.split(order, np.cumsum(np.bincount(inverse, minlength=len(uniq)))[:-1])
            memo = self.__dict__["_index"] = (values, list(zip(uniq.tolist(), parts)))
        return memo[1]

    def step(self, state: PolicyState) -> Plan:
        if state.fields is None or self.field not in state.fields:
            raise PolicyError(f"policy.group_by = {self.field!r}, but the state has no values "
                              "of that item field; the run reads the fields "
                              "Policy.item_fields() names (run_offline takes them as fields=)")
        values = np.asarray(state.fields[self.field], dtype=object)
        if len(values) and (values == "").all():
            raise PolicyError(f"no item has a field {self.field!r} (policy.group_by); set "
                              "policy.group_by to a column of the imported items, or remove it")
        plan = Plan()
        n = len(state.item_ids)
        for value, pos in self._groups(state.fields[self.field]):
            if not state.open[pos].any():
                continue
            part = self.policy_of(value).step(restrict(state, pos))
            for a, asked in part.asks.items():
                plan.ask(a, pos[asked])
            for d in part.decisions:
                plan.decide(Decision(pos[d.positions], d.consensus, d.decided_by, d.tier,
                                     d.flags, d.state))
            plan.refit += [a for a in part.refit if a not in plan.refit]
            shown = value or "(empty)"
            plan.notes += [f"{self.field} = {shown}: {note}" for note in part.notes]
            for a, score in part.priority.items():
                full = plan.priority.setdefault(a, np.full(n, -np.inf))
                full[pos] = score
        return plan
