"""Review, the dashboard, the data browser, media and the pages reviewers use."""

import json

from helpers import Session, add_users, make_project

from labelquorum.store import schema
from labelquorum.web import create_app

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>'


def _answer_all(people, labels):
    for s, label in zip(people, labels):
        while (item := s.next()) is not None:
            s.post("/api/submit", json={"id": item["id"], "label": label, "seconds": 2.0})


def test_disagreement_review_writes_final_label_with_provenance(tmp_path):
    p = make_project(tmp_path / "p", n=4, overlap=2)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
    app = create_app(p)
    ann, bob, rev = Session(app, "ann"), Session(app, "bob"), Session(app, "rev")
    _answer_all([ann, bob], ["pos", "neg"])
    queue = rev.get("/api/review").json()["items"]
    assert {q["item"] for q in queue} == {"i0000", "i0001", "i0002", "i0003"}
    assert all(q["reason"] == "people disagree" for q in queue)
    page = rev.get("/review")
    assert "i0000" in page.text
    r = rev.post("/api/items/i0001/adjudicate", json={"label": "neg", "note": "sarcasm"})
    assert r.json() == {"ok": True, "label": "neg"}
    d = schema.decisions
    with p.store.connect() as conn:
        row = conn.execute(d.select().where(d.c.item_id == "i0001")).first()
    assert row.label == "neg" and row.decided_by == "review:rev" and row.tier == "review"
    prov = row.provenance if isinstance(row.provenance, dict) else json.loads(row.provenance)
    assert sorted(x["person"] for x in prov["people"]) == ["ann", "bob"]
    assert prov["note"] == "sarcasm" and "rules" in prov["models"]
    assert "i0001" not in {q["item"] for q in rev.get("/api/review").json()["items"]}
    # the next run keeps the reviewer's label
    p.run()
    with p.store.connect() as conn:
        row = conn.execute(d.select().where(d.c.item_id == "i0001")).first()
    assert row.label == "neg" and row.tier == "review"
    p.close()


def test_people_versus_models_needs_review(tmp_path):
    # rules say "pos" on odd items (they contain 'good'); the person says "neg"
    p = make_project(tmp_path / "p", n=2, overlap=1)
    add_users(p, {"ann": "annotator", "rev": "reviewer"})
    app = create_app(p)
    _answer_all([Session(app, "ann")], ["neg"])
    queue = Session(app, "rev").get("/api/review").json()["items"]
    assert [(q["item"], q["reason"]) for q in queue] == [("i0001", "people and models disagree")]
    p.close()


def test_dashboard_browse_and_item_pages(tmp_path):
    p = make_project(tmp_path / "p", n=6, overlap=2, texts=[XSS] * 6, labels=("pos", XSS),
                     guidelines=XSS)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer", "adm": "admin"})
    app = create_app(p)
    _answer_all([Session(app, "ann"), Session(app, "bob")], ["pos", XSS])
    rev = Session(app, "rev")
    stats = rev.get("/api/stats").json()
    assert stats["items"] == 6 and stats["answers_last_24h"] == 12
    people = next(c for c in stats["cost"] if c["kind"] == "human")
    # priced from the time the server measured (the browser's 2.0 s only bounds it)
    human = p.judgements().query("annotator_kind == 'human'")
    assert abs(people["cost"] - human["latency"].sum() * 30 / 3600) < 1e-9
    assert (human["latency"] <= 2.0).all()
    assert stats["agreement"]["items"] == 6 and stats["agreement"]["percent"] == 0.0
    assert stats["handling"]["with_suggestion_n"] + stats["handling"]["without_suggestion_n"] == 12
    pages = [rev.get("/dashboard"), rev.get("/browse"), rev.get("/browse?disagreement=true"),
             rev.get("/browse?annotator=ann&max_confidence=0.5"), rev.get("/item?id=i0001"),
             rev.get("/review"), Session(app, "adm").get("/admin/users"),
             Session(app, "ann").get("/annotate")]
    for page in pages:
        assert page.status_code == 200, page.text
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "<svg" in page.text or page.url.path != "/dashboard"
    assert rev.get("/browse?annotator=ann").text.count("/item?id=") == 6
    assert rev.get("/item?id=nope").status_code == 404
    p.close()


def test_media_resolves_only_inside_the_media_root(tmp_path):
    texts = ["cat.png", "../secret.png", "/etc/hostname.png"]
    p = make_project(tmp_path / "p", n=3, overlap=1, texts=texts, run=False)
    (p.path / "media").mkdir()
    (p.path / "media" / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (p.path / "secret.png").write_bytes(b"secret")
    p.run()
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")
    served, refused = 0, 0
    while (item := s.next()) is not None:
        r = s.get(f"/media/{item['id']}/text")
        if item["fields"]["text"] == "cat.png":
            assert r.status_code == 200 and r.content.endswith(b"fake")
            served += 1
        else:
            assert r.status_code == 404 and b"secret" not in r.content
            refused += 1
        s.post("/api/skip", json={"id": item["id"]})
    assert (served, refused) == (1, 2)
    p.close()


def test_suggestions_can_be_turned_off(tmp_path):
    p = make_project(tmp_path / "p", n=2, overlap=1, suggestions=False)
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")
    assert s.next()["suggestion"] is None
    p.close()
    p2 = make_project(tmp_path / "q", n=2, overlap=1)
    add_users(p2, {"ann": "annotator"})
    s = Session(create_app(p2), "ann")
    item = s.next()
    if item["fields"]["text"].endswith("good"):
        assert item["suggestion"]["label"] == "pos"
        assert item["suggestion"]["confidence"] == 0.6
    p2.close()
