"""Shared plumbing: encoding a table for agreement, the checks every coefficient makes, the
wide view, and the registry that lets ``bootstrap_ci`` resample a metric by item weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..aggregation.base import Encoded, encode, find_columns
from ..errors import AgreementError


class Interval(NamedTuple):
    """A point estimate and its bootstrap percentile interval; unpacks as a 3-tuple."""

    estimate: Any
    low: Any
    high: Any


@dataclass
class Counts:
    """The table as per-item label counts: what every coefficient here is computed from.

    ``counts[i, k]`` is the number of judgements giving item ``i`` label ``k``; ``m`` is the
    number of judgements per item. Item order is ``enc.items``.
    """

    enc: Encoded
    counts: np.ndarray  # (n_items, n_labels) float
    m: np.ndarray  # (n_items,) float

    @property
    def n_items(self) -> int:
        return self.enc.n_items


def encode_for_agreement(judgements: pd.DataFrame, what: str) -> Encoded:
    """Encode the long table, refusing an empty one with a sentence (not a pandas error)."""
    if not isinstance(judgements, pd.DataFrame):
        raise AgreementError(f"{what} expects a pandas DataFrame of judgements (long format: "
                             f"item, annotator, label); got {type(judgements).__name__}. "
                             "A wide items x annotators table converts with from_wide().")
    if judgements.empty:
        raise AgreementError(f"{what} got an empty judgement table; it needs rows of "
                             "item, annotator, label from at least two annotators.")
    return encode(judgements)


def count_table(judgements: pd.DataFrame, what: str, *, need_variation: bool = True) -> Counts:
    """Encode and check what a chance-corrected coefficient needs: two annotators, an item
    with two judgements, and (``need_variation``) more than one label among such items."""
    enc = encode_for_agreement(judgements, what)
    require_two_annotators(enc, what)
    counts = enc.counts()
    m = counts.sum(axis=1)
    pairable = m >= 2
    if not pairable.any():
        raise AgreementError(f"{what} needs at least one item labelled by two or more "
                             f"annotators; each of the {enc.n_items} items has one judgement.")
    if need_variation:
        used = np.flatnonzero(counts[pairable].sum(axis=0) > 0)
        if len(used) < 2:
            raise AgreementError(
                f"{what} is undefined when every judgement has the same label "
                f"({enc.labels[used[0]]!r}): the agreement expected by chance is then 1, "
                "so there is nothing to correct for. Percent agreement (1.0 here) is defined.")
    return Counts(enc, counts, m)


def require_two_annotators(enc: Encoded, what: str) -> None:
    if enc.n_workers < 2:
        raise AgreementError(f"{what} needs judgements from at least two annotators; the "
                             f"table has only {enc.workers[0]!r}.")


def ratio_or_nan(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with NaN where ``den`` is 0 (an undefined resample)."""
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


# --- the wide view ------------------------------------------------------------------------

def to_wide(judgements: pd.DataFrame) -> pd.DataFrame:
    """The one wide view: items (rows) x annotators (columns), NaN where an annotator gave
    no label. Values are the labels as given; duplicate (item, annotator) rows: last wins."""
    if not isinstance(judgements, pd.DataFrame):
        raise AgreementError(f"to_wide expects a pandas DataFrame, got {type(judgements).__name__}")
    item, annotator, label = find_columns(judgements)
    df = judgements[[item, annotator, label]]
    df = df[df[label].notna()].drop_duplicates([item, annotator], keep="last")
    wide = df.pivot(index=item, columns=annotator, values=label)
    wide.index.name, wide.columns.name = "item", "annotator"
    return wide


def from_wide(wide: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    """A wide items x annotators table (NaN = no label) as the long table
    ``item, annotator, label``. A bare array gets items ``0..n-1`` and annotators ``0..m-1``.

    Krippendorff's "reliability data" is annotators x units: pass its transpose.
    """
    if isinstance(wide, np.ndarray):
        if wide.ndim != 2:
            raise AgreementError(f"from_wide expects a 2-d items x annotators array; got "
                                 f"{wide.ndim} dimensions")
        wide = pd.DataFrame(wide)
    if not isinstance(wide, pd.DataFrame):
        raise AgreementError(f"from_wide expects a DataFrame or 2-d array, got "
                             f"{type(wide).__name__}")
    long = wide.rename_axis(index="item", columns="annotator").stack(future_stack=True)
    long = long[long.notna()].rename("label").reset_index()
    return long[["item", "annotator", "label"]]


# --- the registry bootstrap_ci uses ------------------------------------------------------

@dataclass
class Kernel:
    """How to bootstrap one metric: ``prepare(judgements, **options) -> state`` once, then
    ``evaluate(state, weights) -> values`` where ``weights`` is (B, n_items) item weights
    (bootstrap multiplicities) and ``values`` has the metric for each of the B rows."""

    prepare: Callable[..., Any]
    evaluate: Callable[[Any, np.ndarray], np.ndarray]
    n_items: Callable[[Any], int]
    wrap: Callable[[Any, np.ndarray], Any] = lambda state, value: float(value)
    max_batch: int | None = None


KERNELS: dict[Callable, Kernel] = {}


def bootstrappable(kernel: Kernel):
    """Register ``kernel`` for the decorated public metric."""

    def register(func):
        KERNELS[func] = kernel
        return func

    return register
