"""The JSON API (``/api``): what the annotation page's script and people's scripts call.

Every endpoint names its least role; errors come as ``{"error": {"code", "message"}}``.
Accounts and API tokens are in :mod:`.account_api`.
Annotators reach only their own leased items, by opaque ids; nothing here tells them an
item's id, its gold, or whether it is a golden question.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from ..errors import LabelquorumError, LlmError, WebError
from ..quality import mark_gold, pause_if_flagged
from .app import ANNOTATOR, REVIEWER, SIGNED_IN, Auth, WebApp
from .assist import UNAVAILABLE, log_call
from .dashboard import stats

router = APIRouter(prefix="/api")


def _web(request: Request) -> WebApp:
    return request.app.state.web



class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# a person's raw answer, read by the task kind (TaskKind.parse): a label, a number (rating),
# a list of labels (multilabel) or of [start, end, type] (spans)
Answer = str | StrictInt | StrictFloat | list[str] | list[tuple[int, int, str]]


class Submit(_Body):
    id: str = Field(min_length=1, max_length=64)
    label: Answer
    # the browser's time on the item: only a hint, which can lower the server's figure
    seconds: float | None = Field(None, ge=0, allow_inf_nan=False)


class ItemRef(_Body):
    id: str = Field(min_length=1, max_length=64)


class VisibilityBody(_Body):
    id: str = Field(min_length=1, max_length=64)
    hidden: bool


class CommentBody(_Body):
    id: str = Field(min_length=1, max_length=64)
    text: str = Field("", max_length=4000)
    flag: bool = False


class Adjudicate(_Body):
    label: Answer
    note: str = Field("", max_length=2000)


class GoldBody(_Body):
    label: Answer


def _labels(web: WebApp) -> list[dict[str, Any]]:
    return [{"name": n, "description": d} for n, d in zip(web.task.labels, web.task.descriptions)]


@router.get("/me")
def me(auth: Auth = SIGNED_IN):
    """Who is calling; for a browser session, also its CSRF token (scripts that log in
    through the form send it back as ``X-CSRF-Token``)."""
    return {"name": auth.user.name, "role": auth.user.role, "paused": auth.user.paused,
            "csrf": auth.csrf}


@router.get("/task")
def task_info(request: Request, auth: Auth = ANNOTATOR):
    web = _web(request)
    return {"kind": web.task.kind, "labels": _labels(web), "guidelines": web.task.guidelines,
            "fields": list(web.task.fields), "assistant": web.assistant is not None}


@router.get("/next")
def next_item(request: Request, after: str | None = Query(None, max_length=64),
              auth: Auth = ANNOTATOR):
    """The person's current item, or (``after``) the one after it, for preloading."""
    web = _web(request)
    web.assigner.sync_if_due()
    lease = web.assigner.next(auth.user, after=after)
    return {"item": None if lease is None else lease.to_json()}


@router.get("/progress")
def progress(request: Request, offset: int = Query(0, ge=-840, le=840),
             auth: Auth = ANNOTATOR):
    """Done today (from midnight at the caller's ``offset``, JavaScript's
    ``getTimezoneOffset``), done overall, and open tasks not yet given to the caller."""
    return _web(request).progress.of(auth.user, offset)


@router.post("/submit")
def submit(body: Submit, request: Request, background: BackgroundTasks,
           auth: Auth = ANNOTATOR):
    web = _web(request)
    judge = None if web.judge is None else _judge_hook(web, background)
    web.assigner.submit(auth.user, body.id, body.label, body.seconds, judge=judge)
    # after every answer alike: a check only after golden ones would time them apart
    if pause_if_flagged(web.project, auth.user.id):
        web.forget_user(auth.user.id)
    return {"ok": True}


@router.post("/visibility")
def visibility(body: VisibilityBody, request: Request, auth: Auth = ANNOTATOR):
    """The page showing this item became hidden or visible again (the page posts this on
    ``visibilitychange``): hidden time is left out of the time on the item."""
    _web(request).assigner.visibility(auth.user, body.id, body.hidden)
    return {"ok": True}


def _judge_hook(web: WebApp, background: BackgroundTasks):
    """Ask the judge after the response is sent: the person's answer is already stored, so
    a slow or failing LLM neither delays nor loses it."""
    def schedule(assigner, row, label):
        background.add_task(run, assigner.lease_of_row(row), row, label)

    def run(lease, row, label):
        from sqlalchemy import update

        from ..store import schema

        started = time.perf_counter()
        try:
            verdict = web.judge(lease.fields, web.task, label)
        except Exception as exc:  # noqa: BLE001 - a judge failure never loses the answer
            log_call(web.project.store, "web:judge", lease.item_id, {},
                     getattr(exc, "cost", 0.0), time.perf_counter() - started,
                     error=f"{type(exc).__name__}: {exc}"[:2000])
            return
        log_call(web.project.store, "web:judge", lease.item_id,
                 {"score": verdict.score, "note": verdict.note}, verdict.cost,
                 time.perf_counter() - started, result=verdict)
        a = schema.assignments
        with web.project.store.begin() as conn:
            conn.execute(update(a).where(a.c.id == row.id).values(
                judge_score=float(verdict.score), judge_note=str(verdict.note)[:2000]))
    return schedule


@router.post("/skip")
def skip(body: ItemRef, request: Request, auth: Auth = ANNOTATOR):
    _web(request).assigner.skip(auth.user, body.id)
    return {"ok": True}


@router.post("/undo")
def undo(request: Request, auth: Auth = ANNOTATOR):
    web = _web(request)
    public_id = web.assigner.undo(auth.user)
    return {"item": web.assigner.lease_of(auth.user, public_id).to_json()}


@router.post("/comment")
def comment(body: CommentBody, request: Request, auth: Auth = ANNOTATOR):
    web = _web(request)
    lease = web.assigner.lease_of(auth.user, body.id)
    web.review.comment(auth.user, lease.item_id, body.text, body.flag)
    return {"ok": True}


@router.post("/assist")
def assist(body: ItemRef, request: Request, auth: Auth = ANNOTATOR):
    web = _web(request)
    if web.assistant is None:
        raise WebError(UNAVAILABLE, status=503, code="assistant_unavailable")
    lease = web.assigner.lease_of(auth.user, body.id)
    started = time.perf_counter()
    try:
        advice = web.assistant(lease.fields, web.task)
    except LlmError as exc:
        log_call(web.project.store, "web:assistant", lease.item_id, {},
                 getattr(exc, "cost", 0.0), time.perf_counter() - started,
                 error=str(exc)[:2000])
        raise WebError(f"The assistant is unavailable: {exc}", status=503,
                       code="assistant_unavailable") from None
    log_call(web.project.store, "web:assistant", lease.item_id,
             {"label": advice.label, "rationale": advice.rationale}, advice.cost,
             time.perf_counter() - started, result=advice)
    out: dict[str, Any] = {"label": advice.label, "rationale": advice.rationale}
    # what the kind's widget shows of the advice (spans: the entities, to mark)
    out.update(web.task.strategy.view(web.task, advice.label,
                                      str(lease.fields.get(web.task.text_field) or "")))
    return out


# -- reviewers ---------------------------------------------------------------------------
@router.get("/review")
def review_queue(request: Request, offset: int = Query(0, ge=0),
                 limit: int = Query(50, ge=1, le=500),
                 show: str = Query("all", pattern="^(all|flagged|issues)$"),
                 auth: Auth = REVIEWER):
    """One page of the review backlog (``show=flagged``: items with open flags;
    ``show=issues``: likely label errors, the likeliest first) and the backlog's total."""
    page, total = _web(request).review.queue(offset, limit, flagged=show == "flagged",
                                             issues=show == "issues")
    return {"items": [{**row, "people": [{k: v for k, v in p.items() if k != "marks"}
                                         for p in row["people"]],
                       "models": [{k: v for k, v in m.items() if k != "marks"}
                                  for m in row["models"]],
                       "comments": [{**c, "created": c["created"].isoformat()}
                                    for c in row["comments"]]} for row in page],
            "total": total, "offset": offset, "limit": limit}


@router.get("/items")
def items(request: Request, max_confidence: float | None = Query(None, ge=0, le=1),
          disagreement: bool = False, annotator: str | None = Query(None, max_length=100),
          offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500),
          auth: Auth = REVIEWER):
    page, total = _web(request).review.browse(max_confidence=max_confidence,
                                              disagreement=disagreement, person=annotator,
                                              offset=offset, limit=limit)
    return {"items": page, "total": total}


@router.get("/items/{item_id}")
def item(item_id: str, request: Request, auth: Auth = REVIEWER):
    view = _web(request).review.item(item_id)
    return {"id": view.id, "fields": view.fields, "gold": view.gold,
            "gold_role": view.gold_role, "decision": view.decision, "people": view.people,
            "models": view.models, "comments": [
                {**c, "created": c["created"].isoformat()} for c in view.comments],
            "needs_review": view.reason, "open_flags": view.open_flags}


@router.post("/items/{item_id}/adjudicate")
def adjudicate(item_id: str, body: Adjudicate, request: Request,
               auth: Auth = REVIEWER):
    label = _web(request).review.adjudicate(auth.user, item_id, body.label, body.note)
    return {"ok": True, "label": label}


@router.post("/items/{item_id}/gold")
def gold(item_id: str, body: GoldBody, request: Request, auth: Auth = REVIEWER):
    web = _web(request)
    value = web.review.parse(web.review.item(item_id), body.label)  # 404, 422
    try:
        mark_gold(web.project, item_id, web.task.format_label(value))
    except LabelquorumError as exc:  # an unknown label
        raise WebError(str(exc), status=422, code="invalid_label") from None
    web.assigner.gold.refresh()
    return {"ok": True}


@router.get("/stats")
def dashboard(request: Request, auth: Auth = REVIEWER):
    return _clean(stats(_web(request).project))


def _clean(value: Any) -> Any:
    """JSON has no NaN: undefined figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
