"""Accuracy of the aggregators on every categorical crowd set with gold, beside crowd-kit.

For each set under ``../shared/data`` with ``answers.csv`` (id,worker,label) and
``gold.csv`` (id,label), every method is fitted on all answers and scored on the gold ids
only. labelquorum's methods run with seeds 0-9 (the seed moves the tie-break, and MACE's
restarts), and the table shows the mean with half the spread ((max - min) / 2) where it is
not 0. ``DS+gold`` seeds
DawidSkene with half the gold (a fixed random half) and is scored on the other half.
crowd-kit's methods run beside them when ``crowdkit`` is importable (it must live in its
own environment; see ``aggregation_speed.py``), and ``published`` quotes the figures from
the sets' READMEs (Crowd-Kit paper; Zheng et al.'s recorded D&S where that is all there
is). ``zheng_emotion`` is numeric and left out. crowd-kit's GLAD takes minutes per set, so
it runs only with ``--ck-glad`` (then on sets up to ``--ck-glad-max`` judgements).

A second table explains the gaps to crowd-kit:

* ``ck DS conv`` / ``ck 1C conv``: crowd-kit's Dawid-Skene run to ``n_iter`` iterations
  (``tol=-inf``). crowd-kit stops when its evidence lower bound stops rising, but the bound
  it computes can fall from the second iteration on, so it usually stops after 2-6
  iterations -- early stopping by accident. ``DS@ck`` is ours stopped after the same
  number of iterations as crowd-kit's default run.
* ``MV first`` / ``Wawa first``: ours with a deterministic tie rule (a tie goes to the first
  label in sorted order) instead of the seeded per-item choice. crowd-kit too gives a tie
  to the first label of its column order, which is not always the sorted order, so these
  match crowd-kit on some sets and bracket it on others: on tie-heavy sets the tie rule
  alone moves majority vote by several points.

Run by hand from the repository root::

    /work/venvs/crowdkit/bin/python benchmarks/aggregation_accuracy.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from labelquorum.aggregation.base import encode
from labelquorum.aggregation.dawid_skene import DawidSkene, OneCoinDawidSkene
from labelquorum.aggregation.glad import GLAD
from labelquorum.aggregation.mace import MACE
from labelquorum.aggregation.majority_vote import MajorityVote, agreement_skills, normalise
from labelquorum.aggregation.wawa import Wawa

SETS = ["zheng_product", "zheng_sentiment", "zheng_dog", "zheng_face", "zheng_relevance",
        "welinder_bluebirds", "snow2008_rte", "snow2008_temp", "snow2008_wsd",
        "rodrigues_sentiment_polarity", "rodrigues_music_genre", "sentiment_polarity_amt",
        "crowdflower_weather", "crowdflower_weather_amt", "zencrowd", "zhou_web_relevance",
        "trec2011_relevance"]
OURS = {"MV": MajorityVote, "Wawa": Wawa, "DS": DawidSkene, "OneCoinDS": OneCoinDawidSkene,
        "GLAD": GLAD, "MACE": MACE}
SEEDED = {"MV", "Wawa", "MACE"}  # the others are deterministic up to exact posterior ties
PUBLISHED = {  # from the sets' READMEs
    "zheng_product": "MV 0.897, Wawa 0.897, DS 0.940",
    "zheng_sentiment": "MV 0.932, Wawa 0.951, DS 0.960",
    "zheng_relevance": "MV 0.536, Wawa 0.557, DS 0.615",
    "welinder_bluebirds": "D&S 0.880 (Zheng repo)",
}
SEEDS = range(10)


def text(values) -> np.ndarray:
    def one(v):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()
    return np.array([one(v) for v in values], dtype=object)


def score(pred: pd.Series, gold: pd.Series) -> float:
    pred = pd.Series(text(pred.to_numpy()), index=pred.index.astype(str))
    return float((pred.reindex(gold.index).to_numpy() == gold.to_numpy()).mean())


def cell(values: list[float]) -> str:
    spread = max(values) - min(values)
    return f"{np.mean(values):.3f}" + (f" ±{spread / 2:.3f}" if spread > 1e-12 else "")


def first_label_votes(answers: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Majority vote and Wawa with crowd-kit's tie rule: the first label in sorted order."""
    enc = encode(answers)
    keys = pd.to_numeric(pd.Series(enc.labels), errors="coerce")
    # crowd-kit reads numeric labels as numbers, so "10" sorts after "9"
    order = (np.argsort(keys.to_numpy(), kind="stable") if keys.notna().all()
             else np.argsort(np.asarray(enc.labels, dtype=object), kind="stable"))

    def first(posterior: np.ndarray) -> np.ndarray:
        return order[np.argmax(posterior[:, order], axis=1)]

    mv = first(normalise(enc.counts()))
    skills = agreement_skills(enc, mv).to_numpy()
    wawa = first(normalise(enc.counts(skills[enc.worker])))
    labels = np.asarray(enc.labels, dtype=object)
    index = pd.Index(enc.items)
    return pd.Series(labels[mv], index=index), pd.Series(labels[wawa], index=index)


def diagnose(ck, name: str, answers: pd.DataFrame, ck_data: pd.DataFrame, gold: pd.Series,
             row: dict, cols: list[str]) -> str:
    """One row of the table that explains the gaps to crowd-kit."""
    d = {"DS": row["DS"], "1C": row["OneCoinDS"], "ck DS": row["ck DS"],
         "ck 1C": row["ck OneCoinDS"], "ck MV": row["ck MV"], "ck Wawa": row["ck Wawa"]}
    for short, ours_cls, their_cls in [("DS", DawidSkene, ck.DawidSkene),
                                       ("1C", OneCoinDawidSkene, ck.OneCoinDawidSkene)]:
        n = len(their_cls().fit(ck_data).loss_history_)
        ours = ours_cls(n_iter=n, tol=0.0).fit_predict(answers)
        d[f"{short}@ck"] = f"{score(ours, gold):.3f} ({n} it)"
        conv = their_cls(n_iter=100, tol=-np.inf).fit(ck_data)
        d[f"ck {short} conv"] = f"{score(conv.labels_, gold):.3f}"
    mv_first, wawa_first = first_label_votes(answers)
    d["MV first"] = f"{score(mv_first, gold):.3f}"
    d["Wawa first"] = f"{score(wawa_first, gold):.3f}"
    return f"| {name} | " + " | ".join(d[c] for c in cols) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sets", nargs="*", default=SETS)
    parser.add_argument("--ck-glad", action="store_true", help="also run crowd-kit's GLAD")
    parser.add_argument("--diagnosis-only", action="store_true",
                        help="only the table of where the gaps to crowd-kit come from")
    parser.add_argument("--ck-glad-max", type=int, default=100_000,
                        help="largest set (judgements) to run crowd-kit's GLAD on")
    args = parser.parse_args()
    try:
        from crowdkit import aggregation as ck
        theirs = {"MV": ck.MajorityVote, "Wawa": ck.Wawa, "DS": ck.DawidSkene,
                  "OneCoinDS": ck.OneCoinDawidSkene, "MACE": ck.MACE}
        if args.ck_glad:
            theirs["GLAD"] = ck.GLAD
    except ImportError:
        ck, theirs = None, {}
        print("crowd-kit is not importable here: its columns are left empty", file=sys.stderr)
    cols = [*OURS, "DS+gold"] + [f"ck {m}" for m in theirs]
    diag_cols = ["DS", "DS@ck", "ck DS", "ck DS conv", "1C", "1C@ck", "ck 1C", "ck 1C conv",
                 "MV first", "ck MV", "Wawa first", "ck Wawa"]
    table, diagnosis = [], []
    for name in args.sets:
        folder = args.data / name
        if not (folder / "answers.csv").exists():
            continue
        t0 = time.perf_counter()
        answers = pd.read_csv(folder / "answers.csv", dtype={"id": str, "worker": str})
        g = pd.read_csv(folder / "gold.csv", dtype={"id": str})
        gold = pd.Series(text(g["label"].to_numpy()), index=g["id"].astype(str))
        gold = gold[gold.index.isin(set(answers["id"]))]
        row = {}
        if args.diagnosis_only:
            if ck is None:
                raise SystemExit("--diagnosis-only needs crowd-kit")
            ck_data = answers.rename(columns={"id": "task"})[["task", "worker", "label"]]
            row = {"DS": cell([score(DawidSkene().fit_predict(answers), gold)]),
                   "OneCoinDS": cell([score(OneCoinDawidSkene().fit_predict(answers), gold)])}
            for short, cls in (("MV", ck.MajorityVote), ("Wawa", ck.Wawa),
                               ("DS", ck.DawidSkene), ("OneCoinDS", ck.OneCoinDawidSkene)):
                row[f"ck {short}"] = f"{score(cls().fit_predict(ck_data), gold):.3f}"
            diagnosis.append(diagnose(ck, name, answers, ck_data, gold, row, diag_cols))
            print(diagnosis[-1], flush=True)
            continue
        for short, cls in OURS.items():
            seeds = SEEDS if short in SEEDED else [0]
            row[short] = cell([score(cls(seed=s).fit_predict(answers), gold) for s in seeds])
        mv = MajorityVote().fit(answers).probas_
        top = np.sort(mv.to_numpy(), axis=1)
        ties = int((np.abs(top[:, -1] - top[:, -2]) < 1e-12).sum()) if top.shape[1] > 1 else 0
        half = gold.sample(frac=0.5, random_state=0)
        rest = gold.drop(half.index)
        row["DS+gold"] = cell([score(DawidSkene(seed=s).fit_predict(answers, gold=half), rest)
                               for s in SEEDS])
        ck_data = answers.rename(columns={"id": "task"})[["task", "worker", "label"]]
        for short, cls in theirs.items():
            if short == "GLAD" and len(answers) > args.ck_glad_max:
                row["ck GLAD"] = "not run"
                continue
            try:
                row[f"ck {short}"] = f"{score(cls().fit_predict(ck_data), gold):.3f}"
            except Exception as exc:  # noqa: BLE001 -- show crowd-kit's failure, go on
                row[f"ck {short}"] = f"error: {type(exc).__name__}"
        table.append(f"| {name} | {answers['id'].nunique()} | {len(gold)} | {ties} | "
                     + " | ".join(row.get(c, "") for c in cols)
                     + f" | {PUBLISHED.get(name, '')} |")
        print(table[-1], flush=True)
        if ck is not None:
            diagnosis.append(diagnose(ck, name, answers, ck_data, gold, row, diag_cols))
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if table:
        print("\n| set | items | gold | ties (MV) | " + " | ".join(cols) + " | published |")
        print("| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in cols) + " | --- |")
        print("\n".join(table))
    if diagnosis:
        print("\nWhere the gaps to crowd-kit come from (see the module docstring):\n")
        print("| set | " + " | ".join(diag_cols) + " |")
        print("| --- | " + " | ".join("---:" for _ in diag_cols) + " |")
        print("\n".join(diagnosis))


if __name__ == "__main__":
    main()
