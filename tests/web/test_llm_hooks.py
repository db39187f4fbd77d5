"""The assistant and the judge wired to the project's llm annotator (``web.assistant``,
``web.judge``), against the real scripted OpenAI-compatible server."""

import pytest
from helpers import Session, add_users, make_project
from liveserver import LiveServer
from test_browser import browser, log_in, page, ready  # noqa: F401 - fixtures

from labelquorum.config import parse_config
from labelquorum.errors import ConfigError
from labelquorum.store import schema
from labelquorum.testing_server import Rule, ScriptedLlmServer, _free_socket
from labelquorum.web import create_app

pytest.importorskip("openai")


def llm_extra(base_url: str, rubric: str = "") -> str:
    return f"""assistant = "helper"
judge = "helper"
judge_rubric = "{rubric}"

[annotators.helper]
type = "llm"
base_url = "{base_url}"
model = "gpt-4o-mini"
max_retries = 0
timeout = 5
"""


def calls(p):
    with p.store.connect() as conn:
        return conn.execute(schema.model_calls.select().order_by(schema.model_calls.c.id)).all()


@pytest.fixture
def server():
    rules = [Rule("<answer>", content='{"score": 2, "reason": "the review is negative"}'),
             Rule("number 3 ", content='{"label": "maybe", "rationale": "unsure"}'),
             Rule("item number", content='{"label": "neg", "rationale": "it says bad"}')]
    with ScriptedLlmServer(rules) as s:
        yield s


def test_assistant_suggests_a_label_with_a_rationale_and_logs_its_cost(tmp_path, server):
    p = make_project(tmp_path / "p", n=6, extra=llm_extra(server.base_url))
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")
    html = s.get("/annotate").text
    assert 'data-testid="assist"' in html and "assistant-off" not in html
    item = s.next()
    r = s.post("/api/assist", json={"id": item["id"]})
    assert r.status_code == 200, r.text
    if "number 3 " in item["fields"]["text"]:
        assert r.json()["label"] is None
    else:
        assert r.json() == {"label": "neg", "rationale": "it says bad"}
    # the model saw the guidelines, the labels under a strict schema, and the item as data
    sent = server.requests[-1]
    assert "Pick the sentiment." in sent["messages"][0]["content"]
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == [
        "pos", "neg"]
    assert item["fields"]["text"] in sent["messages"][1]["content"]
    (call,) = calls(p)
    assert call.annotator == "web:assistant" and call.model == "gpt-4o-mini"
    assert call.tokens_in > 0 and call.tokens_out > 0 and call.cost > 0
    assert call.error is None


def test_an_out_of_set_suggestion_is_refused_never_a_label(tmp_path, server):
    p = make_project(tmp_path / "p", n=4, texts=["item number 3 is odd"] * 4,
                     extra=llm_extra(server.base_url))
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")
    item = s.next()
    out = s.post("/api/assist", json={"id": item["id"]}).json()
    assert out["label"] is None
    assert "No suggestion" in out["rationale"] and "maybe" in out["rationale"]
    (call,) = calls(p)
    assert call.response["label"] is None and call.cost > 0


def test_judge_scores_the_answer_and_reviewers_see_it(tmp_path, server):
    p = make_project(tmp_path / "p", n=2,
                     extra=llm_extra(server.base_url, rubric="Negative if it says bad."))
    add_users(p, {"ann": "annotator", "rev": "reviewer"})
    app = create_app(p)
    s = Session(app, "ann")
    item = s.next()
    assert s.post("/api/submit", json={"id": item["id"], "label": "pos"}).status_code == 200
    judged = server.requests[-1]
    assert "Negative if it says bad." in judged["messages"][0]["content"]
    assert "<answer>\npos\n</answer>" in judged["messages"][1]["content"]
    item_id = p.judgements().query("annotator_name == 'people'")["item"].iloc[0]
    rev = Session(app, "rev")
    (person,) = rev.get(f"/api/items/{item_id}").json()["people"]
    assert person["label"] == "pos" and person["judge_score"] == 2
    assert person["judge_note"] == "the review is negative"
    html = rev.get(f"/item?id={item_id}").text
    assert 'data-testid="judge-score">2<' in html and "the review is negative" in html
    (call,) = calls(p)
    assert call.annotator == "web:judge" and call.cost > 0 and call.tokens_in > 0
    # the score is not a label: the person's answer is the only human judgement
    assert list(p.judgements().query("annotator_name == 'people'")["label"]) == ["pos"]


def test_llm_down_keeps_the_answer_and_says_the_assistant_is_unavailable(tmp_path):
    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    p = make_project(tmp_path / "p", n=2, extra=llm_extra(f"http://127.0.0.1:{port}/v1"))
    add_users(p, {"ann": "annotator", "rev": "reviewer"})
    app = create_app(p)
    s = Session(app, "ann")
    item = s.next()
    r = s.post("/api/assist", json={"id": item["id"]})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "assistant_unavailable"
    assert "The assistant is unavailable" in r.json()["error"]["message"]
    assert s.post("/api/submit", json={"id": item["id"], "label": "neg"}).status_code == 200
    assert list(p.judgements().query("annotator_name == 'people'")["label"]) == ["neg"]
    logged = calls(p)
    assert [c.annotator for c in logged] == ["web:assistant", "web:judge"]
    assert all(c.error for c in logged)
    item_id = p.judgements().query("annotator_name == 'people'")["item"].iloc[0]
    (person,) = Session(app, "rev").get(f"/api/items/{item_id}").json()["people"]
    assert person["judge_score"] is None


def test_web_models_must_name_llm_annotators(tmp_path):
    base = {"task": {"labels": ["a", "b"]},
            "annotators": {"kw": {"type": "rules", "rules": [{"label": "a",
                                                              "keywords": ["x"]}]},
                           "gpt": {"type": "llm", "base_url": "http://127.0.0.1:1/v1",
                                   "model": "m"}},
            "policy": {"type": "cascade", "tiers": [{"name": "t", "annotators": ["kw"]}]}}
    assert parse_config({**base, "web": {"assistant": "gpt", "judge": "gpt"}}).web.judge == "gpt"
    with pytest.raises(ConfigError, match=r"web.judge: .*'kw'.* rules annotator, not an llm"):
        parse_config({**base, "web": {"judge": "kw"}})
    with pytest.raises(ConfigError, match=r"web.assistant: .*'gtp'.*not declared.*'gpt'"):
        parse_config({**base, "web": {"assistant": "gtp"}})



def test_the_page_shows_the_suggestion_or_says_the_assistant_is_unavailable(
        tmp_path, server, page):  # noqa: F811
    sock = _free_socket()
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()
    for n, (base_url, expected) in enumerate([(server.base_url, "Assistant: neg — it says bad"),
                                              (dead, "The assistant is unavailable")]):
        p = make_project(tmp_path / f"p{n}", texts=["item number 1 is bad"],
                         extra=llm_extra(base_url))
        add_users(p, {"ann": "annotator"})
        with LiveServer(create_app(p)) as live:
            log_in(page, live.url, "ann")
            ready(page)
            page.click("[data-testid=assist]")
            page.wait_for_selector("[data-testid=assist-result]:not([hidden])")
            assert expected in page.inner_text("[data-testid=assist-result]")
            page.keyboard.press("1")
            page.keyboard.press("Enter")
            page.wait_for_function("() => !document.querySelector('#item').dataset.id")
        assert list(p.judgements().query("annotator_name == 'people'")["label"]) == ["pos"]
        p.close()
