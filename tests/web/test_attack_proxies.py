"""Attacks on ``web.trusted_proxies`` (issue #11, items 8 and 10)."""

import re

from fastapi.testclient import TestClient
from helpers import PASSWORD, add_users, make_project

from labelquorum.web import create_app


def _set_cookies(response) -> dict[str, str]:
    return {v.split("=", 1)[0]: v for k, v in response.headers.multi_items()
            if k == "set-cookie"}


def test_a_proxy_network_written_with_host_bits_is_trusted_as_accepted(tmp_path):
    """``10.0.0.1/8`` passes the config check: the proxy at 10.0.0.1 must then be
    believed, so the session cookie behind its TLS is Secure."""
    p = make_project(tmp_path / "p", n=2, run=False, extra='trusted_proxies = ["10.0.0.1/8"]\n')
    add_users(p, {"ann": "annotator"})
    client = TestClient(create_app(p), client=("10.0.0.1", 40000))
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    page = client.get("/login", headers=tls)
    (name, cookie), = _set_cookies(page).items()
    assert name.startswith("__Host-") and "secure" in cookie.lower(), cookie
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    value = cookie.split(";")[0].split("=", 1)[1]
    r = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": token},
                    headers={**tls, "Cookie": f"{name}={value}"}, follow_redirects=False)
    assert r.status_code == 303
    session = next(v for k, v in _set_cookies(r).items() if "session" in k).lower()
    assert session.startswith("__host-lq_session_") and "; secure" in session
    p.close()
