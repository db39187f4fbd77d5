"""Import items from CSV, JSONL or Parquet (or a DataFrame), all or nothing.

Other formats (Label Studio, Hugging Face ``datasets``, CoNLL, spaCy DocBin) are read into
a table by :mod:`labelquorum.formats` and validated here like any other.

Every problem is reported with the file, the 1-based data row and the field; nothing is
stored unless the whole file is valid. Ids are given (``id_column``, by default the ``id``
column when there is one) or derived from the item's content (a hash of its shown fields); gold labels are validated against the label
set and given roles (seed, calibration, control, evaluation). Gold spans (spans tasks, by
default from an ``entities`` column) are also checked against the row's text.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from .errors import ImportDataError, LabelquorumError
from .store import Store, copy_rows, insert_rows, schema
from .task import Task

ID_COLUMN = "id"  # taken as the item id when present (--id-column names another)
JUDGEMENT_COLUMNS = ("project_id", "item_id", "annotator", "worker", "annotator_kind",
                     "value_type", "label", "value", "confidence", "cost", "status",
                     "simulated", "created")
GOLD_ROLES = ("seed", "calibration", "control", "evaluation")
CERTAINTY_COLUMN = "certainty"  # a golden item's certainty, read beside its gold
INSERT_CHUNK = 50_000
IMPORT_CACHE_KIB = 64 * 1024  # SQLite page cache while importing (shrinks back after)
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
           ".pq": "parquet"}


@dataclass(frozen=True)
class ImportResult:
    items: int
    with_gold: int
    roles: dict[str, int]
    languages: dict[str, int] | None = None  # items per language the input gave, if any
    id_column: str | None = None  # the column the ids came from; None: derived from content
    gold_column: str | None = None  # the column gold came from; None: no gold column
    judgements: int = 0  # answers imported with the items (Label Studio)


def read_table(path: Path, fmt: str | None = None) -> pd.DataFrame:
    """Read a CSV, JSONL or Parquet file into string columns, with clear errors; ``fmt``
    (``csv``, ``jsonl`` or ``parquet``) overrides the guess from the suffix."""
    path = Path(path)
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImportDataError(f"unknown file type {path.suffix!r}; use one of "
                              f"{', '.join(sorted(FORMATS))}", path=str(path))
    if not path.exists():
        raise ImportDataError("file not found", path=str(path))
    if not path.is_file():
        raise ImportDataError("not a file (a directory?)", path=str(path))
    if fmt == "parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
            raise ImportDataError(f"not a readable Parquet file: {exc}", path=str(path)) from None
        return df
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportDataError(f"cannot read the file: {exc.strerror}", path=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        row = line - 1 if fmt == "csv" else line
        raise ImportDataError(f"bytes that are not UTF-8 (byte {exc.start}); re-save the file "
                              "as UTF-8", path=str(path), row=row) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ImportDataError("the file is empty", path=str(path))
    if fmt == "csv":
        del text  # parse the bytes: a StringIO would hold a second, wider copy of the file
        try:
            return pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", dtype=str,
                               keep_default_na=False, on_bad_lines="error")
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


def _json_string(value: str) -> str:
    """A string as pandas' ``to_json(force_ascii=False)`` writes it (it escapes ``/``)."""
    return encode_basestring(value).replace("/", "\\/")


JSON_CHUNK = 100_000  # rows encoded at a time: the columns' Python copies stay this long


def json_records(df: pd.DataFrame, columns: list[str]) -> list[str]:
    """One JSON object per row of ``df[columns]``, exactly as
    ``df[columns].to_json(orient="records", lines=True, force_ascii=False)`` writes them.

    Columns holding only strings (what CSV import reads) are encoded directly, several
    times faster than pandas; anything else goes through pandas. Content-derived ids
    hash this text, so both paths must give the same bytes. Rows are encoded
    :data:`JSON_CHUNK` at a time (a row slice keeps its column's dtype, so its text is
    the same), which bounds the memory of the intermediate copies.
    """
    if len(df) <= JSON_CHUNK:
        return _json_records(df, columns)
    out: list[str] = []
    for begin in range(0, len(df), JSON_CHUNK):
        out += _json_records(df.iloc[begin:begin + JSON_CHUNK], columns)
    return out


def _json_records(df: pd.DataFrame, columns: list[str]) -> list[str]:
    values = [df[c].tolist() for c in columns]
    if not all(type(v) is str for col in values for v in col):
        text = df[columns].to_json(orient="records", lines=True, force_ascii=False)
        return text.rstrip("\n").split("\n")
    out: list[str] | None = None
    for n, (name, col) in enumerate(zip(columns, values)):
        prefix = ("{" if n == 0 else ",") + _json_string(str(name)) + ":"
        if out is None:
            out = [prefix + _json_string(v) for v in col]
        else:
            out = [o + prefix + _json_string(v) for o, v in zip(out, col)]
    return [o + "}" for o in out] if out is not None else ["{}"] * len(df)


def parse_split(split: str | None, n: int) -> list[tuple[str, int]]:
    """'seed=200,calibration=0.1' -> [(role, count)] over n gold items.

    A value below 1 is a fraction of the gold items; 1 and above is a count (so ``seed=1``
    is one item)."""
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
        if value < 0 or (value >= 1 and value != int(value)):
            raise LabelquorumError(f"--split {part!r}: give a count (0, 1, 2, ...) or a "
                                   "fraction between 0 and 1")
        count = round(value * n) if 0 < value < 1 else int(value)
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

    if id_column is None and ID_COLUMN in columns:
        id_column = ID_COLUMN
    elif id_column is not None and id_column not in columns:
        raise ImportDataError(f"no id column {id_column!r}; columns found: {', '.join(columns)}",
                              path=source, field=id_column)
    if gold_column is None:
        gold_column = next((c for c in task.strategy.gold_columns if c in columns), None)
    elif gold_column not in columns:
        raise ImportDataError(f"no gold column {gold_column!r}; columns found: "
                              f"{', '.join(columns)}", path=source, field=gold_column)

    # a golden item's certainty (expert agreement) travels beside its gold, never shown
    certainty_column = CERTAINTY_COLUMN if gold_column is not None and \
        CERTAINTY_COLUMN in columns and CERTAINTY_COLUMN not in task.fields else None
    field_cols = [c for c in columns if c not in (id_column, gold_column, certainty_column)]
    fields_json = json_records(df, field_cols)
    _refuse_nul(fields_json, source)

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
            raise ImportDataError(f"duplicate id {ids[row]!r} (first seen in row {first + 1}); "
                                  "ids must be unique: fix the data, or name another column "
                                  "with --id-column", path=source, row=row + 1, field=id_column)
        ids = ids.tolist()
        if any("\x00" in i for i in ids):
            row = next(n for n, i in enumerate(ids) if "\x00" in i)
            raise ImportDataError(NUL_MESSAGE, path=source, row=row + 1, field=id_column)
    else:
        shown_cols = list(dict.fromkeys(task.fields))
        shown = fields_json if shown_cols == field_cols else json_records(df, shown_cols)
        sha1 = hashlib.sha1
        ids = [sha1(s.encode("utf-8")).hexdigest()[:16] for s in shown]  # = content_id(s)
        seen: dict[str, int] = {}
        for row, item_id in enumerate(ids if len(set(ids)) < len(ids) else ()):
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
    if gold_column is not None and task.strategy.needs_text:
        golds = _text_golds(df, task, gold_column, source)
    elif gold_column is not None:
        blank = _is_blank(df[gold_column])
        values = df[gold_column].tolist()
        parsed_json: dict[str, str] = {}  # a column repeats a few labels: parse each once
        for row in np.flatnonzero(~blank).tolist():
            raw = values[row]
            key = raw if isinstance(raw, str) else repr(raw)
            gold = parsed_json.get(key)
            if gold is None:
                try:
                    parsed = task.parse_label(raw)
                except LabelquorumError as exc:
                    raise ImportDataError(f"gold {exc}", path=source, row=row + 1,
                                          field=gold_column) from None
                gold = task.strategy.to_json(task, parsed)
                parsed_json[key] = gold
            golds[row] = gold

    certainty = (_certainties(df[certainty_column], golds, source) if certainty_column
                 else [None] * len(df))
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

    languages = _languages(df, task, columns, source)
    # object columns: pandas' default string dtype would copy every string into Arrow
    out = pd.DataFrame({"id": ids, "fields": fields_json, "gold": golds, "gold_role": roles,
                        "language": languages, "certainty": certainty}, dtype=object)
    out.attrs.update(id_column=id_column, gold_column=gold_column)
    return out


NUL_MESSAGE = ("a NUL character (\\x00), which PostgreSQL cannot store (so no store takes "
               "it: a project may move to PostgreSQL); remove it from the data, e.g. with "
               "tr -d '\\000'")
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # an escaped NUL, not a "\\u0000" text


def _refuse_nul(fields_json: list[str], source: str) -> None:
    """Refuse an item whose fields hold a NUL character (JSON writes it ``\\u0000``)."""
    for row, text in enumerate(fields_json):
        if "\\u0000" in text and _JSON_NUL.search(text):
            values = json.loads(text)
            field = next((k for k, v in values.items()
                          if "\x00" in k or _JSON_NUL.search(json.dumps(v))), None)
            raise ImportDataError(NUL_MESSAGE, path=source, row=row + 1, field=field)


MAX_LANGUAGE = 16  # characters of items.language


def _languages(df: pd.DataFrame, task: Task, columns: list[str],
               source: str) -> list[str | None]:
    """Each row's language from ``task.language_field`` (default: a ``language`` column
    when there is one), lower-cased; None where the input gives none. A ``language``
    column taken by default whose values are not language codes (longer than
    ``MAX_LANGUAGE``) is an ordinary field (the texts' languages stay unknown); a column
    the config names must hold codes."""
    name = task.language_field
    named = name is not None
    if name is None:
        name = "language" if "language" in columns else None
        if name is None:
            return [None] * len(df)
    elif name not in columns:
        raise ImportDataError(f"no language column {name!r} (task.language_field); columns "
                              f"found: {', '.join(columns)}. Rename the column or change "
                              "task.language_field", path=source, field=name)
    blank = _is_blank(df[name])
    values = df[name].astype(str).str.strip().str.lower()
    too_long = (values.str.len() > MAX_LANGUAGE).to_numpy() & ~blank
    if too_long.any() and not named:
        return [None] * len(df)
    if too_long.any():
        row = int(np.argmax(too_long))
        raise ImportDataError(f"language {values[row][:40]!r} is longer than {MAX_LANGUAGE} "
                              "characters; give a language code such as 'en' or 'fr'",
                              path=source, row=row + 1, field=name)
    return [None if b else v for v, b in zip(values.tolist(), blank.tolist())]


def _certainties(column: pd.Series, golds: list[str | None], source: str) -> list[float | None]:
    """The ``certainty`` column: a probability in [0, 1] on rows with gold, blank elsewhere."""
    out: list[float | None] = [None] * len(column)
    blank = _is_blank(column)
    for row, raw in enumerate(column.tolist()):
        if blank[row]:
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not 0.0 <= value <= 1.0:  # NaN fails too
            raise ImportDataError(
                f"certainty {raw!r} is not a probability; give a number from 0 to 1 (the "
                "share of experts who agree with the gold label), or leave it blank",
                path=source, row=row + 1, field=CERTAINTY_COLUMN)
        if golds[row] is None:
            raise ImportDataError(
                "a certainty is given but the row has no gold label; a certainty belongs to "
                "a golden item's gold: add the gold or leave the certainty blank",
                path=source, row=row + 1, field=CERTAINTY_COLUMN)
        out[row] = value
    return out


def _text_golds(df: pd.DataFrame, task: Task, gold_column: str, source: str
                ) -> list[str | None]:
    """Gold per row as JSON, checked against the row's text (kinds whose values refer into
    the text: spans)."""
    golds: list[str | None] = [None] * len(df)
    values, texts = df[gold_column].tolist(), df[task.text_field].tolist()
    for row, raw in enumerate(values):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or (
                isinstance(raw, str) and not raw.strip()):
            continue
        try:
            value = task.parse_label(raw, text=str(texts[row]))
        except LabelquorumError as exc:
            raise ImportDataError(f"gold {exc}", path=source, row=row + 1,
                                  field=gold_column) from None
        golds[row] = task.strategy.to_json(task, value)
    return golds


def store_items(store: Store, prepared: pd.DataFrame, source: str,
                judgements: list[tuple] | None = None) -> ImportResult:
    """Insert prepared items in one transaction; refuse ids the project already has.

    ``judgements`` are answers that came with the items, as rows of
    :data:`JUDGEMENT_COLUMNS` (driver-ready), written in the same transaction."""
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
        columns = ("project_id", "id", "seq", "fields", "gold", "gold_role", "source",
                   "language", "gold_certainty")
        if "certainty" not in prepared.columns:
            prepared = prepared.assign(certainty=None)
        data = [prepared[c].tolist() for c in ("id", "fields", "gold", "gold_role",
                                               "language", "certainty")]
        with _sqlite_cache(conn, store):
            for begin in range(0, len(prepared), INSERT_CHUNK):
                part = zip(*(col[begin:begin + INSERT_CHUNK] for col in data))
                copy_rows(conn, t, columns,
                          [(pid, i, start + begin + n, f, g, r, source, lang, c)
                           for n, (i, f, g, r, lang, c) in enumerate(part)])
        if judgements:
            insert_rows(conn, schema.judgements, JUDGEMENT_COLUMNS,
                        [(pid, *row) for row in judgements])
    roles = prepared["gold_role"].value_counts().to_dict()
    langs = prepared["language"].value_counts().to_dict()
    return ImportResult(items=len(prepared), with_gold=int(prepared["gold"].notna().sum()),
                        roles={str(k): int(v) for k, v in roles.items()},
                        languages={str(k): int(v) for k, v in langs.items()} or None,
                        id_column=prepared.attrs.get("id_column"),
                        gold_column=prepared.attrs.get("gold_column"),
                        judgements=len(judgements or ()))


@contextmanager
def _sqlite_cache(conn, store: Store):
    """A larger SQLite page cache while a big import runs, then the previous size.

    Content-derived ids arrive in random order; with SQLite's default 2 MB cache every
    insert into the primary-key index of a large project goes to disk.
    """
    if not store.is_sqlite:
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")
