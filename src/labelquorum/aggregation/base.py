"""The long judgement table, encoded once for every aggregator, and the estimator base.

Input: a DataFrame with labelquorum's columns (``item, annotator, label``, optional
``confidence``) or crowd-kit's (``task, worker, label``) or ``id, worker, label``.

Documented behaviours:

* **Duplicate (item, annotator) rows: the last row wins** (an edit replaces an answer).
* Rows whose label is missing (NaN, None, empty string) are dropped; a table with no
  labelled rows is an error.
* Labels are compared as strings, so ``1`` and ``"1"`` are the same label; a column that
  mixes numbers and text is refused (it is almost always a data error).
* **Ties** between labels are broken by a seeded choice per item: the tied labels are
  ordered by how often they are used in the whole table (most used first), and the item's
  64-bit key (a hash of the seed and the item id) picks one of them. The choice depends on
  neither label names nor row order (only when two tied labels are used exactly equally
  often does their order in the label set decide their place).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import LabelquorumError
from .voting import TieKeys

COLUMN_SETS = (("item", "annotator", "label"), ("task", "worker", "label"),
               ("id", "worker", "label"))


@dataclass
class Encoded:
    """The long table as integer codes: one entry per (item, annotator) judgement."""

    items: np.ndarray  # unique item ids as text, sorted (numbers as numbers)
    workers: np.ndarray  # unique annotator ids as text, sorted (numbers as numbers)
    labels: list[str]  # label names, in the order of probability columns
    item: np.ndarray  # (n,) item code per judgement
    worker: np.ndarray  # (n,) annotator code per judgement
    label: np.ndarray  # (n,) label code per judgement
    confidence: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def tie_order(self) -> np.ndarray:
        """Label indices, most used first (then by index): the order ties are drawn from,
        which renaming labels or reordering rows leaves unchanged."""
        used = np.bincount(self.label, minlength=self.n_labels)
        return np.lexsort((np.arange(self.n_labels), -used))

    def counts(self, weights: np.ndarray | None = None) -> np.ndarray:
        """(items, labels) vote counts, optionally weighted per judgement."""
        flat = self.item * self.n_labels + self.label
        out = np.bincount(flat, weights=weights, minlength=self.n_items * self.n_labels)
        return out.reshape(self.n_items, self.n_labels).astype(float)


def find_columns(df: pd.DataFrame, item: str | None = None, annotator: str | None = None,
                 label: str | None = None) -> tuple[str, str, str]:
    """Which columns hold item, annotator and label: named, or detected."""
    if item or annotator or label:
        names = (item or "item", annotator or "annotator", label or "label")
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise LabelquorumError(f"column {missing[0]!r} is not in the table; columns found: "
                                   f"{', '.join(map(str, df.columns))}")
        return names
    for names in COLUMN_SETS:
        if set(names) <= set(df.columns):
            return names
    raise LabelquorumError(
        "the judgement table needs columns item,annotator,label (or task,worker,label, or "
        f"id,worker,label); columns found: {', '.join(map(str, df.columns)) or 'none'}. "
        "Name them with --item/--annotator/--label")


def encode(judgements: pd.DataFrame, labels: list[str] | None = None, *,
           columns: tuple[str, str, str] | None = None) -> Encoded:
    """Validate and encode a long judgement table (see the module docstring)."""
    if not isinstance(judgements, pd.DataFrame):
        raise LabelquorumError(f"expected a pandas DataFrame of judgements, got "
                               f"{type(judgements).__name__}")
    item_col, worker_col, label_col = columns or find_columns(judgements)
    df = judgements[[item_col, worker_col, label_col]
                    + (["confidence"] if "confidence" in judgements.columns else [])]
    raw = df[label_col]
    if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
        keep = raw.notna()
    else:
        keep = raw.notna() & (raw.astype(str).str.strip() != "")
    df = df[keep]
    if df.empty:
        raise LabelquorumError("the judgement table has no labelled rows")
    column = df[label_col]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        raw_codes, raw_uniques = pd.factorize(column.to_numpy())  # texts of uniques only
        texts = _label_texts(pd.Series(raw_uniques))
        # 1 and 1.0 are one label: merge uniques with the same text
        text_codes, found = pd.factorize(texts)
        codes = text_codes[raw_codes]
    else:
        codes, found = pd.factorize(_label_texts(column))
    found = [str(v) for v in found]
    item_codes, items = sorted_codes(df[item_col].to_numpy())
    worker_codes, workers = sorted_codes(df[worker_col].to_numpy())
    for name, ids in ((item_col, item_codes), (worker_col, worker_codes)):
        if (ids < 0).any():
            raise LabelquorumError(f"{int((ids < 0).sum())} labelled rows have no {name!r} "
                                   "value; give every judgement an item and an annotator")
    conf = (pd.to_numeric(df["confidence"], errors="coerce").to_numpy()
            if "confidence" in df.columns else None)
    # the last row of each (item, annotator) pair wins; dropping earlier rows never
    # removes an item or an annotator, so the codes stay valid
    if _has_duplicate_pairs(item_codes, worker_codes, len(items), len(workers)):
        pair = item_codes * len(workers) + worker_codes
        last = ~pd.Series(pair).duplicated(keep="last").to_numpy()
        item_codes, worker_codes, codes = item_codes[last], worker_codes[last], codes[last]
        conf = None if conf is None else conf[last]
    if labels is None:
        labels = sorted(found, key=_natural)
    else:
        labels = [_label_text(v) for v in labels]
        unknown = sorted(set(found) - set(labels))
        if unknown:
            raise LabelquorumError(f"labels {unknown[:5]} are not in the label set {labels}")
    index = {lab: i for i, lab in enumerate(labels)}
    remap = np.array([index[v] for v in found], dtype=np.int64)
    return Encoded(np.asarray(items, dtype=object), np.asarray(workers, dtype=object),
                   list(labels), item_codes.astype(np.int64), worker_codes.astype(np.int64),
                   remap[codes], conf)


def _has_duplicate_pairs(item: np.ndarray, worker: np.ndarray, n_items: int,
                         n_workers: int) -> bool:
    """Whether an (item, annotator) pair occurs twice: a sparse matrix merges repeated
    entries, so it has fewer stored entries than rows exactly when there is one."""
    ones = np.ones(len(item), dtype=np.int8)
    matrix = sparse.csr_matrix((ones, (item, worker)), shape=(n_items, n_workers))
    matrix.sum_duplicates()
    return matrix.nnz < len(item)


def sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted unique ids, and the ids as text. Numbers sort as numbers and
    text as text; a column that mixes the two sorts by text. Only the uniques are turned
    into strings."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # values that do not compare with each other: sort their texts
        codes, uniques = pd.factorize(values)
        names = np.array([str(u) for u in uniques], dtype=object)
        order = np.argsort(names, kind="stable")
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        return remap[codes], names[order]
    uniques = np.asarray(uniques)
    if uniques.dtype.kind in "iu":
        names = pd.Series(uniques).astype(str).to_numpy(dtype=object)
    else:
        names = np.array([str(u) for u in uniques], dtype=object)
    return codes.astype(np.int64, copy=False), names


def _label_texts(column: pd.Series) -> np.ndarray:
    """Labels as text, vectorised: 1.0 and 1 are "1"; text is stripped; numbers mixed
    with text are refused."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype(str).to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(column):
        numbers = column.to_numpy(dtype=float)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers))
        out = column.astype(str).to_numpy(dtype=object)
        out[whole] = numbers[whole].astype(np.int64).astype(str)
        return out
    sample = column.head(100_000)
    kinds = {type(v).__name__ for v in sample}
    numeric = {"int", "float", "int64", "float64", "bool", "bool_"}
    if kinds & numeric and kinds - numeric:
        raise LabelquorumError(f"the label column mixes numbers and text ({', '.join(sorted(kinds))}); "
                               "make every label the same type")
    if kinds <= numeric:
        return column.map(_label_text).to_numpy(dtype=object)
    return column.astype(str).str.strip().to_numpy(dtype=object)


def _label_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _natural(text: str):
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def pick(posterior: np.ndarray, keys: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """Argmax per row with the documented seeded tie-break.

    The tied labels are put in ``order`` (label indices, e.g. :meth:`Encoded.tie_order`:
    most frequent first, so renaming labels does not change it) and the item's key picks
    one of them.
    """
    best = posterior.argmax(axis=1)
    top = posterior[np.arange(len(posterior)), best]
    tied = np.abs(posterior - top[:, None]) <= 1e-12 + 1e-12 * np.abs(top[:, None])
    rows = np.flatnonzero(tied.sum(axis=1) > 1)
    if not len(rows):
        return best
    cols = np.arange(posterior.shape[1]) if order is None else np.asarray(order)
    options = tied[rows][:, cols]  # tied labels of the tied rows, in tie order
    n = options.sum(axis=1)
    row_keys = keys.take(rows) if hasattr(keys, "take") else np.asarray(keys)[rows]
    choice = (np.asarray(row_keys, dtype=np.uint64) % n.astype(np.uint64)).astype(np.int64)
    # the (choice + 1)-th tied label of each row
    at = np.argmax(np.cumsum(options, axis=1) > choice[:, None], axis=1)
    best[rows] = cols[at]
    return best


class Aggregator:
    """Base estimator: ``fit(judgements) -> self``; then ``labels_`` (Series by item),
    ``probas_`` (DataFrame items x labels, rows sum to 1). Subclasses implement
    ``_fit(enc) -> posterior`` and may set ``skills_`` / ``errors_``."""

    seed: int = 0
    labels: list[str] | None = None

    def fit(self, judgements: pd.DataFrame) -> Aggregator:
        enc = encode(judgements, self.labels)
        posterior = self._fit(enc)
        self._set_result(enc, posterior)
        return self

    def _fit(self, enc: Encoded) -> np.ndarray:
        raise NotImplementedError

    def _set_result(self, enc: Encoded, posterior: np.ndarray) -> None:
        index = pd.Index(enc.items, name="item")
        best = self.__dict__.pop("_best", None)  # a _fit that picked already
        if best is None:
            best = pick(posterior, TieKeys(enc.items, self.seed), enc.tie_order())
        self.labels_ = pd.Series(np.asarray(enc.labels, dtype=object)[best], index=index,
                                 name="label")
        self.probas_ = pd.DataFrame(posterior, index=index, columns=enc.labels)
        self.encoded_ = enc

    def fit_predict(self, judgements: pd.DataFrame) -> pd.Series:
        return self.fit(judgements).labels_

    def fit_predict_proba(self, judgements: pd.DataFrame) -> pd.DataFrame:
        return self.fit(judgements).probas_
