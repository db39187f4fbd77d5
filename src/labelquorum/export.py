"""Export one row per item: the label, its provenance and the item's fields.

The table formats (CSV, JSONL, Parquet) are written here; the others (Label Studio,
Hugging Face ``datasets``, CoNLL, spaCy ``DocBin``, the judgement table) live in
:mod:`labelquorum.formats`, one module each, and this module only dispatches to them.

Fields follow the usual columns, in the order they first appear in the items. A field
whose name is one of the usual columns (``label``, ``confidence``, ...) is written as
``field_NAME`` (:data:`FIELD_PREFIX`) so neither hides the other.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import Text, and_, case, cast, func, select, text

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


EXPORT_CHUNK = 50_000  # items per chunk read from the store and written out


def export_frame(project: Project, fields: str | list[str] | None = "all") -> pd.DataFrame:
    """Every item in import order: id, label, confidence, decided_by, tier, flags,
    annotators consulted (those that answered or abstained; failed calls are
    left out), total cost, whether a simulated annotator
    took part, gold with its role when known, and the item's language (from the input, or
    detected by a run with per-language trust; ``und``: undetermined). Undecided items have an empty label.
    Spans tasks: label and gold are spans as JSON, ``[[start,end,"TYPE"],...]``.

    The item's fields follow, their values as stored (JSON types; ``None`` where an item
    lacks the field). :func:`export_chunks` gives the same rows a chunk at a time."""
    frames = list(export_chunks(project, fields))
    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames, ignore_index=True)
    return out.astype({c: object for c in out.columns[len(COLUMNS):]
                       if out[c].dtype == object}) if len(out.columns) > len(COLUMNS) else out


def export_chunks(project: Project, fields: str | list[str] | None = "all",
                  size: int | None = None) -> Iterator[pd.DataFrame]:
    """The rows of :func:`export_frame`, ``size`` items (default :data:`EXPORT_CHUNK`) at a
    time, read from one streamed query: the store sums each item's judgements, so memory
    holds one chunk, never the whole project. Always yields at least one (maybe empty)
    frame, so a writer knows the columns. Unknown ``fields`` raise :class:`ExportError`
    before any row is read."""
    size = size or EXPORT_CHUNK
    store = project.store
    with store.connect() as conn:
        names = [] if fields == "none" else _field_names(conn, store)
        chosen = choose_fields(names, fields)
        task = project.task
        # what the task kind adds after the label (a rating's number, free text's score)
        extra = list(task.strategy.export_columns(task, pd.Series([], dtype=object), []))
        base = [*COLUMNS[:2], *extra, *COLUMNS[2:]]
        columns = [*base, *(FIELD_PREFIX + c if c in COLUMNS or c in extra else c
                            for c in chosen)]
        rank = {name: i for i, name in enumerate(project.config.policy_annotators)}
        listed: dict[str | None, str] = {None: ""}
        golds: dict[str, str] = {}
        query = _export_query(store.project_id, with_fields=bool(chosen))
        yielded = False
        for rows in _stream(conn, query, size):
            yielded = True
            yield _chunk_frame(rows, chosen, columns, task, rank, listed, golds)
        if not yielded:
            yield pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def _stream(conn, query, size: int) -> Iterator[list[tuple]]:
    """The rows of ``query``, ``size`` at a time, straight from the driver's cursor (a
    server-side cursor on PostgreSQL): SQLAlchemy's per-row result processing would cost
    more than the query."""
    compiled = query.compile(dialect=conn.dialect,
                             compile_kwargs={"render_postcompile": True})
    raw = conn.connection.driver_connection
    if compiled.positional:  # sqlite3
        params = [compiled.params[k] for k in compiled.positiontup]
        cursor = raw.cursor()
    else:  # psycopg: a named cursor keeps the result on the server
        params = compiled.params
        # right after a bulk import or a run the planner's row counts are stale, and a
        # nested loop over the judgement sums is quadratic; whole-project reads hash-join
        raw.execute("SET LOCAL enable_nestloop = off")
        cursor = raw.cursor(name="labelquorum_export")
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(size):
            yield rows
    finally:
        cursor.close()


def _export_query(pid: int, with_fields: bool):
    """Items in import order beside their decision and the sums over their judgements:
    total cost, whether any was simulated, and the annotators that answered or abstained
    (``\\x1f``-separated, in no particular order, repeats possible); then the decided
    value as stored (JSON) and, ``with_fields``, the item's fields."""
    it, d, j = schema.items, schema.decisions, schema.judgements
    answered = case((j.c.status.in_(("ok", "abstain")), j.c.annotator))
    per_item = (select(j.c.item_id, func.sum(j.c.cost).label("cost"),
                       func.max(case((j.c.simulated, 1), else_=0)).label("simulated"),
                       func.aggregate_strings(answered, UNIT).label("annotators"))
                .where(j.c.project_id == pid).group_by(j.c.item_id).subquery())
    shown = [it.c.fields] if with_fields else []
    return (select(it.c.id, d.c.label, d.c.confidence, d.c.decided_by, d.c.tier, d.c.flags,
                   per_item.c.annotators, per_item.c.cost, per_item.c.simulated, it.c.gold,
                   it.c.gold_role, it.c.language, cast(d.c.value, Text), *shown)
            .select_from(it.outerjoin(d, and_(d.c.project_id == it.c.project_id,
                                              d.c.item_id == it.c.id))
                         .outerjoin(per_item, per_item.c.item_id == it.c.id))
            .where(it.c.project_id == pid).order_by(it.c.seq))


UNIT = "\x1f"  # separates annotator names in the query's list (never in a name)


def _chunk_frame(rows, chosen: list[str], columns: list[str], task: Task,
                 rank: dict[str, int], listed: dict[str | None, str],
                 golds: dict[str, str]) -> pd.DataFrame:
    cols = list(zip(*rows))
    n = len(COLUMNS)
    data: dict[str, object] = dict(zip(COLUMNS, cols[:n]))
    decided = [_json_value(v) for v in cols[n]]  # the decided values as stored
    # a few distinct lists and gold labels repeat across a project: format each once
    for raw in set(data["annotators"]) - listed.keys():
        names = sorted(set(raw.split(UNIT)), key=lambda a: (rank.get(a, len(rank)), a))
        listed[raw] = ";".join(names)
    data["annotators"] = [listed[a] for a in data["annotators"]]
    for raw in set(data["gold"]) - golds.keys() - {None}:
        golds[raw] = gold_text(raw, task)
    data["gold"] = [None if g is None else golds[g] for g in data["gold"]]
    data["cost"] = np.round(np.array(data["cost"], dtype=float), 10)
    data["cost"][np.isnan(data["cost"])] = 0.0
    data["simulated"] = np.array([bool(s) for s in data["simulated"]], dtype=bool)
    data["confidence"] = np.array(data["confidence"], dtype=float)
    frame = pd.DataFrame({k: v if isinstance(v, np.ndarray) else pd.Series(v, dtype=object)
                          for k, v in data.items()})
    extra = task.strategy.export_columns(task, frame["label"], decided)
    for offset, (name, column) in enumerate(extra.items(), 1):  # after the label
        column = (column.reset_index(drop=True) if isinstance(column, pd.Series)
                  else pd.Series(column, dtype=object))
        frame.insert(COLUMNS.index("label") + offset, name, column)
    if chosen:
        # one JSON array parsed at once: a third faster than a json.loads per item
        values = json.loads("[" + ",".join(f or "{}" for f in cols[n + 1]) + "]")
        for name, column in zip(chosen, columns[len(columns) - len(chosen):]):
            frame[column] = pd.Series([v.get(name) for v in values], dtype=object)
    return frame


def _json_value(raw: str | None):
    """The decided value, read as JSON text (the query casts it) on every store."""
    return None if raw is None else json.loads(raw)


def _field_names(conn, store) -> list[str]:
    """Every field name of the project's items, in order of first appearance, asked of
    the store: each name's first item (by import order), then its place in that item."""
    pid = store.project_id
    if store.is_sqlite:
        sql = ("SELECT k.key, MIN(i.seq) FROM items i, json_each(i.fields) k "
               "WHERE i.project_id = :pid GROUP BY k.key")
    else:
        sql = ("SELECT k.key, MIN(i.seq) FROM items i CROSS JOIN LATERAL "
               "json_object_keys(CAST(i.fields AS json)) AS k(key) "
               "WHERE i.project_id = :pid GROUP BY k.key")
    first = dict(conn.execute(text(sql), {"pid": pid}).all())
    it = schema.items
    order: list[str] = []
    for seq in sorted(set(first.values())):
        raw = conn.execute(select(it.c.fields).where(it.c.project_id == pid,
                                                     it.c.seq == seq)).scalar()
        order += [k for k in json.loads(raw or "{}") if first.get(k) == seq]
    return order


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
    chunks = export_chunks(project, fields)
    first = next(chunks)  # unknown fields are refused here, before the file is opened
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            return _write_parquet(path, first, chunks)
        rows = 0
        with open(path, "w", encoding="utf-8", newline="") as out:
            for n, chunk in enumerate(itertools.chain([first], chunks)):
                if fmt == "csv":
                    _json_cells(chunk).to_csv(out, index=False, header=n == 0)
                elif len(chunk):
                    out.write(chunk.to_json(orient="records", lines=True, force_ascii=False))
                rows += len(chunk)
        return rows
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None


def _write_parquet(path: Path, first: pd.DataFrame, chunks: Iterator[pd.DataFrame]) -> int:
    """Each chunk becomes an Arrow table as it comes (far smaller than the pandas frame);
    the tables are unified (a column empty in one chunk takes the others' type) and
    written as one file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        tables = [pa.Table.from_pandas(c, preserve_index=False)
                  for c in itertools.chain([first], chunks)]
        table = tables[0] if len(tables) == 1 else pa.concat_tables(
            tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:  # one field, several JSON types
        found = re.search(r"(?:column|Field) (\S+) (?:with type|has incompatible)", str(exc))
        which = f"the field {found.group(1)!r}" if found else "an item field"
        raise ExportError(
            f"cannot write {path} as Parquet: {which} holds values of different types in "
            f"different items ({exc}), and a Parquet column has one type. Export to .jsonl "
            "or .csv, which keep each value as it is, or leave the field out with --fields "
            "(a comma-separated list of the fields to keep, or none).") from None
    pq.write_table(table, path)
    return table.num_rows


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
    """Lists and objects in fields as JSON text (for CSV), not Python's repr. The frame is
    copied only when a column changes; each column is scanned as a plain list (iterating
    pandas' array cost more than writing the CSV)."""
    out = df
    for name in df.columns[len(COLUMNS):]:
        col = df[name]
        if col.dtype != object:
            continue
        values = col.tolist()
        if any(isinstance(v, (list, dict)) for v in values):
            if out is df:
                out = df.copy()
            out[name] = pd.Series([json.dumps(v, ensure_ascii=False)
                                   if isinstance(v, (list, dict)) else v for v in values],
                                  index=col.index, dtype=object)
    return out
