"""Agreement per item (with its majority) and per annotator (with a consensus)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..aggregation.base import label_text
from ..errors import AgreementError
from ._common import encode_for_agreement


def item_agreement(judgements: pd.DataFrame) -> pd.Series:
    """Per item, the share of its judgements that give its majority label:
    ``max_k n_ik / m_i``, in (0, 1]; 1.0 for a unanimous item (and for an item with one
    judgement). Ties do not matter: the share is that of any of the tied labels.

    Returns a Series indexed by item (as text, sorted), named ``agreement``.
    """
    enc = encode_for_agreement(judgements, "item_agreement")
    counts = enc.counts()
    share = counts.max(axis=1) / counts.sum(axis=1)
    return pd.Series(share, index=pd.Index(enc.items, name="item"), name="agreement")


def annotator_agreement(judgements: pd.DataFrame, consensus: pd.Series) -> pd.Series:
    """Per annotator, the share of their judgements that equal the consensus label of the
    item, over the items the consensus covers. ``consensus`` is a Series of labels indexed
    by item, such as an aggregator's ``labels_``; labels compare as text (``1 == "1"``).

    Returns a Series indexed by annotator, named ``agreement``; NaN for an annotator with no
    judgement on a consensus item.

    Raises :class:`~labelquorum.errors.AgreementError` when ``consensus`` is not a Series or
    shares no item with the table.
    """
    enc = encode_for_agreement(judgements, "annotator_agreement")
    if not isinstance(consensus, pd.Series):
        raise AgreementError(f"annotator_agreement expects the consensus as a pandas Series of "
                             f"labels indexed by item (an aggregator's labels_); got "
                             f"{type(consensus).__name__}")
    consensus = consensus[consensus.notna()]
    truth = pd.Series(consensus.map(label_text).to_numpy(),
                      index=consensus.index.map(str)).groupby(level=0).last()
    per_item = truth.reindex(enc.items).to_numpy(dtype=object)
    covered = pd.notna(per_item)
    if not covered.any():
        raise AgreementError(
            f"the consensus shares no item with the judgement table (consensus items such as "
            f"{list(truth.index[:3])}; table items such as {list(enc.items[:3])}); index the "
            "consensus Series by the table's item ids.")
    names = np.asarray(enc.labels, dtype=object)
    on = covered[enc.item]
    hit = (names[enc.label[on]] == per_item[enc.item[on]]).astype(float)
    judged = np.bincount(enc.worker[on], minlength=enc.n_workers).astype(float)
    agreed = np.bincount(enc.worker[on], weights=hit, minlength=enc.n_workers)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(judged > 0, agreed / judged, np.nan)
    return pd.Series(share, index=pd.Index(enc.workers, name="annotator"), name="agreement")
