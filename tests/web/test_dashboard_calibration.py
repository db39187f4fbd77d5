"""The dashboard shows each annotator's accuracy on gold and how well its confidence is
calibrated, with a reliability diagram (issue 10, part 1)."""

from __future__ import annotations

import re

import pandas as pd
from helpers import Session, add_users

from labelquorum import init_project

CONFIG = """
[project]
name = "dash-calibration"
seed = 3

[task]
labels = ["negative", "positive"]

[annotators.steady]
type = "simulated"
accuracy = 0.7

[annotators.boastful]
type = "rules"
confidence = 0.99
rules = [{ label = "positive", keywords = ["a"] }]

[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["boastful", "steady"]
"""


def test_dashboard_draws_reliability_and_lists_accuracy_and_ece(tmp_path):
    from labelquorum.web import create_app

    project = init_project(tmp_path / "p", config_text=CONFIG)
    rows = [(f"i{n}", f"text {n} {'a' if n % 2 else 'b'}", "positive" if n % 3 else "negative")
            for n in range(300)]
    project.import_dataframe(pd.DataFrame(rows, columns=["id", "text", "label"]),
                             id_column="id", gold_column="label", gold_role="evaluation")
    project.run()
    add_users(project, {"rev": "reviewer"})
    app = create_app(project)
    page = Session(app, "rev").get("/dashboard").text
    table = page.split('data-testid="calibration-table"')[1].split("</table>")[0]
    assert 'data-annotator="boastful"' in table and 'data-annotator="steady"' in table
    ece = dict(re.findall(r'data-annotator="(\w+)">.*?<td>[\d.]+ \[[\d.]+, [\d.]+\]</td>'
                          r'<td>([\d.]+)</td>', table))
    assert float(ece["boastful"]) > 0.2 > float(ece["steady"])
    chart = page.split('data-testid="reliability"')[1].split("</figure>")[0]
    assert chart.count("<polyline") == 2  # one curve per annotator
    assert "stated confidence" in chart


def test_dashboard_lists_golden_probes_and_the_monitors_alerts(tmp_path):
    """Control gold is answered by the models as golden probes: the dashboard shows each
    one's θ̂ and the quality-drop alert of the one that answers badly."""
    from labelquorum.web import create_app

    text = (CONFIG.replace("accuracy = 0.7", "accuracy = 0.95")
            .replace('annotators = ["boastful", "steady"]',
                     'annotators = ["boastful", "steady", "sloppy"]')
            + '\n[annotators.sloppy]\ntype = "simulated"\naccuracy = 0.2\n'
            + "\n[quality]\ncontrol_rate = 0.5\n")
    project = init_project(tmp_path / "p", config_text=text)
    rows = [(f"i{n}", f"text {n} {'a' if n % 2 else 'b'}", "positive" if n % 3 else "negative")
            for n in range(120)]
    project.import_dataframe(pd.DataFrame(rows, columns=["id", "text", "label"]),
                             id_column="id", gold_column="label", split="control=40")
    project.run()
    add_users(project, {"rev": "reviewer"})
    page = Session(create_app(project), "rev").get("/dashboard").text
    table = page.split('data-testid="golden-table"')[1].split("</table>")[0]
    assert 'data-annotator="steady"' in table and 'data-annotator="sloppy"' in table
    alerts = re.findall(r'data-testid="golden-alert">([^<]*)<', page)
    assert any("&#39;sloppy&#39; looks worse" in a or "'sloppy' looks worse" in a
               for a in alerts), alerts
    assert not any("steady" in a for a in alerts)
