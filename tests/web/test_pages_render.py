"""Every page, rendered with real data for each task kind, shows no leaked Python or
JavaScript values (``<built-in method ...>``, ``None``, ``undefined``, ``NaN``, an unrendered
``{{ ... }}``, a traceback)."""

import html
import re

import pytest
from helpers import Session
from pagedata import populated

FORBIDDEN = [re.compile(p) for p in (r"<built-in", r"<bound method", r"\bobject at 0x",
                                     r"\bNone\b", r"\bundefined\b", r"(?i)\bnan\b",
                                     r"(?i)\b-?inf\b", r"\{\{", r"\{%", r"Traceback")]


def leaks(page_html: str) -> list[str]:
    """Forbidden text in the page: in what it shows and in its attributes (scripts read
    those)."""
    text = html.unescape(page_html)
    return [m.group(0) for pat in FORBIDDEN for m in [pat.search(text)] if m]


def check(response, where: str, status: int = 200) -> str:
    assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
    found = leaks(response.text)
    assert not found, f"{where} shows {found}"
    return response.text


@pytest.mark.parametrize("kind", ["classification", "multilabel", "spans"])
def test_every_page_renders_real_data_without_leaked_values(tmp_path, kind):
    from fastapi.testclient import TestClient

    p, app = populated(tmp_path / "p", kind)
    try:
        rev, adm, cat = Session(app, "rev"), Session(app, "adm"), Session(app, "cat")
        queue = rev.get("/api/review").json()["items"]
        assert queue, "the data should need review"
        first, label = next((q["item"], q["people"][0]["label"]) for q in queue if q["people"])
        check(rev.get(f"/item?id={first}"), "item (before review)")
        r = rev.post(f"/api/items/{first}/adjudicate", json={"label": label, "note": "ok"})
        assert r.status_code == 200, r.text
        dashboard = check(rev.get("/dashboard"), "dashboard")
        items = p.status().items
        m = re.search(r'data-testid="progress"><div class="big">(\d+) / (\d+)</div>', dashboard)
        assert m, "the dashboard's headline should read 'decided / items'"
        decided = int(m.group(1))
        assert int(m.group(2)) == items and 0 < decided <= items
        assert re.search(r"over \d+ items with two or more answers", dashboard)
        pages = {
            "annotate (an item)": cat.get("/annotate"),
            "annotate (empty)": Session(app, "ann").get("/annotate"),
            "review": rev.get("/review"),
            "review (flagged)": rev.get("/review?show=flagged"),
            "item (reviewed)": rev.get(f"/item?id={first}"),
            "item (gold)": rev.get("/item?id=i0000"),
            "item (flagged)": rev.get(f"/item?id={_flagged(p)}"),
            "browse": rev.get("/browse"),
            "browse (filters)": rev.get("/browse?disagreement=true&annotator=ann"
                                        "&max_confidence=0.9"),
            "users": adm.get("/admin/users"),
            "users (invite made)": adm.post("/admin/users", data={
                "name": "newbie", "role": "annotator", "csrf_token": adm.csrf}),
            "token": rev.post("/tokens", data={"name": "nightly", "csrf_token": rev.csrf}),
            "login": TestClient(app).get("/login"),
            "invite": TestClient(app).get("/invite?token=abc"),
        }
        for where, response in pages.items():
            check(response, where)
        check(rev.get("/item?id=nope"), "error (404)", status=404)
        check(cat.get("/review"), "error (403)", status=403)
    finally:
        p.close()


def _flagged(p) -> str:
    from labelquorum.store import schema

    with p.store.connect() as conn:
        return conn.execute(schema.comments.select().where(schema.comments.c.flag)).first().item_id


def test_dashboard_says_kappa_is_not_defined_when_everyone_gives_one_label(tmp_path):
    from helpers import add_users, make_project

    from labelquorum.web import create_app

    p = make_project(tmp_path / "p", n=4, overlap=2)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
    app = create_app(p)
    for name in ("ann", "bob"):
        s = Session(app, name)
        while (item := s.next()) is not None:
            s.post("/api/submit", json={"id": item["id"], "label": "pos", "seconds": 1.0})
    page = check(Session(app, "rev").get("/dashboard"), "dashboard (unanimous)")
    assert "Percent agreement 1.000, Fleiss' kappa not defined" in page
    assert Session(app, "rev").get("/api/stats").json()["agreement"]["fleiss_kappa"] is None
    p.close()
