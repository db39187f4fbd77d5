"""Login CSRF in a real browser: a page on another port of the same host tries to log
the victim in as the attacker (cookies do not tell ports apart)."""

import html
import re

import httpx
from helpers import PASSWORD, add_users, make_project
from liveserver import LiveServer
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from test_browser import browser, page  # noqa: F401 - the Chromium fixtures

from labelquorum.web import create_app


def attacker_site(target: str) -> Starlette:
    """The attacker's page: it fetches a genuine login form of the target from its own
    server, plants the form's cookie in the visitor's browser and posts the form, with
    the attacker's name and password, from the visitor's browser."""

    def attack(request):
        form = httpx.get(f"{target}/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        name, value = next(iter(form.cookies.items()))
        body = (f'<form method="post" action="{target}/login">'
                f'<input name="csrf_token" value="{html.escape(token)}">'
                f'<input name="name" value="eve"><input name="password" value="{PASSWORD}">'
                "</form><script>document.forms[0].submit()</script>")
        response = HTMLResponse(body)
        response.set_cookie(name, value, path="/", samesite="lax")
        return response

    return Starlette(routes=[Route("/attack", attack)])


def test_a_page_on_another_port_cannot_log_the_victim_in(page, tmp_path):  # noqa: F811
    p = make_project(tmp_path / "p", n=2, overlap=1)
    add_users(p, {"ann": "annotator", "eve": "annotator"})
    with LiveServer(create_app(p)) as ours, LiveServer(attacker_site(ours.url)) as theirs:
        page.goto(f"{theirs.url}/attack")
        page.wait_for_load_state()
        page.wait_for_url(f"{ours.url}/**")
        page.goto(f"{ours.url}/annotate")
        assert page.url.endswith("/login")  # not logged in, as eve or anyone
        assert page.locator("[data-testid=user-name]").count() == 0
        # the victim's own login still works in the same browser
        page.fill("[data-testid=login-name]", "ann")
        page.fill("[data-testid=login-password]", PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_url(f"{ours.url}/annotate")
        assert "ann" in page.locator("[data-testid=user-name]").inner_text()
    p.close()
