"""A person's progress on the annotation page: done today, done overall, left in the queue.

"Left in the queue" counts what is still ahead of the person: the open tasks not given
to them yet plus the items they hold unanswered (the one on screen and the preloaded
one), so preloading does not move it. A golden question counts as a queue item in every
state: each one the person was given (held, answered or skipped) is taken off the open
tasks, as a real item's lease takes its task off them, so claiming, answering, skipping,
undoing and a lease running out move the figure the same way for golden questions and
real work (the figure runs low by the golden questions answered, never high). The page
counts up and down itself as the person answers and asks the server again only on load
and every twenty answers (``web/static/app.js``), which keeps the open-task count (an
index scan) off the hot path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select

from ..store import schema
from .auth import User

if TYPE_CHECKING:
    from ..project import Project


class Progress:
    def __init__(self, project: Project):
        self.store = project.store
        a, ht = schema.assignments, schema.human_tasks
        pid = project.store.project_id
        mine = (a.c.project_id == pid) & (a.c.user_id == bindparam("uid"))
        self._q_total = select(func.count()).select_from(a).where(mine & (a.c.state == "done"))
        self._q_today = select(func.count()).select_from(a).where(
            mine & (a.c.state == "done")
            & (a.c.submitted >= bindparam("midnight", type_=a.c.submitted.type)))
        self._q_held = select(func.count()).select_from(a).where(mine & (a.c.state == "leased"))
        self._q_golden = select(func.count()).select_from(a).where(mine & a.c.control)
        self._q_open = select(func.count()).select_from(ht).where(
            (ht.c.project_id == pid) & (ht.c.state == "open"))
        self._q_mine_open = (select(func.count()).select_from(a.join(
            ht, (ht.c.project_id == a.c.project_id) & (ht.c.request_key == a.c.request_key)))
            .where(mine & (ht.c.state == "open")))

    def of(self, user: User, offset_minutes: int = 0) -> dict[str, int]:
        """``offset_minutes``: the person's clock, as JavaScript's ``getTimezoneOffset``
        gives it (minutes behind UTC), so "today" starts at their midnight."""
        local = datetime.now(UTC) - timedelta(minutes=offset_minutes)
        midnight = (local.replace(hour=0, minute=0, second=0, microsecond=0)
                    + timedelta(minutes=offset_minutes))
        uid = {"uid": user.id}
        with self.store.connect() as conn:
            total = conn.execute(self._q_total, uid).scalar() or 0
            today = conn.execute(self._q_today, {**uid, "midnight": midnight}).scalar() or 0
            held = conn.execute(self._q_held, uid).scalar() or 0
            mine = conn.execute(self._q_mine_open, uid).scalar() or 0
            golden = conn.execute(self._q_golden, uid).scalar() or 0
            open_ = conn.execute(self._q_open).scalar() or 0
        ahead = max(0, int(open_) - int(mine)) + int(held) - int(golden)
        return {"today": int(today), "total": int(total), "remaining": max(0, ahead)}
