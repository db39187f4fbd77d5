"""The CelebA VLM study run as a project, on a 60-cell synthetic recording in the real
format (tests/fixtures/celeba_vlm; the real one is never read by tests).

The fixture, by hand: 20 images × 3 attributes. Disagreements between the VLM and the
crowd (re-annotation sided with the VLM: +, with the crowd: -):
Eyeglasses images 1+, 11+, 12-; Attractive 1+, 2-, 3-, 4-, 11+, 12+, 13-, 14-;
Smiling 1-, 11+, 12-, 13+. So 15 disagreements (agreement 45 / 60) and the VLM is right
on 45 + 7 = 52 of 60 cells against the adjudicated labels. Calibration cells below are
images 1-10 of each attribute, on which the VLM is right on 10 (Eyeglasses), 7
(Attractive) and 9 (Smiling) of 10.
"""

from pathlib import Path

import pytest

from labelquorum.config import load_config
from labelquorum.errors import RecordingError
from labelquorum.policies import Grouped, build_policy
from labelquorum.recordings import celeba_vlm as celeba

FIXTURE = Path(__file__).parent / "fixtures" / "celeba_vlm"
EXAMPLE = Path(__file__).parent.parent / "examples" / "celeba"
CALIBRATION = {f"{i}:{a}" for i in range(1, 11) for a in ("Eyeglasses", "Attractive", "Smiling")}


def small(tmp_path: Path, group_by: bool = True) -> Path:
    """The example's per-attribute config, with a target and a reference count a 10-cell
    calibration sample per attribute can meet (one-sided Wilson bound of 10 / 10: 0.787,
    of 9 / 10: 0.60, of 26 / 30 pooled: 0.73)."""
    text = (EXAMPLE / "per_attribute.toml").read_text()
    text = text.replace("target_accuracy = 0.95", "target_accuracy = 0.75")
    text = text.replace("min_reference = 30", "min_reference = 10")
    if not group_by:
        text = text.replace('group_by = "attribute"\n', "")
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_example_configs_load():
    paper = load_config(EXAMPLE / "labelquorum.toml")
    per_attribute = load_config(EXAMPLE / "per_attribute.toml")
    assert paper.policy_annotators == ["vlm", "celeba"]
    assert per_attribute.policy.group_by == "attribute"
    assert isinstance(build_policy(per_attribute.policy), Grouped)
    assert not isinstance(build_policy(paper.policy), Grouped)


def test_the_paper_protocol_gives_the_hand_counted_figures(tmp_path):
    cells = celeba.load(FIXTURE)
    project = celeba.build_project(tmp_path / "p", cells, EXAMPLE / "labelquorum.toml")
    project.run()
    assert celeba.review_backlog(project, cells) == 15  # every disagreement, none else
    f = celeba.figures(project, cells)
    assert (f.cells, f.both_answered, f.agree) == (60, 60, 45)  # 75 % agreement
    assert f.vlm_right == 52  # 86.7 % against the labels after review
    assert (f.reviews, f.test_cells, f.test_right) == (15, 60, 60)
    assert f.per_tier == {"review": 15, "vlm and crowd": 45}
    assert celeba.review_backlog(project, cells) == 0  # nothing reviewed twice
    project.run()
    assert celeba.figures(project, cells) == f  # a later run leaves the reviews alone


def test_the_per_attribute_policy_trusts_the_vlm_only_where_it_was_shown_right(tmp_path):
    cells = celeba.load(FIXTURE)
    project = celeba.build_project(tmp_path / "p", cells, small(tmp_path), CALIBRATION)
    project.run()
    # Eyeglasses' 10 test cells are decided by the VLM alone (the crowd is not asked), so
    # its test disagreements 11 and 12 are never reviewed; its calibration cells were
    # asked of both, and image 1's disagreement is reviewed like the other attributes'
    assert celeba.review_backlog(project, cells) == 13
    f = celeba.figures(project, cells)
    assert f.vlm_only == 10
    assert (f.test_cells, f.test_right) == (30, 29)  # image 12's VLM error stays
    assert f.per_tier == {"review": 13, "vlm": 19, "vlm and crowd": 28}


def test_without_group_by_the_pooled_calibration_trusts_the_vlm_nowhere(tmp_path):
    cells = celeba.load(FIXTURE)
    project = celeba.build_project(tmp_path / "p", cells, small(tmp_path, group_by=False),
                                   CALIBRATION)
    project.run()
    assert celeba.review_backlog(project, cells) == 15
    f = celeba.figures(project, cells)
    assert f.vlm_only == 0
    assert (f.test_cells, f.test_right) == (30, 30)


def test_a_broken_recording_is_a_clear_error(tmp_path):
    (tmp_path / "questions.csv").write_text((FIXTURE / "questions.csv").read_text())
    lines = (FIXTURE / "annotations.csv").read_text().splitlines()
    (tmp_path / "annotations.csv").write_text("\n".join(lines[:3] + ["5,Smiling,1,1,"]) + "\n")
    with pytest.raises(RecordingError, match="row 4 is a disagreement without a re-annotation"):
        celeba.load(tmp_path)
    (tmp_path / "annotations.csv").write_text("\n".join(lines[:3] + ["5,Smiling,yes,0,"]))
    with pytest.raises(RecordingError, match="row 4 has vlm_label 'yes'; expected 1 or -1"):
        celeba.load(tmp_path)
    with pytest.raises(RecordingError, match="no annotations.csv"):
        celeba.load(tmp_path / "missing")
