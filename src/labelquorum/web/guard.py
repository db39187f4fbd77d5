"""The gate every request body passes before the app reads it (pure ASGI middleware).

- A body larger than ``web.max_body_bytes`` (the login and invite forms: 16 KB) is
  refused with 413 from its ``Content-Length`` alone, before one byte of it is read;
  a body without a length (chunked) is counted as it arrives and refused the moment it
  passes the limit.
- A state-changing request to anything but the login and invite forms must come with
  a live session cookie or API token: it is answered 401 (pages: a redirect to the
  login page) before its body is read, so nobody can make the server read and parse
  bodies without logging in. The identity found is handed on to the route.

Refusals close the connection (``Connection: close``), so the server reads nothing
more of the body either.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request

if TYPE_CHECKING:
    from .app import WebApp

PUBLIC_POSTS = frozenset({"/login", "/invite"})
FORM_LIMIT = 16_384  # bytes: a name, a password and a token
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than the server takes "
                              f"({limit} bytes; web.max_body_bytes)")


class BodyGuard:
    def __init__(self, app, web: WebApp, limit: int):
        self.app, self.web, self.limit = app, web, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        public = scope["path"] in PUBLIC_POSTS
        limit = min(self.limit, FORM_LIMIT) if public else self.limit
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            if not length.isdigit():
                return await _refuse(scope, send, 400, "invalid_request",
                                     "the Content-Length header is not a number")
            if int(length) > limit:
                return await _refuse(scope, send, 413, "too_large", BodyTooLarge(limit).detail)
        if not public:
            auth = await run_in_threadpool(self.web.identify, Request(scope))
            if auth is None:
                return await _refuse(scope, send, 401, "unauthenticated",
                                     "you are not logged in (or your session has expired); "
                                     "log in, or send an API token as 'Authorization: Bearer "
                                     "TOKEN'")
            scope.setdefault("state", {})["auth"] = auth
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return await self.app(scope, counted, send)


async def _refuse(scope, send, status: int, code: str, message: str) -> None:
    """Answer without reading the body: the API's error shape, or for pages a redirect to
    the login page (401) or a line of text; the connection closes after it."""
    path = scope["path"]
    headers = [(b"connection", b"close"), (b"cache-control", b"no-store")]
    if path == "/api" or path.startswith("/api/"):
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        headers.append((b"content-type", b"application/json"))
    elif status == 401:
        status, body = 303, b""
        headers.append((b"location", b"/login"))
    else:
        body = message.encode()
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
