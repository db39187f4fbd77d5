"""The free-text widget in Debian's chromium: a person writes answers in the text box
(keys typed there never skip or undo), Ctrl+Enter submits; the next run has the judge
score them; the review page shows each answer with its judge score and reason."""

import json
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
from helpers import add_users
from liveserver import LiveServer
from test_browser import browser, log_in, page, ready  # noqa: F401 - fixtures

from labelquorum import init_project
from labelquorum.testing_server import Rule, ScriptedLlmServer
from labelquorum.web import create_app

QUESTIONS = {"q1": "What is the capital of France?", "q2": "What is the capital of Italy?"}
ANSWERS = {"q1": "Paris is the capital, surely", "q2": "Rome"}


def run(p):
    """A run, in a thread of its own: the browser's driver holds this thread's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(p.run).result()


def config(base_url: str) -> str:
    llm = f"""
type = "llm"
base_url = "{base_url}"
model = "scripted-model"
max_retries = 1
"""
    return f"""
[project]
name = "free-text-web"
seed = 0

[task]
kind = "free-text"
guidelines = "Answer the question with the city's name."
judge = "judge"

[annotators.writer]{llm}
[annotators.judge]{llm}
[annotators.people]
type = "human"
overlap = 1

[policy]
type = "cascade"
[[policy.tiers]]
name = "llm"
annotators = ["writer"]
min_confidence = 0.5
[[policy.tiers]]
name = "people"
annotators = ["people"]

[web]
gold_rate = 0.0
"""


def rules() -> list[Rule]:
    verdict = json.dumps
    return [Rule("Answer to score:\nParis is", content=verdict({"score": 5, "reason":
                                                                "Right city."})),
            Rule("Answer to score:\nRome", content=verdict({"score": 4, "reason": "Terse."})),
            Rule("Answer to score:", content=verdict({"score": 1, "reason": "Wrong city."})),
            Rule("capital", content=json.dumps({"value": "Lyon"}))]


def test_people_write_answers_with_ctrl_enter_and_the_review_page_shows_judge_scores(
        page, tmp_path):  # noqa: F811
    with ScriptedLlmServer(rules()) as server:
        p = init_project(tmp_path / "p", config_text=config(server.base_url))
        p.import_dataframe(pd.DataFrame({"id": list(QUESTIONS), "text": list(
            QUESTIONS.values())}), id_column="id")
        report = run(p)  # the writer says Lyon twice; the judge gives 1: on to people
        assert report.waiting_human == 2
        add_users(p, {"ann": "annotator", "rev": "reviewer"})
        with LiveServer(create_app(p)) as live:
            log_in(page, live.url, "ann")
            ready(page)
            box = page.locator("[data-testid=answer-text]")
            for _ in range(2):
                shown = page.inner_text("[data-testid=item-text]")
                item = next(k for k, q in QUESTIONS.items() if q == shown)
                current = page.get_attribute("#item", "data-id")
                # the box has focus: typed s and u are text, Enter a new line
                assert page.evaluate("document.activeElement.id") == "answer-text"
                page.keyboard.type("us")
                page.keyboard.press("Enter")
                assert page.get_attribute("#item", "data-id") == current  # not skipped
                box.fill(ANSWERS[item])
                page.keyboard.press("Control+Enter")
                page.wait_for_function(
                    "id => document.querySelector('#item').dataset.id !== id", arg=current)
                assert box.input_value() == ""  # a fresh box for the next item
            page.wait_for_selector("[data-testid=empty]:not([hidden])")
            # an empty answer is refused on the page, before any request
            j = p.judgements()
            people = j[j["annotator_kind"] == "human"].set_index("item")
            assert people["label"].to_dict() == ANSWERS
            run(p)  # the judge scores the people's answers; the best answer is the label
            out = p.to_dataframe().set_index("id")
            assert out["label"].to_dict() == ANSWERS
            assert out["score"].to_dict() == {"q1": 5, "q2": 4}
            log_in(page, live.url, "rev")
            page.goto(f"{live.url}/item?id=q1")
            people_table = page.inner_text("[data-testid=people-answers]")
            assert ANSWERS["q1"] in people_table and "5" in people_table
            assert "Right city." in people_table
            models_table = page.inner_text("[data-testid=model-answers]")
            assert "Lyon" in models_table and "Wrong city." in models_table
            # the reviewer's answer wins, whatever the scores; a later run keeps it
            final = page.locator("[data-testid=answer-final]")
            assert final.input_value() == ANSWERS["q1"]  # starts from the decision
            final.fill("Paris")
            page.keyboard.press("n")  # typed in the box: text, not the next item
            assert final.input_value() == "Parisn"
            final.fill("Paris")
            page.click("[data-testid=adjudicate-submit]")
            page.wait_for_load_state()
            run(p)
            out = p.to_dataframe().set_index("id")
            assert out.loc["q1", "label"] == "Paris" and out.loc["q1", "tier"] == "review"
        assert page.dialogs == []
    p.close()


def test_an_empty_answer_is_refused_with_a_sentence(page, tmp_path):  # noqa: F811
    with ScriptedLlmServer(rules()) as server:
        p = init_project(tmp_path / "p", config_text=config(server.base_url))
        p.import_dataframe(pd.DataFrame({"id": ["q1"], "text": [QUESTIONS["q1"]]}),
                           id_column="id")
        run(p)
        add_users(p, {"ann": "annotator"})
        with LiveServer(create_app(p)) as live:
            log_in(page, live.url, "ann")
            ready(page)
            page.fill("[data-testid=answer-text]", "   ")
            page.keyboard.press("Control+Enter")
            page.wait_for_function(
                "() => document.querySelector('[data-testid=status]').textContent"
                ".includes('Write the answer first')")
        j = p.judgements()
        assert (j["annotator_kind"] == "human").sum() == 0
    p.close()


def test_every_page_and_the_json_api_serve_a_free_text_project(tmp_path):
    from helpers import Session

    with ScriptedLlmServer(rules()) as server:
        p = init_project(tmp_path / "p", config_text=config(server.base_url))
        p.import_dataframe(pd.DataFrame({"id": list(QUESTIONS), "text": list(
            QUESTIONS.values()), "gold": ["Paris", "Rome"]}), id_column="id",
            gold_column="gold")
        run(p)  # in a thread: a browser test before this one may hold this thread's loop
        add_users(p, {"ann": "annotator", "adm": "admin"})
        app = create_app(p)
        ann = Session(app, "ann")
        item = ann.next()
        # the suggestion is the writer's answer, never the judge's verdict on it
        assert item["suggestion"]["label"] == "Lyon", item
        empty = ann.post("/api/submit", json={"id": item["id"], "label": "  "})
        assert empty.status_code == 422, empty.text
        assert "empty" in empty.json()["error"]["message"]
        listed = ann.post("/api/submit", json={"id": item["id"], "label": ["a", "b"]})
        assert listed.status_code == 422, listed.text
        ok = ann.post("/api/submit", json={"id": item["id"], "label": "Paris"})
        assert ok.status_code == 200, ok.text
        adm = Session(app, "adm")
        for url in ("/", "/annotate", "/review", "/dashboard", "/browse", "/item?id=q1",
                    "/api/items/q1"):
            r = adm.get(url)
            assert r.status_code == 200, (url, r.text[:400])
        page_text = adm.get("/item?id=q1").text
        assert "Lyon" in page_text and "Wrong city." in page_text
    p.close()
