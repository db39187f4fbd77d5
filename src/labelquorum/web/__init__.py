"""The people's web app (``labelquorum serve``): annotate, review, dashboard, JSON API.

Needs the ``web`` extra (FastAPI, Jinja2, uvicorn, python-multipart)::

    from labelquorum.web import create_app
    app = create_app(project)            # an ASGI app; serve with uvicorn
"""

from __future__ import annotations

from ..errors import MissingExtraError


def create_app(project, **kwargs):
    """The ASGI app for an open project; see :func:`labelquorum.web.app.create_app`."""
    try:
        from .app import create_app as _create
    except ModuleNotFoundError as exc:
        raise MissingExtraError("The web app", "web", exc.name or "fastapi") from None
    return _create(project, **kwargs)


def listen(host: str = "127.0.0.1", port: int = 8000):
    """A listening socket on ``host:port`` (port 0: a free one; read it back with
    ``sock.getsockname()[1]``), or a :class:`WebError` that says why not."""
    import socket

    from ..errors import WebError

    if not 0 <= port <= 65535:
        raise WebError(f"--port {port} is not a TCP port; use 1-65535, or 0 for any free one")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise WebError(f"--host {host!r} is not an address this machine has ({exc}); use "
                       "e.g. 127.0.0.1, or 0.0.0.0 for every address") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise WebError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose "
                       "another --port (0 picks a free one) or stop what uses it") from None
    sock.set_inheritable(True)
    return sock


def serve(project, host: str = "127.0.0.1", port: int = 8000, sock=None, **kwargs) -> None:
    """Run the web app with uvicorn until interrupted, on ``sock`` when given (see
    :func:`listen`), else on ``host:port``."""
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise MissingExtraError("The web app", "web", exc.name or "uvicorn") from None
    sock = sock if sock is not None else listen(host, port)
    # forwarded headers are handled by the app itself, from web.trusted_proxies only
    config = uvicorn.Config(create_app(project, **kwargs), log_level="info", access_log=False,
                            proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])


__all__ = ["create_app", "listen", "serve"]
