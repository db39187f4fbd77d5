"""The export as it was computed before it was streamed (a whole-project pandas frame),
kept as the oracle that the streamed export must match byte for byte. Slow at scale;
only for tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sqlalchemy import select

from labelquorum.export import COLUMNS, FIELD_PREFIX, choose_fields, gold_text
from labelquorum.store import schema


def reference_frame(project, fields="all") -> pd.DataFrame:
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
        raw = conn.execute(select(it.c.id, it.c.fields).where(it.c.project_id == pid)
                           .order_by(it.c.seq)).all()
    answered = jud[jud["status"].isin(("ok", "abstain"))]
    rank = {name: i for i, name in enumerate(project.config.policy_annotators)}
    per_item = pd.DataFrame({"annotators": _annotator_lists(answered, rank),
                             "simulated": jud.groupby("id")["simulated"].any()})
    cost = jud.groupby("id")["cost"].sum().rename("cost")
    out = items.merge(dec, on="id", how="left").merge(per_item, left_on="id", right_index=True,
                                                      how="left")
    out = out.merge(cost, left_on="id", right_index=True, how="left")
    out["cost"] = out["cost"].fillna(0.0).round(10)
    out["simulated"] = out["simulated"].astype("boolean").fillna(False).astype(bool)
    out["annotators"] = out["annotators"].fillna("")
    out["gold"] = out["gold"].map(lambda g: gold_text(g, project.task),
                                  na_action="ignore")
    out = out[COLUMNS].reset_index(drop=True)
    if fields == "none":
        return out
    values = pd.DataFrame([json.loads(r.fields) for r in raw],
                          index=pd.Index([r.id for r in raw], name="id"))
    chosen = choose_fields([str(c) for c in values.columns], fields)
    if not chosen:
        return out
    values = values[chosen].reset_index(drop=True)
    values.columns = [FIELD_PREFIX + c if c in COLUMNS else c for c in chosen]
    return pd.concat([out, values], axis=1)


def _annotator_lists(answered: pd.DataFrame, rank: dict[str, int]) -> pd.Series:
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


def write_reference(project, path, fields="all") -> None:
    df = reference_frame(project, fields)
    suffix = str(path).rsplit(".", 1)[-1]
    if suffix == "csv":
        _json_cells(df).to_csv(path, index=False)
    elif suffix == "jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        df.to_parquet(path, index=False)


def _json_cells(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for name in df.columns[len(COLUMNS):]:
        col = df[name]
        if col.dtype == object and col.map(lambda v: isinstance(v, (list, dict))).any():
            out[name] = col.map(lambda v: json.dumps(v, ensure_ascii=False)
                                if isinstance(v, (list, dict)) else v)
    return out
