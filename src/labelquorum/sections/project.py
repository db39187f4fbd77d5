"""The ``[project]`` and ``[store]`` sections."""

from __future__ import annotations

from .base import Strict


class StoreConfig(Strict):
    url: str | None = None
    """SQLAlchemy URL; default: SQLite file ``labelquorum.db`` in the project directory."""


class ProjectSection(Strict):
    name: str = "labelquorum-project"
    seed: int = 0
    media_root: str = "media"
