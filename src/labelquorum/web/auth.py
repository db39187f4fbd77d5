"""Accounts, sessions, CSRF tokens and API tokens.

Passwords are hashed with scrypt (``hashlib.scrypt``, N=2**14, r=8, p=1, a 16-byte salt),
stored as ``scrypt$N$r$p$salt$hash``. Session cookies, invite links and API tokens are
random 32-byte secrets; only their SHA-256 is stored, so a copy of the database lets
nobody in. Every session carries its own CSRF token, which a state-changing request
must send back (form field ``csrf_token`` or header ``X-CSRF-Token``).

An API token has a scope (:data:`SCOPES`), within its user's role: ``read`` reads what
the user may read and changes nothing; ``annotate``, ``review`` and ``admin`` allow what
that role allows. It expires (``days``) and can be revoked. A deactivated user's
sessions and tokens open nothing; the login throttle lives in :mod:`.login`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..errors import WebError
from ..store import Store, schema

ROLES = ("annotator", "reviewer", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
SCOPES = ("read", "annotate", "review", "admin")
SCOPE_ROLE = {"annotate": "annotator", "review": "reviewer", "admin": "admin"}
ROLE_SCOPE = {role: scope for scope, role in SCOPE_ROLE.items()}
TOKEN_DAYS = 90.0  # a new API token's lifetime unless told otherwise
MIN_PASSWORD = 8
_SCRYPT = (2**14, 8, 1)


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    paused: bool = False

    def can(self, role: str) -> bool:
        """Has this user at least ``role`` (admin > reviewer > annotator)?"""
        return RANK[self.role] >= RANK[role]


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    n, r, p = _SCRYPT
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${key.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        _, n, r, p, salt, key = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(key) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), key)


# A fixed hash checked when the name is unknown, so a wrong name costs as long as a wrong
# password (no user enumeration by timing).
_DUMMY = hash_password(secrets.token_hex(8))


def check_role(role: str) -> str:
    if role not in ROLES:
        raise WebError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() or not c.isprintable() for c in name):
        raise WebError(f"user name {name!r} is not valid: use 1-100 printable characters "
                       "without spaces")
    return name


def check_password(password: str) -> str:
    if not password.strip():
        raise WebError("the password is only spaces; choose one with at least "
                       f"{MIN_PASSWORD} characters, not all of them spaces")
    if len(password) < MIN_PASSWORD:
        raise WebError(f"the password is too short ({len(password)} characters); use at least "
                       f"{MIN_PASSWORD}")
    return password


def check_scope(scope: str, role: str) -> str:
    """A token scope that the role may hand out."""
    if scope not in SCOPES:
        raise WebError(f"unknown token scope {scope!r}; valid scopes: {', '.join(SCOPES)}",
                       status=422, code="invalid_request")
    if scope != "read" and RANK[SCOPE_ROLE[scope]] > RANK[role]:
        allowed = [s for s in SCOPES if s == "read" or RANK[SCOPE_ROLE[s]] <= RANK[role]]
        raise WebError(f"the {scope} scope is wider than the {role} role; valid scopes for "
                       f"this user: {', '.join(allowed)}", status=403, code="forbidden")
    return scope


class Accounts:
    """Users, sessions and tokens of one project's store."""

    def __init__(self, store: Store, session_hours: float = 12.0):
        self.store = store
        self.pid = store.project_id
        self.session_hours = session_hours

    # -- users -------------------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str | None = None,
                 invite_hours: float = 72.0) -> str | None:
        """Create a user. With a password, returns None; without, returns a one-time
        invite secret (valid ``invite_hours``) to put in the invite link."""
        name, role = check_name(name), check_role(role)
        t = schema.users
        invite = None
        values = {"project_id": self.pid, "name": name, "role": role, "active": True,
                  "paused": False, "created": _now()}
        if password is not None:
            values["password_hash"] = hash_password(check_password(password))
        else:
            invite = secrets.token_urlsafe(32)
            values["invite_hash"] = digest(invite)
            values["invite_expires"] = _now() + timedelta(hours=invite_hours)
        with self.store.begin() as conn:
            exists = conn.execute(select(t.c.id).where((t.c.project_id == self.pid)
                                                       & (t.c.name == name))).first()
            if exists:
                raise WebError(f"user {name!r} exists already; choose another name")
            conn.execute(t.insert().values(**values))
        return invite

    def accept_invite(self, invite: str, password: str) -> User:
        t = schema.users
        check_password(password)
        with self.store.begin() as conn:
            row = conn.execute(select(t).where((t.c.project_id == self.pid)
                                               & (t.c.invite_hash == digest(invite)))).first()
            if (row is None or row.invite_expires is None or not row.active
                    or _aware(row.invite_expires) < _now()):
                raise WebError("this invite link is not valid or has expired; ask an admin "
                               "for a new one ('labelquorum user add NAME --role ROLE')")
            conn.execute(update(t).where(t.c.id == row.id).values(
                password_hash=hash_password(password), invite_hash=None, invite_expires=None))
        return User(row.id, row.name, row.role, bool(row.paused))

    def users(self) -> list[dict]:
        t = schema.users
        with self.store.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(t.c.id, t.c.name, t.c.role, t.c.active, t.c.paused, t.c.created)
                .where(t.c.project_id == self.pid).order_by(t.c.id))]

    def get(self, user_id: int) -> User | None:
        """An active user, or None."""
        t = schema.users
        with self.store.connect() as conn:
            r = conn.execute(select(t).where((t.c.id == user_id) & (t.c.project_id == self.pid)
                                             & t.c.active)).first()
        return None if r is None else User(r.id, r.name, r.role, bool(r.paused))

    def _change(self, user_id: int, **values) -> str:
        """Update a user (active or not); returns their name. Refuses a change that would
        leave the project without an active, unpaused admin."""
        t = schema.users
        with self.store.begin() as conn:
            row = conn.execute(select(t).where((t.c.id == user_id)
                                               & (t.c.project_id == self.pid))).first()
            if row is None:
                raise WebError(f"no user with id {user_id}", status=404, code="not_found")
            after = {**dict(row._mapping), **values}
            usable = (row.role == "admin" and row.active and not row.paused)
            if usable and not (after["role"] == "admin" and after["active"]
                               and not after["paused"]):
                others = conn.execute(select(t.c.id).where(
                    (t.c.project_id == self.pid) & (t.c.id != user_id) & (t.c.role == "admin")
                    & t.c.active & ~t.c.paused)).first()
                if others is None:
                    raise WebError(f"{row.name} is the only active admin; make someone else "
                                   "an admin first ('labelquorum user role NAME admin')",
                                   status=409, code="conflict")
            conn.execute(update(t).where(t.c.id == user_id).values(**values))
            if values.get("active") is False or "password_hash" in values:
                conn.execute(schema.web_sessions.delete().where(
                    schema.web_sessions.c.user_id == user_id))
        return str(row.name)

    def set_paused(self, user_id: int, paused: bool) -> None:
        """Pause (no items, nothing read or changed; the page says so) or resume."""
        self._change(user_id, paused=bool(paused))

    def set_role(self, user_id: int, role: str) -> None:
        self._change(user_id, role=check_role(role))

    def set_active(self, user_id: int, active: bool) -> None:
        """Deactivate (no login; sessions end; tokens open nothing) or reactivate."""
        self._change(user_id, active=bool(active))

    def set_password(self, user_id: int, password: str) -> None:
        """A new password; the user's sessions end."""
        self._change(user_id, password_hash=hash_password(check_password(password)),
                     invite_hash=None, invite_expires=None)

    def reset_password(self, user_id: int, invite_hours: float = 72.0) -> str:
        """Forget the password and end the sessions; returns a one-time invite secret
        with which the person sets a new one. API tokens stay until revoked."""
        invite = secrets.token_urlsafe(32)
        self._change(user_id, password_hash=None, invite_hash=digest(invite),
                     invite_expires=_now() + timedelta(hours=invite_hours))
        return invite

    def authenticate(self, name: str, password: str) -> User | None:
        t = schema.users
        with self.store.connect() as conn:
            r = conn.execute(select(t).where((t.c.project_id == self.pid) & (t.c.name == name)
                                             & t.c.active)).first()
        if r is None:
            verify_password(password, _DUMMY)
            return None
        if r.password_hash is None:  # an invite not yet accepted, or a reset password
            verify_password(password, _DUMMY)
            return None
        if not verify_password(password, r.password_hash):
            return None
        return User(r.id, r.name, r.role, bool(r.paused))

    def user_id(self, name: str) -> int:
        t = schema.users
        with self.store.connect() as conn:
            uid = conn.execute(select(t.c.id).where((t.c.project_id == self.pid)
                                                    & (t.c.name == name))).scalar()
        if uid is None:
            raise WebError(f"no user named {name!r}; create one with "
                           "'labelquorum user add NAME --role ROLE'", status=404,
                           code="not_found")
        return int(uid)

    # -- sessions ----------------------------------------------------------------------
    def open_session(self, user: User) -> tuple[str, str]:
        """A new session: (cookie secret, CSRF token)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = _now()
        with self.store.begin() as conn:
            conn.execute(schema.web_sessions.insert().values(
                token_hash=digest(token), project_id=self.pid, user_id=user.id, csrf=csrf,
                created=now, expires=now + timedelta(hours=self.session_hours)))
        return token, csrf

    def session(self, token: str) -> tuple[User, str] | None:
        """The user and CSRF token of a live session, or None."""
        s, u = schema.web_sessions, schema.users
        with self.store.connect() as conn:
            r = conn.execute(select(u.c.id, u.c.name, u.c.role, u.c.paused, s.c.csrf,
                                    s.c.expires)
                             .select_from(s.join(u, u.c.id == s.c.user_id))
                             .where((s.c.token_hash == digest(token))
                                    & (s.c.project_id == self.pid) & u.c.active)).first()
        if r is None or _aware(r.expires) < _now():
            return None
        return User(r.id, r.name, r.role, bool(r.paused)), r.csrf

    def close_session(self, token: str) -> None:
        s = schema.web_sessions
        with self.store.begin() as conn:
            conn.execute(s.delete().where(s.c.token_hash == digest(token)))

    # -- API tokens --------------------------------------------------------------------
    def create_token(self, user_id: int, name: str, scope: str | None = None,
                     days: float | None = TOKEN_DAYS) -> str:
        """A new API token (returned once). ``scope`` defaults to the user's role's;
        ``days`` is its lifetime (None: it never expires)."""
        user = self.get(user_id)
        if user is None:
            raise WebError(f"no active user with id {user_id}", status=404, code="not_found")
        scope = check_scope(scope or ROLE_SCOPE[user.role], user.role)
        if days is not None and not (0 < days <= 3650):
            raise WebError(f"a token lives 1 to 3650 days, not {days:g}; leave the lifetime "
                           "out for the default of 90", status=422, code="invalid_request")
        token = "lq_" + secrets.token_urlsafe(32)
        now = _now()
        with self.store.begin() as conn:
            conn.execute(schema.api_tokens.insert().values(
                project_id=self.pid, user_id=user_id, token_hash=digest(token),
                name=str(name)[:100], revoked=False, created=now, scope=scope,
                expires=None if days is None else now + timedelta(days=days)))
        return token

    def token_auth(self, token: str) -> tuple[User, str] | None:
        """The user and scope of a live token (not revoked, not expired, its user
        active), or None."""
        a, u = schema.api_tokens, schema.users
        with self.store.connect() as conn:
            r = conn.execute(select(u.c.id, u.c.name, u.c.role, u.c.paused, a.c.scope,
                                    a.c.expires)
                             .select_from(a.join(u, u.c.id == a.c.user_id))
                             .where((a.c.token_hash == digest(token)) & ~a.c.revoked
                                    & (a.c.project_id == self.pid) & u.c.active)).first()
        if r is None or (r.expires is not None and _aware(r.expires) < _now()):
            return None
        return User(r.id, r.name, r.role, bool(r.paused)), str(r.scope)

    def token_user(self, token: str) -> User | None:
        found = self.token_auth(token)
        return None if found is None else found[0]

    def tokens(self, user_id: int | None = None, secret: str | None = None) -> list[dict]:
        """API tokens (of one user, or all; or the one whose secret is given), newest
        first: id, user, name, scope, created, expires, revoked, expired."""
        a, u = schema.api_tokens, schema.users
        q = (select(a.c.id, u.c.name.label("user"), a.c.user_id, a.c.name, a.c.scope,
                    a.c.created, a.c.expires, a.c.revoked)
             .select_from(a.join(u, u.c.id == a.c.user_id))
             .where(a.c.project_id == self.pid).order_by(a.c.id.desc()))
        if user_id is not None:
            q = q.where(a.c.user_id == user_id)
        if secret is not None:
            q = q.where(a.c.token_hash == digest(secret))
        now = _now()
        with self.store.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        for r in rows:
            r["expired"] = r["expires"] is not None and _aware(r["expires"]) < now
        return rows

    def revoke_token(self, token_id: int, user_id: int | None = None) -> None:
        """Revoke a token for good (only one of ``user_id``'s, when given)."""
        a = schema.api_tokens
        where = (a.c.id == token_id) & (a.c.project_id == self.pid)
        if user_id is not None:
            where &= a.c.user_id == user_id
        with self.store.begin() as conn:
            if conn.execute(update(a).where(where).values(revoked=True)).rowcount == 0:
                raise WebError(f"no API token with id {token_id}"
                               + ("" if user_id is None else " of yours"),
                               status=404, code="not_found")

    # -- server-side secrets -----------------------------------------------------------
    def key(self, name: str) -> bytes:
        """A random secret kept in the store under ``name``, made on first use."""
        k = schema.web_keys
        where = (k.c.project_id == self.pid) & (k.c.name == name)
        for _ in range(2):  # PostgreSQL: another server may make it at the same moment
            try:
                with self.store.begin() as conn:
                    secret = conn.execute(select(k.c.secret).where(where)).scalar()
                    if secret is None:
                        secret = secrets.token_hex(32)
                        conn.execute(k.insert().values(project_id=self.pid, name=name,
                                                       secret=secret, created=_now()))
                return bytes.fromhex(secret)
            except IntegrityError:
                continue
        raise WebError(f"cannot keep the server key {name!r} in the store", status=503,
                       code="busy")
