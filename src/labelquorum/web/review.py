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
from ..kinds.freetext_judge import answer_digest
from ..policies import DecisionState
from ..store import json_text, schema, upsert_rows
from .auth import User

if TYPE_CHECKING:
    from ..project import Project

# ids per IN (...) query: SQLite allows 999 bound values in older builds
CHUNK = 900


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
    open_flags: int = 0


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
                    j.c.value_type, j.c.value, j.c.worker,
                    u.c.name.label("person"), a.c.seconds, a.c.judge_score, a.c.judge_note)
             # joined on the item too: (project, item) leads an index of assignments, so
             # each judgement finds its assignment without a scan of them all
             .select_from(j.outerjoin(a, and_(a.c.project_id == j.c.project_id,
                                              a.c.item_id == j.c.item_id,
                                              a.c.judgement_id == j.c.id))
                          .outerjoin(u, u.c.id == a.c.user_id))
             .where((j.c.project_id == self.pid) & (j.c.status == "ok")
                    & j.c.label.is_not(None)).order_by(j.c.id))
        if item_ids is not None:
            q = q.where(j.c.item_id.in_(item_ids))
        out: dict[str, dict[str, list]] = {}
        verdicts: dict[tuple[str, str, str], tuple[int, str]] = {}
        for r in conn.execute(q):
            if r.value_type == schema.VERDICT:  # a free-text judge's score of one answer
                v = r.value or {}
                verdicts[(r.item_id, v.get("writer"), v.get("answer_sha"))] = (
                    v.get("score"), v.get("reason"))
                continue
            entry = out.setdefault(r.item_id, {"people": [], "models": []})
            if r.annotator_kind == "human":
                entry["people"].append({"person": r.person or r.annotator,
                                        "label": r.label, "seconds": r.seconds,
                                        "judge_score": r.judge_score,
                                        "judge_note": r.judge_note,
                                        "writer": r.annotator})
            else:
                entry["models"].append({"annotator": r.annotator, "label": r.label,
                                        "confidence": r.confidence, "writer": r.annotator})
        if verdicts:  # each answer with its verdict
            for item_id, entry in out.items():
                for ans in entry["people"] + entry["models"]:
                    got = verdicts.get((item_id, ans["writer"], answer_digest(ans["label"])))
                    if got is not None:
                        ans["judge_score"], ans["judge_note"] = got
        return out

    def _reviewed(self, conn) -> set[str]:
        d = schema.decisions
        return set(conn.execute(select(d.c.item_id).where((d.c.project_id == self.pid)
                                                          & (d.c.tier == "review"))).scalars())

    def _open_flags(self, conn, item_ids: list[str] | None = None) -> dict[str, int]:
        """Per item, its flags raised since a reviewer last decided it (open flags)."""
        c, rv = schema.comments, schema.reviews
        last = (select(rv.c.item_id, func.max(rv.c.created).label("at"))
                .where(rv.c.project_id == self.pid).group_by(rv.c.item_id).subquery())
        q = (select(c.c.item_id, func.count()).select_from(
                c.outerjoin(last, last.c.item_id == c.c.item_id))
             .where((c.c.project_id == self.pid) & c.c.flag
                    & (last.c.at.is_(None) | (c.c.created > last.c.at)))
             .group_by(c.c.item_id))
        if item_ids is not None:
            q = q.where(c.c.item_id.in_(item_ids))
        return {item: int(n) for item, n in conn.execute(q)}

    def issue_count(self) -> int:
        """How many likely label errors wait for a reviewer (the issues queue's length)."""
        from ..quality.label_issues import open_label_issues

        return len(open_label_issues(self.store))

    def flag_count(self) -> int:
        """How many items have open flags (the flagged queue's length)."""
        with self.store.connect() as conn:
            return len(self._open_flags(conn))

    def backlog(self, *, flagged: bool = False, issues: bool = False
                ) -> list[tuple[str, list[str]]]:
        """Every item waiting for a reviewer, in queue order, with why: open flags first,
        then the most people, then by id. ``flagged``: only items with open flags.
        ``issues``: only the likely label errors last found (``labelquorum label-issues``)
        that no reviewer decided since, the likeliest error first."""
        if issues:
            from ..quality.label_issues import open_label_issues

            found = open_label_issues(self.store)
            return [(item, [f"likely label error (label quality {q:.3f})"])
                    for item, q in zip(found["item"], found["label_quality"])]
        j = schema.judgements
        with self.store.connect() as conn:
            flags = self._open_flags(conn)
            done = self._reviewed(conn)
            if flagged:
                todo = sorted(flags)
            else:
                human = conn.execute(select(j.c.item_id).where(
                    (j.c.project_id == self.pid) & (j.c.annotator_kind == "human")
                    & (j.c.status == "ok")).distinct()).scalars()
                todo = sorted({i for i in human if i not in done} | set(flags))
            answers: dict[str, dict[str, list]] = {}
            for start in range(0, len(todo), CHUNK):
                answers.update(self._answers(conn, todo[start:start + CHUNK]))
        rows = []
        for item_id in todo:
            ans = answers.get(item_id, {"people": [], "models": []})
            # a reviewer's decision settles a disagreement; a flag raised since reopens it
            reasons = (["flagged"] if flags.get(item_id) else []) + (
                [] if item_id in done else self.reasons(ans))
            if reasons:
                rows.append((not flags.get(item_id), -len(ans["people"]), item_id, reasons))
        rows.sort()
        return [(item_id, reasons) for _, _, item_id, reasons in rows]

    def queue(self, offset: int = 0, limit: int = 50, *, flagged: bool = False,
              issues: bool = False) -> tuple[list[dict[str, Any]], int]:
        """One page of the review backlog and its total: per item, its text, what each
        person and model said (models with their confidence), and its comments and flags."""
        backlog = self.backlog(flagged=flagged, issues=issues)
        page = backlog[offset:offset + limit]
        ids = [item_id for item_id, _ in page]
        it = schema.items
        with self.store.connect() as conn:
            answers = self._answers(conn, ids) if ids else {}
            comments = self._comments(conn, ids)
            texts = {r.id: r.fields for r in conn.execute(select(it.c.id, it.c.fields).where(
                (it.c.project_id == self.pid) & it.c.id.in_(ids)))} if ids else {}
        out = []
        for item_id, reasons in page:
            ans = answers.get(item_id, {"people": [], "models": []})
            text = str(json.loads(texts.get(item_id) or "{}").get(self.task.text_field) or "")
            out.append({
                "item": item_id, "reason": "; ".join(reasons), "reasons": reasons,
                "text": text,
                "people": [{"person": p["person"], "label": p["label"],
                            "marks": self.marks(text, p["label"])} for p in ans["people"]],
                "models": [{"annotator": m["annotator"], "label": m["label"],
                            "confidence": m["confidence"],
                            "marks": self.marks(text, m["label"])} for m in ans["models"]],
                "comments": comments.get(item_id, [])})
        return out, len(backlog)

    def neighbours(self, item_id: str, *, flagged: bool = False, issues: bool = False
                   ) -> tuple[str | None, str | None, int | None, int]:
        """(previous, next, position from 1, total) of an item in the review backlog;
        an item not in it has no position, and ``next`` is the backlog's first item."""
        ids = [i for i, _ in self.backlog(flagged=flagged, issues=issues)]
        if item_id not in ids:
            return None, (ids[0] if ids else None), None, len(ids)
        at = ids.index(item_id)
        return (ids[at - 1] if at > 0 else None,
                ids[at + 1] if at + 1 < len(ids) else None, at + 1, len(ids))

    def _comments(self, conn, item_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        c, u = schema.comments, schema.users
        out: dict[str, list[dict[str, Any]]] = {}
        if not item_ids:
            return out
        for start in range(0, len(item_ids), CHUNK):
            for r in conn.execute(
                    select(c.c.item_id, u.c.name.label("person"), c.c.text, c.c.flag,
                           c.c.created).select_from(c.join(u, u.c.id == c.c.user_id))
                    .where((c.c.project_id == self.pid)
                           & c.c.item_id.in_(item_ids[start:start + CHUNK]))
                    .order_by(c.c.id)):
                out.setdefault(r.item_id, []).append(
                    {"person": r.person, "text": r.text, "flag": bool(r.flag),
                     "created": r.created})
        return out

    def marks(self, text: str, label: Any) -> list[tuple[str, str | None]] | None:
        """An answer shown on the item's text (spans: the text cut into pieces, each with
        its entity type, None between entities); None for other kinds or an answer that
        does not fit (:meth:`TaskKind.marks`)."""
        return None if label is None else self.task.strategy.marks(self.task, text, label)

    @staticmethod
    def reasons(ans: dict[str, list]) -> list[str]:
        people = [p["label"] for p in ans["people"]]
        if len(set(people)) > 1:
            return ["people disagree"]
        if people and ans["models"]:
            best = max(ans["models"], key=lambda m: m["confidence"] or 0.0)
            if _majority(people) not in (None, best["label"]):
                return ["people and models disagree"]
        return []

    def item(self, item_id: str) -> ItemView:
        it, d = schema.items, schema.decisions
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
            comments = self._comments(conn, [item_id]).get(item_id, [])
            open_flags = self._open_flags(conn, [item_id]).get(item_id, 0)
            reviewed = dec is not None and dec.tier == "review"
        fields = json.loads(row.fields)
        reasons = (["flagged"] if open_flags else []) + ([] if reviewed else self.reasons(ans))
        return ItemView(item_id, {f: fields.get(f) for f in self.task.fields},
                        None if row.gold is None else json.loads(row.gold), row.gold_role,
                        None if dec is None else dict(dec._mapping), ans["people"],
                        ans["models"], comments, "; ".join(reasons), open_flags)

    def text_of(self, view: ItemView) -> str:
        value = view.fields.get(self.task.text_field)
        return "" if value is None else str(value)

    def adjudicate(self, reviewer: User, item_id: str, label: Any, note: str = "") -> str:
        """Write the item's final label, decided by ``reviewer``; returns it as text."""
        return self.adjudicate_many(reviewer, {item_id: label}, note)[0]

    def adjudicate_many(self, reviewer: User, labels: dict[str, Any],
                        note: str = "") -> list[str]:
        """Write the final labels of many items (item id -> label) in one transaction, as
        :meth:`adjudicate` writes one; returns them as text, in the given order. An unknown
        item (404) or an invalid label (422) stores nothing."""
        ids = [str(i) for i in labels]
        it = schema.items
        fields: dict[str, str] = {}
        answers: dict[str, dict[str, list]] = {}
        with self.store.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                part = ids[start:start + CHUNK]
                fields.update(conn.execute(select(it.c.id, it.c.fields).where(
                    (it.c.project_id == self.pid) & it.c.id.in_(part))).all())
                answers.update(self._answers(conn, part))
        missing = [i for i in ids if i not in fields]
        if missing:
            raise WebError(f"no item {missing[0]!r} in this project", status=404,
                           code="not_found")
        values = {i: self._parse(json.loads(fields[i]), label) for i, label in labels.items()}
        texts = [self.task.format_label(values[i]) for i in ids]
        now = datetime.now(UTC)
        d, rv, ht, rq = schema.decisions, schema.reviews, schema.human_tasks, schema.requests
        with self.store.begin_write() as conn:
            for start in range(0, len(ids), CHUNK):
                part = ids[start:start + CHUNK]
                # a reviewer's label is final: it replaces whatever a run decided, and no
                # run writes over it (the run skips items closed while it planned); the
                # flag that the text read like a prompt injection stays as a trace
                before = dict(conn.execute(select(d.c.item_id, d.c.flags).where(
                    (d.c.project_id == self.pid) & d.c.item_id.in_(part))).all())
                rows = []
                for item_id, text in zip(part, texts[start:start + CHUNK]):
                    value = values[item_id]
                    ans = answers.get(item_id, {"people": [], "models": []})
                    provenance = {"people": [{"person": p["person"], "label": p["label"]}
                                             for p in ans["people"]],
                                  "models": {m["annotator"]: m["label"] for m in ans["models"]},
                                  "reviewer": reviewer.name, "note": note[:2000]}
                    flags = ("injection" if "injection" in (before.get(item_id) or "").split(",")
                             else "")
                    rows.append((self.pid, item_id, text,
                                 json_text(list(value)) if isinstance(value, tuple) else None,
                                 1.0, f"review:{reviewer.name}", "review", flags,
                                 DecisionState.REVIEW.value, json_text(provenance), None,
                                 self.store.timestamp(now)))
                upsert_rows(conn, d, DECISION_COLUMNS, rows, ("project_id", "item_id"),
                            DECISION_COLUMNS[2:])
                conn.execute(rv.insert(), [
                    {"project_id": self.pid, "item_id": item_id, "user_id": reviewer.id,
                     "label": text, "note": note[:2000], "created": now}
                    for item_id, text in zip(part, texts[start:start + CHUNK])])
                # every open request of the items is withdrawn: a run that planned a call
                # for one does not send it (people's tasks close below)
                conn.execute(update(rq).where((rq.c.project_id == self.pid)
                                              & rq.c.item_id.in_(part)
                                              & rq.c.state.in_(("pending", "sent")))
                             .values(state="superseded", updated=now))
                conn.execute(update(ht).where((ht.c.project_id == self.pid)
                                              & ht.c.item_id.in_(part))
                             .values(state="closed"))
        return texts

    def parse(self, view: ItemView, label: Any) -> Any:
        """A reviewer's label for an item (spans checked against its text), or a 422."""
        return self._parse(view.fields, label)

    def _parse(self, fields: dict[str, Any], label: Any) -> Any:
        text = fields.get(self.task.text_field)
        try:
            return self.task.parse_label(label, ("" if text is None else str(text))
                                         if self.task.strategy.needs_text else None)
        except LabelquorumError as exc:
            raise WebError(str(exc), status=422, code="invalid_label") from None

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

        def query(*columns):
            q = (select(*columns)
                 .select_from(it.outerjoin(d, and_(d.c.project_id == it.c.project_id,
                                                   d.c.item_id == it.c.id)))
                 .where(it.c.project_id == self.pid))
            if max_confidence is not None:
                q = q.where(d.c.confidence <= max_confidence)
            if person:
                q = q.where(it.c.id.in_(select(a.c.item_id).select_from(
                    a.join(u, u.c.id == a.c.user_id)).where(
                    (a.c.project_id == self.pid) & (u.c.name == person)
                    & (a.c.state == "done"))))
            return q

        shown = query(it.c.id, it.c.fields, it.c.gold_role, d.c.label, d.c.confidence,
                      d.c.decided_by, d.c.tier)
        # the disagreements can be many: matched chunk by chunk, then paged here
        ids = [i for i, why in self.backlog() if set(why) - {"flagged"}] if disagreement else []
        with self.store.connect() as conn:
            if disagreement:
                found: list[tuple[int, str]] = []
                for start in range(0, len(ids), CHUNK):
                    found += conn.execute(query(it.c.seq, it.c.id).where(
                        it.c.id.in_(ids[start:start + CHUNK]))).all()
                found.sort()
                total = len(found)
                wanted = [i for _, i in found[offset:offset + limit]]
                rows = conn.execute(shown.where(it.c.id.in_(wanted))
                                    .order_by(it.c.seq)).all() if wanted else []
            else:
                total = conn.execute(select(func.count()).select_from(
                    query(it.c.id).subquery())).scalar()
                rows = conn.execute(shown.order_by(it.c.seq).offset(offset).limit(limit)).all()
        text_field = self.task.text_field
        page = [{"id": r.id, "text": str(json.loads(r.fields).get(text_field, ""))[:200],
                 "gold_role": r.gold_role, "label": r.label, "confidence": r.confidence,
                 "decided_by": r.decided_by, "tier": r.tier} for r in rows]
        return page, int(total or 0)
