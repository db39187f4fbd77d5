"""Import items from CSV, JSONL or Parquet (or a DataFrame), all or nothing.

Every problem is reported with the file, the 1-based data row and the field; nothing is
stored unless the whole file is valid. Ids are given (``id_column``) or derived from the
item's content (a hash of its shown fields); gold labels are validated against the label
set and given roles (seed, calibration, control, evaluation).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from .errors import ImportDataError, LabelquorumError
from .store import Store, schema
from .task import Task

GOLD_ROLES = ("seed", "calibration", "control", "evaluation")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
           ".pq": "parquet"}


@dataclass(frozen=True)
class ImportResult:
    items: int
    with_gold: int
    roles: dict[str, int]


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV, JSONL or Parquet file into string columns, with clear errors."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImportDataError(f"unknown file type {path.suffix!r}; use one of "
                              f"{', '.join(sorted(FORMATS))}", path=str(path))
    if not path.exists():
        raise ImportDataError("file not found", path=str(path))
    if fmt == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
            raise ImportDataError(f"not a readable Parquet file: {exc}", path=str(path)) from None
        return df
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        row = line - 1 if fmt == "csv" else line
        raise ImportDataError(f"bytes that are not UTF-8 (byte {exc.start}); re-save the file "
                              "as UTF-8", path=str(path), row=row) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise ImportDataError("the file is empty", path=str(path))
    if fmt == "csv":
        try:
            return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                               on_bad_lines="error")
        except pd.errors.ParserError as exc:
            raise ImportDataError(f"malformed CSV: {_csv_message(exc)}", path=str(path)) from None
    return _read_jsonl(text, str(path))


def _csv_message(exc: Exception) -> str:
    msg = str(exc).strip()
    # pandas says "Expected 2 fields in line 4, saw 3": line counts the header as line 1.
    import re

    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        exp, line, saw = (int(g) for g in m.groups())
        return (f"row {line - 1} has {saw} fields where the header has {exp}; quote values "
                "that contain commas")
    return msg


def _read_jsonl(text: str, path: str) -> pd.DataFrame:
    try:
        df = pd.read_json(io.StringIO(text), lines=True, dtype=False)
        if len(df) == sum(1 for ln in text.splitlines() if ln.strip()):
            return df
    except ValueError:
        pass
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportDataError(f"malformed JSON: {exc.msg} at column {exc.colno}",
                                  path=path, row=n) from None
        if not isinstance(obj, dict):
            raise ImportDataError(f"each line must be a JSON object; found {type(obj).__name__}",
                                  path=path, row=n)
        rows.append(obj)
    return pd.DataFrame(rows)


def _is_blank(series: pd.Series) -> np.ndarray:
    return (series.isna() | (series.astype(str).str.strip() == "")).to_numpy()


def content_id(fields_json: str) -> str:
    return hashlib.sha1(fields_json.encode("utf-8")).hexdigest()[:16]


def parse_split(split: str | None, n: int) -> list[tuple[str, int]]:
    """'seed=200,calibration=0.1' -> [(role, count)] over n gold items; counts or fractions."""
    if not split:
        return []
    out = []
    for part in split.split(","):
        role, _, amount = part.partition("=")
        role = role.strip()
        if role not in GOLD_ROLES:
            raise LabelquorumError(f"unknown gold role {role!r} in --split; valid roles: "
                                   f"{', '.join(GOLD_ROLES)}")
        try:
            value = float(amount)
        except ValueError:
            raise LabelquorumError(f"--split {part!r}: expected ROLE=COUNT or ROLE=FRACTION, "
                                   "like seed=200 or seed=0.1") from None
        count = int(round(value * n)) if 0 < value < 1 else int(value)
        out.append((role, count))
    if sum(c for _, c in out) > n:
        raise LabelquorumError(f"--split asks for {sum(c for _, c in out)} gold items but the "
                               f"file has {n} with gold")
    return out


def prepare_items(df: pd.DataFrame, task: Task, *, source: str = "<dataframe>",
                  id_column: str | None = None, gold_column: str | None = None,
                  gold_role: str = "evaluation", split: str | None = None,
                  allow_duplicates: bool = False, seed: int = 0) -> pd.DataFrame:
    """Validate a table of items; return columns id, fields (JSON), gold (JSON), gold_role."""
    if gold_role not in GOLD_ROLES:
        raise LabelquorumError(f"unknown gold role {gold_role!r}; valid roles: "
                               f"{', '.join(GOLD_ROLES)}")
    if len(df) == 0:
        raise ImportDataError("the file has no rows", path=source)
    df = df.reset_index(drop=True)
    columns = [str(c) for c in df.columns]
    df.columns = columns
    for field in dict.fromkeys([task.text_field, *task.fields]):
        if field not in columns:
            raise ImportDataError(f"missing column {field!r} (a field the task shows); columns "
                                  f"found: {', '.join(columns)}. Rename the column or set "
                                  "task.fields / task.text_field", path=source, field=field)
    blank = _is_blank(df[task.text_field])
    if blank.any():
        row = int(np.argmax(blank)) + 1
        raise ImportDataError("empty value", path=source, row=row, field=task.text_field)

    if id_column is not None and id_column not in columns:
        raise ImportDataError(f"no id column {id_column!r}; columns found: {', '.join(columns)}",
                              path=source, field=id_column)
    if gold_column is None:
        gold_column = "gold" if "gold" in columns else ("label" if "label" in columns else None)
    elif gold_column not in columns:
        raise ImportDataError(f"no gold column {gold_column!r}; columns found: "
                              f"{', '.join(columns)}", path=source, field=gold_column)

    field_cols = [c for c in columns if c not in (id_column, gold_column)]
    fields = df[field_cols].to_json(orient="records", lines=True, force_ascii=False)
    fields_json = fields.rstrip("\n").split("\n")

    if id_column is not None:
        blank = _is_blank(df[id_column])
        if blank.any():
            raise ImportDataError("empty id", path=source, row=int(np.argmax(blank)) + 1,
                                  field=id_column)
        ids = df[id_column].astype(str).str.strip()
        dup = ids.duplicated(keep="first").to_numpy()
        if dup.any():
            row = int(np.argmax(dup))
            first = int(np.argmax((ids == ids[row]).to_numpy()))
            raise ImportDataError(f"duplicate id {ids[row]!r} (first seen in row {first + 1})",
                                  path=source, row=row + 1, field=id_column)
        ids = ids.tolist()
    else:
        shown = df[list(dict.fromkeys(task.fields))].to_json(
            orient="records", lines=True, force_ascii=False).rstrip("\n").split("\n")
        ids = [content_id(s) for s in shown]
        seen: dict[str, int] = {}
        for row, item_id in enumerate(ids):
            if item_id in seen:
                if not allow_duplicates:
                    raise ImportDataError(
                        f"duplicate content (same as row {seen[item_id] + 1}); pass "
                        "--allow-duplicates to keep repeats (they are numbered), or give ids "
                        "with --id-column", path=source, row=row + 1, field=task.text_field)
                n = 2
                while f"{item_id}-{n}" in seen:
                    n += 1
                ids[row] = f"{item_id}-{n}"
                seen[ids[row]] = row
            else:
                seen[item_id] = row

    golds: list[str | None] = [None] * len(df)
    if gold_column is not None:
        values = df[gold_column]
        blank = _is_blank(values)
        for row in np.flatnonzero(~blank):
            try:
                parsed = task.parse_label(values.iat[row])
            except LabelquorumError as exc:
                raise ImportDataError(f"gold {exc}", path=source, row=int(row) + 1,
                                      field=gold_column) from None
            golds[row] = json.dumps(list(parsed) if isinstance(parsed, tuple) else parsed)

    roles: list[str | None] = [gold_role if g is not None else None for g in golds]
    gold_rows = [i for i, g in enumerate(golds) if g is not None]
    plan = parse_split(split, len(gold_rows))
    if plan:
        order = sorted(gold_rows, key=lambda i: hashlib.sha1(
            f"{seed}\x1f{ids[i]}".encode()).digest())
        start = 0
        for role, count in plan:
            for i in order[start:start + count]:
                roles[i] = role
            start += count

    return pd.DataFrame({"id": ids, "fields": fields_json, "gold": golds, "gold_role": roles})


def store_items(store: Store, prepared: pd.DataFrame, source: str) -> ImportResult:
    """Insert prepared items in one transaction; refuse ids the project already has."""
    t = schema.items
    pid = store.project_id
    with store.begin() as conn:
        existing = set(conn.execute(select(t.c.id).where(t.c.project_id == pid)).scalars())
        if existing:
            clash = prepared["id"].isin(existing).to_numpy()
            if clash.any():
                row = int(np.argmax(clash))
                raise ImportDataError(f"id {prepared['id'][row]!r} is already in the project; "
                                      "nothing was imported", path=source, row=row + 1)
        start = conn.execute(select(func.coalesce(func.max(t.c.seq), -1))
                             .where(t.c.project_id == pid)).scalar() + 1
        rows = [{"project_id": pid, "id": i, "seq": start + n, "fields": f, "gold": g,
                 "gold_role": r, "source": source}
                for n, (i, f, g, r) in enumerate(zip(prepared["id"], prepared["fields"],
                                                     prepared["gold"], prepared["gold_role"]))]
        for chunk in range(0, len(rows), 50_000):
            conn.execute(t.insert(), rows[chunk:chunk + 50_000])
    roles = prepared["gold_role"].value_counts().to_dict()
    return ImportResult(items=len(prepared), with_gold=int(prepared["gold"].notna().sum()),
                        roles={str(k): int(v) for k, v in roles.items()})
