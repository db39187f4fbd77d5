"""A free-text project end to end: import with gold, an LLM writer and an LLM judge on the
scripted server, people, consensus by judge score, export, status; the judge's calls go
through the ledger (budget, cache, failures, a kill)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from labelquorum.project import init_project, open_project
from labelquorum.store import schema
from labelquorum.testing_server import Rule, ScriptedLlmServer

ROWS = [("q1", "What is the capital of France?", "Paris"),
        ("q2", "What is the capital of Italy?", "Rome"),
        ("q3", "What is the capital of Spain?", "Madrid"),
        ("q4", "What is the capital of Japan?", "Tokyo")]
WRITES = {"France": "Paris", "Italy": "Milan", "Spain": "Madrid", "Japan": "Kyoto"}
SCORES = {"Paris": 5, "Milan": 2, "Madrid": 4, "Kyoto": 1, "Rome": 5, "Tokyo": 5}


def value(text: str) -> str:
    return json.dumps({"value": text})


def verdict(score: int, reason: str = "Scripted.") -> str:
    return json.dumps({"score": score, "reason": reason})


def judge_rules(scores: dict[str, int] = SCORES) -> list[Rule]:
    """The judge's verdicts, matched on the answer it is shown (these come first: the
    judge's prompt holds the item's question too)."""
    return [Rule(f"Answer to score:\n{answer}\n", content=verdict(s, f"Scored {s}."))
            for answer, s in scores.items()]


def writer_rules() -> list[Rule]:
    return [Rule(country, content=value(answer)) for country, answer in WRITES.items()]


def llm(name: str, base_url: str, extra: str = "") -> str:
    return f"""
[annotators.{name}]
type = "llm"
base_url = "{base_url}"
model = "scripted-model"
price_input = 100.0
price_output = 200.0
max_retries = 1
reask = 1
breaker_failures = 1000
{extra}
"""


def config(base_url: str, *, budget: float | None = None, judge_extra: str = "",
           writer_extra: str = "") -> str:
    return f"""
[project]
name = "capitals"
seed = 3

[task]
kind = "free-text"
guidelines = "Answer the question with the city's name."
judge = "judge"
rubric = "5: the right city. 1: another city."
{llm("writer", base_url, writer_extra)}
{llm("judge", base_url, judge_extra)}
[annotators.people]
type = "human"

[policy]
type = "cascade"
{"" if budget is None else f"budget = {budget!r}"}
[[policy.tiers]]
name = "llm"
annotators = ["writer"]
min_confidence = 0.5
[[policy.tiers]]
name = "people"
annotators = ["people"]
"""


def lq(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labelquorum.cli", *map(str, args)],
                          capture_output=True, text=True, check=False)


def make(tmp_path: Path, text: str, rows=ROWS):
    project = init_project(tmp_path / "proj", config_text=text)
    df = pd.DataFrame(rows, columns=["id", "text", "gold"])
    project.import_dataframe(df, id_column="id", gold_column="gold")
    return project


def verdicts(project) -> pd.DataFrame:
    j = project.judgements()
    return j[j["annotator"] == "judge"]


def judge_requests(project) -> pd.DataFrame:
    rq = schema.requests
    with project.store.connect() as conn:
        return pd.read_sql(select(rq).where((rq.c.project_id == project.store.project_id)
                                            & (rq.c.annotator == "judge")), conn)


def judge_calls(project) -> pd.DataFrame:
    mc = schema.model_calls
    with project.store.connect() as conn:
        return pd.read_sql(select(mc).where((mc.c.project_id == project.store.project_id)
                                            & (mc.c.annotator == "judge")), conn)


def judge_asked(server) -> Counter:
    """How often the judge was asked about each answer."""
    out: Counter = Counter()
    for body in server.requests:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if "Answer to score:" in user:
            out[user.split("Answer to score:\n")[1].split("\n")[0]] += 1
    return out


def test_cli_project_end_to_end_judge_decides_people_fill_in_export_and_status(tmp_path):
    with ScriptedLlmServer(judge_rules() + writer_rules()) as server:
        text = config(server.base_url)
        root = tmp_path / "proj"
        init_project(root, config_text=text).close()
        csv = tmp_path / "questions.csv"
        pd.DataFrame(ROWS, columns=["id", "text", "gold"]).to_csv(csv, index=False)
        proc = lq("import", csv, "-p", root)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        proc = lq("run", "-p", root)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        project = open_project(root)
        out = project.to_dataframe().set_index("id")
        # accepted: the writer's answers the judge scored 4 or 5
        assert out.loc["q1", "label"] == "Paris" and out.loc["q3", "label"] == "Madrid"
        # below accept_score: sent on to people, not decided by the writer's answer
        assert out.loc[["q2", "q4"], "label"].isna().all()
        assert judge_asked(server) == Counter({"Paris": 1, "Milan": 1, "Madrid": 1,
                                               "Kyoto": 1})
        assert len(judge_calls(project)) == 4
        assert set(judge_requests(project)["state"]) == {"done"}

        project.add_judgements([{"item": "q2", "annotator": "people", "worker": "ann",
                                 "label": "Rome"},
                                {"item": "q4", "annotator": "people", "worker": "ann",
                                 "label": "Tokyo"}])
        project.close()
        proc = lq("run", "-p", root)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        # only the people's answers were judged now; the writer's were not judged again
        assert judge_asked(server) == Counter({"Paris": 1, "Milan": 1, "Madrid": 1,
                                               "Kyoto": 1, "Rome": 1, "Tokyo": 1})
        proc = lq("export", root / "out.csv", "-p", root)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        status = lq("status", "-p", root)
        assert status.returncode == 0, status.stderr
    exported = pd.read_csv(root / "out.csv").set_index("id")
    assert exported["label"].to_dict() == {"q1": "Paris", "q2": "Rome", "q3": "Madrid",
                                           "q4": "Tokyo"}
    assert exported["score"].to_dict() == {"q1": 5, "q2": 5, "q3": 4, "q4": 5}
    assert exported.loc["q3", "reason"] == "Scored 4."
    assert exported.loc["q2", "decided_by"] == "people"
    # scores against gold: all four right after normalisation; the judge's mean of 4.75
    assert ("Scores on evaluation gold: token_f1 1.0000, exact_match 1.0000, judge_mean "
            "4.7500, judged 4") in status.stdout, status.stdout
    # per annotator, a right answer is one equal to the gold after normalisation; the
    # judge's verdicts are no answers
    assert "│ writer     │ 4       │ 50.0 %" in status.stdout
    assert "judge  " not in status.stdout.split("Annotators on gold")[1]


def test_the_judge_costs_count_against_the_budget_and_nothing_is_paid_twice(tmp_path):
    with ScriptedLlmServer(judge_rules() + writer_rules()) as server:
        project = make(tmp_path, config(server.base_url))
        project.run()
        j = project.judgements()
        writer_cost = float(j.loc[j["annotator"] == "writer", "cost"].sum())
        judge_cost = float(verdicts(project)["cost"].sum())
        reserve = float(judge_requests(project)["reserved_cost"].max())
        assert judge_cost > 0 and writer_cost > 0
        n = server.count()
        project.run()  # nothing new to write or judge: no call
        assert server.count() == n
        project.close()
    # a budget that pays the four answers and one verdict's reservation and a half: the
    # first verdict goes out, the others are stopped before they are sent
    budget = writer_cost + 1.5 * reserve
    with ScriptedLlmServer(judge_rules() + writer_rules()) as server:
        project = make(tmp_path / "b", config(server.base_url, budget=budget))
        project.run()
        assert float(project.judgements()["cost"].sum()) <= budget + 1e-9
        states = judge_requests(project).set_index("item_id")["state"]
        assert (states == "done").sum() >= 1 and (states == "stopped").sum() >= 1, states
        assert sum(judge_asked(server).values()) == (states == "done").sum()
        out = project.to_dataframe().set_index("id")
        for item in states[states == "stopped"].index:  # an unjudged answer is never accepted
            assert pd.isna(out.loc[item, "label"]) and pd.isna(out.loc[item, "score"])
        project.close()


def test_a_judge_answering_garbage_leaves_no_score_and_the_item_open(tmp_path):
    rules = [Rule("Answer to score:\nParis", content='{"score": 9, "reason": "off the scale"}'),
             Rule("Answer to score:\nMilan", content="Looks fine to me!")]
    with ScriptedLlmServer(rules + judge_rules() + writer_rules()) as server:
        project = make(tmp_path, config(server.base_url))
        report = project.run()
        v = verdicts(project).set_index("item")
        assert v.loc["q1", "status"] == "failed" and v.loc["q2", "status"] == "failed"
        assert pd.isna(v.loc["q1", "label"])  # no score was made up
        assert report.failed.get("judge") == 2
        # the re-ask went out: two calls each (the first answer and one re-ask)
        assert judge_asked(server)["Paris"] == 2 and judge_asked(server)["Milan"] == 2
        out = project.to_dataframe().set_index("id")
        assert pd.isna(out.loc["q1", "label"])  # Paris is right but was not judged
        reqs = judge_requests(project).set_index("item_id")
        assert reqs.loc["q1", "state"] == "failed" and "score" in reqs.loc["q1", "error"]
        project.close()


def test_a_killed_run_resumes_and_no_verdict_is_paid_twice(tmp_path):
    rows = [(f"q{i}", f"Question {i}: name the number n{i:02d}x.", f"number {i}")
            for i in range(12)]
    rules = [Rule("Answer to score:", content=verdict(5))] + [
        Rule(f"n{i:02d}x", content=value(f"number {i}")) for i in range(12)]
    with ScriptedLlmServer(rules, latency=0.25) as server:
        text = config(server.base_url, judge_extra="concurrency = 2",
                      writer_extra="concurrency = 4")
        project = make(tmp_path, text, rows)
        project.close()
        proc = subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "run", "-p",
                                 tmp_path / "proj"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        project = open_project(tmp_path / "proj")
        deadline = time.monotonic() + 60
        while len(verdicts(project)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = set(verdicts(project)["request_key"])
        assert 3 <= len(before) < 12
        report = project.run()
        asked = judge_asked(server)
    v = verdicts(project)
    assert len(v) == 12 and v["request_key"].is_unique  # one verdict per answer
    assert report.resumed
    assert sum(asked.values()) == 12 + report.repeated_calls
    assert len(judge_calls(project)) == 12
    out = project.to_dataframe().set_index("id")
    assert out["label"].notna().all()
    project.close()


def test_simulated_and_replayed_writers_judged_best_answer_wins_report_runs(tmp_path):
    """A simulated writer answers the gold with probability p, else a corrupted copy; a
    replayed writer repeats recorded answers; the judge gives the gold 5 and anything else
    2, so the label is right wherever either writer was, and the report builds."""
    n = 40
    gold = {f"s{i}": f"answer number {i} is here" for i in range(n)}
    rows = [(k, f"Question {k}?", v) for k, v in gold.items()]
    recorded = pd.DataFrame({"item": list(gold), "annotator": "rec",
                             "label": [v if i % 2 else "no idea" for i, v in
                                       enumerate(gold.values())]})
    rules = [Rule(f"Answer to score:\n{v}\n", content=verdict(5, "Matches.")) for v in
             gold.values()] + [Rule("Answer to score:", content=verdict(2, "Wrong."))]
    with ScriptedLlmServer(rules) as server:
        text = f"""
[project]
name = "simulated-free-text"
seed = 7

[task]
kind = "free-text"
judge = "judge"
{llm("judge", server.base_url, "concurrency = 4")}
[annotators.sim]
type = "simulated"
accuracy = 0.6

[annotators.rec]
type = "replay"
path = "rec.csv"

[policy]
type = "cascade"
[[policy.tiers]]
name = "writers"
annotators = ["sim", "rec"]
min_confidence = 0.5
"""
        project = init_project(tmp_path / "proj", config_text=text)
        recorded.to_csv(tmp_path / "proj" / "rec.csv", index=False)
        df = pd.DataFrame(rows, columns=["id", "text", "gold"])
        project.import_dataframe(df, id_column="id", gold_column="gold")
        project.run()
        project.close()
        report = lq("report", "-p", tmp_path / "proj", "--out", tmp_path / "r.html",
                    "--bootstrap", "0")
        assert report.returncode == 0, report.stderr + report.stdout
    project = open_project(tmp_path / "proj")
    j = project.judgements()
    sim = j[j["annotator"] == "sim"].set_index("item")["label"]
    right = {k for k, v in sim.items() if v == gold[k]}
    assert 0.4 * n < len(right) < 0.8 * n  # p = 0.6
    wrong = sim.drop(list(right))
    assert all("or perhaps not" in v for v in wrong)  # corrupted, never the gold
    out = project.to_dataframe().set_index("id")
    rec_right = {k for i, k in enumerate(gold) if i % 2}
    for item, row in out.iterrows():
        if item in right or item in rec_right:  # one writer was right: it is the label
            assert row["label"] == gold[item] and row["score"] == 5
        else:  # both wrong: the best score is 2, below accept_score: not accepted
            assert row["confidence"] == 0.0
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'data-testid="kind-scores"' in html and "token f1" in html and "judge mean" in html
    project.close()


def test_plan_prices_a_verdict_on_every_answer_without_calls(tmp_path):
    with ScriptedLlmServer(judge_rules() + writer_rules()) as server:
        project = make(tmp_path, config(server.base_url))
        plan = project.plan()
        assert server.count() == 0
    rows = plan.rows.set_index("annotator")
    # two writers (the llm and people) on four open items: at most eight verdicts
    assert rows.loc["judge", "items"] == 8 and rows.loc["judge", "tier"] == "judge"
    assert rows.loc["judge", "cost"] == pytest.approx(8 * rows.loc["judge", "cost_per_item"])
    assert rows.loc["judge", "cost"] > 0
    project.close()


@pytest.mark.parametrize(("change", "says"), [
    (('judge = "judge"', 'judge = "nobody"'), ("names annotator 'nobody', which is not "
                                              "configured")),
    (('judge = "judge"', 'judge = "people"'), ("names annotator 'people' of type 'human'; "
                                              "the judge must be an \"llm\" annotator")),
    (('annotators = ["writer"]', 'annotators = ["writer", "judge"]'),
     "is the judge ([task] judge) and also one of the policy's annotators"),
])
def test_a_misnamed_judge_is_a_clear_error_before_any_call(tmp_path, change, says):
    with ScriptedLlmServer(judge_rules() + writer_rules()) as server:
        text = config(server.base_url)
        assert change[0] in text
        make(tmp_path, text.replace(change[0], change[1])).close()
        proc = lq("run", "-p", tmp_path / "proj")
        assert server.count() == 0
    assert proc.returncode != 0
    assert says in proc.stderr + proc.stdout, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_an_answer_the_judge_failed_on_is_judged_again_by_the_next_run(tmp_path):
    rules = [Rule("Answer to score:\nParis", content="no verdict today", times=2,
                  answer={"score": 5, "reason": "Right."}),
             Rule("Answer to score:\nLyon", content=verdict(1))]
    with ScriptedLlmServer(rules + judge_rules() + writer_rules()) as server:
        project = make(tmp_path, config(server.base_url))
        project.run()
        assert pd.isna(project.to_dataframe().set_index("id").loc["q1", "label"])
        project.run()  # the scripted garbage is used up: the verdict comes
        assert judge_asked(server)["Paris"] == 3  # two in the first run (a re-ask), one now
        assert judge_requests(project).set_index("item_id").loc["q1", "state"] == "done"
        # the item had gone on to people; a worse answer of theirs does not beat the
        # writer's, now judged 5
        project.add_judgements([{"item": "q1", "annotator": "people", "worker": "ann",
                                 "label": "Lyon"}])
        project.run()
        out = project.to_dataframe().set_index("id")
        assert out.loc["q1", "label"] == "Paris" and out.loc["q1", "score"] == 5
        project.close()


def test_on_postgresql_the_judge_writes_through_the_same_ledger(tmp_path, postgres_db_url):
    with ScriptedLlmServer(judge_rules() + writer_rules()) as server:
        text = config(server.base_url).replace(
            "[task]", f'[store]\nurl = "{postgres_db_url}"\n\n[task]', 1)
        project = make(tmp_path, text)
        project.run()
        project.run()  # nothing to judge again
        assert judge_asked(server) == Counter({"Paris": 1, "Milan": 1, "Madrid": 1,
                                               "Kyoto": 1})
        out = project.to_dataframe().set_index("id")
        assert out.loc["q1", "label"] == "Paris" and out.loc["q1", "score"] == 5
        assert set(judge_requests(project)["state"]) == {"done"}
        assert len(judge_calls(project)) == 4
        project.close()


def test_label_studio_export_puts_judge_scores_on_answers_and_round_trips(tmp_path):
    with ScriptedLlmServer(judge_rules() + writer_rules()) as server:
        project = make(tmp_path, config(server.base_url))
        project.run()
        project.export(tmp_path / "ls.json", format="labelstudio")
        tasks = {t["data"]["id"]: t for t in json.loads((tmp_path / "ls.json").read_text())}
        preds = tasks["q2"]["predictions"]
        # one prediction, the writer's, with the judge's verdict on it (no "2" answer)
        assert [p["model_version"] for p in preds] == ["writer"]
        assert preds[0]["result"][0]["value"]["text"] == ["Milan"]
        assert (preds[0]["judge_score"], preds[0]["judge_reason"]) == (2, "Scored 2.")
        project.export(tmp_path / "long.csv", judgements=True)
        long = pd.read_csv(tmp_path / "long.csv")
        assert set(long["worker"]) == {"writer"}  # the verdicts are no answers
        final = tasks["q1"]["annotations"][0]
        assert final["result"][0]["value"]["text"] == ["Paris"]
        again = init_project(tmp_path / "again", config_text=config(server.base_url))
        again.import_file(tmp_path / "ls.json")
        j = again.judgements()
        assert sorted(zip(j["item"], j["annotator"], j["label"])) == [
            ("q1", "writer", "Paris"), ("q2", "writer", "Milan"), ("q3", "writer", "Madrid"),
            ("q4", "writer", "Kyoto")]
        project.close()
        again.close()
