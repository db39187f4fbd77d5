"""Attacks on API token scopes (issue #11, item 7): the form endpoints behind
``/tokens`` must hold what ``/api/tokens`` holds."""

import re

from fastapi.testclient import TestClient
from helpers import add_users, make_project

from labelquorum.web import create_app
from labelquorum.web.auth import Accounts


def _setup(tmp_path):
    p = make_project(tmp_path / "p", n=5)
    add_users(p, {"adm": "admin", "ann": "annotator"})
    accounts = Accounts(p.store)
    narrow = accounts.create_token(accounts.user_id("adm"), "narrow", scope="annotate", days=1)
    theirs = accounts.create_token(accounts.user_id("ann"), "ann's")
    return p, accounts, narrow, theirs, TestClient(create_app(p))


def test_a_token_cannot_mint_a_token_through_the_tokens_form(tmp_path):
    """An admin's one-day annotate token posted to the tokens page's form: it must not
    come back with a wider, never-expiring admin token."""
    p, accounts, narrow, _, client = _setup(tmp_path)
    r = client.post("/tokens", data={"name": "mine now", "scope": "admin", "days": "0"},
                    headers={"Authorization": f"Bearer {narrow}"}, follow_redirects=False)
    assert r.status_code == 403, r.status_code
    assert not re.search(r"lq_[A-Za-z0-9_-]{20,}", r.text)
    assert [t["name"] for t in accounts.tokens(accounts.user_id("adm"))] == ["narrow"]
    p.close()


def test_a_narrow_token_of_an_admin_cannot_revoke_other_peoples_tokens(tmp_path):
    """``/api/tokens/ID/revoke`` limits a token that is not admin-scoped to its user's own
    tokens; the form's revoke must too."""
    p, accounts, narrow, theirs, client = _setup(tmp_path)
    [target] = [t["id"] for t in accounts.tokens(accounts.user_id("ann"))]
    r = client.post("/tokens/revoke", data={"token_id": str(target)},
                    headers={"Authorization": f"Bearer {narrow}"}, follow_redirects=False)
    assert r.status_code in (403, 404), r.status_code
    assert accounts.token_user(theirs) is not None  # ann's token still works
    p.close()
