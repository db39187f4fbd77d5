"""The login: backoff instead of lockout, trusted proxies, the signed login form, the
origin check, Secure cookies behind a TLS proxy."""

import re

import pytest
from fastapi.testclient import TestClient
from helpers import PASSWORD, add_users, make_project
from hypothesis import given, settings
from hypothesis import strategies as st

from labelquorum.web import create_app
from labelquorum.web.login import LoginLimiter

PROXY = "10.0.0.1"


class Clock:
    """A clock the test moves by hand (no test waits for real time)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def form_token(client, **kw):
    page = client.get("/login", **kw).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def try_login(client, name, password, token, **kw):
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": token}, follow_redirects=False, **kw)


@pytest.fixture
def proxied(tmp_path):
    p = make_project(tmp_path / "p", n=2, run=False, extra=f'trusted_proxies = ["{PROXY}"]\n')
    add_users(p, {"ann": "annotator", "eve": "annotator"})
    app = create_app(p)
    app.state.web.limiter.clock = Clock()
    yield app
    p.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ann", "bob", "root"]),
                          st.sampled_from(["1.1.1.1", "2.2.2.2"]),
                          st.floats(0, 2000)), max_size=60))
def test_failures_slow_down_and_never_lock_out(events):
    clock = Clock()
    limiter = LoginLimiter(attempts=3, max_delay=600.0, slowdown_max=2.0, clock=clock)
    for name, address, gap in events:
        clock.now += gap
        limiter.failed(name, address)
    for name in ("ann", "bob", "root"):
        assert limiter.slowdown(name) <= 2.0
        for address in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
            wait = limiter.wait(name, address)
            assert 0 <= wait <= 600.0  # bounded: a backoff, not a lockout
    clock.now += 600.0
    assert all(limiter.wait(n, a) == 0 for n in ("ann", "bob", "root")
               for a in ("1.1.1.1", "2.2.2.2"))


def test_backoff_doubles_and_a_fresh_address_is_not_held_back():
    clock = Clock()
    limiter = LoginLimiter(attempts=2, max_delay=60.0, clock=clock)
    waits = []
    for _ in range(9):
        limiter.failed("ann", "1.1.1.1")
        waits.append(limiter.wait("ann", "1.1.1.1"))
        clock.now += waits[-1]  # the attacker waits out each delay, then fails again
    assert waits == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert limiter.wait("ann", "2.2.2.2") == 0 and limiter.slowdown("ann") > 0


def test_a_burst_of_simultaneous_tries_cannot_slip_past_the_backoff():
    limiter = LoginLimiter(attempts=3, clock=Clock())
    let_through = [limiter.start("ann", "1.1.1.1") == 0 for _ in range(50)]
    assert sum(let_through) == 3  # the tries in flight count before their answers
    limiter.succeeded("ann", "1.1.1.1")  # one of them was right: the pair starts afresh
    assert limiter.start("ann", "1.1.1.1") == 0
    # fifty people logging in at once from one address (a classroom behind NAT): all go
    assert all(limiter.start(f"person{i}", "2.2.2.2") == 0 for i in range(50))


def test_the_owner_gets_in_behind_a_proxy_while_an_attacker_guesses(proxied):
    app = proxied
    clock = app.state.web.limiter.clock
    c = TestClient(app, client=(PROXY, 40000))
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    token = form_token(c, headers=attacker)
    codes = []
    for i in range(12):  # twelve wrong guesses, each wait sat out
        r = try_login(c, "ann", f"guess {i}", token, headers=attacker)
        if r.status_code == 429:
            clock.now += int(r.headers["retry-after"])
            r = try_login(c, "ann", f"guess {i}", token, headers=attacker)
        codes.append(r.status_code)
    assert codes == [401] * 12
    assert try_login(c, "ann", PASSWORD, token, headers=attacker).status_code == 429
    assert app.state.web.limiter.slowdown("ann") > 0  # every try on the name is slowed
    # the owner, through the same proxy, from their own address: in at once
    owner = {"X-Forwarded-For": "198.51.100.7"}
    r = try_login(c, "ann", PASSWORD, form_token(c, headers=owner), headers=owner)
    assert r.status_code == 303 and r.headers["location"] == "/annotate"


def test_the_same_address_gets_in_once_its_wait_is_over(proxied):
    app = proxied
    clock = app.state.web.limiter.clock
    c = TestClient(app, client=(PROXY, 40000))
    here = {"X-Forwarded-For": "203.0.113.9"}
    token = form_token(c, headers=here)
    for i in range(30):
        try_login(c, "ann", f"guess {i}", token, headers=here)
        clock.now += 0.5
    r = try_login(c, "ann", PASSWORD, token, headers=here)
    assert r.status_code == 429 and "try again in" in r.text
    clock.now += int(r.headers["retry-after"])
    r = try_login(c, "ann", PASSWORD, form_token(c, headers=here), headers=here)
    assert r.status_code == 303


def test_forwarded_headers_of_an_untrusted_client_are_ignored(proxied):
    app = proxied
    c = TestClient(app, client=("192.0.2.50", 40000))  # not the proxy
    token = form_token(c)
    for i in range(8):  # a new made-up address each time: it is not believed
        try_login(c, "ann", "wrong pass", token, headers={"X-Forwarded-For": f"192.0.2.{i}"})
    r = try_login(c, "ann", PASSWORD, token, headers={"X-Forwarded-For": "192.0.2.99"})
    assert r.status_code == 429


def test_a_planted_login_cookie_with_its_own_token_is_refused(proxied):
    app = proxied
    name = next(k for k in TestClient(app).get("/login").cookies if k.startswith("lq_login"))
    victim = TestClient(app)
    victim.cookies.set(name, "planted-by-the-attacker")
    r = try_login(victim, "eve", PASSWORD, "planted-by-the-attacker")
    assert r.status_code == 403
    assert not any("session" in k for k in victim.cookies)


def test_cross_origin_login_posts_are_refused(proxied):
    app = proxied
    for headers in ({"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "http://testserver:8001"}, {"Origin": "null"}):
        c = TestClient(app)
        r = try_login(c, "ann", PASSWORD, form_token(c), headers=headers)
        assert r.status_code == 403, headers
    c = TestClient(app)
    r = try_login(c, "ann", PASSWORD, form_token(c),
                  headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"})
    assert r.status_code == 303


def _set_cookies(response) -> dict[str, str]:
    return {v.split("=", 1)[0]: v for k, v in response.headers.multi_items()
            if k == "set-cookie"}


def test_secure_cookies_behind_a_tls_proxy(proxied):
    app = proxied
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    c = TestClient(app, client=(PROXY, 40000))
    page = c.get("/login", headers=tls)
    cookies = _set_cookies(page)
    (name, value), = [(k, v.split(";")[0].split("=", 1)[1]) for k, v in cookies.items()]
    assert name.startswith("__Host-lq_login_") and "secure" in cookies[name].lower()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": token},
               headers={**tls, "Cookie": f"{name}={value}"}, follow_redirects=False)
    assert r.status_code == 303
    session = next(v for k, v in _set_cookies(r).items() if "session" in k).lower()
    assert session.startswith("__host-lq_session_") and "; secure" in session
    # the same header from anyone else is not believed: plain http, no Secure
    other = TestClient(app, client=("192.0.2.50", 40000))
    cookie = next(iter(_set_cookies(other.get("/login", headers=tls)).values()))
    assert cookie.startswith("lq_login_") and "secure" not in cookie.lower()
