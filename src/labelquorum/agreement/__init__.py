"""Agreement between annotators, over the long judgement table.

Every function takes the long table (``item, annotator, label``; or ``task, worker,
label``; or ``id, worker, label``), encoded as the aggregators encode it
(:func:`labelquorum.aggregation.base.encode`): duplicate (item, annotator) rows — the last
wins; missing labels are dropped; labels compare as text. :func:`to_wide` is the one wide
(items x annotators) view, and :func:`from_wide` turns such a matrix (say, Krippendorff's
reliability data, transposed) into the long table.

=========================== ======================================================
:func:`percent_agreement`    mean over items of the pairwise agreement
:func:`fleiss_kappa`         Fleiss (1971), any number of raters per item
:func:`cohen_kappa_matrix`   Cohen (1960) for every pair of annotators
:func:`light_kappa`          Light (1971): mean pairwise Cohen's kappa
:func:`krippendorff_alpha`   Krippendorff (2011): nominal/ordinal/interval/ratio
:func:`bootstrap_ci`         percentile interval for any of them, items resampled
:func:`item_agreement`       per item: share of judgements with the majority label
:func:`annotator_agreement`  per annotator: share agreeing with a consensus
:func:`summary`              the headline figures in one DataFrame
=========================== ======================================================

**Undefined values.** An empty table, a table with one annotator, or one where no item has
two judgements raises :class:`~labelquorum.errors.AgreementError` from every coefficient.
When every judgement carries the same label, the chance-corrected coefficients (kappas,
alpha) are 0/0; they **raise** ``AgreementError`` saying so, rather than return NaN, while
:func:`percent_agreement` returns 1.0. Inside a matrix (:func:`cohen_kappa_matrix`) an
undefined pair is NaN, and inside a bootstrap an undefined resample is left out.
"""

from __future__ import annotations

from ._common import Interval, from_wide, to_wide
from .bootstrap import bootstrap_ci, summary
from .cohen import cohen_kappa_matrix, light_kappa
from .consensus import annotator_agreement, item_agreement
from .fleiss import fleiss_kappa, percent_agreement
from .krippendorff import LEVELS, krippendorff_alpha

__all__ = [
    "LEVELS",
    "Interval",
    "annotator_agreement",
    "bootstrap_ci",
    "cohen_kappa_matrix",
    "fleiss_kappa",
    "from_wide",
    "item_agreement",
    "krippendorff_alpha",
    "light_kappa",
    "percent_agreement",
    "summary",
    "to_wide",
]
