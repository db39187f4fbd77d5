"""Recorded LLM outputs (llms_for_css format) parsed into replay judgements.

The fixture under tests/fixtures/llms_for_css mimics the raw files: a lettered task whose
gold goes through label_map.csv (with one gold value the prompt never offered), a
True/False task with gold 1.0/0.0, padded ``&&&`` outputs, answers with trailing text,
refusals, run-together answers, an empty output, a missing row and a misaligned row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelquorum.errors import AnnotatorError, RecordingError
from labelquorum.policies import build_policy
from labelquorum.policies.offline import run_offline
from labelquorum.recordings import llms_for_css as css

FIXTURE = Path(__file__).parent / "fixtures" / "llms_for_css"
PRICES = {"small": (0.1, 0.2), "big": (10.0, 30.0), "shifted": (1.0, 1.0)}


@pytest.fixture(scope="module")
def tasks():
    return css.load(FIXTURE)


def test_label_sets_come_from_the_prompt_and_gold_maps_onto_them(tasks):
    mood, joke = tasks["mood"], tasks["joke"]
    # the example in parentheses is not part of the name; the gold the prompt never
    # offered (label_map sends it to letter D) is a label no model can give
    assert mood.labels == ("Happy", "Sad", "Calm", "neither")
    assert mood.items.set_index("item")["gold"].to_dict() == {
        "m1": "Happy", "m2": "Sad", "m3": "Calm", "m4": "neither", "m5": "Happy"}
    assert joke.labels == ("True", "False")
    assert joke.items["gold"].tolist() == ["True", "False", "True", "False"]


@pytest.mark.parametrize(("raw", "expected"), [
    ("A", "Happy"), ("a", "Happy"), ("  Happy. ", "Happy"), ("&&&&&&&&&&&&C", "Calm"),
    ("&&&&&&B: SadCCAB", "Sad"), ("A: Happy", "Happy"), ("calm!", "Calm"),
    ("The answer depends on context", None), ("", None), ("D", None), ("Happy Sad", None),
])
def test_parse_output_on_a_lettered_task(tasks, raw, expected):
    label, error = css.parse_output(raw, css.LabelSet.from_prompt(tasks["mood"].prompt))
    assert label == expected
    assert (error is None) == (expected is not None)


@pytest.mark.parametrize(("raw", "expected"), [
    ("True", "True"), ("false", "False"), ("False.", "False"),
    ("False. While humor is subjective, it is not.", "False"),
    ("False. &&&&&&&&&&&&It is not funny.", "False"), ("&&&&&&&&&&&&True", "True"),
    ("&&&&&&FalseTrueTrueFalse", None),
    ("I'm sorry, but as an AI language model, I cannot judge humor.", None),
])
def test_parse_output_on_a_true_false_task(tasks, raw, expected):
    label, _ = css.parse_output(raw, tasks["joke"].label_set)
    assert label == expected


def test_failures_missing_and_misaligned_rows_are_counted_never_labels(tasks):
    rates = css.failure_rates(tasks).set_index(["task", "model"])
    assert rates.loc[("mood", "small"), ["recorded", "failed", "missing"]].tolist() == [5, 0, 0]
    assert rates.loc[("mood", "big"), ["recorded", "parsed", "failed", "missing"]].tolist() \
        == [4, 2, 2, 1]
    assert rates.loc[("mood", "big"), "failure_rate"] == pytest.approx(0.5)
    assert rates.loc[("mood", "shifted"), ["recorded", "misaligned", "missing"]].tolist() \
        == [1, 1, 4]
    assert rates.loc[("joke", "shifted"), ["recorded", "missing"]].tolist() == [0, 4]
    assert np.isnan(rates.loc[("joke", "shifted"), "failure_rate"])
    assert rates.loc[("joke", "small"), "failed"] == 1  # the refusal
    assert rates.loc[("joke", "big"), "failed"] == 1  # the run-together answer
    answers = tasks["mood"].answers
    failed = answers[answers["error"] != ""]
    assert (failed["label"] == "").all()
    assert set(failed["item"]) == {"m3", "m4"}


def test_replay_frame_carries_errors_and_estimated_costs(tasks):
    rec = tasks["mood"]
    frame = css.replay_frame(rec, PRICES, models=["small", "big"])
    assert list(frame.columns) == ["item", "annotator", "label", "error", "cost"]
    row = frame[(frame["item"] == "m1") & (frame["annotator"] == "big")].iloc[0]
    tokens_in = -(-(len(rec.prompt) + len("I won the lottery!")) // 4)
    tokens_out = -(-len("A: Happy") // 4)
    assert row["cost"] == pytest.approx((tokens_in * 10.0 + tokens_out * 30.0) / 1e6)
    with pytest.raises(RecordingError, match="no price for model"):
        css.replay_frame(rec, {"small": (0.1, 0.1)}, models=["small", "big"])


def test_unknown_task_and_unmappable_gold_are_named(tmp_path):
    with pytest.raises(RecordingError, match="unknown task.*mood, joke"):
        css.load(FIXTURE, ["nope"])
    for name in ("items.csv", "predictions.csv"):
        (tmp_path / name).write_bytes((FIXTURE / name).read_bytes())
    with pytest.raises(RecordingError, match="gold 'neither' matches none of the labels"):
        css.load(tmp_path, ["mood"])  # no label_map.csv: 'neither' maps nowhere


def _offline(rec, project, models):
    return run_offline(build_policy(project.config.policy), rec.items["item"].to_numpy(),
                       rec.labels, models, rec.matrix(models),
                       rec.cost_matrix(PRICES, models), failed=rec.failed_matrix(models),
                       texts=rec.items["text"].to_numpy())


def test_project_over_recordings_runs_and_matches_the_offline_driver(tasks, tmp_path):
    rec = tasks["mood"]
    models = ["small", "big"]
    policy = {"type": "cascade", "scope": "cumulative",
              "tiers": [{"name": "big", "annotators": ["big"]},
                        {"name": "small", "annotators": ["small"]}]}
    with css.build_project(rec, tmp_path / "p", models=models, prices=PRICES,
                           policy=policy) as project:
        report = project.run()
        judged = project.judgements().set_index(["item", "annotator"])
        df = project.to_dataframe().set_index("id")
        offline = _offline(rec, project, models)
    # the big model's unparseable outputs are failed calls, charged, never labels
    assert report.failed == {"big": 2}
    assert judged.loc[("m3", "big"), "status"] == "failed"
    assert pd.isna(judged.loc[("m3", "big"), "label"])
    assert judged.loc[("m4", "big"), "status"] == "failed"
    assert judged.loc[("m1", "big"), "label"] == "Happy"
    # big's failed and missing items go on to small; the offline driver agrees item by
    # item and on cost
    assert report.asked == {"big": 5, "small": 3}
    ids = rec.items["item"].to_numpy()
    labels = [rec.labels[i] if i >= 0 else None for i in offline.label]
    assert df.loc[ids, "label"].tolist() == labels
    assert df.loc[ids, "tier"].tolist() == offline.tier
    assert report.cost == pytest.approx(offline.total_cost)


def test_chain_project_over_recordings_matches_the_offline_driver(tasks, tmp_path):
    rec = tasks["joke"]
    models = ["small", "big"]
    policy = {"type": "chain", "links": ["small", "big"], "confidence": "agreement"}
    with css.build_project(rec, tmp_path / "c", models=models, prices=PRICES,
                           policy=policy) as project:
        report = project.run()
        df = project.to_dataframe().set_index("id")
        offline = _offline(rec, project, models)
    ids = rec.items["item"].to_numpy()
    assert report.asked == {"small": 4, "big": 2}
    assert df.loc[ids, "decided_by"].tolist() == offline.decided_by
    assert df.loc[ids, "label"].tolist() == [rec.labels[i] if i >= 0 else None
                                             for i in offline.label]
    assert report.cost == pytest.approx(offline.total_cost)
    assert offline.calls() == {"small": 4, "big": 2}


def test_replay_file_rejects_negative_costs(tmp_path):
    import labelquorum as lq

    config = """
[task]
labels = ["a", "b"]
[annotators.r]
type = "replay"
path = "r.csv"
[policy]
type = "chain"
links = ["r"]
"""
    project = lq.init_project(tmp_path / "p", config_text=config)
    pd.DataFrame({"item": ["x"], "annotator": ["r"], "label": ["a"],
                  "cost": [-1.0]}).to_csv(tmp_path / "p" / "r.csv", index=False)
    with pytest.raises(AnnotatorError, match="negative cost"):
        project.build_annotators()
    project.close()


def test_matrix_marks_failures_and_missing_rows(tasks):
    rec = tasks["mood"]
    m = rec.matrix(["small", "big"])
    assert m[:, 0].tolist() == [0, 0, 2, 1, 0]
    assert m[:, 1].tolist() == [0, 1, -1, -1, -1]
    assert rec.failed_matrix(["big"])[:, 0].tolist() == [False, False, True, True, False]
    cost = rec.cost_matrix(PRICES, ["big"])[:, 0]
    assert cost[4] == pytest.approx(np.mean(cost[:4]))  # the missing row: the mean call


# Per-item prompts. tests/fixtures/llms_for_css_per_item holds tasks whose prompt differs
# by item, as in the source collection's stance and speaker tasks: ``stance`` puts the
# tweet and its target inside the prompt, offers the same three options with per-item
# descriptions, and on s4 and s5 under other letters (A: Against, B: None, C: Favor); s5's
# text itself has lines that look like options (``A: Close it for good.``). ``admin`` asks
# a True/False question naming a different speaker per item.

PER_ITEM = Path(__file__).parent / "fixtures" / "llms_for_css_per_item"


@pytest.fixture(scope="module")
def per_item():
    return css.load(PER_ITEM)


def test_tasks_with_a_prompt_per_item_read_one_label_set_from_their_options(per_item):
    stance, admin = per_item["stance"], per_item["admin"]
    assert stance.labels == ("Favor", "Against", "None")
    assert stance.items.set_index("item")["gold"].to_dict() == {
        "s1": "Favor", "s2": "Against", "s3": "None", "s4": "Favor", "s5": "Against"}
    assert admin.labels == ("True", "False")
    assert admin.items["gold"].tolist() == ["True", "False", "True"]
    assert stance.per_item_prompts and admin.per_item_prompts
    assert not css.load(FIXTURE)["mood"].per_item_prompts


def test_each_output_is_read_against_the_options_its_own_item_was_shown(per_item):
    answers = per_item["stance"].answers.set_index(["item", "model"])
    # s4 and s5 offered A: Against, B: None, C: Favor
    assert answers.loc[("s1", "small"), "label"] == "Favor"
    assert answers.loc[("s4", "small"), "label"] == "Against"
    assert answers.loc[("s5", "small"), "label"] == "Favor"
    assert answers.loc[("s4", "big"), "label"] == "Favor"
    # s5's text has lines "A: ...", "B: ..." inside the prompt: they are not options, so
    # the item offers no D and "D" is a failed call
    assert answers.loc[("s5", "big"), "label"] == ""
    assert answers.loc[("s5", "big"), "error"] != ""
    assert per_item["stance"].label_set_of("s5").letters == {
        "A": "Against", "B": "None", "C": "Favor"}
    admin = per_item["admin"].answers.set_index(["item", "model"])
    assert admin.loc[("a2", "small"), "label"] == "False"
    assert admin.loc[("a3", "small"), "error"] != ""
    assert admin.loc[("a1", "big"), "label"] == "False"


def test_an_item_text_inside_its_prompt_is_counted_once_in_the_tokens(per_item):
    rec = per_item["stance"]
    prompt = pd.read_csv(PER_ITEM / "items.csv", dtype=str, keep_default_na=False) \
        .set_index("item_key").loc["s1", "prompt"]
    row = rec.answers[(rec.answers["item"] == "s1") & (rec.answers["model"] == "big")].iloc[0]
    assert row["tokens_in"] == -(-len(prompt) // 4)


def _per_item_copy(tmp_path, item, edit):
    items = pd.read_csv(PER_ITEM / "items.csv", dtype=str, keep_default_na=False)
    at = items["item_key"] == item
    items.loc[at, "prompt"] = edit(items.loc[at, "prompt"].iloc[0])
    items.to_csv(tmp_path / "items.csv", index=False)
    for name in ("predictions.csv", "label_map.csv"):
        (tmp_path / name).write_bytes((PER_ITEM / name).read_bytes())


def test_items_whose_options_differ_are_refused_with_both_option_sets(tmp_path):
    _per_item_copy(tmp_path, "s3", lambda p: p.replace("C: None", "C: Neutral"))
    with pytest.raises(RecordingError, match=r"task 'stance'.*item 's1' offers Favor, "
                       r"Against, None.*item 's3' offers Favor, Against, Neutral"):
        css.load(tmp_path)
    # the other task still loads on its own
    assert css.load(tmp_path, ["admin"])["admin"].labels == ("True", "False")


def test_a_yes_no_item_among_lettered_ones_is_refused(tmp_path):
    _per_item_copy(tmp_path, "s2", lambda p: p.split("\nA:")[0] + ' Answer "True" or "False".')
    with pytest.raises(RecordingError, match=r"task 'stance'.*item 's2' offers True, False"):
        css.load(tmp_path, ["stance"])


def test_project_over_per_item_recordings_matches_the_offline_driver(per_item, tmp_path):
    rec = per_item["stance"]
    models = ["small", "big"]
    policy = {"type": "cascade", "scope": "cumulative",
              "tiers": [{"name": "big", "annotators": ["big"]},
                        {"name": "small", "annotators": ["small"]}]}
    with css.build_project(rec, tmp_path / "p", models=models, prices=PRICES,
                           policy=policy) as project:
        report = project.run()
        df = project.to_dataframe().set_index("id")
        offline = _offline(rec, project, models)
    assert report.failed == {"big": 1}
    assert report.asked == {"big": 5, "small": 1}
    ids = rec.items["item"].to_numpy()
    assert df.loc[ids, "label"].tolist() == ["Favor", "Against", "None", "Favor", "Favor"]
    assert df.loc[ids, "label"].tolist() == [rec.labels[i] if i >= 0 else None
                                             for i in offline.label]
    assert report.cost == pytest.approx(offline.total_cost)


STANCES = ("Favor", "Against", "None")
_TEXT = st.lists(st.text(alphabet='ABCDFavor :."', min_size=1, max_size=14), min_size=1,
                 max_size=4).map("\n".join).filter(lambda t: t.strip() != "")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.permutations(STANCES), _TEXT, st.booleans()), min_size=2,
                max_size=5))
def test_each_item_is_read_under_its_own_letters_whatever_its_text_holds(items):
    """Items quote texts full of option-like lines (``A: Fa``, ``D: ."``) before or after
    their options, under any order of letters: the task's labels are still the options, and
    an output naming an item's letter is the option that item showed under it."""
    import tempfile

    rows, preds = [], []
    for i, (order, text, text_first) in enumerate(items):
        options = "\n".join(f"{letter}: {name} (a stance)" for letter, name
                             in zip("ABC", order))
        question = "Which stance does the tweet take?"
        quote = f'Tweet: "{text}"'
        prompt = (f"{quote}\n\n{question}\n{options}\n" if text_first
                  else f"{question}\n{options}\n\n{quote}\n")
        rows.append({"dataset": "t", "item_key": f"i{i}", "text": text, "gold": order[0],
                     "prompt": prompt})
        preds.append({"dataset": "t", "item_key": f"i{i}", "row_index": i, "model": "m",
                      "gold_in_answer_file": order[0], "raw_output": "B"})
    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame(rows).to_csv(Path(tmp) / "items.csv", index=False)
        pd.DataFrame(preds).to_csv(Path(tmp) / "predictions.csv", index=False)
        rec = css.load(tmp)["t"]
    assert sorted(rec.labels) == sorted(STANCES)
    assert rec.labels == tuple(items[0][0])
    said = rec.answers.set_index("item")["label"]
    for i, (order, _, _) in enumerate(items):
        assert rec.label_set_of(f"i{i}").letters == dict(zip("ABC", order))
        assert said[f"i{i}"] == order[1]
