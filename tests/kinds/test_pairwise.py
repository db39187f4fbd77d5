"""A pairwise preference project end to end: config, import with gold, simulated, replay
and LLM annotators (the scripted test server, both orders), consensus, golden questions
for people, status, report (the Bradley–Terry system table) and export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labelquorum as lq
from labelquorum.aggregation.bradley_terry import BradleyTerry
from labelquorum.annotators.base import Items
from labelquorum.errors import ConfigError, ImportDataError
from labelquorum.kinds.pairwise import combine_orders, project_systems, system_table
from labelquorum.quality import build_report
from labelquorum.testing_server import Rule, ScriptedLlmServer

FIXTURE = Path(__file__).parent.parent / "fixtures" / "pairwise_small.csv"
STRENGTHS = {"alpha": 4.0, "beta": 2.0, "gamma": 1.0, "delta": 0.5}


def config(annotators: str, policy: str, task: str = "allow_tie = true") -> str:
    return f"""
[project]
name = "prefs"
seed = 0
[task]
kind = "pairwise"
guidelines = "Prefer the response that answers the question."
{task}
{annotators}
{policy}
"""


SIMULATED = """
[annotators.good]
type = "simulated"
accuracy = 0.9
[annotators.fair]
type = "simulated"
accuracy = 0.7
[annotators.coin]
type = "simulated"
accuracy = 0.34
"""
VOTE = """
[policy]
type = "cascade"
aggregator = "weighted"
[[policy.tiers]]
name = "crowd"
annotators = ["good", "fair", "coin"]
"""


def lq_cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "labelquorum.cli", *map(str, args)],
                          check=False, capture_output=True, text=True, cwd=cwd)
    return proc


# -- the task section ---------------------------------------------------------------------
def test_the_labels_are_fixed_a_b_and_tie_when_allowed(tmp_path):
    p = lq.init_project(tmp_path / "a", config_text=config(SIMULATED, VOTE, ""))
    assert p.task.labels == ("A", "B")
    p = lq.init_project(tmp_path / "b", config_text=config(SIMULATED, VOTE))
    assert p.task.labels == ("A", "B", "tie")
    assert p.task.fields == ("prompt", "response_a", "response_b")  # no system names shown


def test_labels_other_than_a_b_tie_are_refused_with_the_fix(tmp_path):
    text = config(SIMULATED, VOTE, 'labels = ["left", "right"]')
    with pytest.raises(ConfigError, match=r"pairwise.*A, B.*allow_tie"):
        lq.init_project(tmp_path / "p", config_text=text)


def test_an_item_without_a_response_is_refused_by_row_and_field(tmp_path):
    p = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, VOTE))
    bad = pd.DataFrame({"id": ["x"], "prompt": ["Q?"], "response_a": ["yes"], "gold": ["A"]})
    with pytest.raises(ImportDataError, match="response_b"):
        p.import_dataframe(bad, id_column="id")
    bad = pd.DataFrame({"id": ["x"], "prompt": ["Q?"], "response_a": ["yes"],
                        "response_b": ["no"], "gold": ["C"]})
    with pytest.raises(ImportDataError, match=r"'C' is not in the task's label set \(A, B, tie"):
        p.import_dataframe(bad, id_column="id")


# -- a project through the CLI ------------------------------------------------------------
def test_cli_project_simulated_crowd_status_report_export(tmp_path):
    root = tmp_path / "p"
    lq.init_project(root, config_text=config(SIMULATED, VOTE)).close()
    out = lq_cli("import", FIXTURE, "--id-column", "id", "-p", root)
    assert out.returncode == 0, out.stderr
    out = lq_cli("run", "-p", root)
    assert out.returncode == 0, out.stderr
    status = lq_cli("status", "-p", root)
    assert status.returncode == 0, status.stderr
    assert "Systems (Bradley–Terry" in status.stdout and "alpha" in status.stdout
    # export: one label per item, A / B / tie, and the system table
    assert lq_cli("export", tmp_path / "out.csv", "-p", root).returncode == 0
    items = pd.read_csv(tmp_path / "out.csv").set_index("id")
    assert set(items["label"]) <= {"A", "B", "tie"} and len(items) == 60
    gold = pd.read_csv(FIXTURE).set_index("id")["gold"]
    assert (items["label"] == gold[items.index]).mean() > 0.75  # weighted vote of 0.9/0.7/chance
    out = lq_cli("export", tmp_path / "systems.csv", "--table", "systems", "-p", root)
    assert out.returncode == 0, out.stderr
    systems = pd.read_csv(tmp_path / "systems.csv").set_index("system")
    assert set(systems.index) == set(STRENGTHS)
    assert systems["score"].sum() == pytest.approx(1.0)
    assert systems["score"].idxmax() == "alpha"
    # the report: the same table, the gold ranking and Kendall's tau between them
    out = lq_cli("report", "-p", root, "--out", tmp_path / "r.html", "--bootstrap", "0",
                 "--no-label-issues")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    table = report["systems"]
    assert table["kendall_tau"] > 0.6
    assert {r["system"] for r in table["rows"]} == set(STRENGTHS)
    assert "Bradley" in (tmp_path / "r.html").read_text()


def test_system_scores_are_bradley_terry_over_every_answer(tmp_path):
    p = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, VOTE))
    p.import_file(FIXTURE, id_column="id")
    p.run()
    j = p.judgements()
    j = j[j["status"] == "ok"]
    items = pd.read_csv(FIXTURE).set_index("id")
    winner = [items.at[i, "model_a"] if lab == "A" else items.at[i, "model_b"] if lab == "B"
              else None for i, lab in zip(j["item"], j["label"])]
    expected = BradleyTerry().fit_predict(pd.DataFrame({
        "left": items.loc[j["item"], "model_a"].to_numpy(),
        "right": items.loc[j["item"], "model_b"].to_numpy(), "label": winner}))
    table = project_systems(p)
    got = pd.Series({r["system"]: r["score"] for r in table["rows"]})
    np.testing.assert_allclose(got[expected.index], expected, atol=1e-9)
    assert table["comparisons"] == len(j) == 180


# -- replay -------------------------------------------------------------------------------
def test_replayed_judgements_decide_and_rank(tmp_path):
    gold = pd.read_csv(FIXTURE)
    recorded = pd.DataFrame({"item": gold["id"], "annotator": "arena", "label": gold["gold"]})
    recorded.to_csv(tmp_path / "arena.csv", index=False)
    annotators = f"""
[annotators.arena]
type = "replay"
path = "{(tmp_path / 'arena.csv').as_posix()}"
"""
    policy = """
[policy]
type = "cascade"
[[policy.tiers]]
name = "arena"
annotators = ["arena"]
"""
    p = lq.init_project(tmp_path / "p", config_text=config(annotators, policy))
    p.import_file(FIXTURE, id_column="id")
    p.run()
    out = p.to_dataframe().set_index("id")
    assert (out["label"] == gold.set_index("id")["gold"]).all()
    table = project_systems(p)
    assert table["kendall_tau"] == pytest.approx(1.0)  # the answers are the gold


# -- LLM judges: JSON schema and both orders ---------------------------------------------
def llm_annotators(url: str, both: bool) -> str:
    return f"""
[annotators.judge]
type = "llm"
base_url = "{url}"
model = "judge-1"
confidence = "verbalized"
both_orders = {'true' if both else 'false'}
"""


LLM_POLICY = """
[policy]
type = "cascade"
[[policy.tiers]]
name = "judge"
annotators = ["judge"]
"""


def faithful_rules(items: pd.DataFrame) -> list[Rule]:
    """A judge that prefers the gold winner in whichever position it is shown."""
    rules = []
    for r in items.itertuples():
        if r.gold == "tie":
            rules.append(Rule(f"{r.prompt}\n\nResponse A:", "tie", confidence=0.8))
            continue
        win = r.response_a if r.gold == "A" else r.response_b
        rules.append(Rule(f"Response A:\n{win}", "A", confidence=0.9))
        rules.append(Rule(f"Response B:\n{win}", "B", confidence=0.9))
    return rules


def test_llm_judge_sees_prompt_and_both_responses_under_a_json_schema(tmp_path):
    items = pd.read_csv(FIXTURE).head(8)
    with ScriptedLlmServer(faithful_rules(items)) as server:
        p = lq.init_project(tmp_path / "p", config_text=config(
            llm_annotators(server.base_url, False), LLM_POLICY))
        p.import_dataframe(items, id_column="id")
        p.run()
        request = server.requests[0]
    out = p.to_dataframe().set_index("id")
    gold = items.set_index("id")["gold"]
    assert (out["label"] == gold[out.index]).all()
    schema = json.dumps(request["response_format"])
    assert '"enum": ["A", "B", "tie"]' in schema
    user = request["messages"][-1]["content"]
    assert "Prompt:" in user and "Response A:" in user and "Response B:" in user
    system = request["messages"][0]["content"]
    assert "the order of the responses is arbitrary" in system


def test_both_orders_undo_position_bias_and_report_consistency(tmp_path):
    items = pd.read_csv(FIXTURE).head(10)
    # a judge that always says "A": in both orders it contradicts itself on every item
    with ScriptedLlmServer([Rule("", "A", confidence=0.9)]) as server:
        p = lq.init_project(tmp_path / "biased", config_text=config(
            llm_annotators(server.base_url, True), LLM_POLICY))
        p.import_dataframe(items, id_column="id")
        p.run()
        assert server.count() == 20  # two orders per item
    out = p.to_dataframe()
    assert set(out["label"]) == {"tie"}  # a position preference is not a preference
    report = build_report(p, n_boot=0, label_issues=False).data
    assert report["systems"]["position_consistency"]["judge"]["consistent"] == 0.0
    # a faithful judge is consistent on every item and right on every one
    with ScriptedLlmServer(faithful_rules(items)) as server:
        p = lq.init_project(tmp_path / "faithful", config_text=config(
            llm_annotators(server.base_url, True), LLM_POLICY))
        p.import_dataframe(items, id_column="id")
        p.run()
    out = p.to_dataframe().set_index("id")
    assert (out["label"] == items.set_index("id")["gold"][out.index]).all()
    report = build_report(p, n_boot=0, label_issues=False).data
    assert report["systems"]["position_consistency"]["judge"]["consistent"] == 1.0


def test_combining_the_two_orders():
    labels = ["A", "B", "tie"]
    label, conf, _probs, same = combine_orders(labels, ("A", np.array([.8, .1, .1])),
                                              ("A", np.array([.6, .2, .2])))
    assert (label, same) == ("A", True) and conf == pytest.approx(0.7)
    label, conf, probs, same = combine_orders(labels, ("A", np.array([.8, .1, .1])),
                                              ("B", np.array([.1, .8, .1])))
    assert (label, same) == ("tie", False)  # A and B share .45: it goes to the tie
    np.testing.assert_allclose(probs, [0, 0, 1.0], atol=1e-12)
    label, conf, _, _ = combine_orders(["A", "B"], ("A", np.array([.6, .4])),
                                       ("B", np.array([.1, .9])))
    assert label == "B" and conf == pytest.approx(0.65)


def test_system_table_counts_and_gold_ranking():
    systems = pd.DataFrame({"left": ["x", "y", "x"], "right": ["y", "z", "z"]},
                           index=["i1", "i2", "i3"])
    answers = pd.DataFrame({"item": ["i1", "i1", "i2", "i3", "i3"],
                            "label": ["A", "tie", "A", "A", "B"]})
    table = system_table(systems, answers, gold={"i1": "A", "i2": "A", "i3": "A"})
    rows = {r["system"]: r for r in table["rows"]}
    assert (rows["x"]["wins"], rows["x"]["ties"], rows["x"]["losses"]) == (2, 1, 1)
    assert rows["x"]["rank"] == 1 and table["comparisons"] == 5
    assert table["kendall_tau"] == pytest.approx(1.0)
    assert table["gold_note"] is not None  # z never won in the gold: smoothed, and said


# -- both orders: properties of the combination ------------------------------------------
def _task(allow_tie: bool):
    from labelquorum.config import parse_config
    from labelquorum.task import Task

    cfg = parse_config({"task": {"kind": "pairwise", "allow_tie": allow_tie},
                        "annotators": {"people": {"type": "human"}},
                        "policy": {"type": "cascade", "tiers": [{"annotators": ["people"]}]}})
    return Task.from_config(cfg.task)


def _answer(labels, probs):
    probs = np.asarray(probs, dtype=float) / np.sum(probs)
    return labels[int(np.argmax(probs))], float(probs.max()), probs


rows = st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_a_judge_that_only_sees_positions_never_prefers_a_response(raw):
    """Whatever a position-bound judge says, it says it in both orders: the combined answer
    is a tie (or its own tie, when tie was its answer)."""
    task = _task(True)
    kind = task.strategy
    said = _answer(task.labels, raw)
    label, conf, probs, agree = kind.combine_orders(task, said, said)
    assert label == "tie"
    assert agree == (said[0] == "tie")
    assert probs.sum() == pytest.approx(1.0) and conf == pytest.approx(probs[2])


@settings(max_examples=200, deadline=None)
@given(rows, rows, st.booleans())
def test_showing_the_pair_the_other_way_round_swaps_the_answer(raw1, raw2, allow_tie):
    """The item with A and B exchanged is asked the same two questions in the other
    order: its combined answer is the original's with A and B exchanged."""
    task = _task(allow_tie)
    kind = task.strategy
    k = len(task.labels)
    one, two = _answer(task.labels, raw1[:k]), _answer(task.labels, raw2[:k])
    label, conf, probs, agree = kind.combine_orders(task, one, two)
    other, conf2, probs2, agree2 = kind.combine_orders(task, two, one)
    assert agree == agree2
    swap = {"A": "B", "B": "A", "tie": "tie"}
    if allow_tie or agree or not np.isclose(probs[0], probs[1]):
        assert other == swap[label]
        assert conf2 == pytest.approx(conf)
        np.testing.assert_allclose(probs2, probs[[1, 0, 2][:k]], atol=1e-12)


def test_init_makes_a_pairwise_project_that_imports_the_usual_columns(tmp_path):
    out = lq_cli("init", tmp_path / "p", "--kind", "pairwise", "--labels", "A,B,tie")
    assert out.returncode == 0, out.stderr
    p = lq.open_project(tmp_path / "p")
    assert p.task.labels == ("A", "B", "tie") and p.task.text_field == "prompt"
    assert p.import_file(FIXTURE, id_column="id").with_gold == 60
    out = lq_cli("init", tmp_path / "q", "--kind", "pairwise", "--labels", "left,right")
    assert out.returncode != 0 and "labels are fixed: A, B" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_both_orders_is_refused_where_items_have_no_sides(tmp_path):
    from labelquorum.errors import AnnotatorError

    text = f"""
[project]
name = "plain"
[task]
labels = ["pos", "neg"]
{llm_annotators("http://127.0.0.1:9/v1", True)}
{LLM_POLICY}
"""
    p = lq.init_project(tmp_path / "p", config_text=text)
    with pytest.raises(AnnotatorError, match="both_orders is for pairwise tasks"):
        p.build_annotators()


def test_both_orders_reserve_and_estimate_two_calls_per_item(tmp_path):
    """The budget sees both calls: what an item may cost, and its estimate, double."""
    priced = "\nprice_input = 1.0\nprice_output = 2.0\nreask = 0\n"
    costs = {}
    for both in (False, True):
        text = config(llm_annotators("http://127.0.0.1:9/v1", both) + priced, LLM_POLICY)
        p = lq.init_project(tmp_path / str(both), config_text=text)
        p.import_file(FIXTURE, id_column="id")
        judge = p.build_annotators()["judge"]
        items = Items(["p00"], [pd.read_csv(FIXTURE).iloc[0].to_dict()], "prompt")
        costs[both] = (judge.max_cost, judge.estimate(items)[0][2], judge.reserve(items)[0])
    for single, double in zip(costs[False], costs[True]):
        assert double == pytest.approx(2 * single) and single > 0
