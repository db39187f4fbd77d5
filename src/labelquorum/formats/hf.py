"""Hugging Face ``datasets``: a directory written by ``save_to_disk`` or a
Dataset/DatasetDict object in, a ``save_to_disk`` directory out (the ``hf`` extra).

Nothing here touches the hub: only ``load_from_disk`` and ``save_to_disk`` are used.
In: ``ClassLabel`` columns become their label names (a ``Sequence`` of them a list of
names, as a multilabel gold column wants); a DatasetDict's splits are imported in order
with a ``split`` field naming each row's split (unless the data has a ``split`` column).
Out: the export's columns and the item's fields; ``label`` and ``gold`` are
``ClassLabel`` features with the task's labels (a ``Sequence`` of them for multilabel
tasks; spans stay JSON text), an undecided item's label is None.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ExportError, ImportDataError, MissingExtraError

if TYPE_CHECKING:
    from ..project import Project

SPLIT = "split"


def _datasets():
    try:
        import datasets
    except ImportError:
        raise MissingExtraError("Hugging Face datasets import and export", "hf",
                                "datasets") from None
    return datasets


@contextmanager
def _quiet():
    """No progress bars on the terminal while datasets works (restored after)."""
    ds = _datasets()
    was = ds.is_progress_bar_enabled()
    ds.disable_progress_bars()
    try:
        yield ds
    finally:
        if was:
            ds.enable_progress_bars()


def is_dataset(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "datasets" and type(obj).__name__ in (
        "Dataset", "DatasetDict")


def dataset_frame(ds: Any) -> pd.DataFrame:
    """Rows of a Dataset (or of each split of a DatasetDict), class labels as names."""
    if type(ds).__name__ == "DatasetDict":
        parts = []
        for name, split in ds.items():
            df = dataset_frame(split)
            if SPLIT not in df.columns:
                df[SPLIT] = name
            parts.append(df)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    datasets = _datasets()
    df = ds.to_pandas()
    for name, feature in ds.features.items():
        if isinstance(feature, datasets.ClassLabel):
            df[name] = [None if _missing(v) or v < 0 else feature.int2str(int(v))
                        for v in df[name]]
        elif isinstance(getattr(feature, "feature", None), datasets.ClassLabel):
            inner = feature.feature  # a Sequence (List) of class labels
            df[name] = [None if v is None else [inner.int2str(int(x)) for x in v]
                        for v in df[name]]
    return df


def read(path: Path) -> pd.DataFrame:
    with _quiet() as datasets:
        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise ImportDataError(f"not a dataset written by datasets' save_to_disk ({exc}); "
                                  "give a save_to_disk directory, or a file with its suffix",
                                  path=str(path)) from None
        return dataset_frame(ds)


def write(project: Project, path: Path, fields: str | list[str] | None) -> int:
    from ..export import export_frame

    task = project.task
    df = export_frame(project, fields)
    with _quiet() as datasets:
        encoded: dict[str, list] = {}
        special: dict[str, Any] = {}
        kind = task.strategy
        feature = kind.hf_feature(task)  # None: the label stays text
        if feature is not None:
            for name in ("label", "gold"):
                values = [None if _missing(v) or (v == "" and not kind.multilabel) else v
                          for v in df[name]]
                encoded[name] = [None if v is None else kind.hf_encode(task, v)
                                 for v in values]
                special[name] = feature
        rest = {c: _column(df[c]) for c in df.columns if c not in encoded}
        inferred = datasets.Dataset.from_dict(rest).features if rest else {}
        features = datasets.Features({c: special.get(c) or inferred[c] for c in df.columns})
        ds = datasets.Dataset.from_dict({c: encoded.get(c) or rest[c] for c in df.columns},
                                        features=features)
        try:
            ds.save_to_disk(str(path))
        except (OSError, PermissionError) as exc:
            raise ExportError(f"cannot write the dataset to {path}: {exc}") from None
    return len(ds)


def _column(col: pd.Series) -> list:
    """A column as Python values, missing ones as None (not NaN)."""
    values = col.tolist()
    if col.dtype == object or str(col.dtype) in ("str", "string"):
        return [None if _missing(v) else v for v in values]
    return values


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
