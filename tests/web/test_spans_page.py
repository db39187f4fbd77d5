"""Span selection on the annotation page of a ``spans`` task: by mouse and by keyboard in
Debian's chromium, and the server's validation of submitted spans."""

import json

import pandas as pd
from helpers import Session, add_users
from liveserver import LiveServer
from test_browser import browser, log_in, page, ready  # noqa: F401 - fixtures

from labelquorum import init_project
from labelquorum.web import create_app

CONFIG = """
[project]
name = "spans-web"
seed = 0

[task]
kind = "spans"
guidelines = "Mark people and places."
labels = ["PER", "LOC"]

[annotators.people]
type = "human"
overlap = 1

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "people"
annotators = ["people"]

[web]
gold_rate = 0.0
"""
TEXT = "Alice met Bob in New York. <img src=x onerror=\"window.__xss=1\">"


def spans_project(root, texts):
    p = init_project(root, config_text=CONFIG)
    p.import_dataframe(pd.DataFrame({"id": [f"s{i}" for i in range(len(texts))],
                                     "text": texts}), id_column="id")
    p.run()
    add_users(p, {"ann": "annotator"})
    return p


def stored_spans(p):
    j = p.judgements()
    return [json.loads(v) for v in j.loc[j["annotator_kind"] == "human", "label"]]


def test_submitted_spans_are_checked_against_the_text_and_types(tmp_path):
    p = spans_project(tmp_path / "p", ["Alice met Bob."])
    s = Session(create_app(p), "ann")
    item = s.next()
    bad = s.post("/api/submit", json={"id": item["id"], "label": [[0, 99, "PER"]]})
    assert bad.status_code == 422 and "past the end of the text" in bad.json()["error"]["message"]
    bad = s.post("/api/submit", json={"id": item["id"], "label": [[0, 5, "ORG"]]})
    assert bad.status_code == 422 and "'ORG' is not in the task's label set" in bad.text
    ok = s.post("/api/submit", json={"id": item["id"], "label": [[10, 13, "PER"], [0, 5, "PER"]]})
    assert ok.status_code == 200, ok.text
    assert stored_spans(p) == [[[0, 5, "PER"], [10, 13, "PER"]]]


def drag_over(pg, start, end):
    """Press the mouse before character ``start`` of the item text, release after ``end``."""
    box = pg.evaluate("""([a, b]) => {
        const el = document.querySelector('[data-testid=item-text]');
        const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        const at = (n) => { let node; while ((node = walk.nextNode())) {
            if (n <= node.length) return [node, n]; n -= node.length; } };
        const r = document.createRange();
        r.setStart(...at(a));
        const r2 = document.createRange();
        walk.currentNode = el;
        r2.setStart(...at(b));
        const x = r.getBoundingClientRect(), y = r2.getBoundingClientRect();
        return [x.left + 1, x.top + x.height / 2, y.left - 1, y.top + y.height / 2];
    }""", [start, end])
    pg.mouse.move(box[0], box[1])
    pg.mouse.down()
    pg.mouse.move((box[0] + box[2]) / 2, box[1], steps=3)
    pg.mouse.move(box[2], box[3], steps=3)
    pg.mouse.up()


def _mark_the_first_text(page):  # noqa: F811
    """Alice and Bob by mouse, New York by keyboard, then Bob removed and submitted."""
    # mouse: drag over "Alice" (from inside the first letter: snapped to the word)
    drag_over(page, 0, 5)
    page.click("[data-testid=label-1]")  # PER
    page.wait_for_selector("[data-testid=entity-1]")
    assert page.inner_text("mark[data-testid=entity-mark]") == "Alice"
    # keyboard: → moves word by word on from the last mark, Shift+→ extends;
    # "Bob" as PER, then "New York" as LOC
    for _ in range(2):
        page.keyboard.press("ArrowRight")  # met, Bob
    page.keyboard.press("1")
    page.wait_for_selector("[data-testid=entity-2]")
    page.keyboard.press("ArrowRight")  # in
    page.keyboard.press("ArrowRight")  # New
    page.keyboard.press("Shift+ArrowRight")  # New York
    page.keyboard.press("2")
    page.wait_for_selector("[data-testid=entity-3]")
    marks = page.eval_on_selector_all(
        "mark[data-testid=entity-mark]", "ms => ms.map(m => [m.textContent, m.dataset.type])")
    assert marks == [["Alice", "PER"], ["Bob", "PER"], ["New York", "LOC"]]
    # the text element still holds exactly the item's text, rendered inert
    assert page.inner_text("[data-testid=item-text]").replace("PER", "").replace(
        "LOC", "").replace(" ", "") == TEXT.replace(" ", "")
    assert page.evaluate("window.__xss") is None
    # remove "Bob", by its button
    page.click("[data-testid=entity-remove-2]")
    page.wait_for_function(
        "() => document.querySelectorAll('mark[data-testid=entity-mark]').length === 2")


def _mark_the_second_text(page):  # noqa: F811
    """By keyboard only: the first → takes the first word; Backspace drops the last."""
    assert page.is_visible("[data-testid=entities-none]")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("2")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("1")
    page.wait_for_selector("[data-testid=entity-2]")
    page.keyboard.press("Backspace")  # nothing selected: the last entity goes
    page.wait_for_function(
        "() => document.querySelectorAll('mark[data-testid=entity-mark]').length === 1")


def test_select_spans_by_mouse_and_keyboard_then_submit(page, tmp_path):  # noqa: F811
    p = spans_project(tmp_path / "p", [TEXT, "Paris is big."])
    with LiveServer(create_app(p)) as server:
        log_in(page, server.url, "ann")
        ready(page)
        # the queue's order is random: each item is marked by what it shows
        done = []
        for _ in range(2):
            shown = page.inner_text("[data-testid=item-text]")
            assert shown in (TEXT, "Paris is big.") and shown not in done, shown
            (_mark_the_first_text if shown == TEXT else _mark_the_second_text)(page)
            done.append(shown)
            current = page.get_attribute("#item", "data-id")
            page.keyboard.press("Enter")
            page.wait_for_function("id => document.querySelector('#item').dataset.id !== id",
                                   arg=current)
    assert sorted(stored_spans(p)) == [[[0, 5, "LOC"]], [[0, 5, "PER"], [17, 25, "LOC"]]]
    assert page.dialogs == []
