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


def serve(project, host: str = "127.0.0.1", port: int = 8000, **kwargs) -> None:
    """Run the web app with uvicorn until interrupted."""
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise MissingExtraError("The web app", "web", exc.name or "uvicorn") from None
    uvicorn.run(create_app(project, **kwargs), host=host, port=port, log_level="info",
                access_log=False, proxy_headers=False)


__all__ = ["create_app", "serve"]
