"""TF-IDF features with a calibrated logistic regression, trained on verified labels."""

from __future__ import annotations

from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer

from .base import Annotator, Answers, Items
from .linear import LinearProbe, training_fingerprint


class TfidfAnnotator(Annotator):
    """Word n-gram TF-IDF + logistic regression (Platt-calibrated by default)."""

    kind = "model"
    trainable = True

    def fit(self, texts: list[str], labels: list[Any]) -> TfidfAnnotator:
        cfg = self.config
        self.training_fingerprint = training_fingerprint(texts, labels)
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, cfg.ngram_max),
                                           max_features=cfg.max_features, sublinear_tf=True,
                                           min_df=1)
        self.probe_ = LinearProbe(self.task, cfg.C, cfg.calibration, cfg.min_train,
                                  self.context.seed)
        X = self.vectorizer_.fit_transform(texts) if len(texts) >= cfg.min_train else None
        self.probe_.fit(X, labels)
        self.note = self.probe_.note
        return self

    def predict(self, items: Items) -> Answers:
        probe = getattr(self, "probe_", None)
        if probe is None or probe.model_ is None:
            return Answers(labels=[None] * len(items))
        return probe.predict(self.vectorizer_.transform(items.texts), len(items))
