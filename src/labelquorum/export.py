"""Export one row per item: the label and its provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import select

from .errors import ExportError
from .spans import to_text
from .store import schema

if TYPE_CHECKING:
    from .project import Project

COLUMNS = ["id", "label", "confidence", "decided_by", "tier", "flags", "annotators", "cost",
           "simulated", "gold", "gold_role", "language"]
WRITERS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def export_frame(project: Project) -> pd.DataFrame:
    """Every item in import order: id, label, confidence, decided_by, tier, flags,
    annotators consulted (those that answered or abstained; failed calls are
    left out), total cost, whether a simulated annotator
    took part, gold with its role when known, and the item's language (from the input, or
    detected by a run with per-language trust; ``und``: undetermined). Undecided items have an empty label.
    Spans tasks: label and gold are spans as JSON, ``[[start,end,"TYPE"],...]``."""
    it, d, j = schema.items, schema.decisions, schema.judgements
    pid = project.store.project_id
    with project.store.connect() as conn:
        items = pd.read_sql(select(it.c.id, it.c.gold, it.c.gold_role, it.c.language)
                            .where(it.c.project_id == pid).order_by(it.c.seq), conn)
        dec = pd.read_sql(select(d.c.item_id.label("id"), d.c.label, d.c.confidence,
                                 d.c.decided_by, d.c.tier, d.c.flags)
                          .where(d.c.project_id == pid), conn)
        jud = pd.read_sql(select(j.c.item_id.label("id"), j.c.annotator, j.c.cost, j.c.status,
                                 j.c.simulated).where(j.c.project_id == pid).order_by(j.c.id),
                          conn)
    answered = jud[jud["status"].isin(("ok", "abstain"))]
    # listed in the policy's order, so the column does not depend on which answer came first
    rank = {name: i for i, name in enumerate(project.config.policy_annotators)}
    per_item = pd.DataFrame({
        "annotators": _annotator_lists(answered, rank),
        "simulated": jud.groupby("id")["simulated"].any(),
    })
    cost = jud.groupby("id")["cost"].sum().rename("cost")
    out = items.merge(dec, on="id", how="left").merge(per_item, left_on="id", right_index=True,
                                                      how="left")
    out = out.merge(cost, left_on="id", right_index=True, how="left")
    out["cost"] = out["cost"].fillna(0.0).round(10)
    out["simulated"] = out["simulated"].astype("boolean").fillna(False).astype(bool)
    out["annotators"] = out["annotators"].fillna("")
    out["gold"] = out["gold"].map(lambda g: gold_text(g, project.task.spans),
                                  na_action="ignore")
    return out[COLUMNS].reset_index(drop=True)


def _annotator_lists(answered: pd.DataFrame, rank: dict[str, int]) -> pd.Series:
    """Per item id, the annotators that answered it joined by ';', in policy order (then
    by name): one vectorised pass per annotator instead of a Python call per item."""
    pairs = answered[["id", "annotator"]].drop_duplicates()
    ids = pd.Index(pairs["id"].unique(), name="id")
    names = sorted(pairs["annotator"].unique(), key=lambda a: (rank.get(a, len(rank)), a))
    text = np.full(len(ids), "", dtype=object)
    for name in names:
        has = ids.isin(pairs.loc[pairs["annotator"] == name, "id"])
        empty = text == ""
        text[has & empty] = name
        text[has & ~empty] = text[has & ~empty] + (";" + name)
    return pd.Series(text, index=ids, name="annotators")


def gold_text(raw: str, spans: bool = False) -> str:
    value = json.loads(raw)
    if spans:
        return to_text(value)  # in the label column's form
    return "|".join(value) if isinstance(value, list) else value


def write_export(project: Project, path: Path) -> int:
    fmt = WRITERS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(f"cannot export to {path.name!r}: use a .csv, .jsonl or .parquet file")
    df = export_frame(project)
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
