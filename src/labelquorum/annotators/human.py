"""People: a deferred annotator, and the one place their answers are written.

Asking a person creates a task (a pending request in the ledger); the answer arrives
later through the store (the web app, or :meth:`labelquorum.Project.add_judgements`), and
the next run picks it up.

Both paths write answers through :func:`store_answers`. A judgement of a person keeps the
config's human annotator as ``annotator`` (the run pools the answers of one task under
that name) and the person as ``worker`` (their user name), so truth inference can tell
people apart: :meth:`labelquorum.Project.judgements` shows such a row's annotator as
``people:alice``. A task takes the annotator's ``overlap`` answers, each from a different
person; its request is done, and the next run uses the answers, once they are all in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select, update

from ..store import schema
from .base import Annotator, Answers, Items

KIND = "human"


class HumanAnnotator(Annotator):
    kind = KIND
    deferred = True

    @property
    def max_cost(self) -> float:
        """Reserved per task: for each of its ``overlap`` people, the price per call plus
        the hourly rate for ``max_seconds``."""
        cfg = self.config
        per_person = float(cfg.cost_per_call) + float(cfg.cost_per_hour) * cfg.max_seconds / 3600
        return per_person * int(getattr(cfg, "overlap", 1))

    def predict(self, items: Items) -> Answers:  # never called: answers arrive later
        return Answers(labels=[None] * len(items))


def answer_cost(cfg: Any, seconds: float | None = None, cost: float | None = None) -> float:
    """A given ``cost``, else the annotator's price per call plus its hourly rate times the
    ``seconds`` spent (capped at ``max_seconds``, the time reserved per task), so people's
    time and model calls share one ledger."""
    if cost is not None:
        return float(cost)
    if cfg is None:
        return 0.0
    seconds = min(float(seconds or 0.0), float(getattr(cfg, "max_seconds", 0.0)))
    return float(cfg.cost_per_call) + float(getattr(cfg, "cost_per_hour", 0.0)) * seconds / 3600


@dataclass(frozen=True)
class HumanAnswer:
    """One person's answer to one task (a pending request of a human annotator)."""

    request_key: str
    item_id: str
    annotator: str  # the config's human annotator, under which the run pools answers
    annotator_version: str
    worker: str | None  # who answered (a user name); None when the caller did not say
    label: str  # in the task's text form (``Task.format_label``)
    value: Any  # the kind's stored value (spans, label sets, a rating), else None
    confidence: float | None
    cost: float
    latency: float | None  # seconds spent


_T, _HT, _RQ = schema.judgements, schema.human_tasks, schema.requests
_INSERT = _T.insert().returning(_T.c.id, sort_by_parameter_order=True)
_ANSWERED = (select(_T.c.request_key, func.count().label("n"))
             .where((_T.c.project_id == bindparam("pid"))
                    & _T.c.item_id.in_(bindparam("items", expanding=True))
                    & _T.c.request_key.in_(bindparam("keys", expanding=True))
                    & (_T.c.status == "ok") & (_T.c.annotator_kind == KIND))
             .group_by(_T.c.request_key))
_done_after = _HT.c.done + bindparam("k")
_active_after = _HT.c.active + bindparam("extra")
_COUNT = (update(_HT).where((_HT.c.project_id == bindparam("pid"))
                            & (_HT.c.request_key == bindparam("rkey")))
          .values(done=_done_after, active=_active_after,
                  state=case((_done_after >= _HT.c.needed, "closed"),
                             (_active_after >= _HT.c.needed, "full"), else_=_HT.c.state)))
_CLOSE = (update(_RQ).where((_RQ.c.project_id == bindparam("pid"))
                            & (_RQ.c.key == bindparam("rkey"))
                            & ((_RQ.c.state == "pending") | (_RQ.c.state == "sent")))
          .values(state="done", updated=bindparam("now", type_=_RQ.c.updated.type)))


def answers_so_far(conn: Connection, project_id: int,
                   keys: Mapping[str, str]) -> dict[str, list[str | None]]:
    """The workers who have answered each task so far, by request key (``keys`` maps each
    request key to its item id)."""
    if not keys:
        return {}
    rows = conn.execute(select(_T.c.request_key, _T.c.worker).where(
        (_T.c.project_id == project_id) & _T.c.item_id.in_(sorted(set(keys.values())))
        & _T.c.request_key.in_(list(keys)) & (_T.c.status == "ok")
        & (_T.c.annotator_kind == KIND)))
    out: dict[str, list[str | None]] = {key: [] for key in keys}
    for key, worker in rows:
        out[key].append(worker)
    return out


def store_answers(conn: Connection, project_id: int, value_type: str,
                  answers: Sequence[HumanAnswer], overlap: Mapping[str, int], now: datetime,
                  *, leased: bool = False) -> list[int]:
    """Write people's answers (already validated) and close the tasks they complete, inside
    the caller's write transaction; returns the new judgement ids, in order.

    A task's request is done once it has ``overlap[annotator]`` answers; the web app's
    task row (if the web app has queued the task) counts the answers too. ``leased``: the
    answers come through the web app's leases, which already hold their place in the
    task; answers from elsewhere take one."""
    if not answers:
        return []
    ids = list(conn.execute(_INSERT, [{
        "project_id": project_id, "request_key": a.request_key, "item_id": a.item_id,
        "annotator": a.annotator, "worker": a.worker, "annotator_kind": KIND,
        "annotator_version": a.annotator_version, "value_type": value_type,
        "label": a.label, "value": a.value, "probs": None, "confidence": a.confidence,
        "cost": a.cost, "latency": a.latency, "call_id": None, "run_id": None,
        "status": "ok", "simulated": False, "created": now} for a in answers]).scalars())
    new = Counter(a.request_key for a in answers)
    conn.execute(_COUNT, [{"pid": project_id, "rkey": key, "k": k, "extra": 0 if leased else k}
                          for key, k in new.items()])
    of = {a.request_key: a for a in answers}
    counts = dict(conn.execute(_ANSWERED, {"pid": project_id,
                                           "items": sorted({a.item_id for a in answers}),
                                           "keys": list(new)}).all())
    full = [key for key, a in of.items() if counts.get(key, 0) >= int(overlap.get(a.annotator, 1))]
    if full:
        conn.execute(_CLOSE, [{"pid": project_id, "rkey": key, "now": now} for key in full])
    return ids
