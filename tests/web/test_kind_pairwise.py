"""Pairwise items in the web app: the two responses side by side, chosen with A / B / T and
← / → in Debian's chromium; golden questions on pairwise items flag a person who answers at
random."""

from __future__ import annotations

import random

import pandas as pd
from helpers import Session, add_users
from liveserver import LiveServer
from sqlalchemy import select
from test_browser import browser, log_in, page, ready  # noqa: F401 - fixtures

from labelquorum import init_project
from labelquorum.quality import gold_accuracy
from labelquorum.store import schema
from labelquorum.web import create_app

CONFIG = """
[project]
name = "pairwise-web"
seed = 0

[task]
kind = "pairwise"
allow_tie = true
guidelines = "Prefer the response that answers the question."

[annotators.people]
type = "human"
overlap = 1

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "people"
annotators = ["people"]

[quality]
control_rate = 1.0

[web]
gold_rate = {gold_rate}
gold_min_answers = 8
accuracy_threshold = 0.8
"""


def pairwise_project(root, n: int, control: int = 0, gold_rate: float = 0.0):
    p = init_project(root, config_text=CONFIG.format(gold_rate=gold_rate))
    rows = pd.DataFrame({
        "id": [f"q{i:03d}" for i in range(n)],
        "prompt": [f"Question {i}: what is {i} plus {i}?" for i in range(n)],
        "response_a": [f"Left answer {i}: {2 * i}." for i in range(n)],
        "response_b": [f"Right answer {i}: {2 * i + 1}." for i in range(n)],
        "model_a": ["secret-model-a"] * n, "model_b": ["secret-model-b"] * n,
        "gold": ["A" if i < control else None for i in range(n)]})
    p.import_dataframe(rows, id_column="id", gold_column="gold" if control else None,
                       gold_role="control", split=f"control={control}" if control else None)
    p.run()
    add_users(p, {"ann": "annotator"})
    return p


def human_labels(p) -> dict[str, str]:
    j = p.judgements()
    human = j[j["annotator_kind"] == "human"]
    return dict(zip(human["item"], human["label"]))


def shown_id(pg) -> str:
    text = pg.inner_text("[data-field=prompt] [data-testid=item-text]")
    return f"q{int(text.split(':')[0].split()[1]):03d}"


def test_responses_side_by_side_and_chosen_by_keys(page, tmp_path):  # noqa: F811
    p = pairwise_project(tmp_path / "p", n=5)
    with LiveServer(create_app(p)) as server:
        log_in(page, server.url, "ann")
        ready(page)
        # the prompt spans the page; response A on the left, B on the right, level
        a = page.locator("[data-field=response_a]").bounding_box()
        b = page.locator("[data-field=response_b]").bounding_box()
        prompt = page.locator("[data-field=prompt]").bounding_box()
        assert a["x"] + a["width"] <= b["x"] and abs(a["y"] - b["y"]) < 2
        assert prompt["y"] + prompt["height"] <= a["y"] and prompt["width"] > a["width"] * 1.5
        assert page.text_content("[data-field=response_a] .field-name") == "Response A"
        assert "secret-model" not in page.content()  # judged blind
        keys = ["a", "ArrowRight", "t", "ArrowLeft", "b"]
        expected = {}
        for key in keys:
            item = shown_id(page)
            current = page.get_attribute("#item", "data-id")
            page.keyboard.press(key)
            chosen = {"a": "A", "arrowleft": "A", "b": "B", "arrowright": "B",
                      "t": "tie"}[key.lower()]
            assert page.get_attribute(f"[data-label={chosen}]", "aria-pressed") == "true"
            page.keyboard.press("Enter")
            expected[item] = chosen
            if len(expected) < len(keys):
                page.wait_for_function(
                    "id => document.querySelector('#item').dataset.id !== id", arg=current)
                # the next item is drawn by the page: its sides are marked again
                assert page.get_attribute("[data-field=response_b]", "data-side") == "right"
        page.wait_for_selector("[data-testid=empty]:not([hidden])")
    assert human_labels(p) == expected
    assert page.dialogs == []


def test_a_person_answering_at_random_is_flagged_by_golden_questions(tmp_path):
    p = pairwise_project(tmp_path / "p", n=40, control=20, gold_rate=0.5)
    app = create_app(p)
    s = Session(app, "ann")
    a = schema.assignments
    rng = random.Random(4)
    gold = p.gold_labels()
    golden = 0
    while golden < 14:
        item = s.next()
        if item is None:
            break
        assert set(item["fields"]) == {"prompt", "response_a", "response_b"}
        with p.store.connect() as conn:
            item_id = conn.execute(select(a.c.item_id).where(a.c.public_id == item["id"])
                                   ).scalar()
        golden += item_id in gold
        r = s.post("/api/submit", json={"id": item["id"], "label": rng.choice(["A", "B", "tie"])})
        assert r.status_code == 200, r.text
    acc = {g.name: g for g in gold_accuracy(p)}["ann"]
    assert acc.answered >= 8 and acc.accuracy < 0.8 and acc.flagged
    p.close()


def test_reviewer_pages_and_adjudication_of_a_pairwise_item(tmp_path):
    p = pairwise_project(tmp_path / "p", n=4)
    add_users(p, {"rev": "reviewer"})
    app = create_app(p)
    ann = Session(app, "ann")
    while (item := ann.next()) is not None:
        assert ann.post("/api/submit", json={"id": item["id"], "label": "A"}).status_code == 200
    rev = Session(app, "rev")
    for url in ["/dashboard", "/browse", "/review", "/item?id=q001"]:
        shown = rev.get(url)
        assert shown.status_code == 200, (url, shown.text[:500])
    item_page = rev.get("/item?id=q001").text
    assert "Right answer 1" in item_page and 'value="tie"' in item_page
    r = rev.post("/api/items/q001/adjudicate", json={"label": "B", "note": "B is right"})
    assert r.status_code == 200, r.text
    p.run()  # the people's answers decide the rest; the reviewer's label stays
    out = p.to_dataframe().set_index("id")
    assert out.at["q001", "label"] == "B" and out.at["q000", "label"] == "A"
    bad = rev.post("/api/items/q002/adjudicate", json={"label": "C"})
    assert bad.status_code == 422 and "A, B, tie" in bad.text
    p.close()
