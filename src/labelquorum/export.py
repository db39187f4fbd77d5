"""Export one row per item: the label, its provenance and the item's fields.

The table formats (CSV, JSONL, Parquet) are written here; the others (Label Studio,
Hugging Face ``datasets``, CoNLL, spaCy ``DocBin``, the judgement table) live in
:mod:`labelquorum.formats`, one module each, and this module only dispatches to them.

Fields follow the usual columns, in the order they first appear in the items. A field
whose name is one of the usual columns (``label``, ``confidence``, ...) is written as
``field_NAME`` (:data:`FIELD_PREFIX`) so neither hides the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import select

from .errors import ExportError
from .store import schema

if TYPE_CHECKING:
    from .project import Project
    from .task import Task

COLUMNS = ["id", "label", "confidence", "decided_by", "tier", "flags", "annotators", "cost",
           "simulated", "gold", "gold_role", "language"]
WRITERS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
FIELD_PREFIX = "field_"


def item_records(project: Project) -> list[tuple[str, dict]]:
    """(item id, its fields) in import order; values keep their JSON types."""
    it = schema.items
    with project.store.connect() as conn:
        rows = conn.execute(select(it.c.id, it.c.fields).where(
            it.c.project_id == project.store.project_id).order_by(it.c.seq)).all()
    # one JSON array parsed at once: a third faster than a json.loads per item
    fields = json.loads("[" + ",".join(r.fields or "{}" for r in rows) + "]")
    return list(zip((r.id for r in rows), fields))


def item_fields(project: Project) -> pd.DataFrame:
    """The items' fields, one column per field (in order of first appearance), indexed
    by item id in import order; values keep their JSON types."""
    records = item_records(project)
    return pd.DataFrame([f for _, f in records],
                        index=pd.Index([i for i, _ in records], name="id"))


def field_names(records: list[tuple[str, dict]]) -> list[str]:
    """Every field name of ``records``, in order of first appearance."""
    names: dict[str, None] = {}
    for _, fields in records:
        if len(fields) != len(names) or any(k not in names for k in fields):
            names.update(dict.fromkeys(fields))
    return list(names)


def choose_fields(available: list[str], fields: str | list[str] | None) -> list[str]:
    """The fields to export: ``"all"`` (or None), ``"none"``, a comma-separated list or a
    list of names; an unknown name raises :class:`ExportError` naming the fields there are."""
    if fields is None or fields == "all":
        return list(available)
    if fields == "none":
        return []
    names = [f.strip() for f in fields.split(",")] if isinstance(fields, str) else list(fields)
    names = [n for n in names if n]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ExportError(f"no item field {unknown[0]!r}; the items' fields are "
                          f"{', '.join(available) or 'none'}. Give --fields all, none or a "
                          "comma-separated list of them")
    return list(dict.fromkeys(names))


def export_frame(project: Project, fields: str | list[str] | None = "all") -> pd.DataFrame:
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
                                 d.c.decided_by, d.c.tier, d.c.flags,
                                 d.c.value.label("decided_value"))
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
    out["gold"] = out["gold"].map(lambda g: gold_text(g, project.task),
                                  na_action="ignore")
    task = project.task
    values = out["decided_value"].astype(object).where(  # the JSON column comes back decoded
        out["decided_value"].notna(), None).tolist()
    out = out[COLUMNS].reset_index(drop=True)
    extra = task.strategy.export_columns(task, out["label"], values)
    for offset, (name, column) in enumerate(extra.items(), 1):  # after the label
        column = (column.reset_index(drop=True) if isinstance(column, pd.Series)
                  else pd.Series(column, dtype=object))
        out.insert(COLUMNS.index("label") + offset, name, column)
    if fields == "none":
        return out
    values = item_fields(project)
    chosen = choose_fields([str(c) for c in values.columns], fields)
    if not chosen:
        return out
    values = values[chosen].reset_index(drop=True)
    values.columns = [FIELD_PREFIX + c if c in COLUMNS or c in extra else c for c in chosen]
    return pd.concat([out, values], axis=1)


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


def gold_text(raw: str, task: Task) -> str:
    """A stored gold (JSON) in the label column's text form."""
    return task.strategy.gold_text(task, json.loads(raw))


def write_export(project: Project, path: Path, *, fields: str | list[str] | None = "all",
                 format: str | None = None, judgements: bool = False) -> int:
    """Write the export (or, with ``judgements``, the long judgement table) to ``path``;
    ``format`` defaults from the file's suffix. Returns the number of rows or items."""
    from .formats import export_format, write_other

    fmt = export_format(path, format, judgements)
    if judgements or fmt not in WRITERS.values():
        return write_other(project, path, fmt, fields=fields, judgements=judgements)
    df = export_frame(project, fields)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            _json_cells(df).to_csv(path, index=False)
        elif fmt == "jsonl":
            df.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(path, index=False)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    return len(df)


def write_table(project: Project, path: Path, name: str, format: str | None = None) -> int:
    """Write the task kind's result table ``name`` (:meth:`TaskKind.tables`) as CSV, JSONL
    or Parquet (``format``, default from the suffix); returns its rows."""
    task = project.task
    tables = task.strategy.tables(task, project)
    if name not in tables:
        have = ", ".join(tables) or "none"
        raise ExportError(f"a {task.kind} task has no result table {name!r}; its tables: "
                          f"{have} (pairwise tasks have 'systems').")
    fmt = format or WRITERS.get(path.suffix.lower())
    if fmt not in WRITERS.values():
        raise ExportError(f"a result table is written as CSV, JSONL or Parquet; {path.name!r} "
                          "has none of the suffixes .csv, .jsonl, .parquet (or give --format "
                          "csv, jsonl or parquet).")
    data = tables[name]
    df = pd.DataFrame(data["rows"], columns=data["columns"])
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


def _json_cells(df: pd.DataFrame) -> pd.DataFrame:
    """Lists and objects in fields as JSON text (for CSV), not Python's repr."""
    out = df.copy()
    for name in df.columns[len(COLUMNS):]:
        col = df[name]
        if col.dtype == object and col.map(lambda v: isinstance(v, (list, dict))).any():
            out[name] = col.map(lambda v: json.dumps(v, ensure_ascii=False)
                                if isinstance(v, (list, dict)) else v)
    return out
