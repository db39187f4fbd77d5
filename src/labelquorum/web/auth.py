"""Accounts, sessions, CSRF tokens, API tokens and the login rate limit.

Passwords are hashed with scrypt (``hashlib.scrypt``, N=2**14, r=8, p=1, a 16-byte salt),
stored as ``scrypt$N$r$p$salt$hash``. Session cookies, invite links and API tokens are
random 32-byte secrets; only their SHA-256 is stored, so a copy of the database lets
nobody in. Every session carries its own CSRF token, which a state-changing request
must send back (form field ``csrf_token`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from ..errors import WebError
from ..store import Store, schema

ROLES = ("annotator", "reviewer", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
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
    if len(password) < MIN_PASSWORD:
        raise WebError(f"the password is too short ({len(password)} characters); use at least "
                       f"{MIN_PASSWORD}")
    return password


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
            if row is None or row.invite_expires is None or _aware(row.invite_expires) < _now():
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
        t = schema.users
        with self.store.connect() as conn:
            r = conn.execute(select(t).where((t.c.id == user_id) & (t.c.project_id == self.pid)
                                             & t.c.active)).first()
        return None if r is None else User(r.id, r.name, r.role, bool(r.paused))

    def set_paused(self, user_id: int, paused: bool) -> None:
        t = schema.users
        with self.store.begin() as conn:
            conn.execute(update(t).where((t.c.id == user_id) & (t.c.project_id == self.pid))
                         .values(paused=paused))

    def authenticate(self, name: str, password: str) -> User | None:
        t = schema.users
        with self.store.connect() as conn:
            r = conn.execute(select(t).where((t.c.project_id == self.pid) & (t.c.name == name)
                                             & t.c.active)).first()
        if r is None:
            verify_password(password, _DUMMY)
            return None
        if not verify_password(password, r.password_hash):
            return None
        return User(r.id, r.name, r.role, bool(r.paused))

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
    def create_token(self, user_id: int, name: str) -> str:
        token = "lq_" + secrets.token_urlsafe(32)
        with self.store.begin() as conn:
            conn.execute(schema.api_tokens.insert().values(
                project_id=self.pid, user_id=user_id, token_hash=digest(token), name=name,
                revoked=False, created=_now()))
        return token

    def token_user(self, token: str) -> User | None:
        a, u = schema.api_tokens, schema.users
        with self.store.connect() as conn:
            r = conn.execute(select(u.c.id, u.c.name, u.c.role, u.c.paused)
                             .select_from(a.join(u, u.c.id == a.c.user_id))
                             .where((a.c.token_hash == digest(token)) & ~a.c.revoked
                                    & (a.c.project_id == self.pid) & u.c.active)).first()
        return None if r is None else User(r.id, r.name, r.role, bool(r.paused))

    def user_id(self, name: str) -> int:
        t = schema.users
        with self.store.connect() as conn:
            uid = conn.execute(select(t.c.id).where((t.c.project_id == self.pid)
                                                    & (t.c.name == name))).scalar()
        if uid is None:
            raise WebError(f"no user named {name!r}; create one with "
                           "'labelquorum user add NAME --role ROLE'")
        return int(uid)


class LoginLimiter:
    """At most ``attempts`` failed logins per (name, address) in a sliding ``window``."""

    def __init__(self, attempts: int = 5, window: float = 300.0):
        self.attempts, self.window = attempts, window
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        self._failures[key] = times
        return times

    def blocked(self, name: str, address: str) -> bool:
        with self._lock:
            now = time.monotonic()
            return (len(self._recent((name, address), now)) >= self.attempts
                    or len(self._recent(("", address), now)) >= self.attempts * 4)

    def failed(self, name: str, address: str) -> None:
        with self._lock:
            now = time.monotonic()
            for key in ((name, address), ("", address)):
                self._recent(key, now).append(now)

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop((name, address), None)
