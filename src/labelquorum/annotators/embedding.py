"""all-MiniLM-L6-v2 sentence embeddings with a calibrated logistic regression.

Needs the ``ml`` extra; the weights come from a registry package (see ``embedder.py``),
never from a download at run time.
"""

from __future__ import annotations

from .linear import ProbeAnnotator


class EmbeddingAnnotator(ProbeAnnotator):
    """MiniLM sentence embeddings + logistic regression."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .embedder import get_embedder

        self.embedder = get_embedder(self.config.backend)

    @property
    def batch_size(self) -> int:
        # The embedder sorts each call's texts by length before batching, so one call per
        # run chunk pads far less than many small calls (about 18 % fewer tokens on SST-2).
        return max(int(self.config.batch_size), 4096)

    def fingerprint_extra(self) -> str:
        return self.embedder.name

    def features(self, texts: list[str]):
        return self.embedder.encode(texts)
