"""A rating project end to end: import with gold, simulated, replayed and LLM raters,
consensus (median, mean, bias-corrected), status and report scores, export; and the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.errors import ConfigError, ImportDataError
from labelquorum.testing_server import Rule, ScriptedLlmServer

FIXTURE = Path(__file__).parent.parent / "fixtures" / "ratings_reviews.csv"
POINTS = ["awful", "poor", "fair", "good", "excellent"]
LIKERT = """
[project]
name = "reviews"
seed = 3
[task]
kind = "rating"
labels = ["awful", "poor", "fair", "good", "excellent"]
guidelines = "How good is the product, going by the review?"
"""
NUMERIC = """
[project]
name = "scores"
seed = 3
[task]
kind = "rating"
[task.rating]
min = 0
max = 100
step = 5
{extra}
"""
RATERS = """
[annotators.fair]
type = "simulated"
noise = 0.4
[annotators.lenient]
type = "simulated"
noise = 0.4
bias = 1.0
[annotators.harsh]
type = "simulated"
noise = 0.4
bias = -1.0
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["fair", "lenient", "harsh"]
"""


def likert_project(root, annotators=RATERS, task_extra=""):
    return lq.init_project(root, config_text=LIKERT + task_extra + annotators)


def test_import_gold_by_point_name_or_number(tmp_path):
    project = likert_project(tmp_path / "p")
    result = project.import_file(FIXTURE, id_column="id")
    assert (result.items, result.with_gold) == (40, 40)
    gold = project.gold_labels()
    assert gold["r00"] == 1.0 and gold["r03"] == 4.0  # "awful", "good": the points' numbers
    other = tmp_path / "numbers.csv"
    pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "gold": ["4", "Excellent"]}).to_csv(
        other, index=False)
    again = likert_project(tmp_path / "q")
    again.import_file(other, id_column="id")
    assert again.gold_labels() == {"a": 4.0, "b": 5.0}


@pytest.mark.parametrize("gold, message", [
    ("superb", "row 2, field 'gold'.*'superb' is not a point of the scale.*1 = awful"),
    ("6", "row 2, field 'gold'.*not a point of the scale"),
])
def test_gold_off_the_scale_names_row_and_field(tmp_path, gold, message):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "gold": ["good", gold]}).to_csv(
        path, index=False)
    project = likert_project(tmp_path / "p")
    with pytest.raises(ImportDataError, match=message):
        project.import_file(path, id_column="id")
    assert project.status().items == 0  # all or nothing


@pytest.mark.parametrize("task, message", [
    ('[task]\nkind = "rating"\n', "needs its scale"),
    ('[task]\nkind = "rating"\nlabels = ["a", "b"]\n[task.rating]\nmin = 0\nmax = 1\n',
     "not both"),
    ('[task]\nkind = "rating"\n[task.rating]\nmin = 5\nmax = 1\n', "min < max"),
    ('[task]\nlabels = ["a", "b"]\n[task.rating]\nconsensus = "mean"\n',
     'applies to kind = "rating" only'),
    ('[task]\nkind = "rating"\nlabels = ["a", "b"]\n[task.rating]\nstep = 2\n',
     "numeric scale"),
    (('[task]\nkind = "rating"\nlabels = ["a", "b"]\n[annotators.x]\ntype = "simulated"\n'
     'accuracy = 0.9\nbias = 1\n'), "'bias' needs 'noise'"),
])
def test_config_mistakes_are_named(tmp_path, task, message):
    text = "[project]\nname = \"x\"\n" + task + "[annotators.r]\ntype = \"simulated\"\nnoise = 1\n" \
        if "[annotators" not in task else "[project]\nname = \"x\"\n" + task
    with pytest.raises(ConfigError, match=message):
        lq.init_project(tmp_path / "p", config_text=text)


def decided(project):
    out = project.to_dataframe().set_index("id")
    return out


def test_biased_simulated_raters_median_consensus_status_and_export(tmp_path):
    project = likert_project(tmp_path / "p")
    project.import_file(FIXTURE, id_column="id")
    report = project.run()
    assert report.open == 0 and report.decided_now == 40
    out = decided(project)
    assert set(out["label"]) <= set(POINTS)  # the point's name...
    assert out["rating"].between(1, 5).all()  # ...and its number
    assert (out["label"] == out["rating"].map(lambda r: POINTS[int(r) - 1])).all()
    j = project.judgements()
    assert set(j["value_type"]) == {"rating"}
    lenient = j[j["annotator"] == "lenient"].set_index("item")["value"].astype(float)
    harsh = j[j["annotator"] == "harsh"].set_index("item")["value"].astype(float)
    assert (lenient - harsh).mean() > 1.0  # the biases show
    # the median of a lenient, a fair and a harsh rater is near the truth
    gold = out["gold"].map(POINTS.index) + 1
    assert (out["rating"] - gold).abs().mean() < 0.5
    status = project.status()
    assert status.evaluation_items == 40
    scores = status.evaluation_scores
    assert scores["mae"] == pytest.approx((out["rating"] - gold).abs().mean())
    assert scores["exact"] == pytest.approx(((out["rating"] - gold).abs() < 0.5).mean())
    assert scores["within_one"] >= scores["exact"] and scores["spearman"] > 0.8
    # a second run asks nobody again
    again = project.run()
    assert again.decided_now == 0 and not again.asked


def _replay_biased(root: Path) -> tuple[Path, pd.Series]:
    """Recorded 0-100 scores of three raters, each on two thirds of the items: 'high'
    rates 15 above the truth, 'low' 15 below, 'true' on the mark (then clipped)."""
    items = pd.read_csv(FIXTURE)
    truth = items.set_index("id")["score"]
    rows = []
    for k, (item, score) in enumerate(truth.items()):
        for name, offset, skip in (("high", 15, 0), ("true", 0, 1), ("low", -15, 2)):
            if k % 3 != skip:
                rows.append((item, name, int(np.clip(score + offset, 0, 100))))
    root.mkdir(parents=True)
    path = root / "recorded.csv"
    pd.DataFrame(rows, columns=["item", "annotator", "label"]).to_csv(path, index=False)
    return path, truth


REPLAY = """
[annotators.high]
type = "replay"
path = "recorded.csv"
annotator = "high"
[annotators.true]
type = "replay"
path = "recorded.csv"
annotator = "true"
[annotators.low]
type = "replay"
path = "recorded.csv"
annotator = "low"
[policy]
type = "cascade"
aggregator = "majority"
[[policy.tiers]]
annotators = ["high", "true", "low"]
"""


def test_bias_corrected_consensus_beats_the_mean_on_replayed_biased_raters(tmp_path):
    errors = {}
    for consensus in ("mean", "bias-corrected"):
        root = tmp_path / consensus
        _, truth = _replay_biased(root)
        items = pd.read_csv(FIXTURE)[["id", "text"]]
        project = lq.init_project(root, config_text=NUMERIC.format(
            extra=f'consensus = "{consensus}"') + REPLAY)
        project.import_dataframe(items, id_column="id")
        assert project.run().open == 0
        out = decided(project)
        errors[consensus] = (out["rating"] - truth.loc[out.index]).abs().mean()
    assert errors["mean"] > 4  # two of three raters on each item, one of them off by 15
    assert errors["bias-corrected"] < 0.6 * errors["mean"]  # 2.6 against 5.1 (some clipped)


def test_llm_rates_under_a_json_schema_and_is_reasked_off_the_scale(tmp_path):
    rules = [Rule("kettle", "good"),
             Rule("lamp", "poor", content='{"rating": "superb", "reason": null}', times=1)]
    with ScriptedLlmServer(rules, default="fair") as server:
        annotators = f"""
[annotators.llm]
type = "llm"
base_url = "{server.base_url}"
model = "scripted"
api_key_env = ""
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["llm"]
"""
        project = likert_project(tmp_path / "p", annotators)
        items = pd.read_csv(FIXTURE).head(10)
        project.import_dataframe(items, id_column="id")
        report = project.run()
        assert report.open == 0
        first = server.requests[0]
        schema = first["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["rating"]["enum"] == POINTS
        system = first["messages"][0]["content"]
        assert "1. awful" in system and "5. excellent" in system
        reasks = [r for r in server.requests if len(r["messages"]) > 2 and
                  "not on the scale" in str(r["messages"][-1]["content"])]
        assert len(reasks) == 1
    out = decided(project)
    assert out.loc["r00", "label"] == "good" and out.loc["r00", "rating"] == 4  # a kettle
    said = items.set_index("id")["text"].map(
        lambda t: "good" if "kettle" in t else "poor" if "lamp" in t else "fair")
    assert (out["label"] == said.loc[out.index]).all()  # the lamps after their re-ask
    j = project.judgements()
    assert set(j["value_type"]) == {"rating"} and set(j["status"]) == {"ok"}


def lq_cli(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "labelquorum.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, check=False)
    assert proc.returncode == 0, f"labelquorum {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_cli_numeric_rating_project(tmp_path):
    root = tmp_path / "scores"
    root.mkdir()
    (root / "labelquorum.toml").write_text(NUMERIC.format(extra="") + """
[annotators.a]
type = "simulated"
noise = 4
[annotators.b]
type = "simulated"
noise = 4
bias = 5
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["a", "b"]
""")
    items = pd.read_csv(FIXTURE).rename(columns={"gold": "point", "score": "gold"})
    items.to_csv(tmp_path / "items.csv", index=False)
    lq_cli("import", tmp_path / "items.csv", "--project", root, "--id-column", "id")
    lq_cli("run", "--project", root)
    status = lq_cli("status", "--project", root).stdout
    assert "40 of 40 items decided" in status
    assert "MAE" in status and "Spearman" in status
    lq_cli("export", tmp_path / "out.jsonl", "--project", root)
    out = pd.read_json(tmp_path / "out.jsonl", lines=True, dtype=False).set_index("id")
    assert out["rating"].between(0, 100).all()
    assert ((out["rating"] - items.set_index("id")["gold"]).abs() <= 15).mean() > 0.9
    lq_cli("report", "--project", root, "--out", tmp_path / "report.html", "--bootstrap", 50)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["agreement"]["alpha_level"] == "interval"  # Krippendorff's alpha on numbers
    assert data["agreement"]["overall"]["krippendorff_alpha"]["estimate"] > 0.8
    rating = data["evaluation"]["rating"]
    assert rating["n"] == 40 and rating["mae"] < 10 and rating["spearman"] > 0.9
    html = (tmp_path / "report.html").read_text()
    assert "MAE" in html and "Spearman" in html


def test_cli_init_of_a_likert_project_gives_a_working_config(tmp_path):
    root = tmp_path / "likert"
    lq_cli("init", root, "--labels", "bad,ok,good", "--kind", "rating")
    items = pd.read_csv(FIXTURE).assign(gold="")
    items.to_csv(tmp_path / "items.csv", index=False)
    lq_cli("import", tmp_path / "items.csv", "--project", root, "--id-column", "id")
    lq_cli("run", "--project", root)  # the people's tier: tasks wait in the web app
    status = lq_cli("status", "--project", root).stdout
    assert "0 of 40 items decided" in status and "Waiting on 40 human tasks" in status


def test_label_studio_and_hugging_face_round_trips_keep_the_ratings(tmp_path):
    import datasets

    project = likert_project(tmp_path / "p")
    project.import_file(FIXTURE, id_column="id")
    project.run()
    assert project.export(tmp_path / "tasks.json") == 40
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    final = next(a for a in tasks[0]["annotations"] if a.get("labelquorum_final"))
    assert final["result"][0]["type"] == "rating"  # Label Studio's Rating tag
    again = likert_project(tmp_path / "q")
    assert again.import_file(tmp_path / "tasks.json").judgements == 120

    def answers(p):
        j = p.judgements()
        j = j[j["status"] == "ok"]
        return sorted(zip(j["item"], j["annotator"], j["label"], j["value"].astype(float)))

    assert answers(again) == answers(project)
    assert again.gold_labels() == project.gold_labels()
    project.export(tmp_path / "hf", format="hf")
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert ds.features["label"].dtype == "float64" and ds.features["gold"].dtype == "float64"
    out = decided(project)
    assert ds["label"] == out["rating"].tolist()
