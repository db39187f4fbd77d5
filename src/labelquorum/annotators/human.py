"""People: a deferred annotator.

Asking a person creates a task (a pending request in the ledger); the answer arrives
later through the store (the web app, or :meth:`labelquorum.Project.add_judgements`), and
the next run picks it up.
"""

from __future__ import annotations

from .base import Annotator, Answers, Items


class HumanAnnotator(Annotator):
    kind = "human"
    deferred = True

    @property
    def max_cost(self) -> float:
        """Reserved per task: for each of its ``overlap`` people, the price per call plus
        the hourly rate for ``max_seconds``."""
        cfg = self.config
        per_person = float(cfg.cost_per_call) + float(cfg.cost_per_hour) * cfg.max_seconds / 3600
        return per_person * int(getattr(cfg, "overlap", 1))

    def predict(self, items: Items) -> Answers:  # never called: answers arrive later
        return Answers(labels=[None] * len(items))
