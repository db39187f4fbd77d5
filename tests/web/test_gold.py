"""Golden questions: mixed in, indistinguishable, never leaked; accuracy and flagging."""

import re

import pytest
from helpers import Session, add_users, make_project

from labelquorum.quality import gold_accuracy, wilson_interval
from labelquorum.web import create_app


def test_wilson_interval():
    low, high = wilson_interval(8, 10)
    assert 0.49 < low < 0.5 and 0.94 < high < 0.95  # the textbook values: 0.490, 0.943
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and low > 0.7


@pytest.fixture
def gold_project(tmp_path):
    # 20 items, the first 8 control gold; golden questions at a high rate
    p = make_project(tmp_path / "p", n=20, overlap=1, control=8, gold_rate=0.5)
    add_users(p, {"ann": "annotator", "rev": "reviewer", "adm": "admin"})
    yield p
    p.close()


def _strip(html: str) -> str:
    """The annotate page with the item's own text, its opaque id and the person's running
    counts taken out."""
    html = re.sub(r'data-id="[0-9a-f]{32}"', 'data-id=""', html)
    html = re.sub(r'/media/[0-9a-f]{32}/', '/media//', html)
    html = re.sub(r'<div class="field-text" data-testid="item-text">[^<]*</div>', '', html)
    html = re.sub(r'data-suggestion="[^"]*" data-confidence="[^"]*"', '', html)
    return re.sub(r'(data-testid="progress-[a-z]+"[^>]*>)[^<]*', r"\1", html)  # counts


def test_golden_questions_look_like_any_other_item(gold_project):
    p = gold_project
    app = create_app(p)
    s = Session(app, "ann")
    pages, kinds, items = set(), [], []
    from sqlalchemy import select

    from labelquorum.store import schema

    a = schema.assignments
    while True:
        page = s.get("/annotate")
        m = re.search(r'data-id="([0-9a-f]{32})"', page.text)
        if not m:
            break
        item = s.next()
        assert item["id"] == m.group(1)
        body = str(item).lower()
        assert "gold" not in body and "control" not in body
        assert set(item) == {"id", "fields", "suggestion"} and set(item["fields"]) == {"text"}
        assert "gold" not in page.text.lower().replace("golden", "")  # no gold in the HTML
        pages.add(_strip(page.text))
        with p.store.connect() as conn:
            kinds.append(conn.execute(select(a.c.control).where(a.c.public_id == item["id"]))
                         .scalar())
        items.append(item)
        s.post("/api/submit", json={"id": item["id"], "label": "neg"})
    assert len(pages) == 1  # every page is the same apart from the item's text
    assert any(kinds) and not all(kinds)  # golden questions were mixed in ...
    first_gold = kinds.index(True)
    assert first_gold < len(kinds) - 1  # ... not all at the end
    # their answers are measurements, not votes: no human judgement on a golden question
    j = p.judgements()
    assert (j["annotator_kind"] == "human").sum() == kinds.count(False)


def test_annotator_api_never_reveals_gold(gold_project):
    s = Session(create_app(gold_project), "ann")
    for url in ["/api/items/i0000", "/api/items", "/api/review", "/api/stats", "/api/users"]:
        r = s.get(url)
        assert r.status_code == 403 and "gold" not in r.text.lower().replace("golden", "")
    assert "gold" not in s.get("/api/task").text.lower()


def test_accuracy_flagging_and_pausing(tmp_path):
    p = make_project(tmp_path / "p", n=12, overlap=1, control=6, gold_rate=0.9)
    text = (p.path / "labelquorum.toml").read_text().replace(
        "accuracy_threshold = 0.7", "accuracy_threshold = 0.7\npause_below_threshold = true")
    (p.path / "labelquorum.toml").write_text(text)
    p.close()
    from labelquorum import open_project

    p = open_project(p.path)
    add_users(p, {"bad": "annotator", "rev": "reviewer"})
    app = create_app(p)
    s = Session(app, "bad")
    gold = p.gold_labels()
    from sqlalchemy import select

    from labelquorum.store import schema

    a = schema.assignments
    answered = 0
    while answered < 12:
        r = s.get("/api/next")
        if r.status_code == 403:
            assert r.json()["error"]["code"] == "paused"
            break
        item = r.json()["item"]
        if item is None:
            break
        with p.store.connect() as conn:
            item_id = conn.execute(select(a.c.item_id).where(a.c.public_id == item["id"])
                                   ).scalar()
        wrong = {"pos": "neg", "neg": "pos"}[gold.get(item_id, "pos")]
        s.post("/api/submit", json={"id": item["id"], "label": wrong})
        answered += 1
    acc = {g.name: g for g in gold_accuracy(p)}["bad"]
    assert acc.answered >= 2 and acc.correct == 0 and acc.flagged and acc.paused
    dash = Session(app, "rev").get("/dashboard").text
    assert "below threshold" in dash
    p.close()


def test_reviewer_marks_gold_from_the_item_page(gold_project):
    rev = Session(create_app(gold_project), "rev")
    r = rev.post("/api/items/i0019/gold", json={"label": "pos"})
    assert r.status_code == 200
    assert gold_project.gold_labels(["control"])["i0019"] == "pos"
    r = rev.post("/api/items/i0019/gold", json={"label": "meh"})
    assert r.status_code == 422


def test_no_golden_questions_once_the_real_work_is_done(tmp_path):
    p = make_project(tmp_path / "p", n=6, overlap=1, control=3, gold_rate=0.5)
    add_users(p, {"ann": "annotator", "bob": "annotator", "cat": "annotator"})
    app = create_app(p)
    gold = app.state.web.assigner.gold
    gold.rate = 0.0  # the real work first, with no golden question in the way
    for name in ("ann", "bob"):
        s = Session(app, name)
        while (item := s.next()) is not None:
            s.post("/api/submit", json={"id": item["id"], "label": "pos"})
    # every task answered: the three control items are no real work (golden questions only)
    assert (p.judgements()["annotator_kind"] == "human").sum() == 3
    # cat has seen none of the three golden questions, but gets nothing even when every
    # draw asks for one: a queue of golden questions alone would give them away
    gold.rate = 0.99
    assert Session(app, "cat").next() is None
    p.close()
