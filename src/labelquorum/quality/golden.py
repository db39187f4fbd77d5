"""Golden questions: control gold mixed into people's work, and each person's accuracy on it.

Control items (gold role ``control``, imported with ``--split control=N`` or marked by a
reviewer) are given to people at the rate ``web.gold_rate``, through the same lease, the
same HTML and JSON, and at random places in their sequence, so nothing tells them apart
from ordinary items. Their answers are measurements of the person: they stay with the
assignment (``assignments.correct``) and never vote on a label.

Golden questions are drawn from every control item whose certainty reaches
``quality.min_certainty`` (see :mod:`labelquorum.quality.watch`). Control items are never
real work: the run closes them with their gold and never sends them to people as tasks, so
a control item reaches a person only as a golden question. The models answer control items
as golden probes, so a golden question gets a suggestion by the same rule as real work.
Each is given to at most ``web.gold_overlap`` people (by default
the people's ``overlap``), the least-seen first, so people who compare what they were shown
find golden questions shared no more widely than real work.

Accuracy is estimated per person as correct / answered with a Wilson score interval
(Liu et al.: maximum likelihood from n golden answers, decided by a test — here, the
interval). After ``web.gold_min_answers`` golden answers a person whose accuracy is below
``web.accuracy_threshold`` is flagged, and paused when ``web.pause_below_threshold`` is set.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, exists, func, select, update

from ..calibration import wilson_interval
from ..errors import LabelquorumError
from ..store import json_text, schema

if TYPE_CHECKING:
    from ..project import Project

REFRESH_SECONDS = 30.0
WINDOW = 500  # eligible control items one pick looks at
REAL_SAMPLE = 2000  # real tasks whose suggestions golden questions are matched against


@dataclass(frozen=True)
class GoldAccuracy:
    user_id: int
    name: str
    answered: int
    correct: int
    accuracy: float | None
    low: float
    high: float
    flagged: bool
    significant: bool  # the whole interval lies below the threshold
    paused: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class GoldQuestions:
    """Selects and checks golden questions for one project."""

    def __init__(self, project: Project, rng: random.Random | None = None):
        self.store = project.store
        self.pid = project.store.project_id
        self.task = project.task
        self.web = project.config.web
        self.min_certainty = project.config.quality.min_certainty
        self.rate = float(self.web.gold_rate)
        self.rng = rng or random.SystemRandom()
        self._ids: list[str] = []
        self._loaded = -math.inf
        humans = {n: c for n, c in project.config.annotators.items() if c.type == "human"}
        self._humans = sorted(humans)
        cap = self.web.gold_overlap
        if cap is None:
            cap = max((int(c.overlap) for c in humans.values()), default=1)
        self.cap = int(cap)
        it, a = schema.items, schema.assignments
        seen = exists().where((a.c.project_id == it.c.project_id) & (a.c.item_id == it.c.id)
                              & (a.c.user_id == bindparam("uid")))
        given = (select(func.count()).select_from(a)
                 .where((a.c.project_id == it.c.project_id) & (a.c.item_id == it.c.id))
                 .scalar_subquery())  # people given the item, as real work or golden
        # of a window of the eligible control items, one not given to them yet and to
        # fewer than ``cap`` people, the least-seen first, at random among those
        self._q_pick = (select(it.c.id, it.c.fields)
                        .where((it.c.project_id == self.pid)
                               & it.c.id.in_(bindparam("ids", expanding=True))
                               & ~seen & (given < self.cap))
                        .order_by(given, func.random()).limit(1))

    def control_items(self) -> list[str]:
        if time.monotonic() - self._loaded > REFRESH_SECONDS:
            self.refresh()
        return self._ids

    def refresh(self) -> None:
        """The eligible control items: with gold, certainty at least ``min_certainty``, and
        a suggestion that looks like real work's (see :func:`looks_like_real_work`)."""
        from .watch import control_bank

        _, _, bank = control_bank(self.store, self.min_certainty)
        with self.store.connect() as conn:
            self._ids = looks_like_real_work(conn, self.pid, sorted(bank.serving),
                                             self._humans)
        self._loaded = time.monotonic()

    def wanted(self) -> bool:
        """Should the next item be a golden question? (a draw at ``gold_rate``)"""
        return self.rate > 0 and self.rng.random() < self.rate and bool(self.control_items())

    def pick(self, conn: Connection, user_id: int) -> tuple[str, str] | None:
        """A control item this person has not been given, given to fewer than ``cap``
        people and to as few as any other, as (id, fields JSON), or None: one statement,
        like the one real work runs to take its place in a task. It looks at a window of
        ``WINDOW`` eligible items from a random one on (all of them, when fewer)."""
        ids = self.control_items()
        if not ids:
            return None
        start = self.rng.randrange(len(ids))
        window = (ids[start:start + WINDOW] + ids[:max(0, start + WINDOW - len(ids))]
                  if len(ids) > WINDOW else ids)
        row = conn.execute(self._q_pick, {"uid": user_id, "ids": window}).first()
        return None if row is None else (row.id, row.fields)

    def is_correct(self, conn: Connection, item_id: str, value: Any) -> bool:
        it = schema.items
        gold = conn.execute(select(it.c.gold).where((it.c.project_id == self.pid)
                                                    & (it.c.id == item_id))).scalar()
        if gold is None:
            return False
        task = self.task
        try:
            expected = task.parse_label(json.loads(gold))
        except LabelquorumError:  # gold outside today's label set: nothing matches it
            return False
        return task.strategy.correct(task, value, expected)


def suggestion_confidence(conn: Connection, pid: int, ids: list[str]) -> dict[str, float]:
    """Per item, the confidence of the suggestion the web app would show on it (the rule of
    :meth:`labelquorum.web.assign.Assigner._suggestion`: the most confident answer of an
    annotator that is neither a person nor simulated); items without one are left out."""
    j = schema.judgements
    out: dict[str, tuple] = {}
    for start in range(0, len(ids), 900):
        for item, jid, conf, probs in conn.execute(
                select(j.c.item_id, j.c.id, j.c.confidence, j.c.probs)
                .where((j.c.project_id == pid) & j.c.item_id.in_(ids[start:start + 900])
                       & (j.c.status == "ok") & (j.c.annotator_kind != "human")
                       & j.c.simulated.is_(False) & j.c.label.is_not(None)
                       & (j.c.value_type != schema.VERDICT))):
            key = (conf is not None, conf if conf is not None else 0.0, jid)
            if item not in out or key > out[item][0]:
                if conf is None and probs:
                    probs = json.loads(probs) if isinstance(probs, str) else probs
                    conf = max(probs.values())
                out[item] = (key, 0.0 if conf is None else float(conf))
    return {item: conf for item, (_, conf) in out.items()}


def looks_like_real_work(conn: Connection, pid: int, ids: list[str],
                         people: list[str]) -> list[str]:
    """Of these control items, those whose suggestion could be real work's.

    ``people`` are the human annotators' names. Real work reaches people after the
    earlier tiers answered it, where they were unsure;
    control items reach the models as golden probes (a share of them each step). Kept:
    items that every annotator which answered real work has answered as a probe (so a
    golden question has a suggestion as often as real work), whose suggestion's confidence
    is no higher than the most confident suggestion on real work, and — when every real
    task has a suggestion, or none has — items that have one, or have none, alike."""
    if not ids:
        return []
    ht, rq = schema.human_tasks, schema.requests
    real = list(conn.execute(select(ht.c.item_id).where(ht.c.project_id == pid)
                             .order_by(ht.c.seq)).scalars())
    if not real:
        return ids
    real = real[::max(1, len(real) // REAL_SAMPLE)]  # a spread sample of a long queue
    finished = ("done", "abstained")
    before: set[str] = set()  # the annotators that answered real work before people
    for start in range(0, len(real), 900):
        before.update(conn.execute(select(rq.c.annotator).distinct().where(
            (rq.c.project_id == pid) & rq.c.item_id.in_(real[start:start + 900])
            & rq.c.state.in_(finished) & rq.c.annotator.not_in(people))).scalars())
    if before:
        probed: dict[str, set[str]] = {}
        for start in range(0, len(ids), 900):
            for item, who in conn.execute(select(rq.c.item_id, rq.c.annotator).where(
                    (rq.c.project_id == pid) & rq.c.item_id.in_(ids[start:start + 900])
                    & rq.c.state.in_(finished) & rq.c.annotator.in_(sorted(before)))):
                probed.setdefault(item, set()).add(who)
        ids = [i for i in ids if probed.get(i, set()) >= before]
    real_conf = suggestion_confidence(conn, pid, real)
    gold_conf = suggestion_confidence(conn, pid, ids)
    cap = max(real_conf.values(), default=None)
    every, none = len(real_conf) == len(set(real)), not real_conf
    out = []
    for i in ids:
        has = i in gold_conf
        if (every and not has) or (none and has):
            continue
        if has and cap is not None and gold_conf[i] > cap + 1e-9:
            continue
        out.append(i)
    return out


def gold_accuracy(project: Project) -> list[GoldAccuracy]:
    """Each person's accuracy on the golden questions they answered."""
    a, u = schema.assignments, schema.users
    web = project.config.web
    pid = project.store.project_id
    with project.store.connect() as conn:
        rows = conn.execute(
            select(u.c.id, u.c.name, u.c.paused,
                   func.count(a.c.id).filter((a.c.state == "done") & a.c.control),
                   func.count(a.c.id).filter((a.c.state == "done") & a.c.control
                                             & a.c.correct))
            .select_from(u.outerjoin(a, (a.c.user_id == u.c.id) & (a.c.project_id == pid)))
            .where(u.c.project_id == pid).group_by(u.c.id, u.c.name, u.c.paused)
            .order_by(u.c.name)).all()
    out = []
    for uid, name, paused, n, k in rows:
        n, k = int(n or 0), int(k or 0)
        low, high = wilson_interval(k, n)
        acc = k / n if n else None
        flagged = n >= web.gold_min_answers and acc is not None and acc < web.accuracy_threshold
        out.append(GoldAccuracy(uid, name, n, k, acc, low, high, flagged,
                                flagged and high < web.accuracy_threshold, bool(paused)))
    return out


def pause_flagged(project: Project, on_pause=None) -> list[str]:
    """Pause every flagged person (when ``web.pause_below_threshold``); returns their names."""
    if not project.config.web.pause_below_threshold:
        return []
    flagged = [g for g in gold_accuracy(project) if g.flagged and not g.paused]
    if flagged:
        u = schema.users
        with project.store.begin() as conn:
            conn.execute(update(u).where(u.c.id.in_([g.user_id for g in flagged]))
                         .values(paused=True))
        for g in flagged:
            if on_pause is not None:
                on_pause(g.user_id)
    return [g.name for g in flagged]


def pause_if_flagged(project: Project, user_id: int) -> bool:
    """Pause one person when their accuracy on gold is flagged (and
    ``web.pause_below_threshold`` is set); True when this paused them. The web app runs it
    after every answer, golden or not, so a golden answer costs no extra work to notice."""
    web = project.config.web
    if not web.pause_below_threshold:
        return False
    a, u = schema.assignments, schema.users
    pid = project.store.project_id
    with project.store.begin() as conn:
        n, k = conn.execute(
            select(func.count(), func.count().filter(a.c.correct))
            .where((a.c.project_id == pid) & (a.c.user_id == user_id) & (a.c.state == "done")
                   & a.c.control)).one()
        n, k = int(n or 0), int(k or 0)
        if n < web.gold_min_answers or k / n >= web.accuracy_threshold:
            return False
        done = conn.execute(update(u).where((u.c.id == user_id) & u.c.paused.is_(False))
                            .values(paused=True)).rowcount
    return bool(done)


def mark_gold(project: Project, item_id: str, label: Any) -> None:
    """Make an item a golden question (gold role ``control``) with ``label`` as its gold."""
    task, it, d = project.task, schema.items, schema.decisions
    value = task.parse_label(label)
    gold = task.strategy.to_json(task, value)
    label, stored = task.strategy.stored(task, value)
    stored = json_text(stored)
    with project.store.begin() as conn:
        conn.execute(update(it).where((it.c.project_id == project.store.project_id)
                                      & (it.c.id == item_id))
                     .values(gold=gold, gold_role="control"))
        # a control item is decided by its gold: a decision made before it became one
        # (a run's, a reviewer's) gives way to it, as the run would decide it now
        conn.execute(update(d).where((d.c.project_id == project.store.project_id)
                                     & (d.c.item_id == item_id))
                     .values(label=label, value=stored, confidence=1.0, decided_by="gold",
                             tier="gold", flags="", state="final"))
