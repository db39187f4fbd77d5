"""The ``labelquorum aggregate`` command's work, callable from Python too."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from ..errors import LabelquorumError
from ..importing import read_table
from .base import encode, find_columns, label_text
from .registry import make_aggregator, takes_gold


def read_gold(path: Path) -> pd.Series:
    df = read_table(path)
    cols = [c for c in ("id", "item", "task") if c in df.columns]
    if not cols or "label" not in df.columns:
        raise LabelquorumError(f"{path}: gold needs columns id,label (or item,label); found "
                               f"{', '.join(map(str, df.columns))}")
    df = df[df["label"].notna() & (df["label"].astype(str).str.strip() != "")]
    return pd.Series(df["label"].astype(str).str.strip().to_numpy(),
                     index=df[cols[0]].astype(str).to_numpy())


def run_aggregate(answers: Path, *, method: str, output: Path | None,
                  columns: tuple[str | None, str | None, str | None], gold: Path | None,
                  skills: Path | None, agreement: bool, seed: int, console: Console) -> None:
    aggregator = make_aggregator(method, seed=seed)  # unknown names fail before reading
    df = read_table(answers)
    found = find_columns(df, *columns)
    table = df.rename(columns=dict(zip(found, ("item", "annotator", "label"))))
    enc = encode(table, columns=("item", "annotator", "label"))
    gold_labels = read_gold(gold) if gold is not None else None
    if gold_labels is not None:
        unknown = sorted(set(gold_labels) - set(enc.labels))
        if unknown:
            raise LabelquorumError(f"gold labels {unknown[:5]} never occur in the answers "
                                   f"(labels: {', '.join(enc.labels)})")
    if gold_labels is not None and takes_gold(aggregator):
        aggregator.fit(table, gold=gold_labels)
    else:
        aggregator.fit(table)
    labels = aggregator.labels_
    confidence = aggregator.probas_.max(axis=1)
    out = pd.DataFrame({"item": labels.index, "label": labels.to_numpy(),
                        "confidence": confidence.to_numpy()})
    console.print(f"{method}: {len(out):,} items, {enc.n_workers:,} annotators, "
                  f"{len(enc.item):,} answers, labels {', '.join(enc.labels)}.")
    if output is not None:
        out.to_csv(output, index=False)
        console.print(f"Wrote {output}.")
    if gold_labels is not None:  # gold is read as text: compare ids and labels as text
        as_text = pd.Series(labels.map(label_text).to_numpy(), index=labels.index.map(str))
        shared = gold_labels.index.intersection(as_text.index)
        acc = (float((as_text.loc[shared] == gold_labels.loc[shared]).mean()) if len(shared)
               else float("nan"))
        seeded = "seeded with gold" if takes_gold(aggregator) else "gold not used in fitting"
        console.print(f"Accuracy on {len(shared):,} gold items: {acc:.4f} ({seeded}).")
    if skills is not None:
        learned = getattr(aggregator, "skills_", None)
        if learned is None:
            raise LabelquorumError(f"{method} estimates no per-annotator skill")
        pd.DataFrame({"annotator": learned.index, "skill": learned.to_numpy()}).to_csv(
            skills, index=False)
        console.print(f"Wrote annotator skills to {skills}.")
    if agreement:
        _print_agreement(table, labels, console)


def _print_agreement(table: pd.DataFrame, consensus: pd.Series, console: Console) -> None:
    from .. import agreement as ag

    summary = ag.summary(table, n_boot=200, seed=0)
    rows = Table("metric", "value", "95 % CI", "note", title="Agreement")
    for name, row in summary.iterrows():
        rows.add_row(str(name), f"{row['estimate']:.4f}", f"[{row['low']:.4f}, {row['high']:.4f}]",
                     str(row.get("note", "") or ""))
    console.print(rows)
    per = ag.annotator_agreement(table, consensus)
    console.print(f"Annotator agreement with the consensus: median {per.median():.3f}, "
                  f"lowest {per.min():.3f} ({len(per):,} annotators).")
