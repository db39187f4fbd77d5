"""What both conformance kits share: the error a failed check raises."""

from __future__ import annotations

from ..errors import LabelquorumError


class ConformanceError(LabelquorumError):
    """An annotator broke the contract; ``check`` names the check, ``item`` the item (or None)."""

    def __init__(self, check: str, message: str, item: str | None = None):
        self.check, self.item = check, item
        where = f" on item {item!r}" if item is not None else ""
        super().__init__(f"Conformance check {check!r} failed{where}: {message}")
