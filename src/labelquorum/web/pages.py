"""Server-rendered pages: annotate, review, item, dashboard, browse (the account pages
are in :mod:`.account_pages`).

Forms post with the session's CSRF token; every page names its least role. Item text,
labels and guidelines reach the HTML only through Jinja's autoescaping.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..errors import LabelquorumError, WebError
from ..quality import mark_gold
from .account_pages import landing
from .app import ANNOTATOR, REVIEWER, SIGNED_IN, Auth, WebApp
from .assist import UNAVAILABLE
from .dashboard import bar_chart, interval_chart, reliability_chart, stats

router = APIRouter()
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")


def _web(request: Request) -> WebApp:
    return request.app.state.web



def is_image(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(IMAGE_SUFFIXES)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/")
def home(request: Request):
    auth = _web(request).identify(request)
    if auth is None:
        return _redirect("/login")
    return _redirect(landing(auth.user))


# -- annotating --------------------------------------------------------------------------
@router.get("/annotate")
def annotate(request: Request, auth: Auth = SIGNED_IN):
    web = _web(request)
    web.assigner.sync_if_due()
    lease, paused = None, False
    try:
        lease = web.assigner.next(auth.user)
    except WebError as exc:
        if exc.code != "paused":
            raise
        paused = True
    return web.render(request, "annotate.html", auth=auth, lease=lease, paused=paused,
                      is_image=is_image, assistant=web.assistant is not None,
                      assistant_note=UNAVAILABLE, hotkeys=_hotkeys(web),
                      progress=web.progress.of(auth.user),
                      preselect=web.config.web.preselect_suggestion)


def _hotkeys(web: WebApp) -> list[tuple[str, str, str]]:
    """(label, key, description) per label: digits 1-9 unless the config gives a hotkey."""
    cfg = {lab.name: lab.hotkey for lab in web.config.task.labels}
    out = []
    for i, (name, desc) in enumerate(zip(web.task.labels, web.task.descriptions)):
        key = cfg.get(name) or (str(i + 1) if i < 9 else "")
        out.append((name, key, desc))
    return out


@router.get("/media/{public_id}/{field}")
def media(public_id: str, field: str, request: Request, auth: Auth = ANNOTATOR):
    web = _web(request)
    lease = web.assigner.lease_of(auth.user, public_id)
    return _media_file(web, lease.fields.get(field))


@router.get("/media-item")
def media_item(request: Request, id: str = Query(...), field: str = Query(...),
               auth: Auth = REVIEWER):
    web = _web(request)
    return _media_file(web, web.review.item(id).fields.get(field))


def _media_file(web: WebApp, value: Any) -> FileResponse:
    """A file named by an item field, only when it lies inside the project's media root."""
    if not is_image(value):
        raise WebError("this field is not an image", status=404, code="not_found")
    root = web.media_root
    path = (root / str(value)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise WebError("the image is not inside the project's media root", status=404,
                       code="not_found")
    return FileResponse(path)


# -- reviewing ---------------------------------------------------------------------------
REVIEW_PAGE = 50
SHOW = Query("all", pattern="^(all|flagged|issues)$")


@router.get("/review")
def review(request: Request, show: str = SHOW, page: int = Query(0, ge=0, le=10**9),
           auth: Auth = REVIEWER):
    web = _web(request)
    rows, total = web.review.queue(page * REVIEW_PAGE, REVIEW_PAGE, flagged=show == "flagged",
                                   issues=show == "issues")
    return web.render(request, "review.html", auth=auth, queue=rows, total=total, page=page,
                      per_page=REVIEW_PAGE, show=show, flags=web.review.flag_count(),
                      issues=web.review.issue_count())


@router.get("/item")
def item_page(request: Request, id: str = Query(..., max_length=1000),
              auth: Auth = REVIEWER, done: str | None = None, show: str = SHOW):
    web = _web(request)
    view = web.review.item(id)
    prev_id, next_id, position, total = web.review.neighbours(id, flagged=show == "flagged",
                                                              issues=show == "issues")
    text = web.review.text_of(view)
    # where the review page's editor starts (spans): the item's decision, else the first
    # person's answer, else the most confident model's
    editor = web.task.strategy.editor(web.task, text, [
        view.decision["label"] if view.decision else None, *(p["label"] for p in view.people),
        *(m["label"] for m in sorted(view.models, key=lambda m: -(m["confidence"] or 0.0)))])
    people = [{**p, "marks": web.review.marks(text, p["label"])} for p in view.people]
    models = [{**m, "marks": web.review.marks(text, m["label"])} for m in view.models]
    return web.render(request, "item.html", auth=auth, item=view, is_image=is_image,
                      done=done, hotkeys=_hotkeys(web), show=show, prev_id=prev_id,
                      next_id=next_id, position=position, total=total, people=people,
                      models=models, editor=editor,
                      gold_marks=web.review.marks(text, view.gold),
                      decision_marks=web.review.marks(
                          text, view.decision["label"] if view.decision else None))


@router.post("/item/adjudicate")
def adjudicate_form(request: Request, label: Annotated[list[str], Form()], id: str = Form(...),
                    note: str = Form("", max_length=2000), show: str = Form("all"),
                    auth: Auth = REVIEWER):
    web = _web(request)
    show = show if show in ("flagged", "issues") else "all"
    prev_id, next_id, _, _ = web.review.neighbours(id, flagged=show == "flagged",
                                                   issues=show == "issues")
    web.review.adjudicate(auth.user, id, web.task.strategy.form_answer(web.task, label), note)
    then = next_id or prev_id
    suffix = f"&show={show}" if show != "all" else ""
    return _redirect(f"/item?id={_q(then)}{suffix}" if then and then != id
                     else "/review" + (f"?show={show}" if show != "all" else ""))


@router.post("/item/gold")
def gold_form(request: Request, label: Annotated[list[str], Form()], id: str = Form(...),
              auth: Auth = REVIEWER):
    web = _web(request)
    view = web.review.item(id)
    value = web.review.parse(view, web.task.strategy.form_answer(web.task, label))
    try:
        mark_gold(web.project, id, web.task.format_label(value))
    except LabelquorumError as exc:
        raise WebError(str(exc), status=422, code="invalid_label") from None
    web.assigner.gold.refresh()
    return _redirect(f"/item?id={_q(id)}&done=gold")


@router.post("/item/comment")
def comment_form(request: Request, id: str = Form(...), text: str = Form("", max_length=4000),
                 flag: bool = Form(False), auth: Auth = REVIEWER):
    web = _web(request)
    web.review.item(id)
    web.review.comment(auth.user, id, text, flag)
    return _redirect(f"/item?id={_q(id)}")


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


@router.get("/dashboard")
async def dashboard(request: Request, auth: Auth = REVIEWER):
    web = _web(request)
    s = await run_in_threadpool(stats, web.project)
    hours = [f"-{23 - i}h" for i in range(24)]
    charts = {
        "throughput": bar_chart(s["per_hour"], hours, title="Answers per hour (last 24 h)"),
        "cost": bar_chart([c["cost"] for c in s["cost"]], [c["annotator"] for c in s["cost"]],
                          title="Cost by annotator (USD)", fmt="{:.2f}"),
        "gold": interval_chart(
            [(a["name"], a["gold"]["accuracy"], a["gold"]["low"], a["gold"]["high"])
             for a in s["annotators"] if a["gold"] and a["gold"]["answered"]],
            title="Accuracy on golden questions (95 % interval)",
            threshold=web.config.web.accuracy_threshold),
        "reliability": reliability_chart(s["calibration"],
                                         title="Reliability on gold: stated confidence vs right"),
    }
    return web.render(request, "dashboard.html", auth=auth, s=s, charts=charts,
                      rate=_hourly_rates(web), assistant=web.assistant is not None,
                      assistant_note=UNAVAILABLE)


def _hourly_rates(web: WebApp) -> dict[str, float]:
    return {n: a.cost_per_hour for n, a in web.config.annotators.items() if a.type == "human"}


@router.get("/browse")
def browse(request: Request, max_confidence: str = Query(""), disagreement: bool = False,
           annotator: str = Query("", max_length=100), page: int = Query(0, ge=0),
           auth: Auth = REVIEWER):
    web = _web(request)
    try:
        conf = float(max_confidence) if max_confidence.strip() else None
    except ValueError:
        raise WebError(f"max confidence {max_confidence!r} is not a number", status=422,
                       code="invalid_request") from None
    rows, total = web.review.browse(max_confidence=conf, disagreement=disagreement,
                                    person=annotator or None, offset=page * 50, limit=50)
    return web.render(request, "browse.html", auth=auth, rows=rows, total=total, page=page,
                      filters={"max_confidence": max_confidence, "disagreement": disagreement,
                               "annotator": annotator},
                      people=[u["name"] for u in web.accounts.users()])
