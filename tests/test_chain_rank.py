"""The chain ensemble's final label: from the link where the item ranked highest.

LLM Chain Ensembles (Farr et al.): each link keeps its most confident share and forwards
the rest; an item's label comes from the link, among those that labelled it, where its
confidence percentile within that link's answers was highest. Links may be groups, and
with ``confidence = "agreement"`` a link's confidence is how many answers so far agree
with it (for models that give no confidence).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labelquorum as lq
from labelquorum.errors import ConfigError, PolicyError
from labelquorum.policies import Chain
from labelquorum.policies.offline import run_offline

# item: (link a's label, confidence), (link b's label, confidence)
RECORDED = {
    "x1": (("pos", 0.90), ("neg", 0.99)),
    "x2": (("pos", 0.80), ("neg", 0.99)),
    "x3": (("pos", 0.70), ("neg", 0.55)),
    "x4": (("pos", 0.60), ("neg", 0.95)),
}
# a keeps x1, x2 (floor(4 / 2)); b keeps x3, x4. Percentiles (mid-rank) within a:
# x3 (1 + 0.5) / 4 = 0.375, x4 0.125; within b's two answers: x3 0.25, x4 0.75. So x3
# takes a's label (ranked higher in a than in b) and x4 takes b's.

CONFIG = """
[task]
labels = ["neg", "pos"]

[annotators.a]
type = "replay"
path = "recorded.csv"
cost_per_call = 0.001

[annotators.b]
type = "replay"
path = "recorded.csv"
cost_per_call = 0.01

[policy]
type = "chain"
links = ["a", "b"]
"""


def make_project(directory: Path, extra: str = "") -> lq.Project:
    project = lq.init_project(directory, config_text=CONFIG + extra)
    with (directory / "recorded.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["item", "annotator", "label", "confidence"])
        for item, ((la, ca), (lb, cb)) in RECORDED.items():
            out.writerow([item, "a", la, ca])
            out.writerow([item, "b", lb, cb])
    pd.DataFrame({"id": list(RECORDED), "text": list(RECORDED)}).to_csv(
        directory / "items.csv", index=False)
    project.import_file(directory / "items.csv", id_column="id")
    return project


def test_final_label_comes_from_the_link_where_the_item_ranked_highest(tmp_path):
    with make_project(tmp_path / "p") as project:
        report = project.run()
        df = project.to_dataframe().set_index("id")
    assert report.asked == {"a": 4, "b": 2}
    assert df.loc[["x1", "x2"], "label"].tolist() == ["pos", "pos"]
    assert (df.loc[["x1", "x2"], "tier"] == "link 1: a").all()
    # both kept by link b, but x3 ranked higher within a than within b
    assert df.loc["x3", "label"] == "pos" and df.loc["x3", "decided_by"] == "a"
    assert df.loc["x4", "label"] == "neg" and df.loc["x4", "decided_by"] == "b"
    assert (df.loc[["x3", "x4"], "tier"] == "link 2: b").all()
    assert df.loc["x3", "confidence"] == pytest.approx(0.70)


def test_keeping_link_option_labels_with_the_link_that_kept_the_item(tmp_path):
    with make_project(tmp_path / "p", 'label_from = "keeping-link"\n') as project:
        project.run()
        df = project.to_dataframe().set_index("id")
    assert df.loc[["x3", "x4"], "label"].tolist() == ["neg", "neg"]
    assert (df.loc[["x3", "x4"], "decided_by"] == "b").all()


def _offline(policy, answers, names, labels=("neg", "pos")):
    n = len(answers)
    return run_offline(policy, [f"i{p}" for p in range(n)], labels, names,
                       np.array(answers), np.ones((n, len(names))))


def test_a_group_link_ranks_its_items_by_agreement():
    # three cheap models, then one big one; 0 = neg, 1 = pos
    answers = [
        [1, 1, 1, 0],  # unanimous group: kept by link 1
        [0, 0, 0, 0],  # unanimous group: kept by link 1
        [1, 1, 0, 1],  # 2/3
        [0, 1, 0, 1],  # 2/3
        [1, 0, 0, 1],  # 2/3
        [1, 1, 1, 1],  # unanimous: kept by link 1
    ]
    chain = Chain([["g1", "g2", "g3"], "big"], confidence="agreement")
    run = _offline(chain, answers, ["g1", "g2", "g3", "big"])
    assert run.calls() == {"g1": 6, "g2": 6, "g3": 6, "big": 3}
    assert run.tier[0] == run.tier[1] == run.tier[5] == "link 1: g1+g2+g3"
    assert run.label[[0, 1, 5]].tolist() == [1, 0, 1]
    # big's confidence is the share of all four answers agreeing with it: item 2 -> 3/4,
    # items 3 and 4 -> 2/4; within the group's answers (three at 1.0, three at 2/3), the
    # 2/3 items rank at percentile 0.25 and big's 3/4 at (2 + 0.5) / 3 = 0.83, its 2/4 at
    # (0 + 1) / 3 = 0.33: big labels all three (0.33 > 0.25).
    assert run.decided_by[2:5] == ["big", "big", "big"]
    assert run.label[2:5].tolist() == [1, 1, 1]


def test_a_group_link_loses_to_its_own_rank_when_the_next_link_is_unsure():
    answers = [
        [1, 1, 1, 0],
        [0, 0, 0, 0],
        [1, 1, 1, 1],
        [1, 1, 0, 0],  # group 2/3 for pos; big says neg, agreeing with 2 of 4
        [0, 0, 1, 0],  # group 2/3 for neg; big agrees (3/4)
        [0, 0, 0, 0],
        [1, 0, 1, 1],  # group 2/3 pos; big pos (3/4)
        [0, 1, 1, 1],  # group 2/3 pos; big pos (3/4)
    ]
    chain = Chain([["g1", "g2", "g3"], "big"], confidence="agreement")
    run = _offline(chain, answers, ["g1", "g2", "g3", "big"])
    # link 1 keeps 4 (the unanimous ones); big gets items 3, 4, 6, 7. Within the group's
    # eight answers the 2/3 items sit at (0 + 2) / 8 = 0.25; within big's answers 3/4 sits
    # at (1 + 1.5) / 4 = 0.625 and 2/4 at 0.125 < 0.25, so item 3 keeps the group's label.
    assert run.decided_by[3] == "g1,g2,g3" and run.label[3] == 1
    assert [run.decided_by[p] for p in (4, 6, 7)] == ["big", "big", "big"]
    assert run.tier[3] == "link 2: big"


def test_own_confidence_without_any_confidence_keeps_the_keeping_links_label():
    # replayed models with no confidence tie everywhere: mid-rank 0.5 in every link, and a
    # tie goes to the later link
    answers = [[0, 1], [0, 1], [0, 1], [0, 1]]
    run = _offline(Chain(["a", "b"]), answers, ["a", "b"])
    assert run.calls() == {"a": 4, "b": 2}
    assert run.label.tolist() == [0, 0, 1, 1]


def test_a_link_that_abstains_never_gives_the_label():
    answers = [[0, 1], [0, 1], [-1, 1], [0, -1]]
    run = _offline(Chain(["a", "b"]), answers, ["a", "b"])
    # a keeps two answered items; item 2 (a abstained) takes b's label; item 3 (b
    # abstained) takes a's
    assert run.label.tolist() == [0, 0, 1, 0]
    assert run.decided_by[2:] == ["b", "a"]


def test_annotator_in_two_links_is_refused():
    with pytest.raises(PolicyError, match="more than one chain link"):
        _offline(Chain([["a", "b"], "a"]), [[0, 1]], ["a", "b"])


def test_group_links_are_validated_in_the_config(tmp_path):
    bad = CONFIG.replace('links = ["a", "b"]', 'links = [["a", "c"], "b"]')
    with pytest.raises(ConfigError, match="names annotator 'c'"):
        lq.init_project(tmp_path / "p", config_text=bad)
    bad = CONFIG.replace('links = ["a", "b"]', 'links = ["a", "b"]\nconfidence = "logprob"')
    with pytest.raises(ConfigError, match="policy.confidence"):
        lq.init_project(tmp_path / "q", config_text=bad)
    ok = CONFIG.replace('links = ["a", "b"]', 'links = [["a"], "b"]\nconfidence = "agreement"')
    lq.init_project(tmp_path / "r", config_text=ok).close()


def test_offline_driver_refuses_annotators_it_has_no_answers_for():
    with pytest.raises(PolicyError, match="no recorded answers; recorded: a"):
        _offline(Chain(["a", "b"]), [[0]], ["a"])
    with pytest.raises(PolicyError, match="must be \\(items, annotators\\)"):
        run_offline(Chain(["a"]), ["i0", "i1"], ("neg", "pos"), ["a"], np.zeros((2, 1)),
                    np.ones((3, 1)))
