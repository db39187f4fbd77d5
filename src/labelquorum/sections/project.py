"""The ``[project]``, ``[store]`` and ``[run]`` sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Strict


class StoreConfig(Strict):
    url: str | None = None
    """SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/db`` (the ``postgres`` extra);
    unset: the environment variable ``LABELQUORUM_DATABASE_URL``, else the SQLite file
    ``labelquorum.db`` in the project directory."""


class ProjectSection(Strict):
    name: str = "labelquorum-project"
    """The project's name in the store; one database can hold many projects."""
    seed: int = 0
    """Seed for tie-breaks, simulated annotators and gold-role splits."""
    media_root: str = "media"
    """Folder (inside the project) that image items may refer to."""


class RunSection(Strict):
    """``[run]``: where the run's annotators do their work."""

    executor: Literal["local", "ray"] = "local"
    """Where annotators run: ``local`` (the run's own process) or ``ray`` (a Ray cluster)."""
    address: str | None = None
    """The Ray cluster to join (``HOST:PORT`` of its head, or ``auto``); unset: a private
    single-node cluster started for the run."""
    actors: int = Field(2, ge=1, le=1024)
    """Ray worker processes (actors) per annotator that runs on Ray."""
    workers: Literal["one", "many"] = "one"
    """``one``: one process runs the project, a second ``labelquorum run`` is refused;
    ``many`` (PostgreSQL only): every ``labelquorum run`` on the project, from any host,
    joins the run in progress as a worker (see the how-to on many workers)."""
    lease_seconds: float = Field(60.0, ge=1.0, le=3600.0)
    """With ``workers = "many"``: how long a worker's claim on a call lasts without its
    heartbeat; a claim of a worker that stopped beating is taken over after this."""
