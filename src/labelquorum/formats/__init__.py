"""Formats in and out beyond the plain tables: one module per format.

* :mod:`.labelstudio` — Label Studio JSON tasks (import and export);
* :mod:`.hf` — Hugging Face ``datasets`` (``save_to_disk`` directories, Dataset objects);
* :mod:`.conll` — CoNLL-2003 / IOB2 token files (spans tasks);
* :mod:`.docbin` — spaCy ``DocBin`` files (spans tasks);
* :mod:`.judgements` — the long judgement table that ``labelquorum aggregate`` and
  crowd-kit read.

:mod:`labelquorum.importing` and :mod:`labelquorum.export` dispatch here: an import
source becomes a table of items (and, for Label Studio, judgements) that goes through
the same validation as a CSV file; an export format is chosen by ``format`` or by the
file's suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ExportError, ImportDataError

if TYPE_CHECKING:
    from ..project import Project
    from ..task import Task

TABLES = ("csv", "jsonl", "parquet")
EXPORT_FORMATS = (*TABLES, "labelstudio", "hf", "conll", "docbin")
IMPORT_FORMATS = (*TABLES, "labelstudio", "hf", "conll", "docbin")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
            ".pq": "parquet", ".json": "labelstudio", ".conll": "conll", ".iob": "conll",
            ".iob2": "conll", ".spacy": "docbin"}
SPAN_FORMATS = ("conll", "docbin")


@dataclass
class Source:
    """What an import reads: the items (one row each, ``id`` and ``gold`` columns taken
    as usual) and, for formats that carry answers, a judgement table (``item``,
    ``annotator``, ``worker``, ``kind``, ``label`` (a task value), ``confidence``)."""

    items: pd.DataFrame
    name: str
    judgements: pd.DataFrame | None = None


def export_format(path: Path, format: str | None, judgements: bool = False) -> str:
    """The export format: ``format`` when given, else from the file's suffix."""
    if format is not None and format not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {format!r}; valid formats: "
                          f"{', '.join(EXPORT_FORMATS)}")
    fmt = format or SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(f"cannot tell the format of {path.name!r} from its suffix: use a "
                          ".csv, .jsonl, .parquet, .json (Label Studio), .conll or .spacy "
                          "file, or give --format (hf for a Hugging Face dataset directory)")
    if judgements and fmt not in TABLES:
        raise ExportError(f"the judgement table is written as CSV, JSONL or Parquet, not "
                          f"{fmt}; give a .csv, .jsonl or .parquet file")
    return fmt


def import_format(path: Path, format: str | None = None) -> str:
    """The import format: ``format`` when given, a directory is a Hugging Face dataset,
    else from the file's suffix."""
    if format is not None:
        if format not in IMPORT_FORMATS:
            raise ImportDataError(f"unknown import format {format!r}; valid formats: "
                                  f"{', '.join(IMPORT_FORMATS)}", path=str(path))
        return format
    fmt = SUFFIXES.get(path.suffix.lower())
    if path.is_dir():
        if fmt is not None:  # named like a file: a mistake more likely than a dataset
            raise ImportDataError(f"{path.name!r} is a directory, not a file; give the "
                                  f"{fmt} file itself, or --format hf for a directory written "
                                  "by datasets' save_to_disk", path=str(path))
        return "hf"
    if fmt is None:
        raise ImportDataError(f"unknown file type {path.suffix!r}; use one of "
                              f"{', '.join(sorted(SUFFIXES))}, a directory written by "
                              "datasets' save_to_disk, or give --format", path=str(path))
    return fmt


def read_source(source: Any, task: Task, format: str | None = None) -> Source:
    """Read a path (any import format) or a Hugging Face Dataset/DatasetDict or a
    DataFrame into a :class:`Source`."""
    if isinstance(source, pd.DataFrame):
        return Source(source, "<dataframe>")
    if not isinstance(source, (str, Path)):
        from . import hf

        if hf.is_dataset(source):
            return Source(hf.dataset_frame(source), f"<{type(source).__name__}>")
        raise ImportDataError(f"cannot import a {type(source).__name__}; give a file path, "
                              "a pandas DataFrame or a Hugging Face Dataset/DatasetDict")
    path = Path(source)
    fmt = import_format(path, format)
    if fmt in TABLES:
        from ..importing import read_table

        return Source(read_table(path, fmt), str(path))
    if fmt in SPAN_FORMATS and not task.spans:
        raise ImportDataError(f"{fmt} files hold entities: import them into a spans task "
                              "(init --kind spans)", path=str(path))
    if fmt == "labelstudio":
        from . import labelstudio

        return labelstudio.read(path, task)
    if fmt == "hf":
        from . import hf

        return Source(hf.read(path), str(path))
    if fmt == "conll":
        from . import conll

        return Source(conll.read(path, task), str(path))
    from . import docbin

    return Source(docbin.read(path, task), str(path))


def write_other(project: Project, path: Path, fmt: str, *, fields: str | list[str] | None,
                judgements: bool) -> int:
    """Write a non-table export (or the judgement table); returns rows or items written."""
    if judgements:
        from . import judgements as jt

        return jt.write(project, path, fmt)
    if fmt in SPAN_FORMATS and not project.task.spans:
        raise ExportError(f"{fmt} holds entities: only a spans task exports to it (this "
                          f"task is {project.task.kind}); use csv, jsonl, parquet, "
                          "labelstudio or hf")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "labelstudio":
            from . import labelstudio

            return labelstudio.write(project, path, fields)
        if fmt == "hf":
            from . import hf

            return hf.write(project, path, fields)
        if fmt == "conll":
            from . import conll

            return conll.write(project, path)
        from . import docbin

        return docbin.write(project, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None


__all__ = ["EXPORT_FORMATS", "IMPORT_FORMATS", "Source", "export_format", "import_format",
           "read_source", "write_other"]
