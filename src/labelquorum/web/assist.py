"""The model in the loop for people (MILO): an on-demand assistant and an answer judge.

Both are optional callables handed to :func:`labelquorum.web.create_app`; without them
the assistant button is hidden and no judge scores are written, and the pages say so.
The LLM layer provides them once it is configured; anything that fits the signature
works (tests pass plain functions).

``Assistant(item_fields, task) -> Advice``
    asked when a person presses "Ask the assistant": a suggested label, a short rationale,
    and the cost of the call; the web app logs it to ``model_calls`` (annotator
    ``web:assistant``) with that cost.

``Judge(item_fields, task, label) -> Verdict``
    called after a person's answer is stored (after the response is sent): a score (1-5
    from the LLM judge) of the answer against the
    guidelines' rubric, with a note and the call's cost (logged as ``web:judge``). It is
    stored beside the answer and shown to reviewers; it never becomes a label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..task import Task


@dataclass(frozen=True)
class Advice:
    """``label`` is None when the model gave no label of the task (``rationale`` says so)."""

    label: str | None
    rationale: str = ""
    cost: float = 0.0
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


@dataclass(frozen=True)
class Verdict:
    score: float
    note: str = ""
    cost: float = 0.0
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


def log_call(store, annotator: str, item_id: str, response: dict[str, Any], cost: float,
             latency: float, result: Any = None, error: str | None = None) -> None:
    """Record an assistant or judge call in ``model_calls``, with its cost, as every
    model call is (the LLM layer adds tokens and the model's name when it makes the call)."""
    from datetime import UTC, datetime

    from ..store import schema

    with store.begin() as conn:
        conn.execute(schema.model_calls.insert().values(
            project_id=store.project_id, request_key=None, annotator=annotator,
            model=getattr(result, "model", None), request={"item": item_id},
            response=response, tokens_in=getattr(result, "tokens_in", None),
            tokens_out=getattr(result, "tokens_out", None), cost=float(cost),
            latency=float(latency), cache_key=None, error=error,
            created=datetime.now(UTC)))


Assistant = Callable[[dict[str, Any], Task], Advice]
Judge = Callable[[dict[str, Any], Task, str], Verdict]

UNAVAILABLE = ("No LLM annotator is configured for this project, so the assistant and the "
               "judge are off.")
