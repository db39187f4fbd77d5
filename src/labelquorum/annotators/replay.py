"""Judgements recorded elsewhere, served as if live.

The file is a long CSV with columns ``item, annotator, label`` and optionally
``confidence`` (crowd-kit's ``task, worker, label`` and ``id, worker, label`` are accepted
too), ``error`` (a non-empty error marks a recorded failed call, e.g. an output that named
no label: it is served as a failed call, never as a label) and ``cost`` (what the recorded
call cost in USD; default: the annotator's ``cost_per_call``, failed calls included). Rows whose annotator column equals the config's ``annotator`` (default: this
annotator's name) are served; an item with no row abstains. When an item has several
rows for the same annotator, the last one wins. This is how recorded LLM or crowd outputs
are studied offline. For a spans task the label is the spans as JSON, like
``[[0,5,"PER"]]`` (``[]``: no entities).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import AnnotatorError
from .base import Annotator, Answers, Items, spread_confidence

COLUMN_SETS = (("item", "annotator", "label"), ("task", "worker", "label"),
               ("id", "worker", "label"))


class ReplayAnnotator(Annotator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = self.config.kind
        path = self.context.project_dir / self.config.path
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except FileNotFoundError:
            raise AnnotatorError(f"replay annotator {self.name!r}: no file at {path}; set "
                                 f"annotators.{self.name}.path (relative to the project)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise AnnotatorError(f"replay annotator {self.name!r}: cannot read {path}: {exc}") from None
        cols = next((c for c in COLUMN_SETS if set(c) <= set(df.columns)), None)
        if cols is None:
            raise AnnotatorError(f"replay annotator {self.name!r}: {path} needs columns "
                                 "item,annotator,label (or task,worker,label); found "
                                 f"{', '.join(df.columns)}")
        who = self.config.annotator or self.name
        rows = df[df[cols[1]] == who]
        if rows.empty:
            found = ", ".join(sorted(df[cols[1]].unique())[:20])
            raise AnnotatorError(f"replay annotator {self.name!r}: no rows for annotator {who!r} "
                                 f"in {path}; annotators in the file: {found}. Set "
                                 f"annotators.{self.name}.annotator")
        rows = rows.drop_duplicates(subset=cols[0], keep="last")
        conf = (pd.to_numeric(rows["confidence"], errors="coerce").to_numpy()
                if "confidence" in rows else np.full(len(rows), np.nan))
        bad = np.flatnonzero(~np.isnan(conf) & ((conf < 0) | (conf > 1)))
        if len(bad):
            raise AnnotatorError(f"replay annotator {self.name!r}: {path} gives item "
                                 f"{rows[cols[0]].iloc[bad[0]]!r} confidence {float(conf[bad[0]]):g}; "
                                 "confidences must lie in [0, 1] (or be left empty)")
        cost = (pd.to_numeric(rows["cost"], errors="coerce").to_numpy()
                if "cost" in rows else np.full(len(rows), np.nan))
        bad = np.flatnonzero(cost < 0)
        if len(bad):
            raise AnnotatorError(f"replay annotator {self.name!r}: {path} gives item "
                                 f"{rows[cols[0]].iloc[bad[0]]!r} a negative cost "
                                 f"{float(cost[bad[0]]):g}; costs are USD >= 0 (or empty)")
        cost = np.where(np.isnan(cost), float(self.config.cost_per_call), cost)
        errors = (rows["error"].tolist() if "error" in rows else [""] * len(rows))
        # Decided once for the file, so that answers never depend on the batch.
        self._has_confidence = not np.isnan(conf).all()
        self._answers = dict(zip(rows[cols[0]].tolist(),
                                 zip(rows[cols[2]].tolist(), conf.tolist(), cost.tolist(), errors)))
        self._max_cost = max(float(cost.max(initial=0.0)), float(self.config.cost_per_call))

    @property
    def max_cost(self) -> float:
        """The dearest recorded call: a replay that charges anything is a paid annotator
        (its calls are admitted by the budget and written to the ledger before they go)."""
        return self._max_cost

    def reserve(self, items: Items) -> np.ndarray:
        """Each item's recorded cost: exactly what asking it will charge."""
        default = float(self.config.cost_per_call)
        return np.array([f[2] if f is not None else default
                         for f in map(self._answers.get, items.ids)], dtype=float)

    def predict(self, items: Items) -> Answers:
        found = [self._answers.get(i) for i in items.ids]
        errors = [(f[3] or None) if f is not None else None for f in found]
        labels = [f[0] if f is not None and f[0] != "" and e is None else None
                  for f, e in zip(found, errors)]
        conf = np.array([f[1] if f is not None else np.nan for f in found], dtype=float)
        cost = np.array([f[2] if f is not None else float(self.config.cost_per_call)
                         for f in found], dtype=float)
        return Answers(labels=labels, confidence=conf if self._has_confidence else None,
                       cost=cost, errors=errors)

    def finish(self, answers: Answers, n: int) -> Answers:
        answers = super().finish(answers, n)
        if answers.confidence is not None and self.task.strategy.vector:
            conf = np.where(np.isnan(answers.confidence), 1.0, answers.confidence)
            answers.probs = spread_confidence(answers.labels, conf, self.task)
        return answers
