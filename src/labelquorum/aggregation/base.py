"""The long judgement table, encoded once for every aggregator, and the estimator base.

Input: a DataFrame with labelquorum's columns (``item, annotator, label``, optional
``confidence``) or crowd-kit's (``task, worker, label``) or ``id, worker, label``.

Documented behaviours:

* **Duplicate (item, annotator) rows: the last row wins** (an edit replaces an answer).
* Rows whose label is missing (NaN, None, empty string) are dropped; a table with no
  labelled rows is an error.
* Labels are compared as text, so ``1`` and ``1.0`` are the same label and text labels
  are stripped; a column that mixes numbers and text is refused (it is almost always a
  data error).
* **Results keep the caller's types** (as crowd-kit's do): they are indexed by the item
  and annotator ids as given (integers stay integers), and labels come back as the label
  column holds them (the first value with each text; text stripped) or, with
  ``labels=[...]``, as given there. Ties and gold still go by the ids' text.
* **Ties** between labels are broken by a seeded choice per item: the tied labels are
  ordered by how often they are used in the whole table (most used first), and the item's
  64-bit key (a hash of the seed and the item id) picks one of them. The choice depends on
  neither label names nor row order (only when two tied labels are used exactly equally
  often does their order in the label set decide their place).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator

from ..errors import LabelquorumError
from .voting import TieKeys

COLUMN_SETS = (("item", "annotator", "label"), ("task", "worker", "label"),
               ("id", "worker", "label"))


@dataclass
class Encoded:
    """The long table as integer codes: one entry per (item, annotator) judgement.

    ``item_ids``, ``worker_ids`` and ``label_values`` are the caller's values, in the order
    of the codes (ids sorted, numbers as numbers; labels in the order of probability
    columns) and with the column's dtype, so results index by them; ``items``, ``workers``
    and ``labels`` are the same as text, the form ties are keyed and gold is matched by."""

    item_ids: pd.Index
    worker_ids: pd.Index
    label_values: pd.Index
    labels: list[str]  # label names as text, in the order of probability columns
    item: np.ndarray  # (n,) item code per judgement
    worker: np.ndarray  # (n,) annotator code per judgement
    label: np.ndarray  # (n,) label code per judgement
    confidence: np.ndarray | None = None
    by_item: np.ndarray | None = None  # (n,) judgement positions sorted by item, annotator

    @cached_property
    def items(self) -> np.ndarray:
        """Item ids as text (object array), in code order."""
        return id_texts(self.item_ids)

    @cached_property
    def workers(self) -> np.ndarray:
        """Annotator ids as text (object array), in code order."""
        return id_texts(self.worker_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def tie_keys(self, seed: int) -> TieKeys:
        """The seeded tie-break keys of the items, hashed from their text only when taken."""
        texts = self.__dict__.get("items")
        return TieKeys(_LazyTexts(self.item_ids) if texts is None else texts, seed)

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


class _LazyTexts:
    """Ids as text, converted only for the positions taken (the tied items)."""

    def __init__(self, ids: pd.Index):
        self.ids = ids

    def take(self, rows) -> np.ndarray:
        return id_texts(self.ids[np.asarray(rows)])


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


def encode(judgements: pd.DataFrame, labels: list | None = None, *,
           columns: tuple[str, str, str] | None = None) -> Encoded:
    """Validate and encode a long judgement table (see the module docstring).

    Vectorised throughout: each column is factorised once, and only its unique values are
    turned into text (to merge ``1`` and ``1.0``, strip labels and refuse mixed types)."""
    if not isinstance(judgements, pd.DataFrame):
        raise LabelquorumError(f"expected a pandas DataFrame of judgements, got "
                               f"{type(judgements).__name__}")
    item_col, worker_col, label_col = columns or find_columns(judgements)
    column = judgements[label_col]
    raw_codes, raw_uniques = pd.factorize(column)  # missing labels: -1
    texts, text_like = _label_texts(pd.Series(raw_uniques, dtype=raw_uniques.dtype))
    # a label whose text is empty is no label; -1 (missing) takes the appended False
    usable = np.append(texts != "", False)
    keep = usable[raw_codes]
    if not keep.any():
        raise LabelquorumError("the judgement table has no labelled rows")
    everything = bool(keep.all())

    def kept(name: str) -> pd.Series:
        values = judgements[name]
        return values if everything else values[keep]

    text_codes, found = pd.factorize(texts)  # 1 and 1.0 are one label: merge by text
    codes = text_codes[raw_codes if everything else raw_codes[keep]]
    item_codes, item_ids = sorted_ids(kept(item_col))
    worker_codes, worker_ids = sorted_ids(kept(worker_col))
    for name, ids in ((item_col, item_codes), (worker_col, worker_codes)):
        if ids.min() < 0:
            raise LabelquorumError(f"{int((ids < 0).sum())} labelled rows have no {name!r} "
                                   "value; give every judgement an item and an annotator")
    conf = (pd.to_numeric(kept("confidence"), errors="coerce").to_numpy()
            if "confidence" in judgements.columns else None)
    # the last row of each (item, annotator) pair wins; dropping earlier rows never
    # removes an item or an annotator, so the codes stay valid
    by_item = _pair_order(item_codes, worker_codes, len(item_ids), len(worker_ids))
    if by_item is None:
        pair = item_codes * len(worker_ids) + worker_codes
        last = ~pd.Series(pair).duplicated(keep="last").to_numpy()
        item_codes, worker_codes, codes = item_codes[last], worker_codes[last], codes[last]
        conf = None if conf is None else conf[last]
        by_item = _pair_order(item_codes, worker_codes, len(item_ids), len(worker_ids))
    found = [str(v) for v in found]
    if labels is None:
        # each label as the caller gave it, with the column's dtype: the first raw value
        # with that text (text itself stripped)
        first = np.unique(text_codes, return_index=True)[1]
        value_of = dict(zip(found, texts[first] if text_like else raw_uniques[first]))
        names = sorted(set(found) - {""}, key=_natural)
        values = pd.Index([value_of[n] for n in names],
                          dtype=column.dtype if text_like else raw_uniques.dtype)
    else:
        names = [label_text(v) for v in labels]
        unknown = sorted(set(found) - set(names) - {""})
        if unknown:
            raise LabelquorumError(f"labels {unknown[:5]} are not in the label set {names}")
        values = pd.Index(list(labels))
    index = {lab: i for i, lab in enumerate(names)}
    remap = np.array([index.get(v, -1) for v in found], dtype=np.int64)
    return Encoded(item_ids, worker_ids, values, names, item_codes, worker_codes,
                   remap[codes], conf, by_item)


def _pair_order(item: np.ndarray, worker: np.ndarray, n_items: int,
                n_workers: int) -> np.ndarray | None:
    """The judgements' positions sorted by item, then annotator; None when an (item,
    annotator) pair occurs twice. A sparse matrix sorts in linear time (a counting sort by
    item, then each short row) and merges repeated entries, so it has fewer stored entries
    than rows exactly when a pair repeats."""
    position = np.arange(1, len(item) + 1, dtype=np.int64)  # 1-based: no stored zero
    matrix = sparse.csr_matrix((position, (item, worker)), shape=(n_items, n_workers))
    matrix.sum_duplicates()
    if matrix.nnz < len(item):
        return None
    return matrix.data - 1


def sorted_ids(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes (int64; -1 where missing) into the sorted unique ids, and those ids with the
    column's dtype. Numbers sort as numbers and text as text; a column that mixes the two
    has its numbers first (pandas' order), and values that do not compare at all sort by
    their text."""
    array = values.to_numpy() if values.dtype.kind in "iu" else None
    if array is not None and len(array):
        low, high = array.min(), array.max()
        if int(high) - int(low) <= 2 * len(array) + 1024:  # dense integers: no hashing
            present = np.zeros(int(high) - int(low) + 1, dtype=bool)
            offset = array - low
            present[offset] = True
            rank = np.cumsum(present, dtype=np.int64) - 1
            ids = (np.flatnonzero(present) + low).astype(array.dtype, copy=False)
            return rank[offset], pd.Index(ids, dtype=array.dtype)
    codes, uniques = pd.factorize(values)
    try:
        order = _argsort(uniques)
    except TypeError:  # numbers mixed with text: numbers first, as pandas sorts them
        try:
            codes, uniques = pd.factorize(values, sort=True)
            return codes.astype(np.int64, copy=False), uniques
        except TypeError:  # values that do not compare at all: sort their texts
            order = np.argsort(id_texts(uniques), kind="stable")
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # missing stays missing
    return rank[codes], uniques.take(order)


def _argsort(uniques: pd.Index) -> np.ndarray:
    """The order of distinct values; Python strings are sorted by Arrow (code point order,
    as Python compares them), several times faster than comparing objects."""
    if uniques.dtype == object and pd.api.types.infer_dtype(uniques, skipna=False) == "string":
        import pyarrow as pa
        import pyarrow.compute as pc

        return pc.sort_indices(pa.array(uniques.to_numpy(), type=pa.string())).to_numpy()
    return uniques.argsort()


def sorted_codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted unique ids, and the ids as text (see :func:`sorted_ids`)."""
    codes, ids = sorted_ids(pd.Series(values))
    return codes, id_texts(ids)


def id_texts(ids) -> np.ndarray:
    """Ids as text (object array): integers vectorised, anything else by ``str``."""
    array = np.asarray(ids)
    if array.dtype.kind in "iu":
        return array.astype(str).astype(object)
    return np.array([str(v) for v in array], dtype=object)


def _label_texts(column: pd.Series) -> tuple[np.ndarray, bool]:
    """Labels (the unique values of a label column) as text, and whether they are text
    (not numbers, booleans or other typed values): 1.0 and 1 are "1"; text is stripped;
    numbers mixed with text are refused."""
    if pd.api.types.is_bool_dtype(column):
        return column.astype(str).to_numpy(dtype=object), False
    if pd.api.types.is_numeric_dtype(column):
        numbers = column.to_numpy(dtype=float)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers))
        out = column.astype(str).to_numpy(dtype=object)
        out[whole] = numbers[whole].astype(np.int64).astype(str)
        return out, False
    kinds = {type(v).__name__ for v in column}
    numeric = {"int", "float", "int64", "float64", "bool", "bool_"}
    if kinds & numeric and kinds - numeric:
        raise LabelquorumError(f"the label column mixes numbers and text ({', '.join(sorted(kinds))}); "
                               "make every label the same type")
    if kinds <= numeric:
        return column.map(label_text).to_numpy(dtype=object), False
    text = isinstance(column.dtype, pd.StringDtype) or column.dtype == object
    return column.astype(str).str.strip().to_numpy(dtype=object), text


def label_text(value) -> str:
    """One label as the text it is compared by: 1.0 is "1", text is stripped."""
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
    posterior = np.asarray(posterior, dtype=float)
    n, k = posterior.shape
    # passes over contiguous (labels, items) rows: numpy reduces a short inner axis
    # slowly. best is the first label with the top probability, as argmax gives it
    columns = np.ascontiguousarray(posterior.T)
    top = columns.max(axis=0)
    best = np.full(n, k - 1, dtype=np.intp)
    for j in range(k - 2, -1, -1):
        best = np.where(columns[j] == top, j, best)
    tolerance = 1e-12 + 1e-12 * np.abs(top)
    n_tied = np.zeros(n, dtype=np.int64)
    gap, near = np.empty(n), np.empty(n, dtype=bool)
    for j in range(k):
        np.subtract(columns[j], top, out=gap)
        np.abs(gap, out=gap)
        np.less_equal(gap, tolerance, out=near)
        n_tied += near
    rows = np.flatnonzero(n_tied > 1)
    if not len(rows):
        return best
    tied = np.abs(posterior[rows] - top[rows, None]) <= tolerance[rows, None]
    cols = np.arange(k) if order is None else np.asarray(order)
    options = tied[:, cols]  # tied labels of the tied rows, in tie order
    n_options = options.sum(axis=1)
    row_keys = keys.take(rows) if hasattr(keys, "take") else np.asarray(keys)[rows]
    choice = (np.asarray(row_keys, dtype=np.uint64)
              % n_options.astype(np.uint64)).astype(np.int64)
    # the (choice + 1)-th tied label of each row
    at = np.argmax(np.cumsum(options, axis=1) > choice[:, None], axis=1)
    best[rows] = cols[at]
    return best


class Aggregator(BaseEstimator):
    """Base estimator (scikit-learn's contract): ``fit(judgements) -> self``; then
    ``labels_`` (Series by item), ``probas_`` (DataFrame items x labels, rows sum to 1).
    Subclasses take their hyperparameters in ``__init__`` (stored as given, nothing else),
    implement ``_fit(enc) -> posterior`` and may set ``skills_`` / ``errors_``.

    Results keep the caller's types: they are indexed by the item ids as given (``1``
    stays the integer 1), labels come back as the label column holds them (or as given in
    ``labels``), and annotator-indexed results use the annotator ids as given.
    """

    seed: int = 0
    labels: list | None = None

    def fit(self, judgements: pd.DataFrame) -> Aggregator:
        self._check_params()
        enc = encode(judgements, self.labels)
        posterior = self._fit(enc)
        self._set_result(enc, posterior)
        return self

    def _check_params(self) -> None:
        """Validate the hyperparameters when ``fit`` starts (subclasses extend this)."""
        seed = getattr(self, "seed", 0)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise LabelquorumError(f"seed must be an integer; got {seed!r}")
        labels = getattr(self, "labels", None)
        if labels is None:
            return
        if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
            raise LabelquorumError(f"labels must be a list of labels (or None for the labels "
                                   f"seen); got {labels!r}")
        names = [label_text(v) for v in labels]
        if not names or len(set(names)) < len(names):
            raise LabelquorumError(f"labels must be a non-empty list of distinct labels; got "
                                   f"{list(labels)!r}")

    def _fit(self, enc: Encoded) -> np.ndarray:
        raise NotImplementedError

    def _set_result(self, enc: Encoded, posterior: np.ndarray) -> None:
        index = enc.item_ids.rename("item")
        best = self.__dict__.pop("_best", None)  # a _fit that picked already
        if best is None:
            best = pick(posterior, enc.tie_keys(self.seed), enc.tie_order())
        self.labels_ = pd.Series(enc.label_values.take(best), index=index, name="label")
        self.probas_ = pd.DataFrame(posterior, index=index, columns=enc.label_values,
                                    copy=False)  # the posterior is ours: no copy
        self.encoded_ = enc

    def fit_predict(self, judgements: pd.DataFrame) -> pd.Series:
        return self.fit(judgements).labels_

    def fit_predict_proba(self, judgements: pd.DataFrame) -> pd.DataFrame:
        return self.fit(judgements).probas_
