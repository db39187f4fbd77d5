"""The learning loop (AutoAnnotator): trainable annotators retrained within a run.

Every ``policy.retrain_every`` labels verified by another source during a run (an LLM's
or a person's answer among those that decided it, a review — never only the trainable
models' own agreement, see :mod:`labelquorum.engine.training`), each trainable annotator
is refitted on the verified pool so far. The new version is scored on the reference items
(calibration gold and reviewed labels) against the version it would replace and promoted
only if it is not worse; a version kept back leaves the old one answering, and the run's
report says so. A promoted version answers again the items still open (its judgements
carry its version) and the reference items, so the calibrated gates see it as it is now.

Each refit is a row of ``refits``: the item ids it was trained on, both scores, whether
it was promoted. A resumed run retrains each annotator's last promoted version on exactly
those items before it rebuilds its state, so it goes on where the killed run was.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, insert, select

from ..annotators import Annotator
from ..policies import DecisionState
from ..store import Store, schema
from ..task import Task
from .lock import now
from .training import Pool, confirmed, fit_one, labelled_by_others, pool, trainable_names


class Learner:
    """Decides when to retrain, retrains, scores, promotes or keeps back, and records."""

    def __init__(self, store: Store, task: Task, annotators: dict[str, Annotator],
                 run_id: int, every: int | None, self_weight: float = 0.0):
        self.store, self.task, self.annotators = store, task, annotators
        self.run_id, self.every, self.self_weight = run_id, every, self_weight
        self.own = trainable_names(annotators)
        self.names = sorted(self.own)
        self.verified = 0  # labels verified by another source in this run so far
        self.last = 0  # ``verified`` at the last refit
        self.notes: list[str] = []

    @property
    def active(self) -> bool:
        return bool(self.every) and bool(self.names)

    # -- resuming ----------------------------------------------------------------------
    def resume(self) -> None:
        """Before the state is rebuilt: retrain each annotator's last promoted version of
        this run on exactly what it was trained on, and pick up the count."""
        if not self.active:
            return
        rf = schema.refits
        with self.store.connect() as conn:
            rows = conn.execute(select(rf.c.annotator, rf.c.version, rf.c.verified,
                                       rf.c.trained_on, rf.c.promoted)
                                .where((rf.c.project_id == self.store.project_id)
                                       & (rf.c.run_id == self.run_id))
                                .order_by(rf.c.id)).all()
        if not rows:
            return
        self.last = max(r.verified for r in rows)
        latest = {r.annotator: r for r in rows if r.promoted}
        if not latest:
            return
        found = pool(self.store, self.task, None, self.own, self.self_weight)
        for name, r in latest.items():
            ann = self.annotators.get(name)
            if ann is None:
                continue
            fit_one(ann, found.only(list(r.trained_on)))
            if ann.version != r.version:
                self.notes.append(
                    f"{name}: a label it was trained on changed since the killed run (a "
                    "review); the resumed run retrained it on the labels as they are now")

    # -- counting ----------------------------------------------------------------------
    def count(self) -> int:
        """Labels this run has verified so far: decided for good, unflagged, by something
        besides the trainable models (seed gold included). Read from the store, so a
        resumed run counts as the killed one did."""
        d = schema.decisions
        with self.store.connect() as conn:
            rows = conn.execute(
                select(d.c.item_id, d.c.decided_by).where(
                    (d.c.project_id == self.store.project_id) & (d.c.run_id == self.run_id)
                    & (d.c.state == DecisionState.FINAL.value) & (d.c.flags == "")
                    & d.c.label.is_not(None))).all()
            labelled = labelled_by_others(conn, self.store, self.own)
        return sum(confirmed(i, by, self.own, labelled) for i, by in rows)

    def due(self) -> bool:
        if not self.active:
            return False
        self.verified = self.count()
        return self.verified - self.last >= self.every

    # -- a refit -----------------------------------------------------------------------
    def refit(self, items, reference: np.ndarray, names: list[str] | None = None) -> list[str]:
        """Retrain (all trainable annotators, or ``names``), score each new version against
        the old on the reference items, promote or keep back; returns the promoted names.
        ``items(positions)`` reads items; ``reference`` is the label index per position
        (-1 where unknown)."""
        self.last = self.verified
        found = pool(self.store, self.task, None, self.own, self.self_weight)
        ref = np.flatnonzero(reference >= 0)
        batch = items(ref) if len(ref) else None
        promoted, rows = [], []
        for name in names or self.names:
            ann = self.annotators[name]
            previous = ann.version
            saved = dict(ann.__dict__)
            old = self._score(ann, batch, reference[ref])
            fit_one(ann, found)
            if ann.version == previous:
                continue
            new = self._score(ann, batch, reference[ref])
            keep = old is None or new >= old
            rows.append({"project_id": self.store.project_id, "run_id": self.run_id,
                         "annotator": name, "version": ann.version, "previous": previous,
                         "verified": self.verified, "trained_on": found.ids, "score": new,
                         "previous_score": old, "promoted": keep, "created": now()})
            if keep:
                promoted.append(name)
                if old is None:
                    self._note(f"{name}: retrained on {len(found)} verified labels; no "
                               "calibration gold to score it on, so promoted unscored")
            else:
                ann.__dict__.clear()
                ann.__dict__.update(saved)
                self._note(f"{name}: a version retrained on {len(found)} verified labels "
                           f"scored {new:.3f} on calibration gold against {old:.3f}: kept "
                           "back, the previous version goes on answering")
        if rows:
            with self.store.begin_write() as conn:
                conn.execute(insert(schema.refits), rows)
        return promoted

    def _score(self, ann: Annotator, batch, truth: np.ndarray) -> float | None:
        if batch is None or not len(truth):
            return None
        answers = ann.annotate(batch)
        index = self.task.index
        said = np.array([index.get(lab, -1) if isinstance(lab, str) else -1
                         for lab in answers.labels])
        return float((said == truth).mean())

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def refits(store: Store, run_id: int | None = None) -> list[dict]:
    """The stored refits (all runs, or one), oldest first, without their training ids."""
    rf = schema.refits
    q = (select(rf.c.run_id, rf.c.annotator, rf.c.version, rf.c.previous, rf.c.verified,
                func.json_array_length(rf.c.trained_on).label("trained_on"),
                rf.c.score, rf.c.previous_score, rf.c.promoted)
         .where(rf.c.project_id == store.project_id).order_by(rf.c.id))
    if run_id is not None:
        q = q.where(rf.c.run_id == run_id)
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


__all__ = ["Learner", "Pool", "refits"]
