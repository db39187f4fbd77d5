"""Review.adjudicate_many: many reviews in one transaction, each as adjudicate writes it."""

import json

import pytest
from helpers import Session, add_users, make_project

from labelquorum.errors import WebError
from labelquorum.store import schema
from labelquorum.web import create_app
from labelquorum.web.auth import Accounts, User
from labelquorum.web.review import Review


def _project(tmp_path, name):
    p = make_project(tmp_path / name, n=4, overlap=2)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
    app = create_app(p)
    for s, label in ((Session(app, "ann"), "pos"), (Session(app, "bob"), "neg")):
        while (item := s.next()) is not None:
            s.post("/api/submit", json={"id": item["id"], "label": label, "seconds": 2.0})
    return p, User(Accounts(p.store).user_id("rev"), "rev", "reviewer")


def _stored(p):
    d, rv = schema.decisions, schema.reviews
    with p.store.connect() as conn:
        dec = {r.item_id: (r.label, r.decided_by, r.tier, r.state, r.flags,
                           json.loads(r.provenance) if isinstance(r.provenance, str)
                           else r.provenance)
               for r in conn.execute(d.select())}
        reviews = sorted((r.item_id, r.label, r.note) for r in conn.execute(rv.select()))
    return dec, reviews


def test_many_reviews_store_what_one_by_one_reviews_store(tmp_path):
    one, rev1 = _project(tmp_path, "one")
    many, rev2 = _project(tmp_path, "many")
    labels = {"i0002": "neg", "i0000": "pos", "i0003": "neg"}
    for item, label in labels.items():
        Review(one).adjudicate(rev1, item, label, note="checked")
    assert Review(many).adjudicate_many(rev2, labels, note="checked") == ["neg", "pos", "neg"]
    assert _stored(many) == _stored(one)
    assert [i for i, _ in Review(many).backlog()] == ["i0001"]
    one.close()
    many.close()


def test_an_unknown_item_or_a_bad_label_stores_nothing(tmp_path):
    p, rev = _project(tmp_path, "p")
    before = _stored(p)
    with pytest.raises(WebError, match="no item 'nope' in this project"):
        Review(p).adjudicate_many(rev, {"i0000": "pos", "nope": "neg"})
    with pytest.raises(WebError) as exc:
        Review(p).adjudicate_many(rev, {"i0000": "pos", "i0001": "maybe"})
    assert exc.value.status == 422
    assert _stored(p) == before
    assert len(Review(p).backlog()) == 4
    p.close()
