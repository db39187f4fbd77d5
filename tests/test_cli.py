"""The command line, end to end in real subprocesses: init, import, run, status, export."""

import json
import subprocess
import sys

import pandas as pd
import pytest


def lq(*args, cwd=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "labelquorum.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"labelquorum {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def items_csv(tmp_path):
    good = ["a good film", "good acting", "a great story", "good fun", "great cast"]
    bad = ["a bad film", "bad acting", "an awful story", "bad fun", "awful cast"]
    rows = [(f"g{i}", t, "positive") for i, t in enumerate(good)]
    rows += [(f"b{i}", t, "negative") for i, t in enumerate(bad)]
    rows += [(f"x{i}", f"a film number {i}", "") for i in range(3)]
    path = tmp_path / "items.csv"
    pd.DataFrame(rows, columns=["id", "text", "gold"]).to_csv(path, index=False)
    return path


def test_tour_init_import_run_status_export(tmp_path, items_csv):
    lq("init", tmp_path / "proj", "--labels", "negative,positive")
    config = tmp_path / "proj" / "labelquorum.toml"
    text = config.read_text().replace('[annotators.tfidf]\ntype = "tfidf"', """
[annotators.kw]
type = "rules"
rules = [{ label = "positive", keywords = ["good", "great"] },
         { label = "negative", keywords = ["bad", "awful"] }]
""").replace('annotators = ["tfidf"]', 'annotators = ["kw"]')
    config.write_text(text)
    out = lq("import", items_csv, "--id-column", "id", cwd=tmp_path / "proj")
    assert "Imported 13 items (10 with gold: evaluation 10)" in out.stdout
    out = lq("run", "--project", tmp_path / "proj")
    assert "10 items labelled for good, 0 open" in out.stdout
    assert "3 items closed without a label" in out.stdout
    out = lq("status", "-p", tmp_path / "proj")
    assert "Accuracy on evaluation gold: 100.00 % (10 items)" in out.stdout
    assert "kw" in out.stdout
    for suffix in ("csv", "jsonl", "parquet"):
        lq("export", tmp_path / f"labels.{suffix}", "-p", tmp_path / "proj")
    csv = pd.read_csv(tmp_path / "labels.csv")
    assert list(csv.columns) == ["id", "label", "confidence", "decided_by", "tier", "flags",
                                 "annotators", "cost", "simulated", "gold", "gold_role",
                                 "language", "text"]  # then the item's fields
    assert len(csv) == 13
    by_id = csv.set_index("id")
    assert by_id.loc["g0", "label"] == "positive"
    assert by_id.loc["x0", "flags"] == "unlabelled" and pd.isna(by_id.loc["x0", "label"])
    first = json.loads((tmp_path / "labels.jsonl").read_text().splitlines()[0])
    assert first["id"] == "g0" and first["decided_by"] == "kw"
    assert len(pd.read_parquet(tmp_path / "labels.parquet")) == 13


def test_outside_a_project_the_error_says_what_to_do(tmp_path):
    proc = lq("status", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "not a labelquorum project" in proc.stderr and "labelquorum init" in proc.stderr


def test_config_error_stops_before_any_work(tmp_path, items_csv):
    lq("init", tmp_path / "proj", "--labels", "negative,positive")
    config = tmp_path / "proj" / "labelquorum.toml"
    config.write_text(config.read_text().replace('annotators = ["tfidf"]',
                                                 'annotators = ["tfidf", "gpt"]'))
    proc = lq("import", items_csv, "-p", tmp_path / "proj", check=False)
    assert proc.returncode == 1
    assert "policy.tiers[0].annotators" in proc.stderr and "'gpt'" in proc.stderr
    assert "Imported" not in proc.stdout


def test_export_to_unknown_format_is_refused(tmp_path, items_csv):
    lq("init", tmp_path / "proj", "--labels", "negative,positive")
    proc = lq("export", tmp_path / "labels.xlsx", "-p", tmp_path / "proj", check=False)
    assert proc.returncode == 1 and "use a .csv, .jsonl, .parquet" in proc.stderr


@pytest.mark.slow
def test_demo_labels_sst2_offline_and_leaves_a_project(tmp_path):
    out = lq("demo", "--dir", tmp_path / "demo")
    assert "Imported 2,000 SST-2 sentences" in out.stdout
    assert "Accuracy on evaluation gold:" in out.stdout
    accuracy = float(out.stdout.split("Accuracy on evaluation gold:")[1].split("%")[0])
    assert accuracy > 85.0
    assert "simulated" in out.stdout and "Total cost: $" in out.stdout
    status = lq("status", "-p", tmp_path / "demo")
    assert "2,000 items decided" in status.stdout or "of 2,000 items decided" in status.stdout


# -- the exit code of run: 0 for a clean run, 3 when items were left failed ------------------
ASKED = [(f"u{n}", f"an uneven film, take {n}") for n in range(4)]


def run_cli(project):
    from typer.testing import CliRunner

    from labelquorum.cli import app

    project.close()
    return CliRunner().invoke(app, ["run", "-p", str(project.path)])


def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more


def test_run_exits_3_when_a_server_fails_every_call(tmp_path):
    from llm_fixtures import llm_project

    from labelquorum.testing_server import Rule, ScriptedLlmServer

    with ScriptedLlmServer([Rule("film", fault="500")]) as server:
        result = run_cli(llm_project(tmp_path, server.base_url, ASKED, llm="max_retries = 0"))
    assert result.exit_code == 3, result.output
    said = " ".join(result.stderr.split())
    assert "4 items could not be labelled" in said and "llm 4" in said
    assert "asks them again" in said


def test_run_exits_3_when_nothing_listens_at_the_endpoint(tmp_path):
    from llm_fixtures import llm_project

    proc = lq("run", "-p", llm_project(tmp_path, closed_port_url(), ASKED,
                                       llm="max_retries = 0").path, check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "4 items could not be labelled" in " ".join(proc.stderr.split())


def test_run_exits_0_when_it_waits_on_people_or_the_budget_stops_it(tmp_path):
    import labelquorum as lq_

    config = """
[project]
name = "people"
[task]
labels = ["neg", "pos"]
[annotators.people]
type = "human"
cost_per_call = 1.0
[policy]
type = "cascade"
budget = 2.0
[[policy.tiers]]
annotators = ["people"]
"""
    project = lq_.init_project(tmp_path / "p", config_text=config)
    project.import_dataframe(pd.DataFrame({"text": [f"text {n}" for n in range(4)]}))
    result = run_cli(project)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Waiting on 2 human tasks" in said and "Budget reached: 2 items" in said
