"""Few-shot examples for an LLM prompt, retrieved from the pool of verified items.

An LLM labels an item better when its prompt shows a few labelled items like it (Haq et
al., NER with LLMs: kNN over all-MiniLM-L6-v2 embeddings of the labelled pool beats fixed
examples and zero-shot). :class:`ExampleRetriever` picks ``k`` examples per query text:

``"knn"``
    The pool's texts are embedded once with the spine's sentence embedder
    (:mod:`labelquorum.annotators.embedder`, all-MiniLM-L6-v2) and each query gets its
    nearest neighbours by cosine, chosen greedily by maximal marginal relevance (MMR,
    Carbonell & Goldstein 1998): the next example maximises
    ``mmr_lambda * cos(query, x) - (1 - mmr_lambda) * max cos(x, chosen)``, so with
    ``mmr_lambda < 1`` near-duplicates of an example already chosen are passed over.
    ``mmr_lambda=1`` is plain kNN. Fully deterministic; ``seed`` is not used.
``"fixed"``
    The same ``k`` examples for every query, drawn once at random (``seed``). Examples
    added later are drawn only when the fixed set needs them (fewer than ``k`` so far, or
    a label that has just appeared and is owed a share under ``balance``).
``"random"``
    ``k`` examples drawn at random per query. The draw depends on ``seed`` and the query's
    text only, so the same item gets the same examples in every run and batch — a prompt
    rebuilt on resume is identical and can be served from the cache.

With ``balance=True`` the ``k`` examples are spread across the pool's labels as evenly as
the pool allows (each label gets ⌊k/L⌋ or ⌈k/L⌉ while it has enough examples; labels
that run short leave their share to the others); ``"knn"`` still chooses by MMR within
that constraint, so which labels get the larger shares and which examples fill them is
decided by relevance.

An item is never its own example: pool examples whose text equals the query (after
collapsing whitespace and ignoring case) are skipped, and ``select(..., exclude_ids=...)``
skips examples by item id too. A query gets fewer than ``k`` examples only when the pool,
after those exclusions, holds fewer.

The pool grows as labels are verified: :meth:`ExampleRetriever.add` embeds only the new
examples; an example whose ``item_id`` is already in the pool replaces it (a corrected
label). Similarities are computed as matrix products over chunks of queries, so pools of
10^5 examples and batches of 10^3 queries take seconds; the embedder is the main cost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from labelquorum.errors import RetrievalError

__all__ = ["STRATEGIES", "Example", "ExampleRetriever"]

#: Valid values of ``ExampleRetriever(strategy=...)``.
STRATEGIES = ("knn", "fixed", "random")

# kNN keeps this many candidates per query (at least 8 k) before MMR re-ranks them; with
# ``balance`` each label keeps its share of them, and at least k.
_MIN_CANDIDATES = 32
# Cells of the query-by-pool similarity matrix computed at once (float32: 32 MB).
_CHUNK_CELLS = 1 << 23


@dataclass(frozen=True)
class Example:
    """One verified item offered as a few-shot example: its id, text and label."""

    item_id: str
    text: str
    label: str


class _Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _norm(text: str) -> str:
    """The form in which texts are compared to decide that an item is its own example."""
    return " ".join(text.split()).casefold()


def _text_seed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def _levels(avail: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How ``k`` examples spread over labels as evenly as ``avail`` (queries x labels) allows.

    Returns ``floor`` (queries x labels: every label gets at least this), ``extra``
    (queries x labels: labels that may take one more) and ``r`` (per query: how many of
    the ``extra`` labels do). ``floor.sum(1) + r == min(k, avail.sum(1))``.
    """
    want = np.minimum(k, avail.sum(axis=1))
    level = np.zeros(len(avail), dtype=np.int64)  # smallest t with sum(min(avail, t)) >= want
    for t in range(k, 0, -1):
        level = np.where(np.minimum(avail, t).sum(axis=1) >= want, t, level)
    floor = np.minimum(avail, np.maximum(level - 1, 0)[:, None])
    extra = avail > floor
    r = want - floor.sum(axis=1)
    return floor, extra, r


class ExampleRetriever:
    """Chooses ``k`` few-shot examples per query text from a pool of verified examples.

    Parameters (stored as given; checked by :meth:`fit`):

    k
        Examples per query (a positive integer).
    strategy
        ``"knn"`` (nearest neighbours by embedding with MMR), ``"fixed"`` (the same
        examples for every query) or ``"random"`` (a seeded random draw per query).
    mmr_lambda
        Weight of relevance against diversity in MMR, in [0, 1]; 1.0 is pure relevance.
        Used by ``"knn"`` only; ties go to the more relevant example.
    balance
        Spread the ``k`` examples across labels as evenly as the pool allows.
    seed
        Seed (a non-negative integer) of ``"fixed"`` and ``"random"``.
    embedder
        Any object with ``encode(texts) -> array (n, dim)``; ``None`` means the spine's
        all-MiniLM-L6-v2 embedder (needs the ``ml`` extra). Used by ``"knn"`` only.

    Learned state, after :meth:`fit`: ``examples_`` (the pool, one example per item id, in
    the order first added) and ``labels_`` (the pool's labels in order of appearance).
    """

    def __init__(self, k: int = 4, strategy: str = "knn", mmr_lambda: float = 0.5,
                 balance: bool = True, seed: int = 0, embedder: _Encoder | None = None):
        self.k = k
        self.strategy = strategy
        self.mmr_lambda = mmr_lambda
        self.balance = balance
        self.seed = seed
        self.embedder = embedder

    # -- fitting ------------------------------------------------------------------------

    def fit(self, examples: Sequence[Example]) -> ExampleRetriever:
        """Use ``examples`` (the verified pool) as the pool, replacing any earlier one."""
        self._check_params()
        examples = self._check_examples(examples)
        if not examples:
            raise RetrievalError(
                "The example pool is empty: fit() needs at least one verified Example "
                "(item_id, text, label). Verify or seed some items first, or run without "
                "few-shot examples.")
        self._k, self._strategy = int(self.k), self.strategy
        self._lambda, self._balance, self._seed = float(self.mmr_lambda), bool(self.balance), \
            int(self.seed)
        self._encoder = None
        if self._strategy == "knn":
            if self.embedder is None:
                from labelquorum.annotators.embedder import get_embedder
                self._encoder = get_embedder()
            else:
                self._encoder = self.embedder
        self.examples_: list[Example] = []
        self.labels_: list[str] = []
        self._label_code: dict[str, int] = {}
        self._row_of_id: dict[str, int] = {}
        self._rows_of_text: dict[str, list[int]] = {}
        self._codes = np.empty(0, dtype=np.int64)
        self._rank = np.empty(0, dtype=np.int64)  # "fixed" takes examples in this order
        self._vectors: np.ndarray | None = None   # capacity-doubling buffer of embeddings
        self._fixed: list[int] | None = None      # cached "fixed" choice (pool rows)
        self._sorted = None                       # cached kNN index, see _knn_index
        self._add(examples)
        return self

    def add(self, examples: Sequence[Example]) -> ExampleRetriever:
        """Add newly verified examples to the pool; only they are embedded.

        An example whose ``item_id`` is already in the pool replaces the old one. On a
        retriever that has not been fitted, ``add`` is ``fit``.
        """
        if not hasattr(self, "examples_"):
            return self.fit(examples)
        examples = self._check_examples(examples)
        if examples:
            self._add(examples)
        return self

    def _add(self, examples: list[Example]) -> None:
        # The last of several examples with one item id wins, as if added one by one.
        latest = list({ex.item_id: ex for ex in examples}.values())
        # Embed before changing anything, so that a failing embedder leaves the pool intact.
        vectors = self._embed([ex.text for ex in latest]) if self._encoder is not None else None
        order: list[int] = []
        n_new = 0
        for ex in latest:
            row = self._row_of_id.get(ex.item_id)
            if row is None:
                row = len(self.examples_)
                self._row_of_id[ex.item_id] = row
                self.examples_.append(ex)
                n_new += 1
            else:
                self._rows_of_text[_norm(self.examples_[row].text)].remove(row)
                self.examples_[row] = ex
            order.append(row)
            self._rows_of_text.setdefault(_norm(ex.text), []).append(row)
            if ex.label not in self._label_code:
                self._label_code[ex.label] = len(self.labels_)
                self.labels_.append(ex.label)
        rows = np.array(order, dtype=np.int64)
        n = len(self.examples_)
        codes = np.empty(n, dtype=np.int64)
        codes[: len(self._codes)] = self._codes
        codes[rows] = [self._label_code[ex.label] for ex in latest]
        self._codes = codes
        # New examples rank after the old ones, in a seeded random order: "fixed" keeps
        # its examples as the pool grows and draws new ones only when it needs them.
        rng = np.random.default_rng([self._seed, len(self._rank)])
        self._rank = np.concatenate([self._rank, len(self._rank) + rng.permutation(n_new)])
        self._fixed = None
        self._sorted = None
        if vectors is not None:
            self._store_vectors(rows, vectors, n)

    def _store_vectors(self, rows: np.ndarray, vectors: np.ndarray, n: int) -> None:
        if self._vectors is None:
            self._vectors = np.zeros((max(n, 16), vectors.shape[1]), dtype=np.float32)
        if n > len(self._vectors):
            grown = np.zeros((max(n, 2 * len(self._vectors)), self._vectors.shape[1]),
                             dtype=np.float32)
            grown[: len(self._vectors)] = self._vectors
            self._vectors = grown
        self._vectors[rows] = vectors

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings of ``texts``, each distinct text encoded once."""
        unique = list(dict.fromkeys(texts))
        try:
            vectors = np.asarray(self._encoder.encode(unique), dtype=np.float32)
        except AttributeError as exc:
            raise RetrievalError(
                f"The embedder {self._encoder!r} has no usable encode(texts) method; pass an "
                f"object whose encode(list of str) returns an (n, dim) array, or "
                f"embedder=None for the default all-MiniLM-L6-v2.") from exc
        if vectors.ndim != 2 or len(vectors) != len(unique):
            raise RetrievalError(
                f"The embedder returned an array of shape {vectors.shape} for {len(unique)} "
                f"texts; expected shape ({len(unique)}, dim).")
        if self._vectors is not None and vectors.shape[1] != self._vectors.shape[1]:
            raise RetrievalError(
                f"The embedder returned vectors of dimension {vectors.shape[1]}, but the pool "
                f"holds vectors of dimension {self._vectors.shape[1]}; use one embedder for "
                f"the pool and the queries (refit with the new one).")
        if not np.isfinite(vectors).all():
            raise RetrievalError("The embedder returned NaN or infinite values; check the "
                                 "embedder and the texts given to it.")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
        index = {text: i for i, text in enumerate(unique)}
        return vectors[[index[t] for t in texts]]

    # -- checks -------------------------------------------------------------------------

    def _check_params(self) -> None:
        k = self.k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise RetrievalError(f"k must be a positive integer (examples per item), got "
                                 f"{k!r}; use k=4, for example.")
        if self.strategy not in STRATEGIES:
            raise RetrievalError(f"Unknown retrieval strategy {self.strategy!r}; choose one of "
                                 f"{', '.join(repr(s) for s in STRATEGIES)}.")
        lam = self.mmr_lambda
        if isinstance(lam, bool) or not isinstance(lam, (int, float, np.number)) \
                or not 0.0 <= float(lam) <= 1.0:
            raise RetrievalError(f"mmr_lambda must be a number in [0, 1] (1.0 = pure relevance, "
                                 f"lower = more diverse examples), got {lam!r}.")
        if not isinstance(self.balance, (bool, np.bool_)):
            raise RetrievalError(f"balance must be True or False, got {self.balance!r}.")
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise RetrievalError(f"seed must be a non-negative integer, got {seed!r}.")
        embedder = self.embedder
        if self.strategy == "knn" and embedder is not None and (
                isinstance(embedder, str) or not callable(getattr(embedder, "encode", None))):
            raise RetrievalError(
                f"embedder must be an object with an encode(texts) method returning an "
                f"(n, dim) array, got {embedder!r}; pass embedder=None for the default "
                f"all-MiniLM-L6-v2.")

    @staticmethod
    def _check_examples(examples: Sequence[Example]) -> list[Example]:
        if isinstance(examples, (str, Example)):
            raise RetrievalError("Expected a sequence of Example objects, got a single "
                                 f"{type(examples).__name__}; wrap it in a list.")
        examples = list(examples)
        for i, ex in enumerate(examples):
            if not isinstance(ex, Example):
                raise RetrievalError(
                    f"Pool entry {i} is a {type(ex).__name__} ({ex!r}), not an Example; build "
                    f"each one as Example(item_id=..., text=..., label=...).")
            for field in ("item_id", "text", "label"):
                if not isinstance(getattr(ex, field), str):
                    raise RetrievalError(
                        f"Pool entry {i} ({ex.item_id!r}) has a {field} of type "
                        f"{type(getattr(ex, field)).__name__}; item_id, text and label must "
                        f"be strings.")
        return examples

    # -- selecting ----------------------------------------------------------------------

    def select(self, texts: Sequence[str],
               exclude_ids: Sequence[str | Iterable[str] | None] | None = None,
               ) -> list[list[Example]]:
        """``k`` examples for each text in ``texts`` (fewer only if the pool is smaller).

        ``exclude_ids``, when given, has one entry per text: the item id (or a collection
        of ids, or None) whose examples must not be shown for that text — pass the items'
        own ids so that no item is its own example even when its text was edited.
        Examples come most relevant first for ``"knn"``, in a seeded order otherwise.
        """
        if not hasattr(self, "examples_"):
            raise RetrievalError("This ExampleRetriever is not fitted yet; call "
                                 "fit(examples) with the verified pool before select().")
        if isinstance(texts, str):
            raise RetrievalError("select() expects a sequence of texts, got one string; wrap "
                                 "it in a list: select([text]).")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise RetrievalError(f"select() expects strings, but text {i} is "
                                     f"{type(text).__name__} ({text!r}).")
        excluded = self._excluded_rows(texts, exclude_ids)
        if not texts:
            return []
        if self._strategy == "knn":
            rows = self._select_knn(texts, excluded)
        elif self._strategy == "fixed":
            rows = self._select_fixed(excluded)
        else:
            rows = self._select_random(texts, excluded)
        return [[self.examples_[r] for r in chosen] for chosen in rows]

    def _excluded_rows(self, texts: list[str], exclude_ids) -> list[list[int]]:
        """Per query, the pool rows it must not get: same text, or an excluded item id."""
        if exclude_ids is not None:
            if isinstance(exclude_ids, str):
                raise RetrievalError("exclude_ids must have one entry per text (a list), got "
                                     "one string; pass exclude_ids=[item_id, ...].")
            exclude_ids = list(exclude_ids)
            if len(exclude_ids) != len(texts):
                raise RetrievalError(
                    f"exclude_ids has {len(exclude_ids)} entries for {len(texts)} texts; give "
                    f"one entry (an item id, a collection of ids, or None) per text.")
        out = []
        for i, text in enumerate(texts):
            rows = list(self._rows_of_text.get(_norm(text), ()))
            ids = exclude_ids[i] if exclude_ids is not None else None
            if ids is not None:
                for item_id in ([ids] if isinstance(ids, str) else ids):
                    row = self._row_of_id.get(item_id)
                    if row is not None:
                        rows.append(row)
            out.append(rows)
        return out

    def _label_rows(self) -> list[np.ndarray]:
        return [np.flatnonzero(self._codes == c) for c in range(len(self.labels_))]

    def _knn_index(self) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """The pool's rows grouped by label (with ``balance``), their vectors in that order,
        and each label's ``(start, stop)`` block; cached until the pool changes."""
        if self._sorted is None:
            n = len(self.examples_)
            if self._balance:
                perm = np.argsort(self._codes, kind="stable")
                stops = np.cumsum(np.bincount(self._codes, minlength=len(self.labels_)))
                blocks = [(int(lo), int(hi)) for lo, hi in zip([0, *stops[:-1]], stops)]
                vectors = self._vectors[perm]
            else:
                perm, blocks, vectors = np.arange(n), [(0, n)], self._vectors[:n]
            self._sorted = (perm, vectors, blocks)
        return self._sorted

    def _select_knn(self, texts: list[str], excluded: list[list[int]]) -> list[list[int]]:
        queries = self._embed(texts)
        perm, pool, blocks = self._knn_index()
        n, k = len(perm), self._k
        position = np.empty(n, dtype=np.int64)
        position[perm] = np.arange(n)
        n_cand = max(8 * k, _MIN_CANDIDATES)
        per_label = max(k, -(-n_cand // len(blocks)))
        chunk = max(1, min(256, _CHUNK_CELLS // n))
        out: list[list[int]] = []
        for start in range(0, len(texts), chunk):
            sims = queries[start:start + chunk] @ pool.T
            for b, rows in enumerate(excluded[start:start + chunk]):
                if rows:
                    sims[b, position[rows]] = -np.inf
            cand, lab = [], []
            for code, (lo, hi) in enumerate(blocks):
                if hi - lo > per_label:
                    top = np.argpartition(sims[:, lo:hi], hi - lo - per_label, axis=1)
                    cand.append(top[:, hi - lo - per_label:] + lo)
                elif hi > lo:
                    cand.append(np.broadcast_to(np.arange(lo, hi), (len(sims), hi - lo)))
                else:
                    continue
                lab.append(np.full(cand[-1].shape, code))
            cand = np.concatenate(cand, axis=1)
            lab = np.concatenate(lab, axis=1)
            rel = np.take_along_axis(sims, cand, axis=1)
            # Most similar first; ties go to the example added first.
            order = np.lexsort((perm[cand], -rel), axis=1)
            cand = np.take_along_axis(cand, order, axis=1)
            picks = self._mmr(pool, cand, np.take_along_axis(lab, order, axis=1),
                              np.take_along_axis(rel, order, axis=1), len(blocks))
            out.extend([int(perm[p]) for p in row if p >= 0] for row in picks)
        return out

    def _mmr(self, pool: np.ndarray, cand: np.ndarray, lab: np.ndarray, rel: np.ndarray,
             n_labels: int) -> np.ndarray:
        """Greedy MMR over each row's candidates, within the label shares if balancing.

        ``cand`` holds rows of ``pool``; returns the chosen ones, ``-1`` where none is left.
        """
        nq, nc = cand.shape
        k, lam = self._k, self._lambda
        valid = np.isfinite(rel)
        relevance = np.where(valid, rel, 0.0).astype(np.float32)
        vecs = pool[cand] if lam < 1.0 else None                  # (nq, nc, dim)
        redundancy = np.zeros((nq, nc), dtype=np.float32)
        if self._balance:
            avail = np.zeros((nq, n_labels), dtype=np.int64)
            np.add.at(avail, (np.repeat(np.arange(nq), nc), lab.ravel()), valid.ravel())
            floor, extra, r = _levels(avail, k)
            counts = np.zeros((nq, n_labels), dtype=np.int64)
            reached = np.zeros(nq, dtype=np.int64)
        open_ = valid.copy()
        picks = np.full((nq, k), -1, dtype=np.int64)
        every = np.arange(nq)
        for step in range(k):
            allowed = open_
            if self._balance:
                have = np.take_along_axis(counts, lab, axis=1)
                low = np.take_along_axis(floor, lab, axis=1)
                may_extra = np.take_along_axis(extra, lab, axis=1) & (reached < r)[:, None]
                allowed = allowed & ((have < low) | ((have == low) & may_extra))
            score = np.where(allowed, lam * relevance - (1.0 - lam) * redundancy, -np.inf)
            best = np.argmax(score, axis=1)
            ok = allowed[every, best]
            if not ok.any():
                break
            rows, col = every[ok], best[ok]
            picks[rows, step] = cand[rows, col]
            open_[rows, col] = False
            if self._balance:
                code = lab[rows, col]
                counts[rows, code] += 1
                reached[rows] += counts[rows, code] > floor[rows, code]
            if vecs is not None:
                # Cosine of each candidate with the example just chosen.
                sim_new = np.matmul(vecs, vecs[every, best][:, :, None])[:, :, 0]
                redundancy = sim_new if step == 0 else np.where(
                    ok[:, None], np.maximum(redundancy, sim_new), redundancy)
        return picks

    def _choose_ranked(self, label_rows: list[np.ndarray], excluded: set[int]) -> list[int]:
        """``k`` rows, balanced if asked, taking each label's rows in ``_rank`` order."""
        label_rows = [rows[~np.isin(rows, list(excluded))] if excluded else rows
                      for rows in label_rows]
        if not self._balance:
            label_rows = [np.concatenate(label_rows)] if label_rows else []
        ordered = [rows[np.argsort(self._rank[rows], kind="stable")] for rows in label_rows]
        avail = np.array([[len(rows) for rows in ordered]])
        floor, extra, r = _levels(avail, self._k)
        quota = floor[0].copy()
        # The labels whose first unused example ranks earliest get the larger shares.
        heads = [(self._rank[rows[quota[c]]], c) for c, rows in enumerate(ordered)
                 if extra[0, c]]
        for _, c in sorted(heads)[: int(r[0])]:
            quota[c] += 1
        chosen = np.concatenate([rows[:q] for rows, q in zip(ordered, quota)])
        return chosen[np.argsort(self._rank[chosen], kind="stable")].tolist()

    def _select_fixed(self, excluded: list[list[int]]) -> list[list[int]]:
        label_rows = self._label_rows()
        if self._fixed is None:
            self._fixed = self._choose_ranked(label_rows, set())
        fixed = set(self._fixed)
        return [self._choose_ranked(label_rows, set(rows)) if fixed.intersection(rows)
                else list(self._fixed) for rows in excluded]

    def _select_random(self, texts: list[str], excluded: list[list[int]]) -> list[list[int]]:
        label_rows = self._label_rows()
        if not self._balance:
            label_rows = [np.arange(len(self.examples_))]
        sizes = np.array([len(rows) for rows in label_rows])
        out = []
        for text, rows_out in zip(texts, excluded):
            rng = np.random.default_rng([self._seed, _text_seed(text)])
            pools = label_rows
            if rows_out:
                pools = [rows[~np.isin(rows, rows_out)] for rows in label_rows]
                avail = np.array([[len(rows) for rows in pools]])
            else:
                avail = sizes[None, :]
            floor, extra, r = _levels(avail, self._k)
            quota = floor[0].copy()
            eligible = np.flatnonzero(extra[0])
            quota[rng.permutation(eligible)[: int(r[0])]] += 1
            chosen = np.concatenate([np.empty(0, dtype=np.int64)]  # none left: no examples
                                    + [rng.choice(rows, size=q, replace=False)
                                       for rows, q in zip(pools, quota) if q > 0])
            out.append(rng.permutation(chosen).tolist())
        return out

    def __repr__(self) -> str:
        return (f"ExampleRetriever(k={self.k!r}, strategy={self.strategy!r}, "
                f"mmr_lambda={self.mmr_lambda!r}, balance={self.balance!r}, seed={self.seed!r})")
