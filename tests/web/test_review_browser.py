"""Reviewers in a real browser (Debian's chromium through Playwright, against uvicorn): the
queue shows what each item needs, the item page decides by keyboard (Enter only on the
submit button), spans are adjudicated with a span editor, and no page shows leaked values."""

import json
import re

import pytest
from helpers import Session, add_users, make_project
from liveserver import LiveServer
from pagedata import populated
from test_browser import browser, log_in, page  # noqa: F401 - fixtures
from test_pages_render import FORBIDDEN

from labelquorum.store import schema
from labelquorum.web import create_app


def item_ready(pg):
    pg.wait_for_selector("body[data-page=item][data-ready=true]")


def reviews(p):
    with p.store.connect() as conn:
        return [(r.item_id, r.label, r.note) for r in conn.execute(
            schema.reviews.select().order_by(schema.reviews.c.id))]


def test_the_queue_and_deciding_by_keyboard(page, tmp_path):  # noqa: F811
    p = make_project(tmp_path / "p", n=4, overlap=2)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
    app = create_app(p)
    for name, label in (("ann", "pos"), ("bob", "neg")):
        s = Session(app, name)
        while (item := s.next()) is not None:
            if name == "ann" and item["fields"]["text"] == "item number 3 is good":
                s.post("/api/comment", json={"id": item["id"], "flag": True,
                                             "text": "is this sarcasm?"})
            s.post("/api/submit", json={"id": item["id"], "label": label})
    with LiveServer(app) as server:
        url = server.url
        log_in(page, url, "rev")
        page.click("[data-testid=nav-review]")
        assert page.inner_text("[data-testid=review-count]") == "Items 1–4 of 4 waiting for review."
        first = page.locator("[data-testid=review-row]").first  # the flagged one comes first
        assert first.get_attribute("data-item") == "i0003"
        row = first.inner_text()
        assert "item number 3 is good" in row and "ann: pos" in row and "bob: neg" in row
        assert "rules: pos (0.60)" in row and "flag ann: is this sarcasm?" in row
        page.click("[data-testid=review-flagged]")
        assert page.locator("[data-testid=review-row]").count() == 1
        page.click("[data-testid=review-all]")
        first.locator("[data-testid=review-link]").click()
        item_ready(page)
        assert page.url.endswith("/item?id=i0003")
        # n and p walk the queue
        page.keyboard.press("n")
        page.wait_for_url(re.compile(r"id=i0000$"))
        item_ready(page)
        page.keyboard.press("p")
        page.wait_for_url(re.compile(r"id=i0003$"))
        item_ready(page)
        assert page.inner_text("[data-testid=queue-position]") == "1 of 4"
        # Enter in the note, with no label chosen: nothing is sent (a sent form would be a
        # 422 page, and the steps below would fail)
        page.fill("[data-testid=adjudicate-note]", "sarcastic")
        page.press("[data-testid=adjudicate-note]", "Enter")
        # a label key picks it; Enter on the chosen radio sends nothing either
        page.click("h1")  # away from the note field
        page.keyboard.press("1")
        assert page.is_checked("[data-testid=adjudicate-1]")
        page.press("[data-testid=adjudicate-1]", "Enter")
        page.click("h1")  # away from the note field
        page.keyboard.press("2")
        assert page.is_checked("[data-testid=adjudicate-2]")
        assert not page.is_checked("[data-testid=adjudicate-1]")
        # Enter on the focused submit button decides, and the next item of the queue opens
        page.focus("[data-testid=adjudicate-submit]")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"id=i0000$"))
        assert reviews(p) == [("i0003", "neg", "sarcastic")]
        item_ready(page)
        assert page.inner_text("[data-testid=queue-position]") == "1 of 3"
    assert page.dialogs == []
    p.close()


def drag_over(pg, selector, start, end):
    """Press the mouse before character ``start`` of the element's text, release after
    ``end``."""
    box = pg.evaluate("""([sel, a, b]) => {
        const el = document.querySelector(sel);
        const at = (n) => { const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            let node; while ((node = walk.nextNode())) {
            if (n <= node.length) return [node, n]; n -= node.length; } };
        const r = document.createRange(); r.setStart(...at(a));
        const r2 = document.createRange(); r2.setStart(...at(b));
        const x = r.getBoundingClientRect(), y = r2.getBoundingClientRect();
        return [x.left + 1, x.top + x.height / 2, y.left - 1, y.top + y.height / 2];
    }""", [selector, start, end])
    pg.mouse.move(box[0], box[1])
    pg.mouse.down()
    pg.mouse.move((box[0] + box[2]) / 2, box[1], steps=3)
    pg.mouse.move(box[2], box[3], steps=3)
    pg.mouse.up()


def marks(pg):
    return pg.eval_on_selector_all("#span-text mark",
                                   "ms => ms.map(m => [m.textContent, m.dataset.type])")


def test_spans_are_adjudicated_with_the_span_editor(page, tmp_path):  # noqa: F811
    p, app = populated(tmp_path / "p", "spans")  # i0002: "Erin lives in Oslo."
    with LiveServer(app) as server:
        log_in(page, server.url, "rev")
        page.goto(f"{server.url}/item?id=i0002")
        item_ready(page)
        assert page.inner_text("#span-text") .startswith("Erin")
        # bob said Erin is a place: start from his answer
        page.click("[data-testid=use-person-2]")
        assert marks(page) == [["Erin", "LOC"]]
        page.click("[data-testid=span-remove-1]")
        page.wait_for_selector("[data-testid=span-none]:not([hidden])")
        assert marks(page) == []
        # Oslo by mouse and the LOC button; Erin by mouse (inside the word: snapped to
        # it) and the PER key
        drag_over(page, "#span-text", 14, 18)
        page.click("[data-testid=span-type-2]")
        drag_over(page, "#span-text", 1, 3)
        page.keyboard.press("1")
        assert marks(page) == [["Erin", "PER"], ["Oslo", "LOC"]]
        assert page.inner_text("[data-testid=span-entity-2]").startswith("Oslo")
        assert json.loads(page.input_value("[data-testid=span-value]")) == [
            [0, 4, "PER"], [14, 18, "LOC"]]
        assert page.inner_text("#span-text") == "Erin lives in Oslo."
        page.focus("[data-testid=adjudicate-submit]")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"id=(?!i0002)"))
    decision = Session(app, "rev").get("/api/items/i0002").json()["decision"]
    assert json.loads(decision["label"]) == [[0, 4, "PER"], [14, 18, "LOC"]]
    assert decision["decided_by"] == "review:rev"
    assert page.dialogs == []
    p.close()


@pytest.mark.parametrize("kind", ["classification", "spans"])
def test_no_page_shows_leaked_values_in_the_browser(page, tmp_path, kind):  # noqa: F811
    p, app = populated(tmp_path / "p", kind)
    with LiveServer(app) as server:
        url = server.url
        log_in(page, url, "rev")
        page.goto(f"{url}/dashboard")
        headline = page.inner_text("[data-testid=progress] .big")
        assert re.fullmatch(rf"\d+ / {p.status().items}", headline), headline
        assert re.search(r"over \d+ items with two or more answers",
                         page.inner_text("[data-testid=agreement]"))
        for path in ["/dashboard", "/review", "/review?show=flagged", "/item?id=i0002",
                     "/item?id=i0000", "/browse", "/browse?disagreement=true", "/item?id=nope"]:
            page.goto(url + path)
            page.wait_for_load_state()
            text = page.inner_text("body")
            found = [pat.pattern for pat in FORBIDDEN if pat.search(text)]
            assert not found, f"{path} shows {found}"
        page.click("[data-testid=logout]")
        log_in(page, url, "cat")
        page.wait_for_selector("body[data-ready=true]")
        for _ in range(2):  # the second item is drawn by the script, not the server
            before = page.get_attribute("#item", "data-id")
            if not before:
                break
            page.keyboard.press("1")
            page.keyboard.press("Enter")
            page.wait_for_function("id => document.querySelector('#item').dataset.id !== id",
                                   arg=before)
            text = page.inner_text("body")
            found = [pat.pattern for pat in FORBIDDEN if pat.search(text)]
            assert not found, f"/annotate shows {found}"
    assert page.dialogs == []
    p.close()
