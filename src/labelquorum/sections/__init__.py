"""The models of ``labelquorum.toml``'s sections, one module per area.

:mod:`labelquorum.config` loads a file and validates it against them.
"""

from . import annotators, base, policies, project, quality, task, web

__all__ = ["annotators", "base", "policies", "project", "quality", "task", "web"]
