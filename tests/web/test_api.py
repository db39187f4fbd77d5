"""The JSON API in-process: authentication, CSRF, roles, annotating, the error shape."""

import pytest
from fastapi.testclient import TestClient
from helpers import PASSWORD, Session, add_users, make_project

from labelquorum.web import create_app


def error_of(r):
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]["code"]


def test_unauthenticated_requests_are_refused(app):
    c = TestClient(app)
    for method, url in [("get", "/api/next"), ("get", "/api/stats"), ("get", "/api/users"),
                        ("post", "/api/submit"), ("get", "/api/items/i0001")]:
        r = getattr(c, method)(url)
        assert r.status_code == 401 and error_of(r) == "unauthenticated"
    page = c.get("/annotate", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"


def test_wrong_password_and_rate_limit(app):
    c = TestClient(app)
    import re

    app.state.web.limiter.clock = lambda: 1000.0  # no time passes between the tries

    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    for _ in range(5):
        r = c.post("/login", data={"name": "ann", "password": "nope-nope", "csrf_token": token})
        assert r.status_code == 401 and "Wrong name or password" in r.text
    r = c.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429  # even the right password waits now (for a second)


def test_login_without_its_csrf_cookie_is_refused(app):
    c = TestClient(app)
    r = c.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403


def test_session_cookie_flags(app):
    import re

    c = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie"
              and v.startswith("lq_session_")).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_state_change_without_csrf_token_is_refused(session):
    s = session("ann")
    item = s.next()
    r = s.client.post("/api/submit", json={"id": item["id"], "label": "pos"})
    assert r.status_code == 403 and error_of(r) == "csrf"
    r = s.post("/api/submit", json={"id": item["id"], "label": "pos"},
               headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert s.next()["id"] == item["id"]  # nothing was stored: still theirs to answer


def test_roles(session):
    ann, rev = session("ann"), session("rev")
    for url in ["/api/stats", "/api/review", "/api/items", "/api/items/i0001", "/api/users"]:
        r = ann.get(url)
        assert r.status_code == 403 and error_of(r) == "forbidden", url
    assert ann.get("/dashboard").status_code == 403
    assert ann.get("/admin/users").status_code == 403
    assert rev.get("/api/stats").status_code == 200
    assert rev.get("/api/users").status_code == 403
    assert session("adm").get("/api/users").status_code == 200


def test_label_skip_undo_flow(session, project):
    s = session("ann")
    first = s.next()
    assert set(first) == {"id", "fields", "suggestion"} and "text" in first["fields"]
    assert s.post("/api/submit", json={"id": first["id"], "label": "pos",
                                       "seconds": 3.5}).json() == {"ok": True}
    second = s.next()
    assert second["id"] != first["id"]
    assert s.post("/api/skip", json={"id": second["id"]}).status_code == 200
    # undo brings back the skip first, then the answer
    assert s.post("/api/undo").json()["item"]["id"] == second["id"]
    j = project.judgements()
    assert len(j) == 12 + 1 and (j["annotator_name"] == "people").sum() == 1  # 12 rules answers
    row = j[j["annotator_name"] == "people"].iloc[0]
    # the browser's 3.5 s is a hint the server's own figure bounds (test_time_on_item.py)
    assert row["annotator_kind"] == "human" and 0 < row["latency"] <= 3.5
    assert abs(row["cost"] - 30.0 * row["latency"] / 3600) < 1e-9  # people's time, per hour


def test_undo_takes_back_an_answer(session, project):
    s = session("ann")
    first = s.next()
    s.post("/api/submit", json={"id": first["id"], "label": "neg"})
    back = s.post("/api/undo").json()["item"]
    assert back["id"] == first["id"]
    j = project.judgements()
    assert list(j.loc[j["annotator_name"] == "people", "status"]) == ["superseded"]
    s.post("/api/submit", json={"id": first["id"], "label": "pos"})
    j = project.judgements()
    assert list(j.loc[j["annotator_name"] == "people", "label"]) == ["neg", "pos"]


def test_invalid_label_and_unknown_item(session):
    s = session("ann")
    item = s.next()
    r = s.post("/api/submit", json={"id": item["id"], "label": "maybe"})
    assert r.status_code == 422 and error_of(r) == "invalid_label"
    assert "pos, neg" in r.json()["error"]["message"]
    r = s.post("/api/submit", json={"id": "0" * 32, "label": "pos"})
    assert r.status_code == 404 and error_of(r) == "not_found"
    r = s.post("/api/submit", json={"label": "pos"})
    assert r.status_code == 422 and error_of(r) == "invalid_request"


def test_annotator_cannot_touch_another_persons_items(session):
    ann, bob = session("ann"), session("bob")
    item = ann.next()
    for url, body in [("/api/submit", {"id": item["id"], "label": "pos"}),
                      ("/api/skip", {"id": item["id"]}),
                      ("/api/comment", {"id": item["id"], "text": "x"})]:
        r = bob.post(url, json=body)
        assert r.status_code == 404, url
    assert bob.get(f"/media/{item['id']}/text").status_code == 404


def test_overlap_and_no_item_twice(session, project):
    """Overlap 2: every item is answered by exactly two different people."""
    people = [session(n) for n in ("ann", "bob", "cat")]
    answered = {}
    progress = True
    while progress:
        progress = False
        for s in people:
            item = s.next()
            if item is None:
                continue
            progress = True
            assert item["id"] not in answered.get(s.name, set())
            s.post("/api/submit", json={"id": item["id"], "label": "pos"})
            answered.setdefault(s.name, set()).add(item["id"])
    j = project.judgements()
    human = j[j["annotator_kind"] == "human"]
    per_item = human.groupby("item").size()
    assert len(per_item) == 12 and (per_item == 2).all()
    counts = sorted(len(v) for v in answered.values())
    assert counts[-1] - counts[0] <= 2  # balanced over the three people
    # the next run picks the answers up and decides every item
    report = project.run()
    assert report.open == 0 and project.status().decided == 12


def test_leases_expire_and_return_to_the_queue(tmp_path):
    p = make_project(tmp_path / "p", n=1, overlap=1, lease=0.5)
    add_users(p, {"ann": "annotator", "bob": "annotator"})
    import time

    from helpers import Session

    app = create_app(p)
    ann, bob = Session(app, "ann"), Session(app, "bob")  # logging in shows /annotate
    time.sleep(0.6)
    item = ann.next()
    assert item is not None
    assert bob.next() is None  # the only item is ann's while her lease runs
    time.sleep(0.6)
    other = bob.next()
    assert other is not None  # ann's lease expired: bob gets the item
    r = ann.post("/api/submit", json={"id": item["id"], "label": "pos"})
    assert r.status_code == 404  # ann's expired lease no longer answers it
    assert bob.post("/api/submit", json={"id": other["id"], "label": "pos"}).status_code == 200
    assert (p.judgements()["annotator_kind"] == "human").sum() == 1
    p.close()


def test_api_token_for_scripts(session, app):
    s = session("rev")
    token = s.post("/api/tokens", json={"name": "nightly"}).json()["token"]
    c = TestClient(app)
    r = c.get("/api/stats", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["items"] == 12
    # a token needs no CSRF token, and carries only its user's role
    assert c.get("/api/users", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert c.get("/api/stats", headers={"Authorization": "Bearer lq_wrong"}).status_code == 401


def test_paused_annotator_gets_nothing(session, project):
    from labelquorum.web.auth import Accounts

    ann = session("ann")
    held = ann.get("/api/next").json()["item"]  # leased before the pause
    acc = Accounts(project.store)
    r = session("adm").post(f"/api/users/{acc.user_id('ann')}/pause", json={"paused": True})
    assert r.status_code == 200
    r = ann.get("/api/next")
    assert r.status_code == 403 and error_of(r) == "paused"
    # nor can they answer what they already hold
    r = ann.post("/api/submit", json={"id": held["id"], "label": "pos"})
    assert r.status_code == 403 and error_of(r) == "paused"


def test_invite_link(app, project):
    import re

    from labelquorum.web.auth import Accounts

    secret = Accounts(project.store).add_user("newbie", "annotator")
    c = TestClient(app)
    page = c.get(f"/invite?token={secret}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post("/invite", data={"invite": secret, "password": "a long password",
                                "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    r = c.post("/invite", data={"invite": secret, "password": "another one!",
                                "csrf_token": token})
    assert r.status_code == 400  # once only
    from helpers import login

    assert login(TestClient(app), "newbie", "a long password")


def test_no_human_tier_still_serves(tmp_path):
    from labelquorum import init_project

    p = init_project(tmp_path / "p", labels=["a", "b"])
    add_users(p, {"ann": "annotator"})
    from helpers import Session

    s = Session(create_app(p), "ann")
    assert s.next() is None
    assert "Nothing to label" in s.get("/annotate").text
    p.close()


def test_the_next_run_pools_the_peoples_answers(tmp_path):
    p = make_project(tmp_path / "p", n=1, overlap=3)
    add_users(p, {"a": "annotator", "b": "annotator", "c": "annotator"})
    app = create_app(p)
    for name, label in [("a", "neg"), ("b", "neg"), ("c", "pos")]:  # the last one is outvoted
        s = Session(app, name)
        item = s.next()
        s.post("/api/submit", json={"id": item["id"], "label": label})
    p.run()
    row = p.to_dataframe().iloc[0]
    assert row["label"] == "neg" and row["decided_by"] == "people"
    p.close()


def test_multilabel_answers(tmp_path):
    p = make_project(tmp_path / "p", n=2, overlap=1, kind="multilabel",
                     labels=("red", "green", "blue"))
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")
    page = s.get("/annotate").text
    assert page.count('type="checkbox" class="label-check"') == 3
    item = s.next()
    assert s.post("/api/submit", json={"id": item["id"],
                                       "label": ["blue", "red"]}).status_code == 200
    j = p.judgements()
    assert list(j.loc[j["annotator_name"] == "people", "label"]) == ["red|blue"]
    item = s.next()
    r = s.post("/api/submit", json={"id": item["id"], "label": ["red", "pink"]})
    assert r.status_code == 422 and "pink" in r.json()["error"]["message"]
    p.close()


@pytest.mark.postgres
def test_the_whole_flow_on_postgresql(tmp_path, postgres_db_url):
    p = make_project(tmp_path / "p", n=3, overlap=2, url=postgres_db_url, control=1,
                     gold_rate=0.3)
    add_users(p, {"ann": "annotator", "bob": "annotator", "rev": "reviewer"})
    app = create_app(p)
    ann, bob, rev = Session(app, "ann"), Session(app, "bob"), Session(app, "rev")
    first = ann.next()
    assert ann.post("/api/submit", json={"id": first["id"], "label": "pos"}).status_code == 200
    assert ann.post("/api/undo").json()["item"]["id"] == first["id"]
    for s, label in [(ann, "pos"), (bob, "neg")]:
        while (item := s.next()) is not None:
            assert s.post("/api/submit", json={"id": item["id"], "label": label,
                                               "seconds": 1.5}).status_code == 200
    j = p.judgements()
    human = j[(j["annotator_kind"] == "human") & (j["status"] == "ok")]
    assert (human.groupby("item").size() <= 2).all()
    queue = rev.get("/api/review").json()["items"]
    assert queue
    item_id = queue[0]["item"]
    assert rev.post(f"/api/items/{item_id}/adjudicate",
                    json={"label": "pos"}).status_code == 200
    stats = rev.get("/api/stats").json()
    assert stats["reviewed"] == 1 and stats["answers_last_24h"] >= 3
    assert rev.get("/dashboard").status_code == 200
    p.run()
    p.close()
