"""The conformance kit for annotator backends (see :mod:`labelquorum.testing`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..annotators.base import Annotator, Answers, Items
from ..errors import LabelquorumError
from .base import ConformanceError

STATUSES = ("ok", "abstain", "failed")
FitData = tuple[Sequence[str], Sequence[Any]]


def ask(annotator: Annotator, items: Items, *, check: str = "ask") -> Answers:
    """Answers for ``items`` as a run gets them; any exception becomes a ConformanceError."""
    try:
        if not annotator.io_bound:
            return annotator.annotate(items)
        limit = asyncio.Semaphore(annotator.concurrency) if len(items) else None

        async def one(i: int) -> Answers:
            async with limit:
                return await annotator.aannotate_one(items.take([i]))

        async def every() -> list[Answers]:
            try:
                return list(await asyncio.gather(*(one(i) for i in range(len(items)))))
            finally:
                await annotator.aclose()  # its connections belong to this loop

        parts = asyncio.run(every()) if len(items) else []
        if not parts:
            return Answers(labels=[], status=[])
        return Answers.concat(parts, len(annotator.task.labels))
    except ConformanceError:
        raise
    except Exception as exc:
        raise ConformanceError(check, f"annotator {annotator.name!r} raised "
                               f"{type(exc).__name__}: {exc}") from exc


def _compare(check: str, items: Items, first: Answers, then: Answers, atol: float,
             positions: Sequence[int] | None = None) -> None:
    """Raise unless ``then[j]`` equals ``first[positions[j]]`` (identity without positions)."""
    positions = list(range(len(first))) if positions is None else list(positions)
    if len(then) != len(positions):
        raise ConformanceError(check, f"{len(then)} answers the second time, "
                               f"{len(positions)} expected")
    for j, i in enumerate(positions):
        diffs = []
        if first.status[i] != then.status[j]:
            diffs.append(f"status {first.status[i]!r} then {then.status[j]!r}")
        if first.labels[i] != then.labels[j]:
            diffs.append(f"label {first.labels[i]!r} then {then.labels[j]!r}")
        for attr in ("probs", "confidence", "cost"):
            a, b = getattr(first, attr), getattr(then, attr)
            if (a is None) != (b is None):
                diffs.append(f"{attr} given one time only")
            elif a is not None and not np.allclose(a[i], b[j], rtol=0, atol=atol,
                                                   equal_nan=True):
                diffs.append(f"{attr} {a[i]} then {b[j]}")
        if diffs:
            raise ConformanceError(check, "; ".join(diffs), items.ids[i])


def _need_two(items: Items) -> None:
    if len(items) < 2:
        raise ValueError(f"the conformance checks need at least two items; got {len(items)}.")


def check_answer_count(annotator: Annotator, items: Items) -> None:
    """Exactly one answer per item: every column the annotator fills has one row per item."""
    check, n = "answer_count", len(items)
    answers = ask(annotator, items, check=check)
    columns = {"labels": answers.labels, "status": answers.status, "probs": answers.probs,
               "confidence": answers.confidence, "cost": answers.cost,
               "latency": answers.latency, "errors": answers.errors}
    for name, column in columns.items():
        if column is not None and len(column) != n:
            raise ConformanceError(check, f"{len(column)} {name} for {n} items")
    if answers.probs is not None and answers.probs.shape != (n, len(annotator.task.labels)):
        raise ConformanceError(check, f"probs have shape {answers.probs.shape}, expected "
                               f"{(n, len(annotator.task.labels))} (items x task labels)")


def check_order_invariance(annotator: Annotator, items: Items, *, atol: float = 1e-6) -> None:
    """Shuffled items get correspondingly shuffled answers."""
    _need_two(items)
    check = "order_invariance"
    perm = np.random.default_rng(0).permutation(len(items))
    if (perm == np.arange(len(items))).all():
        perm = perm[::-1]
    first = ask(annotator, items, check=check)
    _compare(check, items, first, ask(annotator, items.take(perm), check=check), atol, perm)


def check_labels_in_label_set(annotator: Annotator, items: Items) -> None:
    """An ok answer is a value of the task in its canonical form: what the task kind
    parses it to (:meth:`TaskKind.parse`, given the item's text where the kind reads it) —
    a task label; for multilabel a tuple of distinct task labels in label order; for spans
    sorted ``(start, end, type)`` triples inside the item's text, types from the task."""
    check, task = "labels_in_label_set", annotator.task
    kind = task.strategy
    answers = ask(annotator, items, check=check)
    for item, label, status in zip(items.ids, answers.labels, answers.status):
        if label is None:
            continue
        text = items.texts[items.ids.index(item)] if kind.needs_text else None
        try:
            parsed = kind.parse(task, label, text)
            good = type(parsed) is type(label) and parsed == label
        except LabelquorumError:
            good = False
        if not good:
            raise ConformanceError(check, f"label {label!r} (status {status!r}) is not a "
                                   f"canonical {task.kind} value with labels in the label set "
                                   f"({', '.join(task.labels)})", item)


def check_status(annotator: Annotator, items: Items) -> None:
    """Status is ok (with a label), abstain (no label) or failed (no label, an error)."""
    check = "status"
    answers = ask(annotator, items, check=check)
    errors = answers.errors or [None] * len(items)
    for item, label, status, error in zip(items.ids, answers.labels, answers.status, errors):
        if status not in STATUSES:
            raise ConformanceError(check, f"status {status!r} is not one of "
                                   f"{', '.join(STATUSES)}", item)
        if (status == "ok") != (label is not None):
            raise ConformanceError(check, f"status {status!r} with label {label!r}", item)
        if (status == "failed") != (error is not None):
            raise ConformanceError(check, f"status {status!r} with error {error!r}", item)
        if status == "failed" and not (isinstance(error, str) and error.strip()):
            raise ConformanceError(check, "a failed answer needs an error message", item)


def check_probabilities(annotator: Annotator, items: Items) -> None:
    """Given probabilities (a row not all NaN) are finite, in [0, 1], and sum to 1 per item
    for classification (multilabel: each label's probability is in [0, 1])."""
    check = "probabilities"
    probs = ask(annotator, items, check=check).probs
    if probs is None:
        return
    for item, row in zip(items.ids, np.asarray(probs, dtype=float)):
        if np.isnan(row).all():
            continue
        if not np.isfinite(row).all() or (row < 0).any() or (row > 1).any():
            raise ConformanceError(check, f"probabilities {row} are not all finite and in "
                                   "[0, 1]", item)
        if not annotator.task.multilabel and not np.isclose(row.sum(), 1.0, atol=1e-6):
            raise ConformanceError(check, f"probabilities {row} sum to {row.sum():.6g}, "
                                   "not 1", item)


def check_confidence(annotator: Annotator, items: Items) -> None:
    """A given confidence (not NaN) is in [0, 1]."""
    check = "confidence"
    confidence = ask(annotator, items, check=check).confidence
    if confidence is None:
        return
    for item, value in zip(items.ids, np.asarray(confidence, dtype=float)):
        if not np.isnan(value) and not 0.0 <= value <= 1.0:
            raise ConformanceError(check, f"confidence {value!r} is not in [0, 1]", item)


def check_costs(annotator: Annotator, items: Items) -> None:
    """Every cost is finite and non-negative; a given latency (not NaN) is non-negative."""
    check = "costs"
    answers = ask(annotator, items, check=check)
    if answers.cost is None:
        raise ConformanceError(check, "no costs (the base fills them; was finish() skipped?)")
    for item, cost in zip(items.ids, np.asarray(answers.cost, dtype=float)):
        if not np.isfinite(cost) or cost < 0:
            raise ConformanceError(check, f"cost {cost!r} is not finite and non-negative", item)
    latency = answers.latency if answers.latency is not None else []
    for item, value in zip(items.ids, np.asarray(latency, dtype=float)):
        if value < 0 or np.isinf(value):
            raise ConformanceError(check, f"latency {value!r} is negative or infinite", item)


def check_repeatable(annotator: Annotator, items: Items, *, atol: float = 1e-6) -> None:
    """Asking the same instance twice gives the same answers."""
    check = "repeatable"
    first = ask(annotator, items, check=check)
    _compare(check, items, first, ask(annotator, items, check=check), atol)


def check_batching_invariance(annotator: Annotator, items: Items, *, atol: float = 1e-6) -> None:
    """Answers do not depend on the batch: all items at once equals one item per call."""
    _need_two(items)
    check = "batching_invariance"
    whole = ask(annotator, items, check=check)
    singles = [ask(annotator, items.take([i]), check=check) for i in range(len(items))]
    _compare(check, items, whole, Answers.concat(singles, len(annotator.task.labels)), atol)


def check_fit(annotator: Annotator, items: Items, fit_data: FitData, *,
              atol: float = 1e-6) -> None:
    """``fit`` returns the annotator itself, and refitting on the same data changes nothing."""
    check = "fit"
    texts, labels = list(fit_data[0]), list(fit_data[1])
    if annotator.fit(texts, labels) is not annotator:
        raise ConformanceError(check, "fit() must return the annotator itself (self)")
    first, version = ask(annotator, items, check=check), annotator.version
    annotator.fit(texts, labels)
    if annotator.version != version:
        raise ConformanceError(check, f"refitting on the same data changed the version "
                               f"from {version!r} to {annotator.version!r}")
    _compare(check, items, first, ask(annotator, items, check=check), atol)


def check_fresh_instances_agree(make: Callable[[], Annotator], items: Items, *,
                                fit_data: FitData | None = None, atol: float = 1e-6) -> None:
    """Two instances built alike (same seed, fitted on the same data) answer alike."""
    check = "fresh_instances_agree"
    a, b = make(), make()
    if a is b:
        raise ConformanceError(check, "the factory returned the same instance twice")
    for annotator in (a, b):
        if fit_data is not None and annotator.trainable:
            annotator.fit(list(fit_data[0]), list(fit_data[1]))
    if a.version != b.version:
        raise ConformanceError(check, f"versions differ: {a.version!r} and {b.version!r}")
    _compare(check, items, ask(a, items, check=check), ask(b, items, check=check), atol)


def check_annotator(annotator: Annotator, items: Items, *, fit_data: FitData | None = None,
                    atol: float = 1e-6) -> None:
    """Run every single-instance check on ``annotator`` over ``items`` (at least two).

    ``fit_data`` is ``(texts, labels)`` to train a trainable annotator on first (labels in
    task form: a label, or a tuple of labels for multilabel). ``atol`` is the tolerance on
    probabilities, confidence and cost when answers are compared; labels and statuses must
    match exactly. Raises :class:`ConformanceError` at the first broken check.
    """
    _need_two(items)
    if fit_data is not None and annotator.trainable:
        check_fit(annotator, items, fit_data, atol=atol)
    check_answer_count(annotator, items)
    check_status(annotator, items)
    check_labels_in_label_set(annotator, items)
    check_probabilities(annotator, items)
    check_confidence(annotator, items)
    check_costs(annotator, items)
    check_repeatable(annotator, items, atol=atol)
    check_order_invariance(annotator, items, atol=atol)
    check_batching_invariance(annotator, items, atol=atol)


def check_annotator_factory(make: Callable[[], Annotator], items: Items, *,
                            fit_data: FitData | None = None, atol: float = 1e-6) -> None:
    """:func:`check_annotator` on one instance from ``make``, then check that two more fresh
    instances (each fitted on ``fit_data`` when trainable) give identical answers.

    ``make`` builds a new annotator with the same config, task and seed on every call.
    """
    check_annotator(make(), items, fit_data=fit_data, atol=atol)
    check_fresh_instances_agree(make, items, fit_data=fit_data, atol=atol)
