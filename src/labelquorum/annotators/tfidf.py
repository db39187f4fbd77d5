"""TF-IDF features with a calibrated logistic regression, trained on verified labels."""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer

from .linear import ProbeAnnotator


class TfidfAnnotator(ProbeAnnotator):
    """Word n-gram TF-IDF + logistic regression (Platt-calibrated by default)."""

    def fit_features(self, texts: list[str]):
        cfg = self.config
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, cfg.ngram_max),
                                           max_features=cfg.max_features, sublinear_tf=True,
                                           min_df=1)
        return self.vectorizer_.fit_transform(texts)

    def features(self, texts: list[str]):
        return self.vectorizer_.transform(texts)
