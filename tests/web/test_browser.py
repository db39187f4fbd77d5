"""The web app in a real browser: Debian's chromium driven by Playwright, against uvicorn.

Never runs ``playwright install``: it launches the system chromium (``apt-get install
chromium``; CI's .ci/run does). Without it these tests skip (fail under CI).
"""

import os
import shutil

import pytest
from helpers import PASSWORD, Session, add_users, make_project
from liveserver import LiveServer

from labelquorum.store import schema
from labelquorum.web import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
XSS_TEXT = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
XSS_LABEL = '"><svg onload="window.__xss=3">'
XSS_GUIDE = '<script>window.__xss=4</script><iframe src="javascript:window.__xss=5">'


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    pg = context.new_page()
    dialogs = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    yield pg
    context.close()


def log_in(page, url, name):
    page.goto(f"{url}/login")
    page.fill("[data-testid=login-name]", name)
    page.fill("[data-testid=login-password]", PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_load_state()


def ready(page):
    page.wait_for_selector("body[data-ready=true]")


@pytest.fixture
def served(tmp_path):
    def start(**kwargs):
        p = make_project(tmp_path / f"p{len(started)}", **kwargs)
        add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
        app = create_app(p)
        server = LiveServer(app).__enter__()
        started.append((p, server))
        return p, app, server.url
    started = []
    yield start
    for p, server in started:
        server.__exit__(None, None, None)
        p.close()


def test_label_ten_items_with_the_keyboard_only(page, served):
    p, _, url = served(n=12, overlap=1)
    log_in(page, url, "ann")
    assert page.url.endswith("/annotate")
    ready(page)
    for i in range(10):
        before = page.get_attribute("#item", "data-id")
        page.keyboard.press("2" if i % 2 else "1")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "id => document.querySelector('#item').dataset.id !== id", arg=before)
    j = p.judgements()
    human = j[j["annotator_kind"] == "human"]
    assert len(human) == 10 and set(human["label"]) == {"pos", "neg"}
    assert human["latency"].notna().all()  # time on item recorded


def test_skip_and_undo(page, served):
    p, _, url = served(n=5, overlap=1)
    log_in(page, url, "ann")
    ready(page)
    first = page.get_attribute("#item", "data-id")
    text = page.inner_text("[data-testid=item-text]")
    page.keyboard.press("s")
    page.wait_for_function("id => document.querySelector('#item').dataset.id !== id",
                           arg=first)
    page.keyboard.press("u")  # undo the skip: the item is back
    page.wait_for_function("id => document.querySelector('#item').dataset.id === id",
                           arg=first)
    assert page.inner_text("[data-testid=item-text]") == text
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_function("id => document.querySelector('#item').dataset.id !== id",
                           arg=first)
    page.keyboard.press("u")  # undo the answer
    page.wait_for_function("id => document.querySelector('#item').dataset.id === id",
                           arg=first)
    j = p.judgements()
    assert list(j.loc[j["annotator_kind"] == "human", "status"]) == ["superseded"]


def test_review_a_disagreement_and_log_out(page, served):
    p, app, url = served(n=1, overlap=2)
    for name, label in [("ann", "pos"), ("bob", "neg")]:
        s = Session(app, name)
        item = s.next()
        s.post("/api/submit", json={"id": item["id"], "label": label})
    log_in(page, url, "rev")
    page.click("[data-testid=nav-review]")
    page.click("[data-testid=review-link]")
    page.check("[data-testid=adjudicate-2]")
    page.click("[data-testid=adjudicate-submit]")
    page.wait_for_selector("[data-testid=review-empty]")
    status = p.to_dataframe()
    assert status.loc[0, "label"] == "neg" and status.loc[0, "decided_by"] == "review:rev"
    page.click("[data-testid=logout]")
    page.wait_for_url(f"{url}/login")
    page.goto(f"{url}/dashboard")
    assert page.url == f"{url}/login"  # the session is gone


def test_stored_xss_never_executes(page, served):
    _, _, url = served(n=3, overlap=2, texts=[XSS_TEXT] * 3, labels=("pos", XSS_LABEL),
                       guidelines=XSS_GUIDE)
    log_in(page, url, "ann")
    ready(page)
    assert XSS_TEXT in page.inner_text("[data-testid=item-text]")  # shown as text
    assert XSS_LABEL in page.inner_text("[data-testid=label-2]")
    assert "window.__xss=4" in page.inner_text("#guidelines-text")
    page.keyboard.press("2")
    page.keyboard.press("Enter")  # the next item is rendered by the script
    page.wait_for_timeout(300)
    assert XSS_TEXT in page.inner_text("[data-testid=item-text]")
    assert page.evaluate("window.__xss") is None
    # a reviewer's pages show the same payloads
    page.click("[data-testid=logout]")
    log_in(page, url, "rev")
    for path in ["/review", "/browse", "/item?id=i0000", "/dashboard"]:
        page.goto(url + path)
        page.wait_for_load_state()
        assert page.evaluate("window.__xss") is None, path
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []


def test_request_without_csrf_token_is_refused(page, served):
    p, _, url = served(n=2, overlap=1)
    log_in(page, url, "ann")
    ready(page)
    item = page.get_attribute("#item", "data-id")
    status = page.evaluate("""async (id) => {
        const r = await fetch('/api/submit', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({id, label: 'pos'})});
        return [r.status, (await r.json()).error.code];
    }""", item)
    assert status == [403, "csrf"]
    assert (p.judgements()["annotator_kind"] == "human").sum() == 0
    # the same request with the page's token goes through
    ok = page.evaluate("""async (id) => {
        const r = await fetch('/api/submit', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json',
                      'X-CSRF-Token': document.body.dataset.csrf},
            body: JSON.stringify({id, label: 'pos'})});
        return r.status;
    }""", item)
    assert ok == 200
    # and the session cookie is out of the script's reach
    assert "lq_session" not in page.evaluate("document.cookie")


def test_multilabel_with_the_keyboard_and_a_flag(page, served):
    p, _, url = served(n=2, overlap=1, kind="multilabel", labels=("red", "green", "blue"))
    log_in(page, url, "ann")
    ready(page)
    first = page.get_attribute("#item", "data-id")
    page.click("#comment-box summary")
    page.fill("[data-testid=comment-text]", "typo in this one")
    page.check("[data-testid=comment-flag]")
    page.click("[data-testid=comment-submit]")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('sent')")
    page.focus("body")
    page.keyboard.press("1")
    page.keyboard.press("3")
    page.keyboard.press("3")  # toggled off again
    page.keyboard.press("2")
    assert page.is_checked("[data-testid=label-1]") and page.is_checked("[data-testid=label-2]")
    assert not page.is_checked("[data-testid=label-3]")
    page.keyboard.press("Enter")
    page.wait_for_function("id => document.querySelector('#item').dataset.id !== id",
                           arg=first)
    j = p.judgements()
    assert list(j.loc[j["annotator_kind"] == "human", "label"]) == ["red|green"]
    with p.store.connect() as conn:
        comments = conn.execute(schema.comments.select()).all()
    assert [(c.text, bool(c.flag)) for c in comments] == [("typo in this one", True)]
