"""The annotation page in Chromium: keys act on the focused control, a suggestion is shown
but not chosen, guidelines and label descriptions are in view, progress is counted, an
empty queue shows no buttons, and every label can be chosen by keyboard."""

import pytest
import test_browser
from helpers import Session

from labelquorum.store import schema

# the browser fixtures of test_browser.py (Debian's chromium through Playwright)
browser, page, served = test_browser.browser, test_browser.page, test_browser.served
log_in, ready = test_browser.log_in, test_browser.ready

ITEM_CHANGED = "id => document.querySelector('#item').dataset.id !== id"


def _human(p):
    j = p.judgements()
    return j[j["annotator_kind"] == "human"]


def _assignments(p):
    with p.store.connect() as conn:
        return conn.execute(schema.assignments.select().order_by(schema.assignments.c.id)).all()


def _status(page, text):
    page.wait_for_function("t => document.querySelector('#status').textContent.includes(t)",
                           arg=text)


def test_enter_on_a_focused_control_never_stores_the_suggestion(page, served):
    # every item has a suggestion (the rules annotator says 'pos' on 'good' items)
    p, _, url = served(n=6, overlap=1, texts=[f"a good item {i}" for i in range(6)])
    log_in(page, url, "ann")
    ready(page)
    first = page.get_attribute("#item", "data-id")
    assert page.is_visible("[data-testid=suggestion]")

    # Enter on the Guidelines summary folds them (and stores nothing)
    page.focus("[data-testid=guidelines] summary")
    page.keyboard.press("Enter")
    page.wait_for_function("() => !document.querySelector('#guidelines').open")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#guidelines').open")

    # Enter in the comment box sends the comment; Enter on Send sends it too
    page.click("#comment-box summary")
    page.fill("[data-testid=comment-text]", "is this sarcasm?")
    page.focus("[data-testid=comment-text]")
    page.keyboard.press("Enter")
    _status(page, "Comment sent")
    page.fill("[data-testid=comment-text]", "second thought")
    page.evaluate("document.querySelector('#status').textContent = ''")
    page.focus("[data-testid=comment-submit]")
    page.keyboard.press("Enter")
    _status(page, "Comment sent")
    assert page.get_attribute("#item", "data-id") == first
    assert len(_human(p)) == 0

    # Tab onto Skip and Enter: the item is skipped, not answered
    page.focus("[data-testid=submit]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.testid") == "skip"
    page.keyboard.press("Enter")
    page.wait_for_function(ITEM_CHANGED, arg=first)
    states = [r.state for r in _assignments(p)]
    assert "skipped" in states and "done" not in states
    assert len(_human(p)) == 0
    with p.store.connect() as conn:
        comments = [r.text for r in conn.execute(schema.comments.select()).all()]
    assert comments == ["is this sarcasm?", "second thought"]

    # a deliberate submit with no label chosen stores nothing either: the suggestion is
    # shown, not chosen (focus leaves the Skip button first: Enter there would skip)
    page.evaluate("document.activeElement.blur()")
    second = page.get_attribute("#item", "data-id")
    page.keyboard.press("Enter")
    _status(page, "Choose a label first")
    assert page.get_attribute("#item", "data-id") == second and len(_human(p)) == 0
    assert page.get_attribute("[data-testid=label-1]", "aria-pressed") == "false"
    assert "suggested" in page.get_attribute("[data-testid=label-1]", "class")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_function(ITEM_CHANGED, arg=second)
    row = _human(p).iloc[0]
    assert row["label"] == "neg"
    assert [bool(r.suggestion_accepted) for r in _assignments(p) if r.state == "done"] == [False]


def test_a_mouse_click_on_a_label_leaves_enter_to_submit(page, served):
    p, _, url = served(n=3, overlap=1)
    log_in(page, url, "ann")
    ready(page)
    first = page.get_attribute("#item", "data-id")
    page.click("[data-testid=label-2]")
    page.keyboard.press("Enter")
    page.wait_for_function(ITEM_CHANGED, arg=first)
    assert list(_human(p)["label"]) == ["neg"]


def test_preselect_suggestion_when_the_project_asks_for_it(page, served):
    p, _, url = served(n=3, overlap=1, texts=[f"a good item {i}" for i in range(3)],
                       extra="preselect_suggestion = true\n")
    log_in(page, url, "ann")
    ready(page)
    first = page.get_attribute("#item", "data-id")
    assert page.get_attribute("[data-testid=label-1]", "aria-pressed") == "true"
    page.keyboard.press("Enter")
    page.wait_for_function(ITEM_CHANGED, arg=first)
    assert list(_human(p)["label"]) == ["pos"]


def test_guidelines_and_label_descriptions_are_in_view_beside_the_item(page, served):
    labels = ("pos", "neg")
    _, _, url = served(n=2, overlap=1, labels=labels, guidelines="Irony counts as neg.")
    log_in(page, url, "ann")
    ready(page)
    assert page.is_visible("#guidelines-text")  # open without a click
    assert "Irony counts as neg." in page.inner_text("#guidelines-text")
    item = page.locator("[data-testid=item]").bounding_box()
    guide = page.locator("#guidelines-text").bounding_box()
    assert guide["x"] >= item["x"] + item["width"]  # beside the item, not below it
    assert guide["y"] < item["y"] + item["height"]
    for i in (1, 2):
        assert page.is_visible(f"[data-testid=label-description-{i}]")


def test_label_descriptions_are_text_not_tooltips(page, tmp_path):
    from helpers import add_users, make_project
    from liveserver import LiveServer

    from labelquorum.web import create_app

    p = make_project(tmp_path / "p", n=2, overlap=1, run=False)
    toml = (p.path / "labelquorum.toml").read_text().replace(
        '[[task.labels]]\nname = "pos"\n',
        '[[task.labels]]\nname = "pos"\ndescription = "Praise, thanks, enthusiasm."\n')
    (p.path / "labelquorum.toml").write_text(toml)
    p.close()
    from labelquorum import open_project

    p = open_project(p.path)
    p.run()
    add_users(p, {"ann": "annotator"})
    with LiveServer(create_app(p)) as server:
        log_in(page, server.url, "ann")
        ready(page)
        assert "Praise, thanks, enthusiasm." in page.inner_text("[data-testid=label-1]")
        assert page.is_visible("[data-testid=label-1] .label-desc")
        assert "Praise, thanks, enthusiasm." in page.inner_text(
            "[data-testid=label-description-1]")
        assert page.get_attribute("[data-testid=label-1]", "title") is None
    p.close()


def test_progress_counts_today_overall_and_what_is_left(page, served):
    _, app, url = served(n=8, overlap=1)
    log_in(page, url, "ann")
    ready(page)

    def figures():
        return [int(page.inner_text(f"[data-testid=progress-{k}]"))
                for k in ("today", "total", "remaining")]

    assert figures() == [0, 0, 8]  # eight items ahead, the one on screen included
    for key in ("1", "2", "1"):
        before = page.get_attribute("#item", "data-id")
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        page.wait_for_function(ITEM_CHANGED, arg=before)
    assert figures() == [3, 3, 5]
    page.reload()
    ready(page)
    assert figures() == [3, 3, 5]  # the server's figures agree with the page's counting
    assert Session(app, "ann").get("/api/progress").json() == {
        "today": 3, "total": 3, "remaining": 5}


def test_an_empty_queue_shows_no_label_submit_or_skip_buttons(page, served):
    _, app, url = served(n=1, overlap=1)
    Session(app, "ann")  # logging in leases ann the only item
    log_in(page, url, "bob")
    ready(page)
    assert page.is_visible("[data-testid=empty]")
    for hook in ("label-1", "label-2", "submit", "skip", "comment-text"):
        assert not page.is_visible(f"[data-testid={hook}]"), hook


def test_the_last_item_answered_leaves_no_buttons_behind(page, served):
    _, _, url = served(n=1, overlap=1)
    log_in(page, url, "ann")
    ready(page)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=empty]", state="visible")
    for hook in ("label-1", "submit", "skip"):
        assert not page.is_visible(f"[data-testid={hook}]"), hook


def test_every_label_can_be_chosen_by_keyboard(page, served):
    labels = tuple(f"l{i}" for i in range(1, 12))  # eleven: the last two have no digit
    p, _, url = served(n=2, overlap=1, labels=labels)
    log_in(page, url, "ann")
    ready(page)
    first = page.get_attribute("#item", "data-id")
    page.focus("[data-testid=label-10]")
    page.keyboard.press("Tab")  # onto label 11, from the keyboard
    assert page.evaluate("document.activeElement.dataset.testid") == "label-11"
    page.keyboard.press("Space")
    assert page.get_attribute("[data-testid=label-11]", "aria-pressed") == "true"
    page.focus("[data-testid=submit]")
    page.keyboard.press("Enter")
    page.wait_for_function(ITEM_CHANGED, arg=first)
    assert list(_human(p)["label"]) == ["l11"]


def test_the_page_reports_when_it_is_hidden(page, served):
    p, _, url = served(n=2, overlap=1)
    log_in(page, url, "ann")
    ready(page)
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {get: () => 'hidden',
                                                             configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    shown = page.get_attribute("#item", "data-id")
    a = schema.assignments

    def hidden_since():
        with p.store.connect() as conn:
            return conn.execute(a.select().with_only_columns(a.c.hidden_since)
                                .where(a.c.public_id == shown)).scalar()

    page.wait_for_function("() => true")
    for _ in range(50):
        if hidden_since() is not None:
            break
        page.wait_for_timeout(50)
    assert hidden_since() is not None
    page.evaluate("""() => {
        Object.defineProperty(document, 'visibilityState', {get: () => 'visible',
                                                             configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    for _ in range(50):
        if hidden_since() is None:
            break
        page.wait_for_timeout(50)
    assert hidden_since() is None


@pytest.fixture(autouse=True)
def _no_dialogs(page):
    yield
    assert page.dialogs == []
