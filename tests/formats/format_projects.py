"""Small labelled projects for the format tests: two replayed models (one an LLM, with
confidences) and two people answering through ``add_judgements`` (overlap 2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import labelquorum as lq

ITEMS = pd.DataFrame({
    "id": ["a", "b", "c", "d"],
    "text": ["a lovely film", "dull and long", "fine, I guess", "awful acting"],
    "year": [1999, 2001, 2003, 2005],
    "gold": ["positive", "negative", "", "negative"],
})
RECORDED = pd.DataFrame([
    ("a", "small", "positive", "0.9"), ("b", "small", "negative", "0.55"),
    ("c", "small", "positive", "0.5"), ("d", "small", "negative", "0.8"),
    ("a", "gpt", "positive", "0.95"), ("b", "gpt", "positive", "0.6"),
    ("c", "gpt", "negative", "0.7"), ("d", "gpt", "negative", "0.99"),
], columns=["item", "annotator", "label", "confidence"])


def classification_config(labels=("negative", "positive"), kind="classification",
                          store_url: str | None = None) -> str:
    lines = "\n".join(f'[[task.labels]]\nname = "{lab}"\n' for lab in labels)
    store = f'[store]\nurl = "{store_url}"' if store_url else ""
    return f"""
[project]
name = "formats"
{store}
[task]
kind = "{kind}"
{lines}
[annotators.small]
type = "replay"
path = "recorded.csv"
kind = "model"
[annotators.gpt]
type = "replay"
path = "recorded.csv"
kind = "llm"
[annotators.people]
type = "human"
overlap = 2
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["small", "gpt"]
min_agreement = 1.0
[[policy.tiers]]
annotators = ["people"]
"""


def labelled_project(root: Path) -> lq.Project:
    """Items a, d decided by the models (they agree); b, c by two people each."""
    root.mkdir(parents=True)
    RECORDED.to_csv(root / "recorded.csv", index=False)
    project = lq.init_project(root, config_text=classification_config())
    project.import_dataframe(ITEMS)
    project.run()
    project.add_judgements([
        {"item": "b", "annotator": "people", "worker": "alice", "label": "negative"},
        {"item": "b", "annotator": "people", "worker": "bob", "label": "negative"},
        {"item": "c", "annotator": "people", "worker": "alice", "label": "positive"},
        {"item": "c", "annotator": "people", "worker": "bob", "label": "negative",
         "confidence": 0.4}])
    project.run()
    return project
