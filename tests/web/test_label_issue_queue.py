"""Likely label errors become a review queue, the likeliest first, and a count in status:
``labelquorum label-issues`` finds them (cleanlab over the verified pool), the review page's
"Likely label errors" tab lists them, and a reviewer's decision takes an item off."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import Session, add_users
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.cli import app as cli
from labelquorum.status import project_status
from labelquorum.web import create_app

pytest.importorskip("cleanlab")
sys.path.insert(0, str(Path(__file__).parent.parent / "quality"))
from test_label_issues import LABELS, corpus


def _project(tmp_path):
    texts, _, given, flipped = corpus(n=200, seed=4)
    project = lq.init_project(tmp_path / "p", LABELS)
    ids = [f"r{i:03d}" for i in range(len(texts))]
    project.import_dataframe(pd.DataFrame({"id": ids, "text": texts, "gold": given}),
                             id_column="id", gold_column="gold", split="seed=200")
    return project, {ids[j] for j in flipped}


def test_label_issues_are_queued_for_review_likeliest_first_and_counted(tmp_path):
    project, flipped = _project(tmp_path)
    assert project_status(project).label_issues is None  # never looked for
    project.close()
    out = CliRunner().invoke(cli, ["label-issues", "-p", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    assert "likely label errors" in out.output

    project = lq.open_project(tmp_path / "p")
    count = project_status(project).label_issues
    assert count and count > 0
    status = CliRunner().invoke(cli, ["status", "-p", str(tmp_path / "p")])
    assert f"Likely label errors not reviewed yet: {count:,}" in status.output

    add_users(project, {"rev": "reviewer"})
    rev = Session(create_app(project), "rev")
    page = rev.get("/api/review?show=issues&limit=500").json()
    items = [row["item"] for row in page["items"]]
    assert page["total"] == count == len(items)
    assert len(set(items) & flipped) / len(flipped) >= 0.6  # the known errors are there
    qualities = [float(row["reason"].rsplit(" ", 1)[1].rstrip(")")) for row in page["items"]]
    assert qualities == sorted(qualities)  # the likeliest error first
    html = rev.get("/review?show=issues").text
    assert f"Likely label errors ({count})" in html and items[0] in html
    assert rev.get(f"/item?id={items[0]}&show=issues").status_code == 200

    # a reviewer decides the likeliest one: it leaves the queue and the count
    first = items[0]
    right = LABELS[1 - LABELS.index(project.to_dataframe().set_index("id").loc[first, "gold"])]
    assert rev.post(f"/api/items/{first}/adjudicate", json={"label": right}).json()["ok"]
    after = rev.get("/api/review?show=issues&limit=500").json()
    assert first not in {row["item"] for row in after["items"]}
    assert project_status(project).label_issues == count - 1
    project.close()
