"""``labelquorum report``: the JSON against its schema and against the project's own records,
each computed section against the library function it stands for, and the page's text."""

import json
import re
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from report_fixtures import (
    PEOPLE,
    add_web_records,
    classification_project,
    llm_rules,
    spans_project,
)

import labelquorum as lq
from labelquorum.agreement import fleiss_kappa, krippendorff_alpha
from labelquorum.cli import app
from labelquorum.errors import QualityError
from labelquorum.quality import RUBRIC_SCHEMA, RecordFacts, build_report, fill_rubric, theta_table
from labelquorum.testing_server import ScriptedLlmServer

REPORT_PAGE = (Path(__file__).parents[2] / "docs" / "how-to" / "report.md").read_text()
jsonschema.Draft202012Validator.check_schema(RUBRIC_SCHEMA)  # the schema itself is valid
VALIDATOR = jsonschema.Draft202012Validator(RUBRIC_SCHEMA)
LEAKS = re.compile(r"\bNone\b|\bnan\b|\bNaN\b|<built-in|\{\{|\}\}|\bInfinity\b")


@pytest.fixture(scope="module")
def server():
    with ScriptedLlmServer(llm_rules()) as s:
        yield s


@pytest.fixture(scope="module")
def project(tmp_path_factory, server):
    p = classification_project(tmp_path_factory.mktemp("report") / "proj", server.base_url)
    add_web_records(p)
    yield p
    p.close()


@pytest.fixture(scope="module")
def report(project):
    return build_report(project, n_boot=200)


def options(rubric, group):
    return {o["id"]: o for o in rubric["groups"][group]["options"]}


def strict_json(text):
    def refuse(name):
        raise AssertionError(f"the JSON holds {name}, which is not JSON")
    return json.loads(text, parse_constant=refuse)


# -- the rubric ------------------------------------------------------------------------
def test_rubric_validates_against_the_datarubrics_schema(report):
    data = strict_json(report.to_json())
    VALIDATOR.validate(data["rubric"])
    assert list(data["rubric"]["groups"]) == [
        "sources", "annotations", "quality_assurance", "novelty", "task_utility",
        "language_coverage", "reproducibility"]


def test_the_schema_refuses_a_selected_option_without_evidence(report):
    bad = json.loads(report.to_json())["rubric"]
    opt = bad["groups"]["annotations"]["options"][4]  # ai_model, selected from the records
    assert opt["selected"] and opt["evidence"]
    opt["evidence"] = []
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(bad)
    bad = json.loads(report.to_json())["rubric"]
    novelty = bad["groups"]["novelty"]["options"][0]
    novelty["selected"] = True  # an unanswered option claimed without anyone judging it
    novelty["evidence"] = [{"record": "items", "detail": "made up", "count": 1}]
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(bad)


def test_annotator_mix_and_its_evidence_come_from_the_judgement_table(project, report):
    rubric = report.data["rubric"]
    ann = options(rubric, "annotations")
    j = project.judgements()
    ok = j[j["status"] == "ok"]
    # three real people answered; no record states expertise: non-experts
    assert ann["multiple_human_non_experts"]["selected"]
    assert not ann["single_human_non_expert"]["selected"]
    assert not ann["multiple_human_experts"]["selected"]
    people = ok[(ok["annotator_kind"] == "human")]
    detail = ann["multiple_human_non_experts"]["evidence"][0]
    assert detail["count"] == len(people)
    assert all(name in detail["detail"] for name in PEOPLE)
    # llm and tfidf are AI models; the simulated model is an automatic process, not an AI
    ai = {e["detail"].split(" of kind ")[1].split(" ")[0]: e["count"]
          for e in ann["ai_model"]["evidence"]}
    assert ai == {"llm": int((ok["annotator_name"] == "llm").sum()),
                  "model": int((ok["annotator_name"] == "tfidf").sum())}
    auto = " ".join(e["detail"] for e in ann["automatic_process"]["evidence"])
    assert "rules from kw" in auto and "simulated judgements from sim" in auto
    # guidelines, label descriptions and few-shot examples are in the config
    assert ann["has_instructions"]["selected"] and ann["has_rubrics"]["selected"]
    assert ann["has_examples"]["selected"] and not ann["no_guidelines"]["selected"]


def test_quality_assurance_points_at_reviews_golden_answers_overlap_and_agreement(report):
    qa = options(report.data["rubric"], "quality_assurance")
    assert qa["qa_multiple_human_non_experts"]["selected"]  # two reviewers
    assert qa["review"]["evidence"][0] == {
        "record": "reviews", "detail": "3 labels decided by reviewers (rev1, rev2)", "count": 3}
    gold = {e["record"]: e["count"] for e in qa["golden_questions"]["evidence"]
            if e["record"] == "assignments"}
    assert gold == {"assignments": 1}
    assert qa["overlap"]["selected"] and qa["agreement_computed"]["selected"]
    assert qa["qa_ai_model"]["selected"]  # the web judge's score
    assert not qa["no_qa"]["selected"]
    alpha = report.data["agreement"]["overall"]["krippendorff_alpha"]["estimate"]
    assert f"{alpha:.3f}" in qa["agreement_computed"]["evidence"][0]["detail"]


def test_what_the_records_cannot_tell_stays_unanswered(report):
    rubric = report.data["rubric"]
    for group in ("novelty", "task_utility"):
        assert rubric["groups"][group]["status"] == "unanswered"
        assert all(o["judged_by"] == "unanswered" and not o["selected"]
                   for o in rubric["groups"][group]["options"])
    src = options(rubric, "sources")
    assert src["text"]["selected"] and src["human_generated"]["judged_by"] == "unanswered"
    lang = options(rubric, "language_coverage")
    assert lang["monolingual_english"]["selected"]
    assert lang["code"]["judged_by"] == "unanswered"


@settings(max_examples=120, deadline=None)
@given(people=st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True),
       kinds=st.dictionaries(st.sampled_from(["llm", "model", "rules", "replay", "human"]),
                             st.integers(0, 50)),
       reviews=st.integers(0, 3), guide=st.integers(0, 40), described=st.integers(0, 3),
       languages=st.one_of(st.none(), st.dictionaries(
           st.sampled_from(["en", "fr", "de", "mr", "hi"]), st.integers(0, 200))),
       agreement=st.one_of(st.none(), st.floats(-1, 1)), runs=st.integers(0, 3),
       overlap=st.integers(0, 30))
def test_any_records_fill_a_valid_card(people, kinds, reviews, guide, described, languages,
                                       agreement, runs, overlap):
    facts = RecordFacts(
        items=100, sources=["a.csv"], people=people, kind_counts=kinds,
        kind_annotators={k: [k + "1"] for k in kinds}, reviews=reviews,
        reviewers=["r1", "r2"][:min(reviews, 2)], guidelines_chars=guide, labels=3,
        described_labels=described, languages=languages,
        languages_note="py3langid is missing", agreement=agreement, runs=runs,
        overlap_items=overlap, mean_annotators=1.5, config_hash="abc", version="0.1.0")
    rubric = fill_rubric(facts)
    VALIDATOR.validate(rubric)
    for group, na in (("annotations", "no_guidelines"), ("quality_assurance", "no_qa")):
        opts = options(rubric, group)
        rest = [o for k, o in opts.items() if k != na and o["origin"] == "DataRubrics"
                and o["selected"]]
        if group == "annotations":  # N/A speaks of guidelines only
            rest = [o for o in rest if o["id"].startswith("has_")]
        assert opts[na]["selected"] != bool(rest), (group, opts[na], rest)
    lang = options(rubric, "language_coverage")
    chosen = [k for k in ("multilingual", "bilingual", "monolingual_english",
                          "monolingual_non_english") if lang[k]["selected"]]
    assert len(chosen) <= 1


# -- computed sections against the functions they stand for ------------------------------
def test_evaluation_matches_status_and_the_confusion_matrix_adds_up(project, report):
    ev = report.data["evaluation"]
    status = project.status()
    assert ev["accuracy"] == pytest.approx(status.evaluation_accuracy)
    matrix = ev["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == ev["n"] == status.evaluation_items
    assert sum(matrix[i][i] for i in range(2)) / ev["n"] == pytest.approx(ev["accuracy"])
    support = {c["label"]: c["support"] for c in ev["per_class"]}
    assert support == {"negative": sum(matrix[0]), "positive": sum(matrix[1])}
    assert ev["macro_f1"] == pytest.approx(sum(c["f1"] for c in ev["per_class"]) / 2)


def test_agreement_is_krippendorff_and_fleiss_on_the_latest_answers(project, report):
    ag = report.data["agreement"]
    j = project.judgements()
    ok = j[(j["status"] == "ok")].drop_duplicates(["item", "annotator"], keep="last")
    shared = ok.groupby("item")["annotator"].nunique().loc[lambda s: s >= 2].index
    table = ok[ok["item"].isin(shared)][["item", "annotator", "label"]]
    alpha = ag["overall"]["krippendorff_alpha"]
    assert alpha["estimate"] == pytest.approx(krippendorff_alpha(table))
    assert alpha["low"] <= alpha["estimate"] <= alpha["high"]
    assert ag["overall"]["fleiss_kappa"]["estimate"] == pytest.approx(fleiss_kappa(table))
    # two labels: one against the rest is the same split, so per-label alpha is alpha
    assert {p["label"] for p in ag["per_label"]} == {"negative", "positive"}
    assert ag["per_label"][0]["estimate"] == pytest.approx(alpha["estimate"])


def test_annotator_rows_carry_theta_from_the_golden_answers(project, report):
    rows = {r["annotator"]: r for r in report.data["annotators"]["rows"]}
    assert {"people:alice", "people:bob", "people:carol", "llm", "tfidf", "kw", "sim",
            "people:dora"} <= set(rows)
    j = project.judgements()
    gold = {k: v for k, v in project.gold_labels(["control", "evaluation"]).items()}
    ok = j[(j["status"] == "ok")].drop_duplicates(["item", "annotator"], keep="last")
    expected = theta_table(ok[ok["item"].isin(gold)], gold, n_labels=2)
    for who in ("people:alice", "llm", "tfidf"):
        assert rows[who]["theta"] == pytest.approx(expected.loc[who, "theta"])
        assert rows[who]["gold_answers"] == expected.loc[who, "n"]
    assert rows["people:alice"]["accuracy"] == 1.0  # alice is always right
    assert rows["sim"]["simulated"] and not rows["llm"]["simulated"]
    assert rows["people:dora"]["gold_answers"] == 1  # her golden question in the web app
    llm_bins = rows["llm"]["reliability"]
    assert sum(b["answers"] for b in llm_bins) == rows["llm"]["gold_answers"]


def test_tiers_simulated_and_alt_test(project, report):
    tiers = report.data["tiers"]["rows"]
    assert sum(t["share"] for t in tiers) == pytest.approx(1.0)
    people = next(t for t in tiers if t["tier"] == "people")
    # control gold is decided by its gold; its cost is the golden probes the LLM answered
    gold = next(t for t in tiers if t["tier"] == "gold")
    assert gold["cost"] > 0
    assert people["cost"] + gold["cost"] == pytest.approx(project.status().total_cost)
    sim = report.data["simulated"]
    # the 16 evaluation items and one golden probe (control_rate 0.05 of 16, rounded up);
    # the 8 control items are no longer asked as real work
    assert sim["annotators"] == [{"annotator": "sim", "stands_for": "model",
                                  "judgements": 17}]
    alt = report.data["alt_test"]
    assert alt["people"] == ["people:alice", "people:bob", "people:carol"]
    result = alt["results"][0]
    assert result["llm"] == "llm" and result["status"] == "computed"
    assert result["verdict"].startswith("The LLM 'llm'")


def test_label_issues_list_the_flipped_seed_labels(tmp_path):
    pytest.importorskip("cleanlab")
    config = """
[project]
name = "issues"
[task]
labels = ["negative", "positive"]
[annotators.tfidf]
type = "tfidf"
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["tfidf"]
"""
    words = {"positive": ["great", "lovely", "superb", "fine"],
             "negative": ["awful", "dull", "poor", "bad"]}
    rows = []
    for i in range(80):
        label = ["negative", "positive"][i % 2]
        text = f"{words[label][i % 4]} {words[label][(i + 1) % 4]} film {i}"
        given_label = label if i not in (4, 9, 30) else ("negative" if label == "positive"
                                                          else "positive")
        rows.append((f"s{i}", text, given_label))
    project = lq.init_project(tmp_path / "p", config_text=config)
    project.import_dataframe(pd.DataFrame(rows, columns=["id", "text", "gold"]),
                             id_column="id", gold_role="seed")
    issues = build_report(project, n_boot=0).data["label_issues"]
    project.close()
    assert issues["status"] == "computed" and issues["checked"] == 80
    flagged = {q["item"] for q in issues["queue"]}
    assert {"s4", "s9", "s30"} <= flagged
    assert issues["flagged"] == len(issues["queue"])


def test_spans_report_scores_entities(tmp_path):
    project = spans_project(tmp_path / "ner")
    data = build_report(project, n_boot=50).data
    status = project.status()
    ev = data["evaluation"]
    assert ev["metric"] == "entity"
    assert ev["micro_f1"] == pytest.approx(status.evaluation_f1)
    assert "confusion" not in ev
    per = {c["label"]: c for c in ev["per_class"]}
    assert per["LOC"]["support"] == 8
    assert data["labels"]["unit"] == "entities"
    assert data["label_issues"]["status"] == "skipped"
    VALIDATOR.validate(data["rubric"])
    assert not LEAKS.search(build_report(project, n_boot=0).html())
    project.close()


@pytest.mark.postgres
def test_the_report_reads_a_postgresql_store(tmp_path, postgres_db_url):
    project = spans_project(tmp_path / "ner-pg", url=postgres_db_url)
    data = strict_json(build_report(project, n_boot=20, label_issues=False).to_json())
    assert data["evaluation"]["micro_f1"] == pytest.approx(project.status().evaluation_f1)
    assert data["languages"]["checked"] == 8
    assert data["provenance"]["judgements_by_status"]["ok"] > 0
    VALIDATOR.validate(data["rubric"])
    project.close()


def test_an_empty_project_says_why_each_section_is_missing(tmp_path):
    project = lq.init_project(tmp_path / "empty", labels=["a", "b"])
    result = build_report(project)
    data = strict_json(result.to_json())
    for name in ("labels", "evaluation", "agreement", "annotators", "tiers", "alt_test",
                 "label_issues", "languages"):
        assert data[name]["status"] == "skipped", name
        assert data[name]["reason"].endswith("."), name
    VALIDATOR.validate(data["rubric"])
    qa = options(data["rubric"], "quality_assurance")
    assert qa["no_qa"]["selected"]
    assert not LEAKS.search(result.html())
    project.close()


def test_the_page_leaks_no_template_or_python_values(report):
    page = report.html()
    assert not LEAKS.search(page), LEAKS.search(page)
    for sid in ("rubric", "labels", "evaluation", "agreement", "annotators", "tiers",
                "label_issues", "alt_test", "languages", "provenance", "simulated"):
        assert f'data-section="{sid}"' in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") >= 6


def test_text_from_the_data_is_escaped(tmp_path):
    project = lq.init_project(tmp_path / "x", labels=["<b>bold</b>", "plain"])
    page = build_report(project).html()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    project.close()


# -- the command -------------------------------------------------------------------------
def test_cli_writes_the_page_and_the_json(project, tmp_path):
    out = tmp_path / "site" / "card.html"
    result = CliRunner().invoke(app, ["report", "-p", str(project.path), "--out", str(out),
                                      "--bootstrap", "50", "--no-label-issues"])
    assert result.exit_code == 0, result.output
    data = strict_json((tmp_path / "site" / "card.json").read_text())
    assert data["label_issues"]["reason"].startswith("Skipped on request")
    assert data["agreement"]["n_boot"] == 50
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert "rubric groups answered in full" in result.output


@pytest.mark.parametrize("args, message", [
    (["--judge", "people"], "not an llm annotator of this project; choose one of: llm"),
    (["--bootstrap", "-1"], "bootstrap resamples must be a whole number"),
])
def test_cli_bad_options_get_a_sentence_not_a_traceback(project, tmp_path, args, message):
    result = CliRunner().invoke(app, ["report", "-p", str(project.path), "--out",
                                      str(tmp_path / "r.html"), *args])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_cli_refuses_a_directory_as_the_page(project, tmp_path):
    result = CliRunner().invoke(app, ["report", "-p", str(project.path), "--out",
                                      str(tmp_path), "--bootstrap", "0", "--no-label-issues"])
    assert result.exit_code == 1
    assert "is a directory; give a file name" in " ".join(result.output.split())


def test_library_refuses_a_judge_that_is_not_an_llm(project):
    with pytest.raises(QualityError, match="choose one of: llm"):
        build_report(project, judge="tfidf")


def test_the_docs_page_documents_the_command_and_every_option():
    for option in ("--out", "--json", "--judge", "--bootstrap", "--seed",
                   "--no-label-issues", "--project"):
        assert option in REPORT_PAGE, option
    assert "](../img/report.png)" in REPORT_PAGE
