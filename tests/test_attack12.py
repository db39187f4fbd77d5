"""Attacks on issue #12 (golden probes, per-language trust, policy.group_by)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import test_language_trust as lang
from engine_fixtures import (
    cascade,
    config,
    decisions,
    make_project,
    rules_annotator,
    simulated_annotator,
)
from test_golden_probes import quality, reviews

import labelquorum as lq
from labelquorum.quality import mark_gold


def test_group_by_keeps_per_language_trust_when_languages_must_be_detected(tmp_path):
    """policy.group_by wrapped the cascade and hid its uses_language: the run never
    detected the items' languages, so per-language trust was silently off."""
    items = pd.read_csv(lang.FIXTURE)
    items["source"] = ["a" if i % 2 else "b" for i in range(len(items))]
    root = tmp_path / "p"
    text = lang.CONFIG.format(per_language="true").replace(
        "per_language = true", 'per_language = true\ngroup_by = "source"')
    project = lq.init_project(root, config_text=text)
    lang.llm_answers(items).to_csv(Path(root) / "llm.csv", index=False)
    project.import_dataframe(items.drop(columns="language"), id_column="id",
                             split="calibration=100")
    report = project.run()
    out = lang.by_item(project, items)
    assert (out["language"] == out["lang"]).mean() >= 0.95
    assert any("llm is not trusted on language fr" in n for n in report.notes)
    assert (out.loc[out["lang"] == "fr", "tier"] != "llm").all()


def test_an_item_made_golden_after_it_was_decided_exports_its_gold(tmp_path):
    """A reviewer's 'make a golden question' on a decided item (POST /api/items/ID/gold)
    makes it a control item; control items are closed by their gold, yet the next run
    leaves the model's old label (decided_by sim) in the export."""
    cfg = config(rules_annotator() + simulated_annotator("sim", 0.01, accuracy=0.6),
                 cascade([("sim", ["sim"], 0.0)])) + quality(0.5)
    project = make_project(tmp_path / "p", cfg, reviews(20))
    project.run()
    d = decisions(project)
    item = "i000"  # gold negative
    wrong = "positive" if d.loc[item, "label"] == "negative" else "negative"
    mark_gold(project, item, wrong)
    project.run()
    out = project.to_dataframe().set_index("id")
    assert out.loc[item, "gold_role"] == "control"
    assert out.loc[item, "label"] == wrong
    assert out.loc[item, "decided_by"] == "gold"


def test_making_answered_items_golden_does_not_store_the_same_alerts_again(tmp_path):
    """The watch replays every answer on today's control items: items made golden later (a
    reviewer's 'make a golden question') bring their old answers into the history. Keyed
    by the index into that history, every earlier alert was stored a second time; keyed by
    the judgement that raised it, none is."""
    from test_golden_probes import drift_config, set_accuracy

    from labelquorum.quality import stored_alerts

    project = make_project(tmp_path / "p", drift_config(0.95), reviews(80), split="control=40")
    project.run()
    project = set_accuracy(project, 0.1)
    project.import_dataframe(pd.DataFrame(reviews(80, prefix="n"),
                                          columns=["id", "text", "gold"]), id_column="id")
    project.run()
    before = stored_alerts(project.store)
    assert len(before)
    out = project.to_dataframe().set_index("id")
    for item in out.index[out["gold_role"] != "control"][:10]:
        mark_gold(project, item, out.loc[item, "gold"])
    third = project.run()
    after = stored_alerts(project.store)
    assert not third.alerts
    assert len(after) == len(before)
    project.close()
