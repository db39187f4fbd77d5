"""The annotator interface: anything that returns judgements, now or later.

A backend is one small class. Batched local models implement :meth:`Annotator.predict`
(a batch in, :class:`Answers` out); I/O-bound backends (LLM endpoints, simulated remote
annotators) set ``io_bound = True`` and implement :meth:`Annotator.apredict_one`, which the
run calls concurrently under the annotator's concurrency limit; people set
``deferred = True`` and answer through the store later. Batching, label mapping and
validation, cost accounting and latency live once, here, in :meth:`Annotator.annotate`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..kinds.base import TaskKind
from ..task import Task


class JsonRows(Sequence):
    """Item fields kept as JSON text and parsed only when an annotator reads them."""

    def __init__(self, raw: list[str]):
        self.raw = raw

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return JsonRows(self.raw[i])
        return json.loads(self.raw[i])

    def take(self, positions) -> JsonRows:
        return JsonRows([self.raw[i] for i in positions])


@dataclass(frozen=True)
class Items:
    """A batch of items handed to an annotator."""

    ids: list[str]
    fields: Sequence[dict[str, Any]]
    text_field: str = "text"

    @property
    def texts(self) -> list[str]:
        return [str(f.get(self.text_field, "")) for f in self.fields]

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, positions) -> Items:
        fields = (self.fields.take(positions) if isinstance(self.fields, JsonRows)
                  else [self.fields[i] for i in positions])
        return Items([self.ids[i] for i in positions], fields, self.text_field)


@dataclass
class Answers:
    """Columnar answers for a batch, in the batch's order.

    ``labels`` hold native outputs (mapped to task labels by the base through the
    annotator's ``label_map``); ``None`` means abstain. ``probs`` are in task-label order.
    ``errors`` marks failed calls (never labels).
    """

    labels: list[Any]
    probs: np.ndarray | None = None
    confidence: np.ndarray | None = None
    cost: np.ndarray | None = None
    latency: np.ndarray | None = None
    errors: list[str | None] | None = None
    calls: list[Any] | None = None
    """Per item: one call-log dict, a list of them (one per HTTP call), or None."""
    methods: list[str | None] | None = None
    """Per item: how its confidence was found (logprobs, self-consistency, verbalized...)."""
    status: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def concat(cls, parts: list[Answers], n_labels: int) -> Answers:
        def cat(attr, fill):
            if all(getattr(p, attr) is None for p in parts):
                return None
            return np.concatenate([getattr(p, attr) if getattr(p, attr) is not None
                                   else fill(len(p)) for p in parts])

        def join(attr):
            if all(getattr(p, attr) is None for p in parts):
                return None
            return [x for p in parts for x in (getattr(p, attr) or [None] * len(p))]

        return cls(
            labels=[x for p in parts for x in p.labels],
            probs=cat("probs", lambda n: np.full((n, n_labels), np.nan)),
            confidence=cat("confidence", lambda n: np.full(n, np.nan)),
            cost=cat("cost", np.zeros), latency=cat("latency", lambda n: np.full(n, np.nan)),
            errors=join("errors"), calls=join("calls"), methods=join("methods"),
            status=[x for p in parts for x in p.status],
        )

    def take(self, rows: list[int]) -> Answers:
        """The answers of the given rows, in that order."""
        def pick(values):
            if values is None:
                return None
            if isinstance(values, np.ndarray):
                return values[rows]
            return [values[i] for i in rows]

        return Answers(labels=[self.labels[i] for i in rows], probs=pick(self.probs),
                       confidence=pick(self.confidence), cost=pick(self.cost),
                       latency=pick(self.latency), errors=pick(self.errors),
                       calls=pick(self.calls), methods=pick(self.methods),
                       status=[self.status[i] for i in rows])


@dataclass(frozen=True)
class Context:
    """What an annotator may know about its project."""

    project_dir: Path
    seed: int = 0
    media_root: str = "media"  # relative to project_dir: where item images may live


class Annotator:
    """Base of every annotator backend.

    Subclasses set ``kind`` (model, llm, human, rules, replay, simulated) and implement
    ``predict`` (batched) or ``apredict_one`` (``io_bound``). Trainable ones set
    ``trainable = True`` and implement ``fit(texts, labels)``.
    """

    kind: ClassVar[str] = "model"
    trainable: ClassVar[bool] = False
    io_bound: ClassVar[bool] = False
    deferred: ClassVar[bool] = False
    simulated: ClassVar[bool] = False
    uses_cache: ClassVar[bool] = False  # the run attaches a CallCache (paid model calls)

    def __init__(self, name: str, config: Any, task: Task, context: Context):
        self.name = name
        self.config = config
        self.task = task
        self.context = context
        self.training_fingerprint = ""
        self.note: str | None = None  # a line for the run report (e.g. "too few labels")
        self.run_note: str | None = None  # a line learnt while running (e.g. a dead server)
        self.cache = None  # a CallCache, attached by the run for backends that use one

    # -- identity and cost -------------------------------------------------------------
    @property
    def version(self) -> str:
        """Hash of everything that changes this annotator's answers."""
        # where it runs (gpus) changes no answer
        config = self.config.model_dump(mode="json", exclude={"gpus"})
        payload = json.dumps({"config": config,
                              "labels": self.task.labels, "kind": self.task.kind,
                              "training": self.training_fingerprint}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:16]

    @property
    def max_cost(self) -> float:
        """The most asking about one item can cost, whatever the item; what is reserved
        where no items are at hand."""
        return float(self.config.cost_per_call)

    def reserve(self, items: Items) -> np.ndarray:
        """Per item, the most asking about it can cost (USD), reserved against the budget
        before it is asked; the item's settled cost (``Answers.cost``) never exceeds it.

        By default every item reserves :attr:`max_cost`; backends whose cost depends on
        the item (an LLM prompt's length) override it with a tighter bound."""
        return np.full(len(items), float(self.max_cost))

    @property
    def batch_size(self) -> int:
        return int(self.config.batch_size)

    @property
    def concurrency(self) -> int:
        return int(self.config.concurrency)

    def estimate(self, items: Items) -> list[tuple[int, int, float]]:
        """(input tokens, output tokens, cost) each item would cost, without asking.

        Used by ``labelquorum plan``; token-priced backends override it."""
        return [(0, 0, self.max_cost)] * len(items)

    def call_rows(self, answers: Answers) -> list[list[dict[str, Any]]]:
        """Per item, the model-call log rows of its answer (cost, latency, error filled in).

        A backend reports each item's calls as one dict or a list of dicts (one per HTTP
        call, re-asks and samples included); a dict without its own ``cost`` / ``latency``
        gets the item's, and the last call of a failed item carries the item's error."""
        out: list[list[dict[str, Any]]] = []
        calls = answers.calls or [None] * len(answers.labels)
        errors = answers.errors or [None] * len(answers.labels)
        for i, c in enumerate(calls):
            if c is None:
                out.append([])
                continue
            group = c if isinstance(c, list) else [c]
            rows = []
            for n, call in enumerate(group):
                single = len(group) == 1
                rows.append({
                    "model": call.get("model"), "request": call.get("request"),
                    "response": call.get("response", call),
                    "tokens_in": call.get("tokens_in"), "tokens_out": call.get("tokens_out"),
                    "cost": float(call["cost"]) if "cost" in call else
                    (float(answers.cost[i]) if single else 0.0),
                    "latency": float(call["latency"]) if "latency" in call else
                    (float(answers.latency[i]) if single else None),
                    "cache_key": call.get("cache_key"),
                    "error": call.get("error") or (errors[i] if n == len(group) - 1 else None)})
            out.append(rows)
        return out

    # -- what backends implement -------------------------------------------------------
    def fit(self, texts: list[str], labels: list[Any]) -> Annotator:
        return self

    def predict(self, items: Items) -> Answers:
        raise NotImplementedError(f"{type(self).__name__} implements neither predict nor "
                                  "apredict_one")

    async def apredict_one(self, items: Items) -> Answers:
        """Answer a batch of one item (I/O-bound backends)."""
        return self.predict(items)

    async def aclose(self) -> None:
        """Release what belongs to the current event loop (HTTP connections); the run calls
        it before the loop ends."""

    # -- what the run calls ------------------------------------------------------------
    def annotate(self, items: Items) -> Answers:
        """Answer a batch synchronously, in slices of ``batch_size``."""
        parts = []
        for start in range(0, len(items), self.batch_size):
            batch = items.take(range(start, min(start + self.batch_size, len(items))))
            t0 = time.perf_counter()
            answers = self.predict(batch)
            elapsed = time.perf_counter() - t0
            if answers.latency is None:
                answers.latency = np.full(len(batch), elapsed / max(len(batch), 1))
            parts.append(self._check_spans(self.finish(answers, len(batch)), batch))
        if not parts:
            return Answers(labels=[], status=[])
        return Answers.concat(parts, len(self.task.labels))

    async def aannotate_one(self, items: Items) -> Answers:
        t0 = time.perf_counter()
        try:
            answers = await self.apredict_one(items)
        except Exception as exc:  # noqa: BLE001 - a failing item never blocks the run
            answers = Answers(labels=[None], errors=[f"{type(exc).__name__}: {exc}"])
        if answers.latency is None:
            answers.latency = np.array([time.perf_counter() - t0])
        return self._check_spans(self.finish(answers, 1), items)

    def finish(self, answers: Answers, n: int) -> Answers:
        """Map native labels, validate them, fill cost and status."""
        if len(answers.labels) != n:
            raise ValueError(f"annotator {self.name!r} returned {len(answers.labels)} answers "
                             f"for {n} items")
        errors = list(answers.errors) if answers.errors is not None else [None] * n
        labels: list[Any] = []
        mapping = self.config.label_map
        for i, raw in enumerate(answers.labels):
            if raw is None or errors[i] is not None:
                labels.append(None)
                continue
            raw = self.task.strategy.rename(self.task, raw, mapping)
            try:
                labels.append(self.task.parse_label(raw))
            except Exception as exc:  # noqa: BLE001 - an unknown label is a failed call
                labels.append(None)
                errors[i] = f"answer outside the label set: {exc}"
        answers.labels = labels
        answers.errors = errors
        answers.status = ["failed" if e is not None else ("ok" if lab is not None else "abstain")
                          for lab, e in zip(labels, errors)]
        if answers.cost is None:  # a failed call with no reported cost is not charged
            answers.cost = np.array([0.0 if e is not None else self.max_cost for e in errors])
        return answers

    def _check_spans(self, answers: Answers, items: Items) -> Answers:
        """An answer the task kind finds wrong for its item (spans past the end of the
        text) is a failed call (:meth:`TaskKind.check_answer`)."""
        kind = self.task.strategy
        if type(kind).check_answer is TaskKind.check_answer:
            return answers
        for i, (label, text) in enumerate(zip(answers.labels, items.texts)):
            why = None if label is None else kind.check_answer(self.task, label, text)
            if why is not None:
                answers.labels[i] = None
                answers.errors[i] = why
                answers.status[i] = "failed"  # its cost stands: the call was made
        return answers

    def describe(self) -> str:
        return f"{self.name} ({self.config.type}{', simulated' if self.simulated else ''})"


def spread_confidence(labels: list[Any], confidence: np.ndarray, task: Task) -> np.ndarray:
    """Per-label probabilities from a label and a confidence (see
    :meth:`TaskKind.probs`); an all-NaN matrix for a value kind's task."""
    probs = task.strategy.probs(task, labels, confidence)
    return np.full((len(labels), len(task.labels)), np.nan) if probs is None else probs