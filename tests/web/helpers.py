"""Shared builders for the web app's tests: a project whose people's tier has work."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from labelquorum import init_project
from labelquorum.web.auth import Accounts

PASSWORD = "correct horse battery"

CONFIG = """
[project]
name = "webtest"
seed = 0
{media}

[store]
{store}

[task]
kind = "{kind}"
guidelines = \"\"\"{guidelines}\"\"\"
fields = ["text"]
text_field = "text"
{labels}

[annotators.rules]
type = "rules"
confidence = 0.6
rules = [{{ label = "{first}", keywords = ["good"] }}]

[annotators.people]
type = "human"
overlap = {overlap}
cost_per_hour = 30.0

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "rules"
annotators = ["rules"]
min_confidence = 0.99
min_votes = 2

[[policy.tiers]]
name = "people"
annotators = ["people"]

# golden questions for people are control items the models answered as golden probes, as
# real work is answered before it reaches people: here every control item is probed
[quality]
control_rate = 1.0

[web]
gold_rate = {gold_rate}
lease_seconds = {lease}
suggestions = {suggestions}
gold_min_answers = 2
accuracy_threshold = 0.7
"""


def _toml(s: str) -> str:
    import json

    return json.dumps(s)


def make_project(root: Path, *, n: int = 30, overlap: int = 1, labels=("pos", "neg"),
                 kind: str = "classification", texts: list[str] | None = None,
                 control: int = 0, gold_rate: float = 0.0, lease: float = 900.0,
                 url: str | None = None, guidelines: str = "Pick the sentiment.",
                 suggestions: bool = True, run: bool = True, extra: str = ""):
    """A project with ``n`` items that the policy sends to people (``control`` of them
    control gold), run once so the people's tasks exist."""
    label_toml = "\n".join(f"[[task.labels]]\nname = {_toml(lab)}\n" for lab in labels)
    text = CONFIG.format(kind=kind, labels=label_toml, first=labels[0], overlap=overlap,
                         gold_rate=gold_rate, lease=lease,
                         store=f"url = {_toml(url)}" if url else "",
                         media='media_root = "media"',
                         guidelines=guidelines.replace('"""', ''),
                         suggestions="true" if suggestions else "false")
    text += extra  # appended after [web]: its first keys belong there
    project = init_project(root, config_text=text)
    texts = texts or [f"item number {i} is {'good' if i % 2 else 'bad'}" for i in range(n)]
    gold = [labels[i % 2] if i < control else None for i in range(len(texts))]
    df = pd.DataFrame({"id": [f"i{i:04d}" for i in range(len(texts))], "text": texts,
                       "gold": gold})
    split = f"control={control}" if control else None
    project.import_dataframe(df, id_column="id", gold_column="gold" if control else None,
                             gold_role="control", split=split)
    if run:
        project.run()
    return project


def add_users(project, names_roles: dict[str, str]) -> None:
    accounts = Accounts(project.store)
    for name, role in names_roles.items():
        accounts.add_user(name, role, PASSWORD)


def login(client, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"name": name, "password": password, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    home = client.get("/")  # annotators land on /annotate, reviewers on /dashboard
    return re.search(r'data-csrf="([^"]+)"', home.text).group(1)


class Session:
    """A logged-in TestClient that sends the CSRF header on every POST."""

    def __init__(self, app, name: str):
        from fastapi.testclient import TestClient

        self.client = TestClient(app)
        self.name = name
        self.csrf = login(self.client, name)

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, json=None, **kw):
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return self.client.post(url, json=json, headers=headers, **kw)

    def next(self, after=None):
        r = self.get("/api/next" + (f"?after={after}" if after else ""))
        assert r.status_code == 200, r.text
        return r.json()["item"]


