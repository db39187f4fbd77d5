"""CoNLL-2003 / IOB2 token files for spans tasks.

A file is one token a line, ``TOKEN [COLUMN ...] TAG`` separated by spaces, a blank line
after each sentence; ``-DOCSTART-`` lines start documents. Tags are ``O``, ``B-TYPE`` and
``I-TYPE`` (an ``I-`` that does not continue an entity of its type starts one, so IOB1
files read too).

In: one item per sentence, with id ``FILESTEM:N`` (the sentence's number), fields
``text`` (the tokens joined by single spaces: CoNLL keeps no original spacing),
``tokens``, ``columns`` (the middle columns of each token, such as part of speech and
chunk, when the file has any) and ``docstart`` (the ``-DOCSTART-`` line that precedes the
sentence, when one does); the tags become gold spans (``entities``).

Out: one sentence per item that has a label, tagged IOB2 from the label (the decision,
not the gold); items without a label are left out. Items from a CoNLL import are written
with their own tokens, middle columns and ``-DOCSTART-`` lines, so a file goes out as it
came in; other items are cut into tokens as :func:`labelquorum.spans.tokenize` does.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ImportDataError
from ..spans import spans_to_tags, tags_to_spans, tokenize

if TYPE_CHECKING:
    from ..project import Project
    from ..task import Task

DOCSTART = "-DOCSTART-"


def read(path: Path, task: Task) -> pd.DataFrame:
    where = str(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise ImportDataError(f"cannot read the file: {exc.strerror}", path=where) from None
    except UnicodeDecodeError:
        raise ImportDataError("bytes that are not UTF-8; re-save the file as UTF-8",
                              path=where) from None
    rows: list[dict[str, Any]] = []
    tokens: list[str] = []
    tags: list[str] = []
    middle: list[list[str]] = []
    docstart: str | None = None
    labels = set(task.labels)

    def flush() -> None:
        nonlocal docstart
        if not tokens:
            return
        text = " ".join(tokens)
        offsets, pos = [], 0
        for tok in tokens:
            offsets.append((pos, pos + len(tok)))
            pos += len(tok) + 1
        row: dict[str, Any] = {"id": f"{path.stem}:{len(rows) + 1}", "text": text,
                               "tokens": list(tokens)}
        if any(middle):
            row["columns"] = middle.copy()  # each token's list is its own (parts[1:-1])
        if docstart is not None:
            row["docstart"] = docstart
            docstart = None
        row["entities"] = ([list(s) for s in tags_to_spans(offsets, tags)]
                           if tags.count("O") != len(tags) else [])
        rows.append(row)
        tokens.clear()
        tags.clear()
        middle.clear()

    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            flush()
            continue
        if parts[0] == DOCSTART:
            flush()
            docstart = line.rstrip()
            continue
        if len(parts) < 2:
            raise ImportDataError(f"line {n}: {line.strip()!r} has no tag; each line is "
                                  "TOKEN [COLUMNS ...] TAG", path=where)
        tag = parts[-1]
        if tag != "O":
            prefix, _, kind = tag.partition("-")
            if prefix not in ("B", "I") or not kind:
                raise ImportDataError(f"line {n}: tag {tag!r} is not O, B-TYPE or I-TYPE",
                                      path=where)
            if kind not in labels:
                raise ImportDataError(f"line {n}: type {kind!r} is not in the task's label set "
                                      f"({', '.join(task.labels)}); add it under "
                                      "[[task.labels]] in labelquorum.toml or fix the data",
                                      path=where)
        tokens.append(parts[0])
        tags.append(tag)
        middle.append(parts[1:-1])
    flush()
    if not rows:
        raise ImportDataError("the file has no sentences", path=where)
    return pd.DataFrame(rows)


def token_offsets(fields: dict[str, Any], text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The item's tokens and their offsets: its ``tokens`` field when they lie in the text
    in order, else the text cut by :func:`labelquorum.spans.tokenize`."""
    given = fields.get("tokens")
    if isinstance(given, list) and given:
        offsets, pos = [], 0
        for tok in given:
            start = text.find(str(tok), pos)
            if start < 0:
                break
            offsets.append((start, start + len(str(tok))))
            pos = start + len(str(tok))
        else:
            return [str(t) for t in given], offsets
    offsets = tokenize(text)
    return [text[s:e] for s, e in offsets], offsets


def labelled_items(project: Project) -> list[tuple[str, dict, tuple]]:
    """(item id, fields, label spans) of every item with a label, in import order."""
    from ..export import export_frame, item_records

    frame = export_frame(project, "none")
    labels = dict(zip(frame["id"], frame["label"].tolist()))
    parse = project.task.parse_label
    out = []
    for item, fields in item_records(project):
        label = labels.get(item)
        if isinstance(label, str) and label != "":
            out.append((item, fields, parse(json.loads(label))))
    return out


def write(project: Project, path: Path) -> int:
    text_field = project.task.text_field
    chunks: list[str] = []
    items = labelled_items(project)
    for _, values, spans in items:
        text = str(values.get(text_field, ""))
        tokens, offsets = token_offsets(values, text)
        tags = spans_to_tags(offsets, spans)
        middle = values.get("columns")
        if not (isinstance(middle, list) and len(middle) == len(tokens)):
            middle = [[] for _ in tokens]
        if isinstance(values.get("docstart"), str):
            chunks.append(values["docstart"] + "\n\n")
        chunks.append("".join(" ".join([tok, *map(str, mid), tag]) + "\n"
                              for tok, mid, tag in zip(tokens, middle, tags)) + "\n")
    path.write_text("".join(chunks), encoding="utf-8")
    return len(items)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
