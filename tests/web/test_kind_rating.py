"""The rating widget on the annotation page, in Debian's chromium: an ordinal scale's named
points with number keys, a numeric scale's number box and slider; and the server's check of
submitted ratings."""

import pandas as pd
from helpers import Session, add_users
from liveserver import LiveServer
from test_browser import browser, log_in, page, ready  # noqa: F401 - fixtures

from labelquorum import init_project
from labelquorum.web import create_app

PEOPLE = """
[annotators.people]
type = "human"
overlap = 1

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "people"
annotators = ["people"]

[web]
gold_rate = 0.0
"""
LIKERT = """
[project]
name = "likert-web"
seed = 0

[task]
kind = "rating"
guidelines = "How good is the product?"
labels = [{ name = "awful", description = "broken or useless" }, "poor", "fair", "good",
          { name = "excellent", description = "nothing to fault" }]
""" + PEOPLE
NUMERIC = """
[project]
name = "score-web"
seed = 0

[task]
kind = "rating"
guidelines = "Score the answer from 0 to 10."

[task.rating]
min = 0
max = 10
step = 0.5
""" + PEOPLE


def rating_project(root, config, texts):
    p = init_project(root, config_text=config)
    p.import_dataframe(pd.DataFrame({"id": [f"t{i}" for i in range(len(texts))],
                                     "text": texts}), id_column="id")
    p.run()
    add_users(p, {"ann": "annotator"})
    return p


def human_ratings(p):
    j = p.judgements()
    human = j[j["annotator_kind"] == "human"]
    return sorted(zip(human["label"], human["value"].astype(float)))


def test_submitted_ratings_are_checked_against_the_scale(tmp_path):
    p = rating_project(tmp_path / "p", NUMERIC, ["one answer"])
    s = Session(create_app(p), "ann")
    item = s.next()
    for bad, why in (("11", "not on the scale"), ("2.25", "steps of 0.5"), ("lots", "0 to 10")):
        out = s.post("/api/submit", json={"id": item["id"], "label": bad})
        assert out.status_code == 422 and why in out.json()["error"]["message"], out.text
    assert human_ratings(p) == []  # nothing stored by a refused answer
    ok = s.post("/api/submit", json={"id": item["id"], "label": "7.5"})
    assert ok.status_code == 200, ok.text
    assert human_ratings(p) == [("7.5", 7.5)]


def wait_next(page, before):  # noqa: F811
    page.wait_for_function("id => document.querySelector('#item').dataset.id !== id",
                           arg=before)


def test_ordinal_points_by_number_keys(page, tmp_path):  # noqa: F811
    p = rating_project(tmp_path / "p", LIKERT, ["kettle review", "lamp review", "fan review"])
    with LiveServer(create_app(p)) as server:
        log_in(page, server.url, "ann")
        ready(page)
        names = page.eval_on_selector_all("[data-testid=rating-points] .label-btn",
                                          "bs => bs.map(b => [b.dataset.key, b.dataset.label])")
        assert names == [["1", "awful"], ["2", "poor"], ["3", "fair"], ["4", "good"],
                         ["5", "excellent"]]
        # a key chooses a point, another key changes it, Enter submits
        before = page.get_attribute("#item", "data-id")
        page.keyboard.press("2")
        page.keyboard.press("4")
        assert page.get_attribute("[data-testid=label-4]", "aria-pressed") == "true"
        assert page.get_attribute("[data-testid=label-2]", "aria-pressed") == "false"
        page.keyboard.press("Enter")
        wait_next(page, before)
        before = page.get_attribute("#item", "data-id")
        page.click("[data-testid=label-5]")  # the mouse works too
        page.keyboard.press("Enter")
        wait_next(page, before)
    assert human_ratings(p) == [("excellent", 5.0), ("good", 4.0)]
    assert page.dialogs == []


def test_numeric_rating_by_typing_and_by_the_slider(page, tmp_path):  # noqa: F811
    p = rating_project(tmp_path / "p", NUMERIC, ["first answer", "second answer",
                                                 "third answer"])
    with LiveServer(create_app(p)) as server:
        log_in(page, server.url, "ann")
        ready(page)
        assert page.get_attribute("[data-testid=rating-value]", "max") == "10"
        # nothing entered: Enter says so and sends nothing
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=status]').textContent.includes("
            "'Enter a rating first')")
        # typing a number starts it in the box; Enter submits
        before = page.get_attribute("#item", "data-id")
        page.keyboard.type("7.5")
        assert page.input_value("[data-testid=rating-value]") == "7.5"
        assert page.input_value("[data-testid=rating-slider]") == "7.5"
        page.keyboard.press("Enter")
        wait_next(page, before)
        assert page.input_value("[data-testid=rating-value]") == ""  # a fresh item
        # off the scale: the server's sentence is shown and the item stays
        before = page.get_attribute("#item", "data-id")
        page.keyboard.type("12")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=status]').textContent.includes("
            "'not on the scale')")
        assert page.get_attribute("#item", "data-id") == before
        # the slider: focus it, move by the arrow keys (steps of 0.5), Enter submits
        page.fill("[data-testid=rating-value]", "")
        page.focus("[data-testid=rating-slider]")
        page.keyboard.press("Home")
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        assert page.input_value("[data-testid=rating-value]") == "1.5"
        page.keyboard.press("Enter")
        wait_next(page, before)
        # Escape leaves the box, then S skips
        before = page.get_attribute("#item", "data-id")
        page.keyboard.type("3")
        page.keyboard.press("Escape")
        page.keyboard.press("s")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=status]').textContent.includes("
            "'Skipped')")
    assert human_ratings(p) == [("1.5", 1.5), ("7.5", 7.5)]
    assert page.dialogs == []


def test_a_reviewer_decides_a_numeric_rating_in_a_number_box(tmp_path):
    p = rating_project(tmp_path / "p", NUMERIC, ["one answer"])
    add_users(p, {"rev": "reviewer"})
    app = create_app(p)
    s = Session(app, "ann")
    assert s.post("/api/submit", json={"id": s.next()["id"], "label": "4"}).status_code == 200
    rev = Session(app, "rev")
    item = rev.get("/item?id=t0")
    assert item.status_code == 200 and 'data-testid="adjudicate-value"' in item.text
    assert 'value="4"' in item.text  # starts from the person's answer
    done = rev.client.post("/item/adjudicate", data={"csrf_token": rev.csrf, "id": "t0",
                                                     "label": "6.5", "note": ""},
                           follow_redirects=False)
    assert done.status_code in (302, 303), done.text
    out = p.to_dataframe().set_index("id")
    assert out.loc["t0", "label"] == "6.5" and out.loc["t0", "rating"] == 6.5
