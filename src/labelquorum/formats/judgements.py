"""The long judgement table: one row per answer, as ``labelquorum aggregate`` and
crowd-kit (``fit_predict(df)``) read it.

Columns: ``task`` (the item id), ``worker`` (who answered: the annotator's name for a
model or LLM, ``NAME:PERSON`` for a person, as :meth:`Project.judgements` names them),
``label`` (its text form: a class, labels joined by ``|``, spans as JSON), then
``annotator_kind``, ``score`` (the answer's confidence, empty when none), ``cost`` (USD)
and ``created`` (UTC, ISO 8601). Only answers are written: abstentions, failed calls,
superseded rows and a free-text judge's verdicts (scores of answers, ``value_type`` ``score``)
are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import ExportError
from ..store import schema

if TYPE_CHECKING:
    from ..project import Project

COLUMNS = ["task", "worker", "label", "annotator_kind", "score", "cost", "created"]


def judgement_table(project: Project) -> pd.DataFrame:
    j = project.judgements()
    ok = j[(j["status"] == "ok") & (j["value_type"] != schema.VERDICT)]
    created = pd.to_datetime(ok["created"], utc=True)
    return pd.DataFrame({
        "task": ok["item"].to_numpy(), "worker": ok["annotator"].to_numpy(),
        "label": ok["label"].to_numpy(), "annotator_kind": ok["annotator_kind"].to_numpy(),
        "score": ok["confidence"].to_numpy(), "cost": ok["cost"].round(10).to_numpy(),
        "created": created.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").to_numpy()},
        columns=COLUMNS)


def write(project: Project, path: Path, fmt: str) -> int:
    df = judgement_table(project)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            df.to_csv(path, index=False)
        elif fmt == "jsonl":
            df.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(path, index=False)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    return len(df)
