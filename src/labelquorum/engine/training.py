"""The verified pool: the labels trainable annotators learn from and LLMs take examples from.

Seed gold, labels a reviewer decided, and labels a run accepted for good without a flag
(low confidence, fallback, prompt injection) — never control or evaluation gold, and
never items left open (stopped by the budget, failed).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, select

from ..annotators import Annotator
from ..policies import DecisionState
from ..store import Store, schema
from ..task import Task


def verified(store: Store, task: Task, before_run: int | None,
             ids: list[str] | None = None) -> tuple[list[str], list[Any]]:
    """Texts and labels of the verified pool; a run's own decisions count from the next
    run on unless ``before_run`` is None. Item ids are appended to ``ids`` when given."""
    it, d = schema.items, schema.decisions
    q = (select(it.c.id, it.c.fields, it.c.gold, it.c.gold_role, d.c.label, d.c.value,
                d.c.flags, d.c.state, d.c.run_id)
         .select_from(it.outerjoin(d, and_(d.c.project_id == it.c.project_id,
                                           d.c.item_id == it.c.id)))
         .where(it.c.project_id == store.project_id).order_by(it.c.seq))
    texts, labels = [], []
    field_name = task.text_field
    with store.connect() as conn:
        for row in conn.execute(q):
            if row.gold_role in ("control", "evaluation"):
                continue
            if row.gold_role == "seed" and row.gold is not None:
                value = json.loads(row.gold)
            elif row.label is None:
                continue
            elif row.state == DecisionState.REVIEW or (
                    row.state == DecisionState.FINAL and not row.flags
                    and row.run_id is not None
                    and (before_run is None or row.run_id < before_run)):
                value = row.value if row.value is not None else row.label
            else:
                continue
            texts.append(str(json.loads(row.fields).get(field_name, "")))
            if ids is not None:
                ids.append(row.id)
            labels.append(tuple(value) if task.multilabel else value)
    return texts, labels


def train(store: Store, task: Task, annotators: dict[str, Annotator], before_run: int | None,
          names: list[str] | None = None) -> None:
    """Fit trainable annotators, and LLMs' example pools, on the verified pool."""
    chosen = [a for n, a in annotators.items() if names is None or n in names]
    trainable = [a for a in chosen if a.trainable]
    prompted = [a for a in chosen if hasattr(a, "fit_examples")]
    if not trainable and not prompted:
        return
    ids: list[str] = []
    texts, labels = verified(store, task, before_run, ids)
    for ann in trainable:
        ann.fit(texts, labels)
    for ann in prompted:
        ann.fit_examples(ids, texts, labels)
