"""The verified pool: the labels trainable annotators learn from and LLMs take examples from.

Seed gold, labels a reviewer decided, and labels a run accepted for good without a flag
(low confidence, fallback, prompt injection) *that a source other than the trainable
models confirmed* — never control, calibration or evaluation items, not even once a
reviewer labelled them (golden questions must not leak into suggestions; calibration gold
scores the models, so they must not have seen it; evaluation gold is for reporting only),
and never items left open (stopped by the budget, failed). A label that only trainable models gave (the
specialists' own accepted guesses) would teach them what they already believe; it joins
the pool only when ``policy.self_training_weight`` is above 0, at that weight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select

from ..annotators import Annotator
from ..policies import DecisionState
from ..store import Store, schema
from ..task import Task

HELD_OUT = ("control", "calibration", "evaluation")  # gold roles never trained on


@dataclass
class Pool:
    """The verified pool, in import order: item ids, texts, labels and each one's weight
    (1, or ``self_training_weight`` for the trainable models' own guesses)."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def only(self, wanted: list[str]) -> Pool:
        """The pool restricted to these item ids, in their order (a stored refit's)."""
        at = {item_id: i for i, item_id in enumerate(self.ids)}
        rows = [at[item_id] for item_id in wanted if item_id in at]
        return Pool([self.ids[i] for i in rows], [self.texts[i] for i in rows],
                    [self.labels[i] for i in rows], [self.weights[i] for i in rows])

    @property
    def weighted(self) -> bool:
        return any(w != 1.0 for w in self.weights)


def verified(store: Store, task: Task, before_run: int | None,
             ids: list[str] | None = None) -> tuple[list[str], list[Any]]:
    """Texts and labels of the verified pool (every annotator counted as another source);
    item ids are appended to ``ids`` when given. See :func:`pool`."""
    found = pool(store, task, before_run)
    if ids is not None:
        ids.extend(found.ids)
    return found.texts, found.labels


def pool(store: Store, task: Task, before_run: int | None, own: frozenset[str] = frozenset(),
         self_weight: float = 0.0) -> Pool:
    """The verified pool; a run's own decisions count from the next run on unless
    ``before_run`` is None. ``own`` names the trainable annotators: a decision only they
    made is their own guess (left out, or weighted ``self_weight``)."""
    it, d = schema.items, schema.decisions
    q = (select(it.c.id, it.c.fields, it.c.gold, it.c.gold_role, d.c.label, d.c.value,
                d.c.flags, d.c.state, d.c.run_id, d.c.decided_by)
         .select_from(it.outerjoin(d, and_(d.c.project_id == it.c.project_id,
                                           d.c.item_id == it.c.id)))
         .where(it.c.project_id == store.project_id).order_by(it.c.seq))
    out = Pool()
    field_name = task.text_field
    with store.connect() as conn:
        labelled = labelled_by_others(conn, store, own)
        for row in conn.execute(q):
            if row.gold_role in HELD_OUT:
                continue
            weight = 1.0
            if row.gold_role == "seed" and row.gold is not None:
                value = json.loads(row.gold)
            elif row.label is None:
                continue
            elif row.state == DecisionState.REVIEW or (
                    row.state == DecisionState.FINAL and not row.flags
                    and row.run_id is not None
                    and (before_run is None or row.run_id < before_run)):
                value = row.value if row.value is not None else row.label
                if row.state != DecisionState.REVIEW and not confirmed(
                        row.id, row.decided_by, own, labelled):
                    if self_weight <= 0:
                        continue
                    weight = float(self_weight)
            else:
                continue
            out.ids.append(row.id)
            out.texts.append(str(json.loads(row.fields).get(field_name, "")))
            out.labels.append(task.strategy.gold_value(task, value))
            out.weights.append(weight)
    return out


def labelled_by_others(conn, store: Store, own: frozenset[str]) -> dict[str, set[str]]:
    """Per item, the annotators besides ``own`` that gave it a label (an abstention or a
    failed call confirms nothing)."""
    j = schema.judgements
    out: dict[str, set[str]] = {}
    if not own:
        return out
    rows = conn.execute(select(j.c.item_id, j.c.annotator).where(
        (j.c.project_id == store.project_id) & (j.c.status == "ok")
        & j.c.label.is_not(None) & j.c.annotator.not_in(sorted(own))
        & (j.c.value_type != schema.VERDICT)).distinct())
    for item_id, annotator in rows:
        out.setdefault(item_id, set()).add(annotator)
    return out


def confirmed(item_id: str, decided_by: str | None, own: frozenset[str],
              labelled: dict[str, set[str]]) -> bool:
    """Whether a decision is more than the trainable models' own guess: one of those that
    decided it is no trainable model and gave the item a label (``gold`` decides by
    itself). Being named in ``decided_by`` is not enough: an annotator that abstained is
    named there too."""
    if not own:
        return True
    others = {a for a in (decided_by or "").split(",") if a} - own
    return "gold" in others or bool(others & labelled.get(item_id, set()))


def trainable_names(annotators: dict[str, Annotator]) -> frozenset[str]:
    return frozenset(n for n, a in annotators.items() if a.trainable)


def fit_one(ann: Annotator, found: Pool) -> None:
    """Fit a trainable annotator on a pool, with its weights when they are not all 1."""
    if found.weighted:
        ann.fit(found.texts, found.labels, sample_weight=found.weights)
    else:
        ann.fit(found.texts, found.labels)


def train(store: Store, task: Task, annotators: dict[str, Annotator], before_run: int | None,
          names: list[str] | None = None, self_weight: float = 0.0) -> Pool:
    """Fit trainable annotators, and LLMs' example pools, on the verified pool; returns
    the pool."""
    chosen = [a for n, a in annotators.items() if names is None or n in names]
    trainable = [a for a in chosen if a.trainable]
    prompted = [a for a in chosen if hasattr(a, "fit_examples")]
    if not trainable and not prompted:
        return Pool()
    found = pool(store, task, before_run, trainable_names(annotators), self_weight)
    for ann in trainable:
        fit_one(ann, found)
    for ann in prompted:
        ann.fit_examples(found.ids, found.texts, found.labels)
    return found
