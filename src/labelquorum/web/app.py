"""The web app: FastAPI with server-rendered pages and a JSON API.

:func:`create_app` builds it for an open project. Security, once for every route:

- sessions: a random cookie (``lq_session_<project>``: HttpOnly, SameSite=Strict, Secure
  over https or as ``web.secure_cookies`` says, then named ``__Host-...``); only its hash
  is stored; each project has its own cookie name;
- CSRF: every POST made with a session cookie must carry the session's token (form field
  ``csrf_token`` or header ``X-CSRF-Token``); the login form's token is signed with a
  server-side key and cross-origin form posts are refused (:mod:`.login`); scripts
  authenticate with an API token (``Authorization: Bearer``) and need none;
- roles: each route names the least role it needs (annotator < reviewer < admin), an
  API token's scope narrows it, and a paused person reads and changes nothing;
- bodies: refused over ``web.max_body_bytes`` and before the session is checked
  (:mod:`.guard`); behind ``web.trusted_proxies`` only, ``X-Forwarded-For`` and
  ``X-Forwarded-Proto`` are believed;
- a store locked longer than its busy timeout answers 503 with ``Retry-After``;
- a strict Content-Security-Policy (scripts and styles from this server only, no inline
  script), ``nosniff``, no framing; all item text, labels and guidelines are escaped;
- errors from ``/api`` share one shape: ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import hashlib
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
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    FunctionLoader,
    select_autoescape,
)
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import WebError
from ..store import is_busy
from .assign import Assigner
from .assist import Assistant, Judge
from .auth import RANK, SCOPE_ROLE, Accounts, User
from .guard import SAFE_METHODS, BodyGuard
from .login import LoginForm, LoginLimiter, cross_origin, origin_of
from .progress import Progress
from .review import Review

if TYPE_CHECKING:
    from ..project import Project

HERE = Path(__file__).parent
KIND_TEMPLATES = HERE.parent / "kinds" / "templates"


def _plugin_widget(name: str) -> str | None:
    """A plugin kind's widget given as an absolute path (``TaskKind.widget``); only paths
    a registered kind names are read."""
    from ..plugins import task_kinds

    if Path(name).is_absolute() and any(k.widget == name for k in task_kinds.items()):
        return Path(name).read_text(encoding="utf-8")
    return None
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
SESSION_CACHE_SECONDS = 5.0
RETRY_AFTER_BUSY = 5  # seconds a client is asked to wait when the store is locked
MAX_MESSAGE = 1000  # characters of an error message sent back; the rest is cut
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
log = logging.getLogger("labelquorum.web")


@dataclass
class Auth:
    user: User
    csrf: str | None  # None when the request came with an API token
    via: str  # "session" | "token"
    scope: str | None = None  # an API token's scope (see .auth.SCOPES)

    def check_scope(self, method: str, role: str) -> None:
        """Refuse what an API token's scope does not cover."""
        if self.scope is None:
            return
        if self.scope == "read":
            ok = method in SAFE_METHODS
        else:
            ok = RANK[SCOPE_ROLE[self.scope]] >= RANK[role]
        if not ok:
            need = "read" if method in SAFE_METHODS and role == "annotator" else \
                {"annotator": "annotate", "reviewer": "review", "admin": "admin"}[role]
            raise WebError(f"this API token's scope ({self.scope}) does not allow this "
                           f"request; it needs a token with the {need} scope", status=403,
                           code="scope")


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
        cfg = project.config.web
        self.limiter = LoginLimiter(cfg.login_attempts, cfg.login_backoff_max)
        self.login_form = LoginForm(self.accounts.key("login"))
        # one cookie name per project (store and name), so two projects served on one
        # host keep their sessions apart
        self.cookie_tag = hashlib.sha256(
            f"{project.store.url}\0{project.config.project.name}".encode()).hexdigest()[:10]
        self.assistant = assistant
        self.judge = judge
        # the pages, then the task kinds' annotation widgets (labelquorum.kinds)
        self.templates = Environment(loader=ChoiceLoader([
                                         FileSystemLoader(HERE / "templates"),
                                         FileSystemLoader(KIND_TEMPLATES),
                                         FunctionLoader(_plugin_widget)]),
                                     autoescape=select_autoescape(default=True),
                                     trim_blocks=True, lstrip_blocks=True)
        self.media_root = (project.path / project.config.project.media_root).resolve()
        # session lookups cached for a few seconds: one query less on every request
        self._sessions: dict[str, tuple[Auth, float]] = {}

    # -- authentication ----------------------------------------------------------------
    def cookie(self, request: Request, kind: str) -> str:
        """The name of the ``session`` or ``login`` cookie for this request: per project,
        and ``__Host-`` prefixed when Secure (no other origin may then overwrite it)."""
        name = f"lq_{kind}_{self.cookie_tag}"
        return f"__Host-{name}" if self.secure(request) else name

    def identify(self, request: Request) -> Auth | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            found = self.accounts.token_auth(header[7:].strip())
            return None if found is None else Auth(found[0], None, "token", found[1])
        token = request.cookies.get(self.cookie(request, "session"))
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
        """The identity the body guard found, or a session found in the cache, without
        touching the database."""
        found = request.scope.get("state", {}).get("auth")
        if found is not None:
            return found
        if request.headers.get("authorization"):
            return None
        cached = self._sessions.get(request.cookies.get(self.cookie(request, "session")) or "")
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

    def who(self, request: Request) -> Auth | None:
        """The request's identity for an error page's header; None when the store
        cannot say right now."""
        try:
            return self._cached(request) or self.identify(request)
        except OperationalError:
            return None

    def forget_session(self, token: str) -> None:
        self._sessions.pop(token, None)
        self.accounts.close_session(token)

    def forget_user(self, user_id: int) -> None:
        """Drop cached sessions of a user whose account changed (paused, resumed, role,
        deactivated, password)."""
        for token, (auth, _) in list(self._sessions.items()):
            if auth.user.id == user_id:
                self._sessions.pop(token, None)

    async def require(self, request: Request, role: str = "annotator",
                      paused_ok: bool = False) -> Auth:
        """The request's user, with at least ``role`` (and an API token's scope covering
        it); checks CSRF on state changes. A paused person gets 403 ``paused`` unless
        ``paused_ok`` (the pages that tell them so)."""
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
            if cross_origin(request.headers, self.origins(request)):
                raise WebError("the request came from another site or port; use this "
                               "server's own pages", status=403, code="csrf")
        if auth.user.paused and not paused_ok:
            raise WebError("your account is paused; an admin can resume it", status=403,
                           code="paused")
        auth.check_scope(request.method, role)
        if not auth.user.can(role):
            raise WebError(f"this needs the {role} role; you are {auth.user.role}",
                           status=403, code="forbidden")
        return auth

    def secure(self, request: Request) -> bool:
        mode = self.config.web.secure_cookies
        return mode == "always" or (mode == "auto" and request.url.scheme == "https")

    def origins(self, request: Request) -> set[str]:
        """This server's own origins: the configured public URL's and the request's."""
        own = {origin_of(str(request.base_url))}
        if self.config.web.public_url:
            own.add(origin_of(self.config.web.public_url))
        return own

    def public_link(self, request: Request, path: str) -> str:
        """An absolute link to give to someone else (an invite): from ``web.public_url``;
        without it, from the request's address only when that is this machine, since a
        Host header may say anything."""
        base = self.config.web.public_url
        if base is None:
            if request.url.hostname not in LOCAL_HOSTS:
                raise WebError("set web.public_url in labelquorum.toml to the address people "
                               "open this server at (e.g. \"https://label.example.org\") and "
                               "restart it: links to give to others are built from it",
                               status=409, code="public_url_unset")
            base = str(request.base_url)
        return base.rstrip("/") + path

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


def _role(name: str, paused_ok: bool = False):
    async def dependency(request: Request) -> Auth:
        return await request.app.state.web.require(request, name, paused_ok)
    return Depends(dependency)


# route dependencies: the request's user, with at least this role (CSRF checked on POST);
# SIGNED_IN also lets a paused person through (the pages that tell them they are paused)
ANNOTATOR, REVIEWER, ADMIN = _role("annotator"), _role("reviewer"), _role("admin")
SIGNED_IN = _role("annotator", paused_ok=True)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def error_json(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": clip(message)}},
                        status_code=status)


def clip(message: str) -> str:
    """An error message as sent back: whatever it quotes, at most ``MAX_MESSAGE``
    characters (a 5 MB label is not echoed whole)."""
    if len(message) <= MAX_MESSAGE:
        return message
    return f"{message[:MAX_MESSAGE]}… ({len(message) - MAX_MESSAGE} more characters cut)"


def create_app(project: Project, *, assistant: Assistant | None = None,
               judge: Judge | None = None) -> FastAPI:
    """The web app for an open project. ``assistant`` and ``judge`` are optional model
    helpers (see :mod:`labelquorum.web.assist`); when not given, they are built from the
    ``llm`` annotators that ``web.assistant`` and ``web.judge`` name, if any."""
    from . import account_api, account_pages, api, pages

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

    # the last added runs first: proxy headers, then security headers, then the body guard
    app.add_middleware(BodyGuard, web=web, limit=cfg.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    if cfg.trusted_proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(cfg.trusted_proxies))

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError):
        if _is_api(request):
            response = error_json(exc.status, exc.code, str(exc))
        elif exc.status == 401:
            return RedirectResponse("/login", status_code=303)
        else:
            auth = web._cached(request) if exc.code == "busy" else web.who(request)
            response = web.render(request, "error.html", status=exc.status,
                                  message=clip(str(exc)), auth=auth)
        if exc.code == "busy":
            response.headers["retry-after"] = str(RETRY_AFTER_BUSY)
        return response

    @app.exception_handler(OperationalError)
    async def store_error(request: Request, exc: OperationalError):
        if not is_busy(exc):
            return await crash(request, exc)
        log.warning("the store stayed locked on %s: answered 503", request.url.path)
        return await web_error(request, WebError(
            "the store is busy with another writer; try again in a few seconds",
            status=503, code="busy"))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else \
            str(first.get("msg", "invalid request"))
        if _is_api(request):
            return error_json(422, "invalid_request", message)
        return web.render(request, "error.html", status=422, message=clip(message),
                          auth=web.who(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        if _is_api(request):
            return error_json(exc.status_code, code, str(exc.detail))
        return web.render(request, "error.html", status=exc.status_code,
                          message=clip(str(exc.detail)), auth=web.who(request))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        if _is_api(request):
            return error_json(500, "internal", "the server failed on this request; see its log")
        return HTMLResponse("<h1>Server error</h1>", status_code=500)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(account_api.router)
    app.include_router(pages.router)
    app.include_router(account_pages.router)
    return app

