"""The review queue: the whole backlog in pages with a count, what each item needs
(text, who said what, flags, comments), the flagged-items queue, span adjudication."""

import json
import re

from helpers import Session, add_users, make_project

from labelquorum.web import create_app


def _answer_all(app, names_labels: dict[str, str]) -> None:
    """Each person answers every item the assigner gives them (in-process, through the
    same assigner the API calls)."""
    web = app.state.web
    for name, label in names_labels.items():
        user = next(u for u in web.accounts.users() if u["name"] == name)
        person = web.accounts.get(user["id"])
        while (lease := web.assigner.next(person)) is not None:
            web.assigner.submit(person, lease.public_id, label, 2.0)


def test_the_queue_pages_through_the_whole_backlog_with_a_count(tmp_path):
    p = make_project(tmp_path / "p", n=230, overlap=2)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
    app = create_app(p)
    _answer_all(app, {"ann": "pos", "bob": "neg"})  # every item is a disagreement
    rev = Session(app, "rev")
    seen, offset = [], 0
    while True:
        out = rev.get(f"/api/review?offset={offset}&limit=50").json()
        assert out["total"] == 230
        if not out["items"]:
            break
        seen += [row["item"] for row in out["items"]]
        offset += 50
    assert sorted(seen) == [f"i{i:04d}" for i in range(230)]  # all of them, once each
    first = rev.get("/review").text
    assert "Items 1–50 of 230 waiting for review" in first
    assert first.count('data-testid="review-row"') == 50 and 'data-testid="review-next"' in first
    last = rev.get("/review?page=4").text
    assert "Items 201–230 of 230" in last and last.count('data-testid="review-row"') == 30
    assert 'data-testid="review-next"' not in last and 'data-testid="review-prev"' in last
    assert "No items on this page; the queue has 230" in rev.get("/review?page=9").text
    p.close()


def test_browse_finds_every_disagreement_not_the_first_900(tmp_path):
    p = make_project(tmp_path / "p", n=950, overlap=2)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
    app = create_app(p)
    _answer_all(app, {"ann": "pos", "bob": "neg"})
    rev = Session(app, "rev")
    out = rev.get("/api/items?disagreement=true&offset=900&limit=100").json()
    assert out["total"] == 950
    assert [r["id"] for r in out["items"]] == [f"i{i:04d}" for i in range(900, 950)]
    page = rev.get("/browse?disagreement=true&page=18").text
    assert "950 items." in page and "/item?id=i0949" in page
    p.close()


def test_flags_and_comments_reach_the_reviewer(tmp_path):
    p = make_project(tmp_path / "p", n=3, overlap=1)
    add_users(p, {"ann": "annotator", "rev": "reviewer"})
    app = create_app(p)
    ann, rev = Session(app, "ann"), Session(app, "rev")
    flagged = ann.next()
    ann.post("/api/comment", json={"id": flagged["id"], "text": "half the text is missing",
                                   "flag": True})
    ann.post("/api/skip", json={"id": flagged["id"]})  # flagged, never answered
    other = ann.next()
    ann.post("/api/comment", json={"id": other["id"], "text": "easy one"})
    ann.post("/api/submit", json={"id": other["id"], "label": "pos"})
    queue = rev.get("/api/review?show=flagged").json()
    assert queue["total"] == 1
    (row,) = queue["items"]
    assert row["reasons"] == ["flagged"] and row["text"] == flagged["fields"]["text"]
    assert [(c["person"], c["text"], c["flag"]) for c in row["comments"]] == [
        ("ann", "half the text is missing", True)]
    item_id = row["item"]
    assert item_id in {r["item"] for r in rev.get("/api/review").json()["items"]}
    html = rev.get("/review?show=flagged").text
    assert "half the text is missing" in html and "Flagged by people (1)" in html
    assert "Needs review: flagged (1 open flag)" in rev.get(f"/item?id={item_id}").text
    # deciding the item settles its flag; a flag raised after that reopens it
    rev.post(f"/api/items/{item_id}/adjudicate", json={"label": "neg"})
    assert rev.get("/api/review?show=flagged").json() == {"items": [], "total": 0,
                                                          "offset": 0, "limit": 50}
    assert item_id not in {r["item"] for r in rev.get("/api/review").json()["items"]}
    r = rev.post("/item/comment", data={"id": item_id, "text": "gold seems off", "flag": "true",
                                        "csrf_token": rev.csrf}, follow_redirects=False)
    assert r.status_code == 303
    (again,) = rev.get("/api/review?show=flagged").json()["items"]
    assert again["item"] == item_id and again["reasons"] == ["flagged"]
    p.close()


def test_the_queue_row_says_who_said_what_with_the_models_confidence(tmp_path):
    p = make_project(tmp_path / "p", n=2, overlap=2)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
    app = create_app(p)
    _answer_all(app, {"ann": "pos", "bob": "neg"})
    rev = Session(app, "rev")
    rows = {r["item"]: r for r in rev.get("/api/review").json()["items"]}
    good = rows["i0001"]  # "item number 1 is good": the rules model says pos at 0.6
    assert good["text"] == "item number 1 is good"
    assert sorted((x["person"], x["label"]) for x in good["people"]) == [("ann", "pos"),
                                                                        ("bob", "neg")]
    assert [(m["annotator"], m["label"], m["confidence"]) for m in good["models"]] == [
        ("rules", "pos", 0.6)]
    html = rev.get("/review").text
    row = re.search(r'<tr data-item="i0001".*?</tr>', html, re.DOTALL).group(0)
    assert "item number 1 is good" in row and "<strong>ann</strong>: pos" in row
    assert "<strong>rules</strong>: pos" in row and "(0.60)" in row
    p.close()


def test_span_adjudication_is_checked_against_the_text(tmp_path):
    from pagedata import populated

    p, app = populated(tmp_path / "p", "spans")
    rev = Session(app, "rev")
    item = rev.get("/api/items/i0002").json()
    text = item["fields"]["text"]
    bad = rev.post("/api/items/i0002/adjudicate", json={"label": json.dumps([[0, 99, "PER"]])})
    assert bad.status_code == 422 and "past the end of the text" in bad.json()["error"]["message"]
    bad = rev.post("/item/adjudicate", data={"id": "i0002", "label": '[[0, 99, "PER"]]',
                                            "csrf_token": rev.csrf})
    assert bad.status_code == 422 and "past the end of the text" in bad.text
    ok = rev.post("/api/items/i0002/adjudicate", json={"label": [[0, 4, "PER"], [14, 18, "LOC"]]})
    assert ok.status_code == 200, ok.text
    assert text[0:4] == "Erin" and text[14:18] == "Oslo"
    decision = rev.get("/api/items/i0002").json()["decision"]
    assert json.loads(decision["label"]) == [[0, 4, "PER"], [14, 18, "LOC"]]
    assert decision["decided_by"] == "review:rev"
    p.close()
