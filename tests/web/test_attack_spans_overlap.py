"""Attacks on the span editors with overlapping entities (issue #11, item 16).

The data model allows overlapping spans (an annotator's API answer, a model's, an
import): the pages must still show the item's own text, so that what a person selects
is where the stored offsets point."""

import json

from helpers import PASSWORD, Session
from liveserver import LiveServer
from test_browser import browser, log_in, page, ready  # noqa: F401 - fixtures
from test_spans_page import spans_project

from labelquorum.web import create_app
from labelquorum.web.auth import Accounts

TEXT = "Ann met Bob at Acme today."


def test_the_reviewers_span_editor_shows_the_text_of_overlapping_answers(page, tmp_path):  # noqa: F811
    p = spans_project(tmp_path / "p", [TEXT])
    Accounts(p.store).add_user("rev", "reviewer", PASSWORD)
    app = create_app(p)
    ann = Session(app, "ann")
    item = ann.next()
    # "Ann m" as a person and " met " as a place: an answer the API takes
    r = ann.post("/api/submit", json={"id": item["id"], "label": [[0, 5, "PER"], [3, 8, "LOC"]]})
    assert r.status_code == 200, r.text
    with LiveServer(app) as server:
        log_in(page, server.url, "rev")
        page.goto(f"{server.url}/item?id=s0")
        ready(page)
        # the editor starts from the person's answer: the text must read as it is
        assert page.text_content("#span-text") == TEXT
        # select "Bob" and mark it: it is stored where Bob is
        page.evaluate("""() => {
            const el = document.querySelector('#span-text');
            const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            let node, at = 0;
            const r = document.createRange();
            while ((node = walk.nextNode())) {
              const i = node.data.indexOf('Bob');
              if (i >= 0) { r.setStart(node, i); r.setEnd(node, i + 3); break; }
            }
            window.getSelection().removeAllRanges();
            window.getSelection().addRange(r);
        }""")
        page.click("[data-testid=span-type-1]")
        spans = json.loads(page.input_value("[data-testid=span-value]"))
        assert [8, 11, "PER"] in spans, spans
    p.close()
