"""The run engine, one job a module (:mod:`labelquorum.run` tells the story that uses them).

- :mod:`.lock` — one process runs a project at a time; a killed run is resumed;
- :mod:`.training` — the verified pool models learn from and LLMs take examples from;
- :mod:`.state` — the store rebuilt into the arrays policies see, kept current;
- :mod:`.ledger` — requests, decisions and answers written, and the budget;
- :mod:`.executor` — asking annotators within the budget, storing each answer;
- :mod:`.ray_executor`, :mod:`.ray_actors` — the same, with annotators on a Ray cluster
  (``[run] executor = "ray"``, the ``ray`` extra).
"""

from .ledger import Budget, Ledger, request_key
from .lock import RunLock
from .state import RunState

__all__ = ["Budget", "Ledger", "RunLock", "RunState", "request_key"]
