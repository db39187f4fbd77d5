"""What comes back from a leased item: an answer, a skip, an undo, the page's visibility.

:class:`Answers` is the answering half of :class:`labelquorum.web.assign.Assigner` (the
queue half claims and leases). Two rules keep golden questions indistinguishable and the
ledger honest:

- **Time on an item is the server's.** It runs from the later of the lease and the
  person's previous answer (a preloaded item is not on screen before that) to the submit,
  less the time the page reported itself hidden (``POST /api/visibility``), and at most
  ``web.lease_seconds``. The browser's ``seconds`` is a hint that can only lower it. The
  cost is charged from the stored figure.
- **Undo answers from events anyone's work would see**, the same for golden questions and
  real work: an answer can no longer be taken back (409 ``decided``) once a run has been
  active since it was given or its item has been decided since; a skip can no longer be
  taken back (409 ``taken``) once a run has been active or someone else has been given an
  item since. Real work also keeps its own guards (a task filled or closed meanwhile).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select, update

from ..annotators.human import HumanAnswer, answer_cost, store_answers
from ..errors import LabelquorumError, WebError
from ..store import schema
from .auth import User


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Answers:
    """Answers, skips, undos and visibility reports on leased items (mixed into
    :class:`~labelquorum.web.assign.Assigner`, which provides the store, the task, the
    golden questions and the claim transaction)."""

    def _prepare_answers(self) -> None:
        a, r = schema.assignments, schema.runs
        pid = self.pid
        self._q_last = select(func.max(a.c.submitted)).where(
            (a.c.project_id == pid) & (a.c.user_id == bindparam("uid")))
        since = bindparam("since", type_=schema.runs.c.started.type)
        self._q_ran = select(r.c.id).where(
            (r.c.project_id == pid) & ((r.c.started > since) | (r.c.finished > since)
                                       | (r.c.heartbeat > since))).limit(1)
        self._q_others = select(a.c.id).where(
            (a.c.project_id == pid) & (a.c.id > bindparam("after"))
            & (a.c.user_id != bindparam("uid"))
            & (a.c.leased > bindparam("since", type_=a.c.leased.type))).limit(1)

    def _mine(self, conn: Connection, user: User, public_id: str, state: str):
        row = conn.execute(self._q_mine, {"public_id": public_id, "uid": user.id}).first()
        if row is None:
            raise WebError("no such item among yours; it may have been returned to the queue "
                           "after its lease expired", status=404, code="not_found")
        if row.state != state:
            raise WebError(f"this item is {row.state}, not {state}", status=409,
                           code="conflict")
        return row

    def _time_on(self, conn: Connection, user: User, row, now: datetime) -> float:
        """Seconds the item was on the person's screen, as the server saw it."""
        start = _aware(row.leased)
        last = conn.execute(self._q_last, {"uid": user.id}).scalar()
        if last is not None:
            start = max(start, _aware(last))
        elapsed = (now - start).total_seconds()
        hidden = float(row.hidden_seconds or 0.0)
        if row.hidden_since is not None:
            hidden += (now - max(_aware(row.hidden_since), start)).total_seconds()
        return max(0.0, min(elapsed - hidden, float(self.web.lease_seconds)))

    def submit(self, user: User, public_id: str, label: Any, seconds: float | None = None,
               judge: Any = None) -> bool:
        """Store a person's answer to a leased item; returns whether it was a golden
        question. ``seconds`` (the browser's figure) can only lower the server's."""
        from .assign import not_paused

        not_paused(user)
        try:
            value = self.task.parse_label(label, self._text_of(user, public_id)
                                          if self.task.strategy.needs_text else None)
        except LabelquorumError as exc:
            raise WebError(str(exc), status=422, code="invalid_label") from None
        text = self.task.format_label(value)
        a = schema.assignments
        now = _now()
        with self._tx() as conn:
            row = self._mine(conn, user, public_id, "leased")
            measured = self._time_on(conn, user, row, now)
            spent = measured if seconds is None else max(0.0, min(float(seconds), measured))
            suggested = _suggested(row.suggestion)
            values: dict[str, Any] = {"state": "done", "submitted": now, "seconds": spent,
                                      "label": text, "hidden_since": None,
                                      "suggestion_accepted": None if suggested is None
                                      else suggested == text}
            if row.control:
                values["correct"] = self.gold.is_correct(conn, row.item_id, value)
            else:
                task = conn.execute(self._q_task_of, {"rkey": row.request_key}).first()
                answer = HumanAnswer(
                    row.request_key, row.item_id, task.annotator, task.annotator_version,
                    user.name, text, self.task.strategy.stored(self.task, value)[1], None,
                    answer_cost(self.humans.get(task.annotator), spent), spent)
                values["judgement_id"] = store_answers(
                    conn, self.pid, self.task.value_type, [answer], self.overlap, now,
                    leased=True)[0]
            conn.execute(update(a).where(a.c.id == row.id).values(**values))
        if judge is not None and not row.control:
            judge(self, row, text)
        return bool(row.control)

    def visibility(self, user: User, public_id: str, hidden: bool) -> None:
        """The page with this item became hidden (another tab, a minimised window) or
        visible again: hidden time is left out of the time on the item."""
        a = schema.assignments
        now = _now()
        with self._tx() as conn:
            row = self._mine(conn, user, public_id, "leased")
            if hidden and row.hidden_since is None:
                conn.execute(update(a).where(a.c.id == row.id).values(hidden_since=now))
            elif not hidden and row.hidden_since is not None:
                gone = (now - _aware(row.hidden_since)).total_seconds()
                conn.execute(update(a).where(a.c.id == row.id).values(
                    hidden_since=None,
                    hidden_seconds=float(row.hidden_seconds or 0.0) + max(0.0, gone)))

    def _text_of(self, user: User, public_id: str) -> str | None:
        """The text of a person's item (spans are checked against it); None if unknown."""
        import json

        a, it = schema.assignments, schema.items
        with self.store.connect() as conn:
            raw = conn.execute(select(it.c.fields).select_from(
                a.join(it, (it.c.project_id == a.c.project_id) & (it.c.id == a.c.item_id)))
                .where((a.c.project_id == self.pid) & (a.c.public_id == public_id)
                       & (a.c.user_id == user.id))).scalar()
        return None if raw is None else str(json.loads(raw).get(self.task.text_field, ""))

    def skip(self, user: User, public_id: str) -> None:
        """Hand an item back: it goes to someone else, never to this person again."""
        a = schema.assignments
        with self._tx() as conn:
            row = self._mine(conn, user, public_id, "leased")
            conn.execute(update(a).where(a.c.id == row.id).values(state="skipped",
                                                                   submitted=_now(),
                                                                   hidden_since=None))
            if row.request_key is not None:
                self._release(conn, row.request_key)

    def undo(self, user: User) -> str:
        """Take back the person's last answer or skip (see the module's rules); the item
        is theirs again. Returns its public id."""
        from .assign import not_paused

        a, d = schema.assignments, schema.decisions
        not_paused(user)
        now = _now()
        with self._tx() as conn:
            row = conn.execute(select(a).where((a.c.project_id == self.pid)
                                               & (a.c.user_id == user.id)
                                               & a.c.state.in_(("done", "skipped")))
                               .order_by(a.c.submitted.desc(), a.c.id.desc()).limit(1)).first()
            if row is None:
                raise WebError("there is nothing to undo", status=409, code="nothing_to_undo")
            since = _aware(row.submitted)
            ran = conn.execute(self._q_ran, {"since": since}).first() is not None
            if row.state == "done":
                decided = conn.execute(select(d.c.created).where(
                    (d.c.project_id == self.pid) & (d.c.item_id == row.item_id))).scalar()
                if ran or (decided is not None and (
                        _aware(decided) > since or not row.control)):
                    raise WebError("this answer has been used since (a run has taken it up, "
                                   "or its item was decided); it can no longer be undone",
                                   status=409, code="decided")
            else:
                others = conn.execute(self._q_others, {"after": row.id, "uid": user.id,
                                                       "since": since}).first() is not None
                if ran or others:
                    raise _taken()
            if row.request_key is not None:
                self._undo_task(conn, row, now)
            conn.execute(update(a).where(a.c.id == row.id).values(
                state="leased", leased=now, submitted=None, seconds=None, label=None,
                correct=None, judgement_id=None, suggestion_accepted=None,
                hidden_seconds=0.0, hidden_since=None,
                lease_expires=now + timedelta(seconds=self.web.lease_seconds)))
            return row.public_id

    def _undo_task(self, conn: Connection, row, now: datetime) -> None:
        """Real work: give the task its place back, or take the answer out of it."""
        ht, rq, j = schema.human_tasks, schema.requests, schema.judgements
        key = (ht.c.project_id == self.pid) & (ht.c.request_key == row.request_key)
        task = conn.execute(select(ht).where(key).with_for_update()).first()
        if row.state == "skipped":
            if task.active >= task.needed or task.state == "closed":
                raise _taken()
            conn.execute(update(ht).where(key).values(
                active=ht.c.active + 1,
                state=case((ht.c.active + 1 >= ht.c.needed, "full"), else_="open")))
            return
        conn.execute(update(j).where(j.c.id == row.judgement_id).values(status="superseded"))
        conn.execute(update(ht).where(key).values(done=ht.c.done - 1, state="full"))
        conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                      & (rq.c.key == row.request_key) & (rq.c.state == "done"))
                     .values(state="pending", updated=now))


def _taken() -> WebError:
    return WebError("this item may have gone to someone else since; it can no longer be "
                    "undone", status=409, code="taken")


def _suggested(raw: str | None) -> str | None:
    import json

    return json.loads(raw)[0] if raw else None
