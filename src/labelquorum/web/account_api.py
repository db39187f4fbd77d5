"""The JSON API of accounts and API tokens (``/api/users``, ``/api/tokens``).

Admins list people (with their accuracy on gold), pause, change roles, deactivate and
reset passwords. Everyone manages their own API tokens, from a logged-in browser
session only: a token never creates another token.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ..errors import WebError
from ..quality import gold_accuracy
from .app import ADMIN, SIGNED_IN, Auth, WebApp
from .auth import TOKEN_DAYS

router = APIRouter(prefix="/api")


def _web(request: Request) -> WebApp:
    return request.app.state.web


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenBody(_Body):
    name: str = Field("script", min_length=1, max_length=100)
    scope: str | None = Field(None, max_length=12)  # default: the caller's role's scope
    days: float | None = Field(TOKEN_DAYS, gt=0, le=3650)  # null: never expires


class PauseBody(_Body):
    paused: bool


class RoleBody(_Body):
    role: str = Field(max_length=16)


class ActiveBody(_Body):
    active: bool


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _not_paused(auth: Auth) -> None:
    if auth.user.paused:
        raise WebError("your account is paused; an admin can resume it", status=403,
                       code="paused")


# -- admins ------------------------------------------------------------------------------
@router.get("/users")
def users(request: Request, auth: Auth = ADMIN):
    web = _web(request)
    gold = {g.user_id: g.to_json() for g in gold_accuracy(web.project)}
    return {"users": [{**{k: v for k, v in u.items() if k != "created"},
                       "created": u["created"].isoformat(), "gold": gold.get(u["id"])}
                      for u in web.accounts.users()]}


def _done(web: WebApp, user_id: int) -> dict:
    web.forget_user(user_id)
    return {"ok": True}


@router.post("/users/{user_id}/pause")
def pause(user_id: int, body: PauseBody, request: Request, auth: Auth = ADMIN):
    web = _web(request)
    web.accounts.set_paused(user_id, body.paused)
    return _done(web, user_id)


@router.post("/users/{user_id}/role")
def role(user_id: int, body: RoleBody, request: Request, auth: Auth = ADMIN):
    web = _web(request)
    web.accounts.set_role(user_id, body.role)
    return _done(web, user_id)


@router.post("/users/{user_id}/active")
def active(user_id: int, body: ActiveBody, request: Request, auth: Auth = ADMIN):
    web = _web(request)
    web.accounts.set_active(user_id, body.active)
    return _done(web, user_id)


@router.post("/users/{user_id}/reset")
def reset(user_id: int, request: Request, auth: Auth = ADMIN):
    """Forget the password, end the sessions; returns an invite link to set a new one."""
    web = _web(request)
    web.public_link(request, "/")  # refuse before changing anything when no link can be made
    secret = web.accounts.reset_password(user_id)
    _done(web, user_id)
    return {"invite": web.public_link(request, f"/invite?token={secret}")}


# -- everyone's own tokens ----------------------------------------------------------------
@router.get("/tokens")
def tokens(request: Request, auth: Auth = SIGNED_IN):
    """Your API tokens (never their secrets)."""
    return {"tokens": [{"id": t["id"], "name": t["name"], "scope": t["scope"],
                        "created": _iso(t["created"]), "expires": _iso(t["expires"]),
                        "revoked": bool(t["revoked"]), "expired": t["expired"]}
                       for t in _web(request).accounts.tokens(auth.user.id)]}


@router.post("/tokens")
def token(body: TokenBody, request: Request, auth: Auth = SIGNED_IN):
    """A new API token for the caller (shown once); from a browser session only."""
    _not_paused(auth)
    if auth.via != "session":
        raise WebError("an API token cannot create tokens; log in and create one on the "
                       "tokens page, or use 'labelquorum user token NAME'", status=403,
                       code="forbidden")
    web = _web(request)
    secret = web.accounts.create_token(auth.user.id, body.name, body.scope, body.days)
    made = web.accounts.tokens(auth.user.id, secret=secret)[0]
    return {"token": secret, "id": made["id"], "scope": made["scope"],
            "expires": _iso(made["expires"])}


@router.post("/tokens/{token_id}/revoke")
def revoke(token_id: int, request: Request, auth: Auth = SIGNED_IN):
    """Revoke one of your tokens (an admin: anyone's)."""
    mine = not auth.user.can("admin") or auth.user.paused or auth.scope not in (None, "admin")
    _web(request).accounts.revoke_token(token_id, auth.user.id if mine else None)
    return {"ok": True}
