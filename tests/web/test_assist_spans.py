"""The assistant on a spans task, against the real scripted OpenAI-compatible server: it
answers entities (placed on the text, shown as marks), never offsets it made up."""

import json

import pandas as pd
import pytest
from helpers import Session, add_users
from liveserver import LiveServer
from test_browser import browser, log_in, page, ready  # noqa: F401 - fixtures

from labelquorum import init_project
from labelquorum.store import schema
from labelquorum.testing_server import Rule, ScriptedLlmServer
from labelquorum.web import create_app

pytest.importorskip("openai")

CONFIG = """
[project]
name = "spans-assist"
seed = 0

[task]
kind = "spans"
guidelines = "Mark people and places."
labels = ["PER", "LOC"]

[annotators.people]
type = "human"
overlap = 1

[annotators.helper]
type = "llm"
base_url = "{url}"
model = "gpt-4o-mini"
max_retries = 0
timeout = 5

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "people"
annotators = ["people"]

[web]
gold_rate = 0.0
assistant = "helper"
"""
TEXT = "Alice met Bob in Paris, then Alice left."
ANSWER = {"entities": [{"text": "Alice", "type": "PER"}, {"text": "paris", "type": "LOC"},
                       {"text": "Mars", "type": "LOC"}, {"text": "Bob", "type": "ORG"}],
          "rationale": "Alice is a person and Paris a city."}


@pytest.fixture
def llm():
    rules = [Rule("Alice met", content=json.dumps(ANSWER)),
             Rule("no entities here", content='{"rationale": "none"}')]
    with ScriptedLlmServer(rules) as s:
        yield s


def project(root, url, texts):
    p = init_project(root, config_text=CONFIG.format(url=url))
    p.import_dataframe(pd.DataFrame({"id": [f"s{i}" for i in range(len(texts))],
                                     "text": texts}), id_column="id")
    p.run()
    add_users(p, {"ann": "annotator"})
    return p


def test_the_assistant_answers_entities_placed_on_the_text(tmp_path, llm):
    p = project(tmp_path / "p", llm.base_url, [TEXT])
    s = Session(create_app(p), "ann")
    item = s.next()
    r = s.post("/api/assist", json={"id": item["id"]})
    assert r.status_code == 200, r.text
    out = r.json()
    # Alice wherever she occurs, Paris case-insensitively; Mars (not in the text) and an
    # ORG (no type of the task) are named in the rationale, never placed
    assert json.loads(out["label"]) == [[0, 5, "PER"], [17, 22, "LOC"], [29, 34, "PER"]]
    assert [(e["text"], e["type"]) for e in out["entities"]] == [
        ("Alice", "PER"), ("Paris", "LOC"), ("Alice", "PER")]
    assert out["rationale"].startswith("Alice is a person and Paris a city.")
    assert "Mars" in out["rationale"] and "Bob" in out["rationale"]
    sent = llm.requests[-1]
    schema_sent = sent["response_format"]["json_schema"]["schema"]
    assert schema_sent["properties"]["entities"]["items"]["properties"]["type"]["enum"] == [
        "PER", "LOC"]
    assert "Mark people and places." in sent["messages"][0]["content"]
    with p.store.connect() as conn:
        (call,) = conn.execute(schema.model_calls.select()).all()
    assert call.annotator == "web:assistant" and call.cost > 0
    p.close()


def test_an_answer_without_entities_is_no_suggestion(tmp_path, llm):
    p = project(tmp_path / "p", llm.base_url, ["no entities here"])
    s = Session(create_app(p), "ann")
    out = s.post("/api/assist", json={"id": s.next()["id"]}).json()
    assert out["label"] is None and out["entities"] == []
    assert out["rationale"].startswith("No suggestion")
    p.close()


def test_the_page_shows_the_assistants_entities_as_marks(page, tmp_path, llm):  # noqa: F811
    p = project(tmp_path / "p", llm.base_url, [TEXT])
    with LiveServer(create_app(p)) as server:
        log_in(page, server.url, "ann")
        ready(page)
        page.click("[data-testid=assist]")
        page.wait_for_selector("[data-testid=assist-marks] mark")
        marks = page.eval_on_selector_all(
            "[data-testid=assist-marks] mark", "ms => ms.map(m => [m.textContent, m.dataset.type])")
        assert marks == [["Alice", "PER"], ["Paris", "LOC"], ["Alice", "PER"]]
        assert page.inner_text("[data-testid=assist-marks]").replace("PER", "").replace(
            "LOC", "").replace(" ", "") == TEXT.replace(" ", "")
        # the person's own answer is untouched: nothing marked until they mark it
        assert page.is_visible("[data-testid=entities-none]")
    assert page.dialogs == []
    p.close()
