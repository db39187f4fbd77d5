"""The web app: FastAPI with server-rendered pages and a JSON API.

:func:`create_app` builds it for an open project. Security, once for every route:

- sessions: a random cookie (``lq_session``: HttpOnly, SameSite=Strict, Secure over https
  or as ``web.secure_cookies`` says); only its hash is stored;
- CSRF: every POST made with a session cookie must carry the session's token (form field
  ``csrf_token`` or header ``X-CSRF-Token``); the login form uses a double-submit cookie;
  scripts authenticate with an API token (``Authorization: Bearer``) and need none;
- roles: each route names the least role it needs (annotator < reviewer < admin);
- a strict Content-Security-Policy (scripts and styles from this server only, no inline
  script), ``nosniff``, no framing; all item text, labels and guidelines are escaped;
- errors from ``/api`` share one shape: ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import WebError
from .assign import Assigner
from .assist import Assistant, Judge
from .auth import Accounts, LoginLimiter, User
from .progress import Progress
from .review import Review

if TYPE_CHECKING:
    from ..project import Project

HERE = Path(__file__).parent
SESSION_COOKIE = "lq_session"
LOGIN_COOKIE = "lq_login_csrf"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SESSION_CACHE_SECONDS = 5.0
log = logging.getLogger("labelquorum.web")


@dataclass
class Auth:
    user: User
    csrf: str | None  # None when the request came with an API token
    via: str  # "session" | "token"


class WebApp:
    """What every request handler shares: the project and its services."""

    def __init__(self, project: Project, assistant: Assistant | None = None,
                 judge: Judge | None = None):
        self.project = project
        self.config = project.config
        self.task = project.task
        self.accounts = Accounts(project.store, project.config.web.session_hours)
        self.assigner = Assigner(project)
        self.progress = Progress(project)
        self.review = Review(project)
        self.limiter = LoginLimiter(project.config.web.login_attempts)
        self.assistant = assistant
        self.judge = judge
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True),
                                     trim_blocks=True, lstrip_blocks=True)
        self.media_root = (project.path / project.config.project.media_root).resolve()
        # session lookups cached for a few seconds: one query less on every request
        self._sessions: dict[str, tuple[Auth, float]] = {}

    # -- authentication ----------------------------------------------------------------
    def identify(self, request: Request) -> Auth | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            user = self.accounts.token_user(header[7:].strip())
            return None if user is None else Auth(user, None, "token")
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        cached = self._sessions.get(token)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        found = self.accounts.session(token)
        if found is None:
            self._sessions.pop(token, None)
            return None
        auth = Auth(found[0], found[1], "session")
        if len(self._sessions) > 10_000:
            self._sessions.clear()
        self._sessions[token] = (auth, now + SESSION_CACHE_SECONDS)
        return auth

    def _cached(self, request: Request) -> Auth | None:
        """A session found in the cache, without touching the database."""
        if request.headers.get("authorization"):
            return None
        cached = self._sessions.get(request.cookies.get(SESSION_COOKIE) or "")
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

    def forget_session(self, token: str) -> None:
        self._sessions.pop(token, None)
        self.accounts.close_session(token)

    def forget_user(self, user_id: int) -> None:
        """Drop cached sessions of a user whose account changed (paused, resumed)."""
        for token, (auth, _) in list(self._sessions.items()):
            if auth.user.id == user_id:
                self._sessions.pop(token, None)

    async def require(self, request: Request, role: str = "annotator") -> Auth:
        """The request's user, with at least ``role``; checks CSRF on state changes."""
        from starlette.concurrency import run_in_threadpool

        auth = self._cached(request)
        if auth is None:
            auth = await run_in_threadpool(self.identify, request)
        if auth is None:
            raise WebError("you are not logged in (or your session has expired); log in, or "
                           "send an API token as 'Authorization: Bearer TOKEN'",
                           status=401, code="unauthenticated")
        if request.method not in SAFE_METHODS and auth.via == "session":
            sent = request.headers.get("x-csrf-token")
            if sent is None and request.headers.get("content-type", "").startswith(
                    ("application/x-www-form-urlencoded", "multipart/form-data")):
                sent = (await request.form()).get("csrf_token")
            if not sent or not hmac.compare_digest(str(sent), auth.csrf or ""):
                raise WebError("the request has no valid CSRF token; reload the page and try "
                               "again", status=403, code="csrf")
        if not auth.user.can(role):
            raise WebError(f"this needs the {role} role; you are {auth.user.role}",
                           status=403, code="forbidden")
        return auth

    def secure(self, request: Request) -> bool:
        mode = self.config.web.secure_cookies
        return mode == "always" or (mode == "auto" and request.url.scheme == "https")

    def render(self, request: Request, name: str, status: int = 200, **context: Any
               ) -> HTMLResponse:
        auth = context.pop("auth", None)
        html = self.templates.get_template(name).render(
            user=auth.user if auth else None, csrf=auth.csrf if auth else None,
            project=self.config.project.name, task=self.task, path=request.url.path,
            **context)
        return HTMLResponse(html, status_code=status)


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response."""

    HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"content-security-policy", CSP.encode()),
               (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"same-origin"))

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [h for h in self.HEADERS if h[0] not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def _role(name: str):
    async def dependency(request: Request) -> Auth:
        return await request.app.state.web.require(request, name)
    return Depends(dependency)


# route dependencies: the request's user, with at least this role (CSRF checked on POST)
ANNOTATOR, REVIEWER, ADMIN = _role("annotator"), _role("reviewer"), _role("admin")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def error_json(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(project: Project, *, assistant: Assistant | None = None,
               judge: Judge | None = None) -> FastAPI:
    """The web app for an open project. ``assistant`` and ``judge`` are optional model
    helpers (see :mod:`labelquorum.web.assist`); when not given, they are built from the
    ``llm`` annotators that ``web.assistant`` and ``web.judge`` name, if any."""
    from . import api, pages

    cfg = project.config.web
    if assistant is None and cfg.assistant is not None:
        from .llm_hooks import build_assistant
        assistant = build_assistant(project, cfg.assistant)
    if judge is None and cfg.judge is not None:
        from .llm_hooks import build_judge
        judge = build_judge(project, cfg.judge, cfg.judge_rubric)

    web = WebApp(project, assistant, judge)
    web.assigner.sync_if_due()
    app = FastAPI(title="labelquorum", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError):
        if _is_api(request):
            return error_json(exc.status, exc.code, str(exc))
        if exc.status == 401:
            return RedirectResponse("/login", status_code=303)
        return web.render(request, "error.html", status=exc.status, message=str(exc),
                          auth=web.identify(request))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else \
            str(first.get("msg", "invalid request"))
        if _is_api(request):
            return error_json(422, "invalid_request", message)
        return web.render(request, "error.html", status=422, message=message,
                          auth=web.identify(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        if _is_api(request):
            return error_json(exc.status_code, code, str(exc.detail))
        return web.render(request, "error.html", status=exc.status_code,
                          message=str(exc.detail), auth=web.identify(request))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        if _is_api(request):
            return error_json(500, "internal", "the server failed on this request; see its log")
        return HTMLResponse("<h1>Server error</h1>", status_code=500)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    return app

