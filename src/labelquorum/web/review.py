"""The reviewer's view: disagreements, adjudication, item pages and the data browser.

An item needs review when the people who answered it disagree, or when the people's
majority differs from the models' most confident answer. Adjudication writes the item's
final label to the decisions table (``decided_by = review:NAME``, tier ``review``) with
its provenance — what each person and model said, who decided, the note — closes the
item's open human tasks, and is kept in ``reviews``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select, update

from ..engine.ledger import DECISION_COLUMNS
from ..errors import LabelquorumError, WebError
from ..policies import DecisionState
from ..store import json_text, schema, upsert_rows
from .auth import User

if TYPE_CHECKING:
    from ..project import Project


@dataclass
class ItemView:
    id: str
    fields: dict[str, Any]
    gold: Any
    gold_role: str | None
    decision: dict[str, Any] | None
    people: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""


def _majority(labels: list[str]) -> str | None:
    if not labels:
        return None
    counts = Counter(labels).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None  # tied
    return counts[0][0]


class Review:
    def __init__(self, project: Project):
        self.project = project
        self.store = project.store
        self.pid = project.store.project_id
        self.task = project.task

    def _answers(self, conn, item_ids: list[str] | None = None) -> dict[str, dict[str, list]]:
        """Per item: the people's answers (with who) and the models' (name, label, conf)."""
        j, a, u = schema.judgements, schema.assignments, schema.users
        q = (select(j.c.item_id, j.c.annotator, j.c.annotator_kind, j.c.label, j.c.confidence,
                    u.c.name.label("person"), a.c.seconds, a.c.judge_score, a.c.judge_note)
             .select_from(j.outerjoin(a, and_(a.c.judgement_id == j.c.id,
                                              a.c.project_id == j.c.project_id))
                          .outerjoin(u, u.c.id == a.c.user_id))
             .where((j.c.project_id == self.pid) & (j.c.status == "ok")
                    & j.c.label.is_not(None)).order_by(j.c.id))
        if item_ids is not None:
            q = q.where(j.c.item_id.in_(item_ids))
        out: dict[str, dict[str, list]] = {}
        for r in conn.execute(q):
            entry = out.setdefault(r.item_id, {"people": [], "models": []})
            if r.annotator_kind == "human":
                entry["people"].append({"person": r.person or r.annotator, "label": r.label,
                                        "seconds": r.seconds, "judge_score": r.judge_score,
                                        "judge_note": r.judge_note})
            else:
                entry["models"].append({"annotator": r.annotator, "label": r.label,
                                        "confidence": r.confidence})
        return out

    def _reviewed(self, conn) -> set[str]:
        d = schema.decisions
        return set(conn.execute(select(d.c.item_id).where((d.c.project_id == self.pid)
                                                          & (d.c.tier == "review"))).scalars())

    def queue(self, limit: int = 200) -> list[dict[str, Any]]:
        """Items needing review, most people first."""
        j = schema.judgements
        with self.store.connect() as conn:
            human = list(conn.execute(select(j.c.item_id).where(
                (j.c.project_id == self.pid) & (j.c.annotator_kind == "human")
                & (j.c.status == "ok")).distinct()).scalars())
            if not human:
                return []
            done = self._reviewed(conn)
            todo = [i for i in human if i not in done]
            answers: dict[str, dict[str, list]] = {}
            for start in range(0, len(todo), 900):
                answers.update(self._answers(conn, todo[start:start + 900]))
        out = []
        for item_id, ans in answers.items():
            reason = self.reason(ans)
            if reason:
                out.append({"item": item_id, "reason": reason,
                            "people": [p["label"] for p in ans["people"]],
                            "models": [m["label"] for m in ans["models"]]})
        out.sort(key=lambda r: (-len(r["people"]), r["item"]))
        return out[:limit]

    @staticmethod
    def reason(ans: dict[str, list]) -> str:
        people = [p["label"] for p in ans["people"]]
        if len(set(people)) > 1:
            return "people disagree"
        if people and ans["models"]:
            best = max(ans["models"], key=lambda m: m["confidence"] or 0.0)
            if _majority(people) not in (None, best["label"]):
                return "people and models disagree"
        return ""

    def item(self, item_id: str) -> ItemView:
        it, d, c, u = schema.items, schema.decisions, schema.comments, schema.users
        with self.store.connect() as conn:
            row = conn.execute(select(it).where((it.c.project_id == self.pid)
                                                & (it.c.id == item_id))).first()
            if row is None:
                raise WebError(f"no item {item_id!r} in this project", status=404,
                               code="not_found")
            dec = conn.execute(select(d.c.label, d.c.confidence, d.c.decided_by, d.c.tier,
                                      d.c.flags, d.c.provenance)
                               .where((d.c.project_id == self.pid) & (d.c.item_id == item_id))
                               ).first()
            ans = self._answers(conn, [item_id]).get(item_id, {"people": [], "models": []})
            comments = [dict(r._mapping) for r in conn.execute(
                select(u.c.name.label("person"), c.c.text, c.c.flag, c.c.created)
                .select_from(c.join(u, u.c.id == c.c.user_id))
                .where((c.c.project_id == self.pid) & (c.c.item_id == item_id))
                .order_by(c.c.id))]
        fields = json.loads(row.fields)
        return ItemView(item_id, {f: fields.get(f) for f in self.task.fields},
                        None if row.gold is None else json.loads(row.gold), row.gold_role,
                        None if dec is None else dict(dec._mapping), ans["people"],
                        ans["models"], comments, self.reason(ans))

    def adjudicate(self, reviewer: User, item_id: str, label: Any, note: str = "") -> str:
        """Write the item's final label, decided by ``reviewer``; returns it as text."""
        try:
            value = self.task.parse_label(label)
        except LabelquorumError as exc:
            raise WebError(str(exc), status=422, code="invalid_label") from None
        text = self.task.format_label(value)
        view = self.item(item_id)
        now = datetime.now(UTC)
        provenance = {"people": [{"person": p["person"], "label": p["label"]}
                                 for p in view.people],
                      "models": {m["annotator"]: m["label"] for m in view.models},
                      "reviewer": reviewer.name, "note": note[:2000]}
        d, rv, ht, rq = schema.decisions, schema.reviews, schema.human_tasks, schema.requests
        with self.store.begin_write() as conn:
            # a reviewer's label is final: it replaces whatever a run decided, and no run
            # writes over it (the run skips items closed while it planned); the flag that
            # the text read like a prompt injection stays as a trace
            before = conn.execute(select(d.c.flags).where(
                (d.c.project_id == self.pid) & (d.c.item_id == item_id))).scalar()
            flags = "injection" if "injection" in (before or "").split(",") else ""
            upsert_rows(conn, d, DECISION_COLUMNS, [(
                self.pid, item_id, text,
                json_text(list(value)) if isinstance(value, tuple) else None, 1.0,
                f"review:{reviewer.name}", "review", flags, DecisionState.REVIEW.value,
                json_text(provenance), None, self.store.timestamp(now))],
                ("project_id", "item_id"), DECISION_COLUMNS[2:])
            conn.execute(rv.insert().values(project_id=self.pid, item_id=item_id,
                                            user_id=reviewer.id, label=text, note=note[:2000],
                                            created=now))
            # every open request of the item is withdrawn: a run that planned a call for
            # it does not send it (people's tasks close below)
            conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                          & (rq.c.item_id == item_id)
                                          & rq.c.state.in_(("pending", "sent")))
                         .values(state="superseded", updated=now))
            conn.execute(update(ht).where((ht.c.project_id == self.pid)
                                          & (ht.c.item_id == item_id))
                         .values(state="closed"))
        return text

    def comment(self, user: User, item_id: str, text: str, flag: bool) -> None:
        text = text.strip()
        if not text and not flag:
            raise WebError("a comment needs text (or a flag)", status=422, code="empty")
        with self.store.begin() as conn:
            conn.execute(schema.comments.insert().values(
                project_id=self.pid, item_id=item_id, user_id=user.id, text=text[:4000],
                flag=bool(flag), created=datetime.now(UTC)))

    def browse(self, *, max_confidence: float | None = None, disagreement: bool = False,
               person: str | None = None, offset: int = 0, limit: int = 50
               ) -> tuple[list[dict[str, Any]], int]:
        """Items with their decision, filtered; returns (page, total matching)."""
        it, d, a, u = schema.items, schema.decisions, schema.assignments, schema.users
        q = (select(it.c.id, it.c.fields, it.c.gold_role, d.c.label, d.c.confidence,
                    d.c.decided_by, d.c.tier)
             .select_from(it.outerjoin(d, and_(d.c.project_id == it.c.project_id,
                                               d.c.item_id == it.c.id)))
             .where(it.c.project_id == self.pid))
        if max_confidence is not None:
            q = q.where(d.c.confidence <= max_confidence)
        if person:
            q = q.where(it.c.id.in_(select(a.c.item_id).select_from(
                a.join(u, u.c.id == a.c.user_id)).where(
                (a.c.project_id == self.pid) & (u.c.name == person) & (a.c.state == "done"))))
        if disagreement:
            ids = [r["item"] for r in self.queue(limit=10_000)]
            q = q.where(it.c.id.in_(ids[:900]))
        with self.store.connect() as conn:
            total = conn.execute(select(func.count()).select_from(q.subquery())).scalar()
            rows = conn.execute(q.order_by(it.c.seq).offset(offset).limit(limit)).all()
        text_field = self.task.text_field
        page = [{"id": r.id, "text": str(json.loads(r.fields).get(text_field, ""))[:200],
                 "gold_role": r.gold_role, "label": r.label, "confidence": r.confidence,
                 "decided_by": r.decided_by, "tier": r.tier} for r in rows]
        return page, int(total or 0)
