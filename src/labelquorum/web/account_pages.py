"""The account pages: log in and out, accept an invite, API tokens, and ``/admin/users``
(invite, role, pause, deactivate, reset a password, revoke tokens).

The login and invite forms carry a token signed server-side and refuse cross-origin
posts; failed logins back off per name and address (see :mod:`.login`).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..errors import WebError
from .app import ADMIN, SIGNED_IN, Auth, WebApp
from .auth import ROLE_SCOPE, SCOPES, TOKEN_DAYS, User
from .login import FORM_SECONDS, cross_origin, retry_after

router = APIRouter()

# what ``/login?error=KEY`` may show: nothing else reaches the page
LOGIN_MESSAGES = {
    "expired": "Your session has ended; log in again.",
    "form": "The login form had expired; please try again.",
}


def _web(request: Request) -> WebApp:
    return request.app.state.web


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _set_cookie(request: Request, response, kind: str, value: str, max_age: int) -> None:
    web = _web(request)
    response.set_cookie(web.cookie(request, kind), value, max_age=max_age, httponly=True,
                        samesite="strict", secure=web.secure(request), path="/")


def landing(user: User) -> str:
    """Where a person goes after logging in (a paused one: to the page saying so)."""
    return "/dashboard" if user.can("reviewer") and not user.paused else "/annotate"


# -- login -------------------------------------------------------------------------------
def _login_page(request: Request, status: int = 200, error: str | None = None,
                headers: dict[str, str] | None = None, token: str | None = None
                ) -> HTMLResponse:
    """The login form: a new signed token and its cookie, or (after a failed try) the
    token just sent back, still valid, with the cookie the browser has."""
    web = _web(request)
    nonce = None
    if token is None:
        nonce, token = web.login_form.issue()
    response = web.render(request, "login.html", status=status, login_csrf=token, error=error)
    if nonce is not None:
        _set_cookie(request, response, "login", nonce, max_age=FORM_SECONDS)
    response.headers.update(headers or {})
    return response


@router.get("/login")
def login_page(request: Request, error: str | None = Query(None, max_length=40)):
    return _login_page(request, error=LOGIN_MESSAGES.get(error or ""))


def _check_form(request: Request, csrf_token: str) -> None:
    """The login or invite form's token was signed here, for this browser's cookie, and
    the post comes from this server's own page."""
    web = _web(request)
    nonce = request.cookies.get(web.cookie(request, "login"), "")
    if not web.login_form.valid(nonce, csrf_token) or cross_origin(request.headers,
                                                                   web.origins(request)):
        raise WebError("the form has expired or did not come from this server's page; "
                       "reload the page and try again", status=403, code="csrf")


@router.post("/login")
async def login(request: Request, name: str = Form(..., max_length=100),
                password: str = Form(..., max_length=1000), csrf_token: str = Form("")):
    web = _web(request)
    _check_form(request, csrf_token)
    address = request.client.host if request.client else "?"
    wait = web.limiter.start(name, address)  # counted as failed until it succeeds
    if wait > 0:
        return _login_page(request, status=429, headers={"Retry-After": retry_after(wait)},
                           token=csrf_token,
                           error=f"Too many failed logins for this name from your address; "
                                 f"try again in {retry_after(wait)} seconds.")
    pause = web.limiter.slowdown(name)
    if pause > 0:
        await asyncio.sleep(pause)
    user = await run_in_threadpool(web.accounts.authenticate, name, password)
    if user is None:
        web.limiter.failed(name, address, started=True)
        return _login_page(request, status=401, error="Wrong name or password.",
                           token=csrf_token)
    web.limiter.succeeded(name, address)
    token, _ = await run_in_threadpool(web.accounts.open_session, user)
    response = _redirect(landing(user))
    _set_cookie(request, response, "session", token,
                max_age=int(web.config.web.session_hours * 3600))
    response.delete_cookie(web.cookie(request, "login"), path="/")
    return response


@router.post("/logout")
def logout(request: Request, auth: Auth = SIGNED_IN):
    web = _web(request)
    token = request.cookies.get(web.cookie(request, "session"))
    if token:
        web.forget_session(token)
    response = _redirect("/login")
    response.delete_cookie(web.cookie(request, "session"), path="/")
    return response


@router.get("/invite")
def invite_page(request: Request, token: str = Query(..., max_length=200)):
    web = _web(request)
    nonce, login_csrf = web.login_form.issue()
    response = web.render(request, "invite.html", invite=token, login_csrf=login_csrf)
    _set_cookie(request, response, "login", nonce, max_age=FORM_SECONDS)
    return response


@router.post("/invite")
def accept_invite(request: Request, invite: str = Form(..., max_length=200),
                  password: str = Form(..., max_length=1000), csrf_token: str = Form("")):
    web = _web(request)
    _check_form(request, csrf_token)
    web.accounts.accept_invite(invite, password)
    return _redirect("/login")


# -- API tokens ----------------------------------------------------------------------------
def _tokens_page(request: Request, auth: Auth, token: str | None = None) -> HTMLResponse:
    web = _web(request)
    scopes = [s for s in SCOPES if s == "read" or s in _scopes_up_to(auth.user.role)]
    return web.render(request, "token.html", auth=auth, token=token,
                      tokens=web.accounts.tokens(auth.user.id), scopes=scopes,
                      default_scope=ROLE_SCOPE[auth.user.role], days=int(TOKEN_DAYS))


def _scopes_up_to(role: str) -> list[str]:
    order = ["annotator", "reviewer", "admin"]
    return [ROLE_SCOPE[r] for r in order[:order.index(role) + 1]]


@router.get("/tokens")
def tokens_page(request: Request, auth: Auth = SIGNED_IN):
    _not_paused(auth)
    return _tokens_page(request, auth)


@router.post("/tokens")
def new_token(request: Request, name: str = Form("script", max_length=100),
              scope: str = Form("", max_length=12), days: str = Form("", max_length=8),
              auth: Auth = SIGNED_IN) -> HTMLResponse:
    _not_paused(auth)
    if auth.via != "session":
        raise WebError("an API token cannot create tokens; log in and create one on the "
                       "tokens page, or use 'labelquorum user token NAME'", status=403,
                       code="forbidden")
    web = _web(request)
    token = web.accounts.create_token(auth.user.id, name, scope or None, _days(days))
    return _tokens_page(request, auth, token=token)


@router.post("/tokens/revoke")
def revoke_token(request: Request, token_id: int = Form(...), back: str = Form("/tokens"),
                 auth: Auth = SIGNED_IN):
    """Revoke one of your tokens (an admin: anyone's). Even a paused person may."""
    web = _web(request)
    mine = not auth.user.can("admin") or auth.user.paused or auth.scope not in (None, "admin")
    web.accounts.revoke_token(token_id, auth.user.id if mine else None)
    return _redirect("/admin/users" if back == "/admin/users" else "/tokens")


def _days(text: str) -> float | None:
    """A token lifetime from a form: empty is the default, 0 never expires."""
    if not text.strip():
        return TOKEN_DAYS
    try:
        days = float(text)
    except ValueError:
        raise WebError(f"the lifetime {text!r} is not a number of days", status=422,
                       code="invalid_request") from None
    return None if days == 0 else days


def _not_paused(auth: Auth) -> None:
    if auth.user.paused:
        raise WebError("your account is paused; an admin can resume it", status=403,
                       code="paused")


# -- admin ---------------------------------------------------------------------------------
def users_page(request: Request, auth: Auth, invite: str | None = None,
               invite_for: str | None = None) -> HTMLResponse:
    from ..quality import gold_accuracy

    web = _web(request)
    gold = {g.user_id: g for g in gold_accuracy(web.project)}
    return web.render(request, "users.html", auth=auth, users=web.accounts.users(), gold=gold,
                      invite=invite, invite_for=invite_for, tokens=web.accounts.tokens())


@router.get("/admin/users")
def admin_users(request: Request, auth: Auth = ADMIN):
    return users_page(request, auth)


@router.post("/admin/users")
def admin_add_user(request: Request, name: str = Form(..., max_length=100),
                   role_name: str = Form(..., alias="role"), auth: Auth = ADMIN):
    web = _web(request)
    web.public_link(request, "/")  # refuse before creating anyone when no link can be made
    secret = web.accounts.add_user(name, role_name)
    return users_page(request, auth, web.public_link(request, f"/invite?token={secret}"),
                      name)


def _changed(request: Request, user_id: int) -> RedirectResponse:
    _web(request).forget_user(user_id)
    return _redirect("/admin/users")


@router.post("/admin/users/pause")
def admin_pause(request: Request, user_id: int = Form(...), paused: bool = Form(...),
                auth: Auth = ADMIN):
    _web(request).accounts.set_paused(user_id, paused)
    return _changed(request, user_id)


@router.post("/admin/users/role")
def admin_role(request: Request, user_id: int = Form(...),
               role_name: str = Form(..., alias="role", max_length=16), auth: Auth = ADMIN):
    _web(request).accounts.set_role(user_id, role_name)
    return _changed(request, user_id)


@router.post("/admin/users/active")
def admin_active(request: Request, user_id: int = Form(...), active: bool = Form(...),
                 auth: Auth = ADMIN):
    _web(request).accounts.set_active(user_id, active)
    return _changed(request, user_id)


@router.post("/admin/users/reset")
def admin_reset(request: Request, user_id: int = Form(...), auth: Auth = ADMIN):
    web = _web(request)
    web.public_link(request, "/")
    secret = web.accounts.reset_password(user_id)
    web.forget_user(user_id)
    name = next((u["name"] for u in web.accounts.users() if u["id"] == user_id), "")
    return users_page(request, auth, web.public_link(request, f"/invite?token={secret}"),
                      name)
