"""`labelquorum aggregate` on long CSVs without a project, and aggregators inside policies."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import labelquorum as lq


def crowd(tmp_path, columns=("task", "worker", "label"), n_items=120, seed=0):
    """Generated crowd answers: 3 good annotators and 2 who answer at random."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_items)
    rows = []
    for i, t in enumerate(truth):
        for w, acc in enumerate([0.9, 0.85, 0.8, 0.34, 0.34]):
            label = t if rng.random() < acc else rng.integers(0, 3)
            rows.append((f"it{i}", f"w{w}", f"c{label}"))
    answers = pd.DataFrame(rows, columns=list(columns))
    path = tmp_path / "answers.csv"
    answers.to_csv(path, index=False)
    gold = pd.DataFrame({"id": [f"it{i}" for i in range(n_items)],
                         "label": [f"c{t}" for t in truth]})
    gold.to_csv(tmp_path / "gold.csv", index=False)
    return path


def lq_cli(*args):
    return subprocess.run([sys.executable, "-m", "labelquorum.cli", *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_aggregate_writes_labels_skills_and_reports_gold_accuracy(tmp_path):
    path = crowd(tmp_path)
    proc = lq_cli("aggregate", path, "--method", "dawid-skene", "-o", tmp_path / "out.csv",
                  "--gold", tmp_path / "gold.csv", "--skills", tmp_path / "skills.csv")
    assert proc.returncode == 0, proc.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["item", "label", "confidence"] and len(out) == 120
    assert out["confidence"].between(0, 1).all()
    accuracy = float(proc.stdout.split("Accuracy on 120 gold items:")[1].split()[0])
    assert accuracy > 0.9
    skills = pd.read_csv(tmp_path / "skills.csv").set_index("annotator")["skill"]
    assert skills["w0"] > skills["w3"] and skills["w1"] > skills["w4"]


def test_aggregate_scores_gold_against_integer_ids_and_labels(tmp_path):
    """A Parquet file keeps integer ids and labels; gold (read as text) still matches."""
    answers = pd.read_csv(crowd(tmp_path))
    typed = answers.assign(task=answers["task"].str.removeprefix("it").astype(int),
                           worker=answers["worker"].str.removeprefix("w").astype(int),
                           label=answers["label"].str.removeprefix("c").astype(int))
    typed.to_parquet(tmp_path / "answers.parquet")
    gold = pd.read_csv(tmp_path / "gold.csv")
    gold.assign(id=gold["id"].str.removeprefix("it"), label=gold["label"].str.removeprefix("c")
                ).to_csv(tmp_path / "gold-numbers.csv", index=False)
    proc = lq_cli("aggregate", tmp_path / "answers.parquet", "--method", "dawid-skene",
                  "--gold", tmp_path / "gold-numbers.csv", "-o", tmp_path / "out.csv")
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split("Accuracy on 120 gold items:")[1].split()[0]) > 0.9
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["item"].tolist() == list(range(120)) and out["label"].isin([0, 1, 2]).all()


@pytest.mark.parametrize("columns", [("item", "annotator", "label"), ("id", "worker", "label")])
def test_aggregate_detects_column_sets(tmp_path, columns):
    path = crowd(tmp_path, columns=columns)
    proc = lq_cli("aggregate", path, "--method", "majority-vote", "-o", tmp_path / "o.csv")
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(tmp_path / "o.csv")) == 120


def test_aggregate_prints_agreement(tmp_path):
    proc = lq_cli("aggregate", crowd(tmp_path), "--method", "wawa", "--agreement")
    assert proc.returncode == 0, proc.stderr
    assert "Agreement" in proc.stdout and "krippendorff" in proc.stdout.lower()


def test_unknown_method_and_bad_files_get_clear_errors(tmp_path):
    path = crowd(tmp_path)
    proc = lq_cli("aggregate", path, "--method", "dawid-skeen")
    assert proc.returncode == 1 and "valid methods:" in proc.stderr
    assert "Did you mean 'dawid-skene'" in proc.stderr
    (tmp_path / "empty.csv").write_text("")
    proc = lq_cli("aggregate", tmp_path / "empty.csv")
    assert proc.returncode == 1 and "empty" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "cols.csv").write_text("a,b,c\n1,2,3\n")
    proc = lq_cli("aggregate", tmp_path / "cols.csv")
    assert proc.returncode == 1 and "item,annotator,label" in proc.stderr


def test_a_cascade_can_weigh_annotators_by_estimated_skill(tmp_path):
    """With dawid-skene as the policy's aggregator, two reliable annotators outvote three
    random ones, where a plain majority vote would often follow the random ones."""
    path = crowd(tmp_path, columns=("item", "annotator", "label"), n_items=200, seed=1)
    gold = pd.read_csv(tmp_path / "gold.csv")
    annotators = "\n".join(f'[annotators.w{w}]\ntype = "replay"\npath = "{path}"\n'
                           for w in range(5))
    names = ", ".join(f'"w{w}"' for w in range(5))
    results = {}
    for method in ("majority", "dawid-skene"):
        config = f"""
[project]
name = "{method}"
[task]
labels = ["c0", "c1", "c2"]
{annotators}
[policy]
type = "cascade"
aggregator = "{method}"
[[policy.tiers]]
annotators = [{names}]
"""
        project = lq.init_project(tmp_path / method, config_text=config)
        project.import_dataframe(pd.DataFrame({"id": gold["id"], "text": gold["id"],
                                               "gold": gold["label"]}), id_column="id")
        project.run()
        results[method] = project.status().evaluation_accuracy
    assert results["dawid-skene"] > results["majority"]
    assert results["dawid-skene"] > 0.9
