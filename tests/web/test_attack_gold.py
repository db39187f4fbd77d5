"""Attacks on the indistinguishability of golden questions (issue #11, items 3-6).

Each test plays an annotator (or two colluding ones) who reads a channel the page or the
API offers and tries to tell golden questions from real work.
"""

from collections import Counter

from helpers import Session, add_users, make_project
from sqlalchemy import select

from labelquorum import open_project
from labelquorum.store import schema
from labelquorum.web import create_app


def _control(p, public_id):
    a = schema.assignments
    with p.store.connect() as conn:
        return bool(conn.execute(select(a.c.control).where(a.c.public_id == public_id))
                    .scalar())


def test_progress_around_a_preload_does_not_tell_golden_questions(tmp_path):
    p = make_project(tmp_path / "p", n=60, overlap=1, control=15, gold_rate=0.3)
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")

    def remaining():
        return s.get("/api/progress").json()["remaining"]

    seen = Counter()
    current = s.next()
    for _ in range(40):
        before = remaining()
        preloaded = s.next(after=current["id"])
        if preloaded is None:
            break
        seen[(_control(p, preloaded["id"]), remaining() - before)] += 1
        s.post("/api/submit", json={"id": current["id"], "label": "pos"})
        current = preloaded
    golden = {delta for (gold, delta) in seen if gold}
    real = {delta for (gold, delta) in seen if not gold}
    assert golden and real, seen
    # a delta seen only with golden questions gives them away
    assert golden <= real, f"golden deltas {golden}, real deltas {real}: {dict(seen)}"
    p.close()


def test_progress_around_answers_skips_and_undos_does_not_tell_golden_questions(tmp_path):
    p = make_project(tmp_path / "p", n=60, overlap=1, control=15, gold_rate=0.3)
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")

    def remaining():
        return s.get("/api/progress").json()["remaining"]

    seen = Counter()
    for step in range(45):
        item = s.next()
        if item is None:
            break
        gold = _control(p, item["id"])
        for action in (("submit", "undo", "submit") if step % 3 == 0 else
                       ("skip", "undo", "skip") if step % 3 == 1 else ("submit",)):
            before = remaining()
            body = {"id": item["id"], "label": "pos"} if action == "submit" else (
                {"id": item["id"]} if action == "skip" else None)
            r = s.post(f"/api/{action}", json=body)
            assert r.status_code == 200, (action, r.text)
            seen[(gold, action, remaining() - before)] += 1
    golden = {(action, delta) for (gold, action, delta) in seen if gold}
    real = {(action, delta) for (gold, action, delta) in seen if not gold}
    assert {action for action, _ in golden} == {"submit", "skip", "undo"}, seen
    assert golden <= real, f"golden {golden}, real {real}: {dict(seen)}"
    p.close()


SURE = """
[annotators.sure]
type = "rules"
confidence = 0.95
rules = [{ label = "pos", keywords = ["good"] }]
"""


def test_a_confident_suggestion_does_not_mark_a_golden_question(tmp_path):
    p = make_project(tmp_path / "p", n=80, overlap=1, control=30, gold_rate=0.3, run=False,
                     extra=SURE)
    toml = p.path / "labelquorum.toml"
    toml.write_text(toml.read_text().replace(
        'annotators = ["rules"]\nmin_confidence = 0.99\nmin_votes = 2',
        'annotators = ["sure"]\nmin_confidence = 0.9\nmin_votes = 1'))
    p.close()
    p = open_project(p.path)
    p.run()
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")
    confident = {True: 0, False: 0}
    count = {True: 0, False: 0}
    while (item := s.next()) is not None:
        gold = _control(p, item["id"])
        count[gold] += 1
        sugg = item["suggestion"]
        confident[gold] += bool(sugg and (sugg["confidence"] or 0) >= 0.9)
        s.post("/api/submit", json={"id": item["id"], "label": "pos"})
    assert count[True] >= 5 and count[False] >= 20, count
    assert confident[False] == 0  # the cascade sends only unsure items to people
    # so a confident suggestion must not turn up on golden questions either
    assert confident[True] == 0, f"{confident[True]} of {count[True]} golden questions"
    p.close()


def test_two_colluding_annotators_cannot_tell_golden_questions_by_comparing(tmp_path):
    p = make_project(tmp_path / "p", n=80, overlap=1, control=12, gold_rate=0.2)
    add_users(p, {"ann": "annotator", "bob": "annotator"})
    app = create_app(p)
    people = {name: Session(app, name) for name in ("ann", "bob")}
    shown = {name: {} for name in people}  # text -> golden?
    active = set(people)
    while active:
        for name in sorted(active):
            item = people[name].next()
            if item is None:
                active.discard(name)
                continue
            shown[name][item["fields"]["text"]] = _control(p, item["id"])
            people[name].post("/api/submit", json={"id": item["id"], "label": "pos"})
    shared = set(shown["ann"]) & set(shown["bob"])
    golden_seen = {t for who in shown.values() for t, g in who.items() if g}
    assert len(golden_seen) >= 4, golden_seen
    # "a text shown to both of us is a golden question": it must not single out most
    # golden questions without a miss (a real item, never used as gold, shown to both)
    caught = len(shared & golden_seen) / len(golden_seen)
    wrong = len(shared - golden_seen)
    assert not (caught > 0.5 and wrong == 0), (
        f"{len(shared & golden_seen)} of {len(golden_seen)} golden questions were shown to "
        f"both, and no other item was")
    p.close()


def test_each_golden_question_goes_to_at_most_gold_overlap_people(tmp_path):
    p = make_project(tmp_path / "p", n=40, overlap=1, control=10, gold_rate=0.5)
    add_users(p, {"ann": "annotator", "bob": "annotator", "cyd": "annotator"})
    app = create_app(p)
    people = [Session(app, name) for name in ("ann", "bob", "cyd")]
    active = set(range(3))
    while active:
        for i in sorted(active):
            item = people[i].next()
            if item is None:
                active.discard(i)
                continue
            people[i].post("/api/submit", json={"id": item["id"], "label": "pos"})
    a = schema.assignments
    with p.store.connect() as conn:
        golden = Counter(conn.execute(select(a.c.item_id).where(a.c.control)).scalars())
    assert golden, "no golden question was given"
    assert max(golden.values()) == 1, golden  # web.gold_overlap defaults to the overlap, 1
    p.close()
