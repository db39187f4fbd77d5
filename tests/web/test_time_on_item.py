"""The time on an item is measured by the server (lease or previous answer -> submit, less
the time the page reported itself hidden); the browser's ``seconds`` is only a hint that
can lower that figure, never raise it. The cost is charged from the stored figure."""

import time

import pytest
from helpers import Session, add_users, make_project

from labelquorum.web import create_app

RATE = 30.0  # cost_per_hour of the helpers' people


@pytest.fixture
def app(tmp_path):
    p = make_project(tmp_path / "p", n=6, overlap=1)
    add_users(p, {"ann": "annotator"})
    yield create_app(p)
    p.close()


def _human(app):
    j = app.state.web.project.judgements()
    return j[j["annotator_kind"] == "human"].reset_index(drop=True)


def test_a_claimed_five_minutes_is_stored_as_the_seconds_that_passed(app):
    started = time.monotonic()
    s = Session(app, "ann")  # logging in shows /annotate, which leases the first item
    item = s.next()
    r = s.post("/api/submit", json={"id": item["id"], "label": "pos", "seconds": 300})
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    row = _human(app).iloc[0]
    assert row["latency"] <= elapsed  # not the 300 s the browser claimed
    assert row["cost"] <= RATE * elapsed / 3600 + 1e-12  # nor paid for them


@pytest.mark.parametrize("raw", ["Infinity", "-Infinity", "NaN", "-1", "1e999"])
def test_impossible_seconds_are_refused_and_nothing_is_stored(app, raw):
    s = Session(app, "ann")
    item = s.next()
    body = '{"id": "' + item["id"] + '", "label": "pos", "seconds": ' + raw + '}'
    r = s.post("/api/submit", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "seconds" in r.json()["error"]["message"]
    assert len(_human(app)) == 0
    assert s.next()["id"] == item["id"]  # still theirs to answer


def test_a_smaller_browser_figure_is_kept(app):
    s = Session(app, "ann")
    item = s.next()
    time.sleep(0.05)
    s.post("/api/submit", json={"id": item["id"], "label": "pos", "seconds": 0.01})
    assert _human(app).iloc[0]["latency"] == pytest.approx(0.01)


def test_the_preloaded_item_is_timed_from_the_previous_answer(app):
    s = Session(app, "ann")
    first = s.next()
    second = s.next(after=first["id"])  # preloaded while the first is on screen
    time.sleep(0.4)  # the person reads the first item; the second is not shown yet
    before = time.monotonic()
    s.post("/api/submit", json={"id": first["id"], "label": "pos"})
    s.post("/api/submit", json={"id": second["id"], "label": "neg", "seconds": 300})
    shown = time.monotonic() - before
    rows = _human(app).set_index("label")
    assert rows.loc["neg", "latency"] <= shown  # the 0.4 s before it was shown do not count
    assert rows.loc["pos", "latency"] >= 0.4


def test_time_the_page_was_hidden_is_not_counted(app):
    started = time.monotonic()
    s = Session(app, "ann")
    item = s.next()
    r = s.post("/api/visibility", json={"id": item["id"], "hidden": True})
    assert r.status_code == 200
    time.sleep(0.5)  # the person is in another tab
    s.post("/api/visibility", json={"id": item["id"], "hidden": False})
    time.sleep(0.1)
    s.post("/api/visibility", json={"id": item["id"], "hidden": True})
    time.sleep(0.3)  # hidden again, and submitted from a script while hidden
    s.post("/api/submit", json={"id": item["id"], "label": "pos"})
    elapsed = time.monotonic() - started
    row = _human(app).iloc[0]
    assert row["latency"] <= elapsed - 0.8
    assert row["cost"] <= RATE * (elapsed - 0.8) / 3600 + 1e-12


def test_visibility_reports_only_reach_ones_own_items(tmp_path):
    p = make_project(tmp_path / "p", n=4, overlap=1)
    add_users(p, {"ann": "annotator", "bob": "annotator"})
    app = create_app(p)
    ann, bob = Session(app, "ann"), Session(app, "bob")
    item = ann.next()
    r = bob.post("/api/visibility", json={"id": item["id"], "hidden": True})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = ann.post("/api/visibility", json={"id": item["id"], "hidden": "maybe"})
    assert r.status_code == 422
    p.close()
