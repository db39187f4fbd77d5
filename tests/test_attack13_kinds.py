"""Attacks on the task kinds of issue #13 (rating, free text): config a careful user could
write that the kinds accepted and then mislabelled or crashed on."""

import json

import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.errors import ConfigError, ImportDataError

RATER = """
[annotators.s]
type = "simulated"
noise = 0.3
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["s"]
"""


def rating_project(root, scale: str):
    return lq.init_project(root, config_text=f'[project]\nname = "r"\n[task]\nkind = '
                                             f'"rating"\n{scale}\n{RATER}')


def test_ordinal_points_differing_only_in_case_are_refused(tmp_path):
    """Point names are matched case-insensitively (gold 'Good' = 'good'), so two points
    named 'Good' and 'good' made gold 'Good' silently become the second point."""
    with pytest.raises(ConfigError, match="(?i)differ only in case.*Good"):
        rating_project(tmp_path / "p", 'labels = ["Good", "good", "excellent"]')


@pytest.mark.parametrize("scale, message", [
    ("[task.rating]\nmin = -inf\nmax = inf", "finite"),
    ("[task.rating]\nmin = 0\nmax = nan", "finite"),
    ("[task.rating]\nmin = 0\nmax = 1\ntolerance = 0.5", "tolerance"),
    ("[task.rating]\nmin = 0\nmax = 1\nstep = 1", "tolerance"),
])
def test_a_numeric_scale_that_cannot_be_scored_is_refused_at_init(tmp_path, scale, message):
    """TOML allows inf and nan; and a tolerance of half the range makes every answer
    'agree' by chance. Both were accepted, and the run then died on an internal
    'chance must be a number in [0, 1)' error."""
    with pytest.raises(ConfigError, match=message):
        rating_project(tmp_path / "p", scale)


def test_a_numeric_scale_with_a_large_tolerance_runs(tmp_path):
    project = rating_project(tmp_path / "p", "[task.rating]\nmin = 0\nmax = 10\n"
                                             "tolerance = 4.9")
    project.import_dataframe(pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"],
                                           "gold": [2, 8]}), id_column="id")
    assert project.run().open == 0


FREE_TEXT = """
[project]
name = "f"
[task]
kind = "free-text"
[annotators.s]
type = "simulated"
accuracy = 0.5
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["s"]
"""


@pytest.mark.parametrize("score", ["high", 99, 0, 2.5])
def test_free_text_gold_with_a_bad_judge_score_is_refused_with_a_sentence(tmp_path, score):
    """A JSONL gold answer as an object: {"text": ..., "score": "high"} raised a bare
    ValueError traceback; a score of 99 was stored as if the judge had given it."""
    project = lq.init_project(tmp_path / "p", config_text=FREE_TEXT)
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "Capital of France?",
                                "gold": {"text": "Paris", "score": score}}) + "\n")
    with pytest.raises(ImportDataError, match="row 1, field 'gold'.*score.*1 to 5"):
        project.import_file(path, id_column="id")


def test_a_three_point_numeric_scale_runs(tmp_path):
    """min = 1, max = 3, step = 1 (the default tolerance: one step) crashed every run on
    'chance must be a number in [0, 1)'."""
    project = rating_project(tmp_path / "p", "[task.rating]\nmin = 1\nmax = 3\nstep = 1")
    project.import_dataframe(pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"],
                                           "gold": [1, 3]}), id_column="id")
    assert project.run().open == 0


def test_the_report_of_a_likert_project_counts_its_points(tmp_path):
    """The report's label distribution read each decided label ('good') with float():
    every report of an ordinal rating project died on a ValueError (only the numeric
    scale's report was tested)."""
    from labelquorum.quality.report import build_report

    project = rating_project(tmp_path / "p", 'labels = ["bad", "fair", "good"]')
    project.import_dataframe(pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"],
                                           "gold": ["bad", "good", "good"]}), id_column="id")
    assert project.run().open == 0
    report = build_report(project, n_boot=20)
    counts = {row["label"]: row["count"] for row in report.data["labels"]["counts"]}
    decided = project.to_dataframe()["label"].value_counts().to_dict()
    assert counts == {point: decided.get(point, 0) for point in ["bad", "fair", "good"]}


PAIRWISE = """
[project]
name = "pw"
[task]
kind = "pairwise"
[annotators.s]
type = "simulated"
accuracy = 0.8
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["s"]
"""


def test_a_system_compared_with_itself_does_not_unrank_the_others(tmp_path):
    """An item whose two responses come from the same system (model_a == model_b: two
    samples of one model) made Bradley-Terry see a separate group of systems: every score
    became None, Kendall's tau NaN, and the report's JSON could not be written."""
    from labelquorum.kinds.pairwise import project_systems
    from labelquorum.quality.report import build_report

    project = lq.init_project(tmp_path / "p", config_text=PAIRWISE)
    project.import_dataframe(pd.DataFrame({
        "id": ["1", "2", "3", "4"], "prompt": ["p", "q", "r", "s"],
        "response_a": ["a1", "a2", "a3", "a4"], "response_b": ["b1", "b2", "b3", "b4"],
        "model_a": ["x", "y", "y", "z"], "model_b": ["x", "z", "z", "y"],
        "gold": ["A", "A", "B", "B"]}), id_column="id")
    project.run()
    table = project_systems(project)
    scored = {row["system"]: row["score"] for row in table["rows"]}
    assert scored["y"] is not None and scored["z"] is not None
    assert table["gold_comparisons"] == 3  # the self-comparison is no comparison
    json.loads(build_report(project, n_boot=20).to_json())


def test_ordinal_points_named_by_other_numbers_are_refused(tmp_path):
    """Points are given by name or by number (1..n). With points named "0".."4", gold or
    an LLM's answer 4 (a JSON number) was the 4th point, named "3", while "4" (a string)
    was the 5th: the same rating read two ways, silently one off."""
    with pytest.raises(ConfigError, match=r"'0'.*min = 0.*max = 4.*step = 1"):
        rating_project(tmp_path / "p", 'labels = ["0", "1", "2", "3", "4"]')
    rating_project(tmp_path / "q", 'labels = ["1", "2", "3", "4", "5"]')  # names = numbers
