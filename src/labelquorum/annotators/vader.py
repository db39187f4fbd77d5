"""VADER, a sentiment lexicon: a zero-training specialist.

Its native output is the compound score in [-1, 1]; the config's ``ranges`` map score
intervals to task labels, so it is not hard-wired to one task. Scores outside every
range abstain. Hutto & Gilbert (2014), "VADER: A Parsimonious Rule-based Model for
Sentiment Analysis of Social Media Text".
"""

from __future__ import annotations

import numpy as np

from ..errors import MissingExtraError
from .base import Annotator, Answers, Items, spread_confidence


class VaderAnnotator(Annotator):
    kind = "model"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ModuleNotFoundError:
            raise MissingExtraError("The vader annotator", "core", "vaderSentiment") from None
        self._analyzer = SentimentIntensityAnalyzer()

    def predict(self, items: Items) -> Answers:
        labels, conf = [], []
        for text in items.texts:
            score = self._analyzer.polarity_scores(text)["compound"]
            label = None
            for name, (low, high) in self.config.ranges.items():
                if low <= score < high or (high >= 1.0 and score == high):
                    label = name
                    break
            labels.append(label)
            conf.append(0.5 + abs(score) / 2)
        confidence = np.array(conf)
        return Answers(labels=labels, confidence=confidence,
                       probs=spread_confidence(labels, confidence, self.task))
