"""Accounts and API tokens: scopes, expiry, revocation; deactivate, role, reset; what a
paused person may still do; the users page; the ``labelquorum user`` commands."""

import re

import pytest
from fastapi.testclient import TestClient
from helpers import PASSWORD, Session, add_users, login, make_project
from typer.testing import CliRunner

from labelquorum.cli import app as cli
from labelquorum.store import schema
from labelquorum.web import create_app
from labelquorum.web.auth import Accounts


def code_of(r):
    return r.json()["error"]["code"]


def bearer(app, token):
    c = TestClient(app)
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def test_token_scopes_narrow_what_a_token_may_do(session, app, project):
    rev = session("rev")
    read = rev.post("/api/tokens", json={"name": "stats", "scope": "read"}).json()
    assert read["scope"] == "read" and read["expires"]  # expires by default
    c = bearer(app, read["token"])
    assert c.get("/api/stats").status_code == 200
    item = c.get("/api/review").json()["items"]
    r = c.post("/api/items/i0001/gold", json={"label": "pos"})
    assert r.status_code == 403 and code_of(r) == "scope"
    assert "review scope" in r.json()["error"]["message"]
    annotate = rev.post("/api/tokens", json={"scope": "annotate"}).json()["token"]
    c = bearer(app, annotate)
    assert c.get("/api/next").status_code == 200
    r = c.get("/api/stats")
    assert r.status_code == 403 and code_of(r) == "scope"
    # a scope wider than the role is refused, and the default is the role's own
    r = rev.post("/api/tokens", json={"scope": "admin"})
    assert r.status_code == 403 and "read, annotate, review" in r.json()["error"]["message"]
    r = rev.post("/api/tokens", json={"scope": "everything"})
    assert r.status_code == 422 and "valid scopes" in r.json()["error"]["message"]
    assert rev.post("/api/tokens", json={}).json()["scope"] == "review"
    assert item is not None


def test_a_token_cannot_mint_tokens(session, app):
    token = session("adm").post("/api/tokens", json={"name": "ci"}).json()["token"]
    c = bearer(app, token)
    r = c.post("/api/tokens", json={"name": "another"})
    assert r.status_code == 403 and code_of(r) == "forbidden"
    assert len(c.get("/api/tokens").json()["tokens"]) == 1


def test_revoked_and_expired_tokens_open_nothing(session, app, project):
    s = session("rev")
    made = s.post("/api/tokens", json={"name": "a"}).json()
    other = s.post("/api/tokens", json={"name": "b", "days": 1}).json()
    assert bearer(app, made["token"]).get("/api/stats").status_code == 200
    assert s.post(f"/api/tokens/{made['id']}/revoke").json() == {"ok": True}
    r = bearer(app, made["token"]).get("/api/stats")
    assert r.status_code == 401 and code_of(r) == "unauthenticated"
    # someone else's token is not theirs to revoke
    theirs = session("ann").post("/api/tokens", json={}).json()
    assert s.post(f"/api/tokens/{theirs['id']}/revoke").status_code == 404
    assert bearer(app, theirs["token"]).get("/api/next").status_code == 200
    # a day later the one-day token is refused (the clock moved: its expiry passed)
    a = schema.api_tokens
    from datetime import UTC, datetime, timedelta

    with project.store.begin() as conn:
        conn.execute(a.update().where(a.c.id == other["id"]).values(
            expires=datetime.now(UTC) - timedelta(seconds=1)))
    assert bearer(app, other["token"]).get("/api/stats").status_code == 401
    listed = {t["name"]: t for t in s.get("/api/tokens").json()["tokens"]}
    assert listed["a"]["revoked"] and listed["b"]["expired"] and "token" not in listed["a"]


def test_deactivated_account_opens_nothing_until_reactivated(session, app, project):
    ann, adm = session("ann"), session("adm")
    token = ann.post("/api/tokens", json={}).json()["token"]
    uid = Accounts(project.store).user_id("ann")
    assert adm.post(f"/api/users/{uid}/active", json={"active": False}).status_code == 200
    assert ann.get("/api/next").status_code == 401
    assert bearer(app, token).get("/api/next").status_code == 401
    c = TestClient(app)
    page = c.get("/login").text
    form = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": form})
    assert r.status_code == 401
    users = {u["name"]: u for u in adm.get("/api/users").json()["users"]}
    assert users["ann"]["active"] is False
    adm.post(f"/api/users/{uid}/active", json={"active": True})
    assert bearer(app, token).get("/api/next").status_code == 200
    assert login(TestClient(app), "ann")


def test_role_change_takes_effect_on_open_sessions(session, project):
    ann, adm = session("ann"), session("adm")
    assert ann.get("/api/stats").status_code == 403
    uid = Accounts(project.store).user_id("ann")
    assert adm.post(f"/api/users/{uid}/role", json={"role": "reviewer"}).status_code == 200
    assert ann.get("/api/stats").status_code == 200
    r = adm.post(f"/api/users/{uid}/role", json={"role": "boss"})
    assert r.status_code == 400 and "annotator, reviewer, admin" in r.json()["error"]["message"]


def test_the_last_admin_cannot_lock_everyone_out(session, project):
    adm = session("adm")
    uid = Accounts(project.store).user_id("adm")
    for url, body in [("role", {"role": "reviewer"}), ("active", {"active": False}),
                      ("pause", {"paused": True})]:
        r = adm.post(f"/api/users/{uid}/{url}", json=body)
        assert r.status_code == 409 and "only active admin" in r.json()["error"]["message"]
    assert adm.get("/api/users").status_code == 200


def test_reset_password_ends_sessions_and_gives_a_link(tmp_path):
    p = make_project(tmp_path / "p", n=2, extra='public_url = "https://label.example.org"\n')
    add_users(p, {"ann": "annotator", "adm": "admin"})
    app = create_app(p)
    ann, adm = Session(app, "ann"), Session(app, "adm")
    uid = Accounts(p.store).user_id("ann")
    link = adm.post(f"/api/users/{uid}/reset", headers={"Host": "evil.example"}).json()["invite"]
    assert link.startswith("https://label.example.org/invite?token=")
    assert ann.get("/api/next").status_code == 401  # the session ended
    assert Accounts(p.store).authenticate("ann", PASSWORD) is None
    c = TestClient(app)
    secret = link.split("token=")[1]
    page = c.get(f"/invite?token={secret}").text
    form = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/invite", data={"invite": secret, "password": "a brand new one",
                                "csrf_token": form}, follow_redirects=False)
    assert r.status_code == 303
    assert login(TestClient(app), "ann", "a brand new one")
    p.close()


def test_a_paused_person_reads_and_changes_nothing(session, app, project):
    ann, rev, adm = session("ann"), session("rev"), session("adm")
    held = ann.next()
    rev_token = rev.post("/api/tokens", json={}).json()["token"]
    assert bearer(app, rev_token).get("/api/items/i0001").status_code == 200
    acc = Accounts(project.store)
    for name in ("ann", "rev"):
        adm.post(f"/api/users/{acc.user_id(name)}/pause", json={"paused": True})
    # gold and answers through the reviewer's token and session: refused
    for client in (bearer(app, rev_token), rev):
        for url in ("/api/items/i0001", "/api/review", "/api/stats", "/api/items"):
            r = client.get(url)
            assert r.status_code == 403 and code_of(r) == "paused", url
    assert rev.get("/item?id=i0001").status_code == 403
    # the paused annotator can neither skip, comment, nor mint a token
    for url, body in [("/api/skip", {"id": held["id"]}),
                      ("/api/comment", {"id": held["id"], "text": "hi", "flag": True}),
                      ("/api/tokens", {"name": "x"})]:
        r = ann.post(url, json=body)
        assert r.status_code == 403 and code_of(r) == "paused", url
    # what is left: who they are, the page saying they are paused, logging out
    assert ann.get("/api/me").json()["paused"] is True
    assert 'data-testid="paused"' in ann.get("/annotate").text
    with project.store.connect() as conn:
        c = schema.comments
        assert conn.execute(c.select()).first() is None


def test_users_page_manages_accounts_and_keeps_its_gold_column(tmp_path):
    p = make_project(tmp_path / "p", n=12, overlap=1, control=4, gold_rate=0.5,
                     extra='public_url = "https://label.example.org/"\n')
    add_users(p, {"ann": "annotator", "adm": "admin"})
    app = create_app(p)
    ann, adm = Session(app, "ann"), Session(app, "adm")
    while (item := ann.next()) is not None:
        ann.post("/api/submit", json={"id": item["id"], "label": "pos"})
    page = adm.get("/admin/users").text
    gold = re.search(r'data-testid="gold-ann">([^<]*)<', page).group(1)
    assert " of " in gold
    r = adm.post("/admin/users", data={"name": "newbie", "role": "reviewer",
                                       "csrf_token": adm.csrf}, headers={"Host": "evil.example"})
    assert re.search(r'data-testid="gold-ann">([^<]*)<', r.text).group(1) == gold
    link = re.search(r'data-testid="invite-link">([^<]+)<', r.text).group(1)
    assert link.startswith("https://label.example.org/invite?token=")
    uid = Accounts(p.store).user_id("ann")
    for url, data in [("/admin/users/role", {"role": "reviewer"}),
                      ("/admin/users/active", {"active": "false"})]:
        r = adm.post(url, data={"user_id": uid, "csrf_token": adm.csrf, **data},
                     follow_redirects=False)
        assert r.status_code == 303, r.text
    page = adm.get("/admin/users").text
    assert 'data-testid="state-ann">deactivated' in page
    assert Accounts(p.store).users()[0]["role"] == "reviewer"
    r = adm.post("/admin/users/reset", data={"user_id": uid, "csrf_token": adm.csrf})
    assert "https://label.example.org/invite?token=" in r.text and "gold-ann" in r.text
    p.close()


def test_users_page_keeps_its_gold_column_after_an_invite(tmp_path):
    p = make_project(tmp_path / "p", n=12, overlap=1, control=4, gold_rate=0.5)
    add_users(p, {"ann": "annotator", "adm": "admin"})
    app = create_app(p)
    ann, adm = Session(app, "ann"), Session(app, "adm")
    while (item := ann.next()) is not None:
        ann.post("/api/submit", json={"id": item["id"], "label": "pos"})
    before = re.findall(r"(\d\.\d\d of \d+)", adm.get("/admin/users").text)
    r = adm.post("/admin/users", data={"name": "newbie", "role": "reviewer",
                                       "csrf_token": adm.csrf},
                 headers={"Host": "127.0.0.1:8000"})  # on this machine: no public_url needed
    assert before and re.findall(r"(\d\.\d\d of \d+)", r.text) == before
    p.close()


def test_tokens_page_creates_lists_and_revokes(session, app):
    ann = session("ann")
    page = ann.post("/tokens", data={"name": "bot", "scope": "read", "days": "30",
                                     "csrf_token": ann.csrf}).text
    token = re.search(r'data-testid="api-token">([^<]+)<', page).group(1)
    assert bearer(app, token).get("/api/next").status_code == 200
    assert bearer(app, token).post("/api/skip", json={"id": "x"}).status_code == 403
    token_id = re.search(r'data-token="(\d+)"', page).group(1)
    ann.post("/tokens/revoke", data={"token_id": token_id, "csrf_token": ann.csrf})
    assert bearer(app, token).get("/api/next").status_code == 401
    assert "revoked" in ann.get("/tokens").text


def test_invite_links_need_a_public_url_off_this_machine(session):
    adm = session("adm")
    r = adm.post("/admin/users", data={"name": "eve", "role": "annotator",
                                       "csrf_token": adm.csrf}, headers={"Host": "evil.example"})
    assert r.status_code == 409 and "web.public_url" in r.text
    assert "evil.example" not in r.text
    r = adm.post("/admin/users", data={"name": "eve", "role": "annotator",
                                       "csrf_token": adm.csrf},
                 headers={"Host": "127.0.0.1:8000"})
    assert "http://127.0.0.1:8000/invite?token=" in r.text


def test_whitespace_only_passwords_are_refused(session, app, project):
    from labelquorum.errors import WebError

    with pytest.raises(WebError, match="only spaces"):
        Accounts(project.store).add_user("blank", "annotator", " " * 12)
    secret = Accounts(project.store).add_user("newbie", "annotator")
    c = TestClient(app)
    page = c.get(f"/invite?token={secret}").text
    form = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/invite", data={"invite": secret, "password": "\t" * 3 + " " * 9,
                                "csrf_token": form})
    assert r.status_code == 400 and "only spaces" in r.text


def test_login_page_shows_only_its_own_messages(app):
    c = TestClient(app)
    page = c.get("/login", params={"error": "Your account is locked, call +1 555 0100"}).text
    assert "555" not in page and 'data-testid="login-error"' not in page
    assert "log in again" in c.get("/login?error=expired").text


def test_two_projects_on_one_host_keep_their_sessions_apart(tmp_path):
    apps = []
    for name in ("one", "two"):  # both projects are named "webtest", in their own stores
        p = make_project(tmp_path / name, n=2, run=False)
        add_users(p, {"ann": "annotator"})
        apps.append((p, create_app(p)))
    names = set()
    for p, app in apps:
        c = TestClient(app)
        login(c, "ann")
        names |= {k for k in c.cookies if "session" in k}
    assert len(names) == 2
    for p, _ in apps:
        p.close()


def test_old_tokens_keep_working_after_the_upgrade(tmp_path):
    """A store made before token scopes: migration 7 (``accounts``) adds them, older tokens
    keep the power they had (their user's role) and never expire."""
    import sqlite3

    from labelquorum import open_project

    p = make_project(tmp_path / "p", n=2, run=False)
    add_users(p, {"rev": "reviewer"})
    token = Accounts(p.store).create_token(Accounts(p.store).user_id("rev"), "old")
    p.close()
    db = sqlite3.connect(tmp_path / "p" / "labelquorum.db")
    db.execute("ALTER TABLE api_tokens DROP COLUMN scope")
    db.execute("ALTER TABLE api_tokens DROP COLUMN expires")
    db.execute("DROP TABLE web_keys")
    db.execute("DELETE FROM schema_migrations WHERE version = 7")
    assert {name for (name,) in db.execute("SELECT name FROM schema_migrations")} >= {
        "refits", "assignment_visibility"}  # only the accounts migration is undone
    db.commit()
    db.close()
    p = open_project(tmp_path / "p")
    db = sqlite3.connect(tmp_path / "p" / "labelquorum.db")
    assert db.execute("SELECT name FROM schema_migrations WHERE version = 7").fetchall() == [
        ("accounts",)]
    db.close()
    assert bearer(create_app(p), token).get("/api/stats").status_code == 200
    row = Accounts(p.store).tokens()[0]
    assert row["scope"] == "admin" and row["expires"] is None
    p.close()


def test_user_commands_manage_accounts(tmp_path):
    p = make_project(tmp_path / "p", n=2, run=False,
                     extra='public_url = "https://label.example.org"\n')
    add_users(p, {"ann": "annotator", "adm": "admin"})
    path = str(p.path)
    run = CliRunner().invoke
    acc = Accounts(p.store)

    r = run(cli, ["user", "token", "ann", "--scope", "read", "--days", "7", "-p", path])
    assert r.exit_code == 0, r.output
    token = r.output.strip()
    assert acc.token_auth(token)[1] == "read"
    r = run(cli, ["user", "token", "ann", "--scope", "admin", "-p", path])
    assert r.exit_code == 1 and "wider than the annotator role" in r.output
    r = run(cli, ["user", "tokens", "-p", path])
    token_id = r.output.split()[0]
    assert "ann" in r.output and "read" in r.output and "live" in r.output
    r = run(cli, ["user", "revoke", token_id, "-p", path])
    assert r.exit_code == 0 and acc.token_auth(token) is None
    assert "revoked" in run(cli, ["user", "tokens", "ann", "-p", path]).output

    assert run(cli, ["user", "role", "ann", "reviewer", "-p", path]).exit_code == 0
    assert run(cli, ["user", "pause", "ann", "-p", path]).exit_code == 0
    rows = [line.split() for line in run(cli, ["user", "list", "-p", path]).output.splitlines()]
    assert ["ann", "reviewer", "paused"] in rows
    run(cli, ["user", "resume", "ann", "-p", path])
    assert run(cli, ["user", "deactivate", "ann", "-p", path]).exit_code == 0
    assert acc.authenticate("ann", PASSWORD) is None
    assert ["ann", "reviewer", "deactivated"] in [
        line.split() for line in run(cli, ["user", "list", "-p", path]).output.splitlines()]
    run(cli, ["user", "activate", "ann", "-p", path])
    r = run(cli, ["user", "password", "ann", "--password-stdin", "-p", path],
            input="   \n")
    assert r.exit_code == 1 and "only spaces" in r.output
    r = run(cli, ["user", "password", "ann", "--password-stdin", "-p", path],
            input="a fresh password\n")
    assert r.exit_code == 0 and acc.authenticate("ann", "a fresh password") is not None
    r = run(cli, ["user", "reset", "ann", "-p", path])
    assert "https://label.example.org/invite?token=" in r.output
    assert acc.authenticate("ann", "a fresh password") is None
    r = run(cli, ["user", "deactivate", "adm", "-p", path])
    assert r.exit_code == 1 and "only active admin" in r.output
    r = run(cli, ["user", "role", "nobody", "admin", "-p", path])
    assert r.exit_code == 1 and "no user named 'nobody'" in r.output
    p.close()
