"""Keyword and regex rules declared in the config; no code is executed.

Each rule votes for its label when any keyword (whole word) or its pattern matches. The
label with the most matching rules wins; a tie between labels, or no match, abstains.
For multilabel tasks every matched label is returned.
"""

from __future__ import annotations

import re

import numpy as np

from .base import Annotator, Answers, Items, spread_confidence


class RulesAnnotator(Annotator):
    kind = "rules"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        flags = 0 if self.config.case_sensitive else re.IGNORECASE
        self._rules = []
        for rule in self.config.rules:
            # Whole words: no word character on either side ("c++" and "$5" work too).
            parts = [r"(?<!\w)" + re.escape(k) + r"(?!\w)" for k in rule.keywords]
            if rule.pattern:
                parts.append(f"(?:{rule.pattern})")
            self._rules.append((rule.label, re.compile("|".join(parts), flags)))

    def predict(self, items: Items) -> Answers:
        labels = []
        for text in items.texts:
            votes: dict[str, int] = {}
            for label, regex in self._rules:
                if regex.search(text):
                    votes[label] = votes.get(label, 0) + 1
            if not votes:
                labels.append(None)
            elif self.task.multilabel:
                labels.append(tuple(sorted(votes, key=self.task.labels.index)))
            else:
                top = max(votes.values())
                winners = [lab for lab, v in votes.items() if v == top]
                labels.append(winners[0] if len(winners) == 1 else None)
        confidence = np.full(len(items), self.config.confidence)
        return Answers(labels=labels, confidence=confidence,
                       probs=spread_confidence(labels, confidence, self.task))
