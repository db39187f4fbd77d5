"""What guards the login form: the throttle, the form's token, the origin check.

**Throttle** (:class:`LoginLimiter`): failed logins slow the next try down, they never
lock an account. Each (name, client address) pair has ``attempts`` free failures, then
must wait 1, 2, 4 ... seconds (at most ``max_delay``) after its last failure before the
next try is even checked (429 with ``Retry-After``); once the wait is over, a correct
password gets in. A try counts as failed for its pair from its start until it succeeds,
so a burst of simultaneous tries cannot slip past the backoff. One address that fails on many names gets the same backoff after
four times as many failures. Failures on a name from every address add a short
server-side wait (at most ``slowdown_max`` seconds) to each try on it, a slow-down that
never refuses: so an attacker's failures cannot keep the owner out, from another
address at once, from theirs after the wait. Addresses come from the connection, or
from ``X-Forwarded-For`` only when the connection is a trusted proxy
(``web.trusted_proxies``). The state is kept in memory, per server process.

**Form token** (:class:`LoginForm`): the login and invite forms carry a token signed
with a key kept in the store (HMAC-SHA256 over a random nonce, which also goes into a
cookie, and the time), valid an hour. A value the server did not sign is refused, so
planting a cookie and a matching form field of one's own no longer logs anybody in.

**Origin check** (:func:`cross_origin`): a browser says where a form post comes from
(``Sec-Fetch-Site``, or ``Origin``); a post from another origin (another site, or
another port of this host, which cookies do not tell apart) is refused. A page on
another port could otherwise fetch a genuinely signed token and post it with the
victim's browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

FORM_SECONDS = 3600  # how long a login or invite form stays valid
FORGET_SECONDS = 86400.0  # failures older than this are forgotten
MAX_RECORDS = 100_000  # failures remembered at most (the oldest go first)


@dataclass
class _Failures:
    count: int
    last: float


class LoginLimiter:
    """Exponential backoff on failed logins per (name, address) and per address, and a
    bounded slow-down per name; never a lockout (see the module docstring).

    ``clock`` and ``sleep`` are the time source and the wait (tests pass their own)."""

    def __init__(self, attempts: int = 5, max_delay: float = 900.0,
                 slowdown_max: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.attempts, self.max_delay, self.slowdown_max = attempts, max_delay, slowdown_max
        self.clock = clock
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def _delay(self, key: tuple[str, str], free: int, now: float) -> float:
        f = self._failures.get(key)
        if f is None or f.count < free:
            return 0.0
        if now - f.last > FORGET_SECONDS:
            del self._failures[key]
            return 0.0
        wait = min(self.max_delay, 2.0 ** (f.count - free))
        return max(0.0, f.last + wait - now)

    def wait(self, name: str, address: str) -> float:
        """Seconds before ``address`` may try ``name`` again; 0 when it may now."""
        with self._lock:
            now = self.clock()
            return max(self._delay(("n", name + "\0" + address), self.attempts, now),
                       self._delay(("a", address), self.attempts * 4, now))

    def slowdown(self, name: str) -> float:
        """Seconds the server waits before checking a try on ``name`` (from anywhere):
        grows with the name's recent failures from every address, at most
        ``slowdown_max``; it delays, it never refuses."""
        with self._lock:
            f = self._failures.get(("u", name))
            if f is None or f.count <= self.attempts or self.clock() - f.last > FORGET_SECONDS:
                return 0.0
            return min(self.slowdown_max, 0.1 * (f.count - self.attempts))

    def start(self, name: str, address: str) -> float:
        """Begin a try: 0 when it may go ahead, and it counts as failed for its (name,
        address) pair until :meth:`succeeded` says otherwise, so a burst of simultaneous
        tries cannot slip past the backoff; else the seconds left to wait, and nothing
        is counted. (The address's and the name's counts grow only with answers known
        to be wrong: many people logging in at once from one address hold nobody up.)"""
        with self._lock:
            now = self.clock()
            wait = max(self._delay(("n", name + "\0" + address), self.attempts, now),
                       self._delay(("a", address), self.attempts * 4, now))
            if wait == 0:
                self._record([("n", name + "\0" + address)], now)
            return wait

    def failed(self, name: str, address: str, started: bool = False) -> None:
        """Count a wrong password (``started``: for a try begun with :meth:`start`)."""
        keys = [("a", address), ("u", name)]
        if not started:
            keys.append(("n", name + "\0" + address))
        with self._lock:
            self._record(keys, self.clock())

    def _record(self, keys: list[tuple[str, str]], now: float) -> None:
        if len(self._failures) >= MAX_RECORDS:
            self._prune(now)
        for key in keys:
            f = self._failures.get(key)
            if f is None or now - f.last > FORGET_SECONDS:
                self._failures[key] = _Failures(1, now)
            else:
                f.count, f.last = f.count + 1, now

    def succeeded(self, name: str, address: str) -> None:
        """The password was right: the pair's failures are forgotten."""
        with self._lock:
            self._failures.pop(("n", name + "\0" + address), None)

    def _prune(self, now: float) -> None:
        old = [k for k, f in self._failures.items() if now - f.last > FORGET_SECONDS]
        for k in old:
            del self._failures[k]
        if len(self._failures) >= MAX_RECORDS:  # still full: forget the older half
            ordered = sorted(self._failures.items(), key=lambda kv: kv[1].last)
            self._failures = dict(ordered[len(ordered) // 2:])


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class LoginForm:
    """Tokens for the login and invite forms, signed with a server-side ``key``."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time):
        self.key, self.clock = key, clock

    def _mac(self, nonce: str, stamp: str) -> str:
        mac = hmac.new(self.key, f"login|{nonce}|{stamp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self) -> tuple[str, str]:
        """(cookie nonce, form token) for a new form."""
        nonce = secrets.token_urlsafe(24)
        stamp = str(int(self.clock()))
        return nonce, f"{stamp}.{self._mac(nonce, stamp)}"

    def valid(self, nonce: str, token: str) -> bool:
        """Did this server sign ``token`` for ``nonce`` within the last hour?"""
        stamp, _, mac = token.partition(".")
        if not nonce or not stamp.isdigit() or not mac:
            return False
        age = self.clock() - int(stamp)
        if not -60 <= age <= FORM_SECONDS:
            return False
        return hmac.compare_digest(mac, self._mac(nonce, stamp))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_origin(headers, own: set[str]) -> bool:
    """Did a browser send this request from another origin? ``own`` holds this server's
    origins (``scheme://host:port``). A request without the browser's headers (a
    script) is not cross-origin: it carries no victim's cookies."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in {"same-origin", "none"}
    origin = headers.get("origin")
    if origin is None:
        return False
    return origin.lower() not in own
