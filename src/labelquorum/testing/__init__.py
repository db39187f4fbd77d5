"""Conformance kits for annotator backends and aggregators, in the spirit of scikit-learn's
``check_estimator``.

Every built-in backend passes it, and a third party's should too::

    from labelquorum.testing import check_annotator_factory

    check_annotator_factory(lambda: MyAnnotator("mine", config, task, Context(tmp, seed=0)),
                            items, fit_data=(texts, labels))

:func:`check_annotator` runs every check that needs one instance;
:func:`check_annotator_factory` adds the one that needs fresh instances (two built alike
answer alike). Each check is also a public function. They ask the way a run does — through
:meth:`Annotator.annotate`, or :meth:`Annotator.aannotate_one` per item for ``io_bound``
backends — so label mapping, validation and cost from the base are part of what is checked.
A failure raises :class:`ConformanceError`, which names the check and the offending item.
The kit calls ``asyncio.run`` for ``io_bound`` backends, so call it outside an event loop.
"""

from __future__ import annotations

from .aggregators import (
    check_aggregator,
    check_aggregator_bad_input,
    check_aggregator_clone,
    check_aggregator_edge_cases,
    check_aggregator_finite,
    check_aggregator_probabilities,
    check_aggregator_refit,
    check_aggregator_renaming,
    check_aggregator_row_order,
    check_aggregator_types,
    check_aggregator_unanimous,
    crowd_table,
)
from .annotators import (
    ask,
    check_annotator,
    check_annotator_factory,
    check_answer_count,
    check_batching_invariance,
    check_confidence,
    check_costs,
    check_fit,
    check_fresh_instances_agree,
    check_labels_in_label_set,
    check_order_invariance,
    check_probabilities,
    check_repeatable,
    check_status,
)
from .base import ConformanceError

__all__ = [
    "ConformanceError", "ask", "check_aggregator", "check_aggregator_bad_input",
    "check_aggregator_clone", "check_aggregator_edge_cases", "check_aggregator_finite",
    "check_aggregator_probabilities", "check_aggregator_refit", "check_aggregator_renaming",
    "check_aggregator_row_order", "check_aggregator_types", "check_aggregator_unanimous",
    "check_annotator", "check_annotator_factory", "check_answer_count",
    "check_batching_invariance", "check_confidence", "check_costs", "check_fit",
    "check_fresh_instances_agree", "check_labels_in_label_set", "check_order_invariance",
    "check_probabilities", "check_repeatable", "check_status", "crowd_table",
]
