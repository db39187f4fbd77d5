"""Attacks on the annotation page's keys in Chromium (issue #11, item 1): a held key
(auto-repeat) must not store answers on items the person has not seen."""

import test_browser
from test_annotate_page import _human

browser, page, served = test_browser.browser, test_browser.page, test_browser.served
log_in, ready = test_browser.log_in, test_browser.ready


def test_holding_enter_stores_one_answer_not_a_run_of_suggestions(page, served):
    """With pre-selected suggestions, a person holds Enter a moment too long: the
    keyboard repeats it (``repeat`` true) as each next item appears."""
    p, _, url = served(n=8, overlap=1, texts=[f"a good item {i}" for i in range(8)],
                       extra="preselect_suggestion = true\n")
    log_in(page, url, "ann")
    ready(page)
    first = page.get_attribute("#item", "data-id")
    page.keyboard.down("Enter")
    page.wait_for_function("id => document.querySelector('#item').dataset.id !== id",
                           arg=first)
    for _ in range(6):  # the auto-repeat of a key held down for a moment
        page.keyboard.down("Enter")
        page.wait_for_timeout(50)  # the keyboard's repeat rate
    page.keyboard.up("Enter")
    page.wait_for_timeout(500)
    assert len(_human(p)) == 1, f"{len(_human(p))} answers stored from one key press"
