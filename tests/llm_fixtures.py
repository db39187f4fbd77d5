"""Shared helpers of the LLM tests: the scripted server, an annotator, a project."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from labelquorum.annotators.base import Context, Items
from labelquorum.annotators.llm import LlmAnnotator
from labelquorum.config import LlmConfig, TaskConfig
from labelquorum.project import init_project
from labelquorum.task import Task

TASK = Task.from_config(TaskConfig(labels=["negative", "positive"],
                                   guidelines="Is the film review positive or negative?"))


def annotator(server, tmp_path: Path, task: Task = TASK, **options) -> LlmAnnotator:
    options = {"max_retries": 2, "model": "gpt-4o-mini", **options}
    cfg = LlmConfig(type="llm", base_url=server.base_url, **options)
    return LlmAnnotator("llm", cfg, task, Context(tmp_path, 0, "media"))


def ask(ann: LlmAnnotator, *texts: str, fields: list[dict] | None = None):
    fields = fields or [{"text": t} for t in texts]
    return ann.annotate(Items([f"i{n}" for n in range(len(fields))], fields))


def llm_project(tmp_path: Path, base_url: str, rows: list[tuple], *, llm: str = "",
                policy: str | None = None, extra: str = "", split: str | None = None,
                gold_role: str = "evaluation", allow_duplicates: bool = False):
    """A project whose policy asks a keyword-rules tier, then the llm annotator."""
    policy = policy or """
[policy]
type = "cascade"
[[policy.tiers]]
name = "rules"
annotators = ["kw"]
min_confidence = 0.7
[[policy.tiers]]
name = "llm"
annotators = ["llm"]
"""
    config = f"""
[project]
name = "llm-test"

[task]
kind = "classification"
guidelines = "Is the film review positive or negative?"
labels = ["negative", "positive"]

[annotators.kw]
type = "rules"
rules = [{{ label = "positive", keywords = ["wonderful"] }},
         {{ label = "negative", keywords = ["dreadful"] }}]

[annotators.llm]
type = "llm"
base_url = "{base_url}"
model = "gpt-4o-mini"
{llm if "max_retries" in llm else llm + chr(10) + "max_retries = 2"}
{extra}
{policy}
"""
    project = init_project(tmp_path / "proj", config_text=config)
    df = pd.DataFrame(rows, columns=["id", "text", "gold"][:len(rows[0])])
    project.import_dataframe(df, id_column="id", split=split, gold_role=gold_role,
                             gold_column="gold" if "gold" in df else None,
                             allow_duplicates=allow_duplicates)
    return project
