"""Accuracy of the aggregators on every categorical crowd set with gold, beside crowd-kit.

For each set under ``../shared/data`` with ``answers.csv`` (id,worker,label) and
``gold.csv`` (id,label), every method is fitted on all answers and scored on the gold ids
only. labelquorum's methods run with seeds 0-9 (the seed only moves the tie-break), and the
table shows the mean, with the spread (max - min) where it is not 0. ``DS+gold`` seeds
DawidSkene with half the gold (a fixed random half) and is scored on the other half.
crowd-kit's methods run beside them when ``crowdkit`` is importable (it must live in its
own environment; see ``aggregation_speed.py``), and ``published`` quotes the figures from
the sets' READMEs (Crowd-Kit paper; Zheng et al.'s recorded D&S where that is all there
is). ``zheng_emotion`` is numeric and left out.

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

from labelquorum.aggregation.dawid_skene import DawidSkene, OneCoinDawidSkene
from labelquorum.aggregation.majority_vote import MajorityVote
from labelquorum.aggregation.wawa import Wawa

SETS = ["zheng_product", "zheng_sentiment", "zheng_dog", "zheng_face", "zheng_relevance",
        "welinder_bluebirds", "snow2008_rte", "snow2008_temp", "snow2008_wsd",
        "rodrigues_sentiment_polarity", "rodrigues_music_genre", "sentiment_polarity_amt",
        "crowdflower_weather", "crowdflower_weather_amt", "zencrowd", "zhou_web_relevance",
        "trec2011_relevance"]
OURS = {"MV": MajorityVote, "Wawa": Wawa, "DS": DawidSkene, "OneCoinDS": OneCoinDawidSkene}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    try:
        from crowdkit import aggregation as ck
        theirs = {"MV": ck.MajorityVote, "Wawa": ck.Wawa, "DS": ck.DawidSkene,
                  "OneCoinDS": ck.OneCoinDawidSkene}
    except ImportError:
        theirs = {}
        print("crowd-kit is not importable here: its columns are left empty", file=sys.stderr)
    cols = [*OURS, "DS+gold"] + [f"ck {m}" for m in theirs]
    print("| set | items | gold | ties (MV) | " + " | ".join(cols) + " | published |")
    print("| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in cols) + " | --- |")
    for name in SETS:
        folder = args.data / name
        if not (folder / "answers.csv").exists():
            continue
        t0 = time.perf_counter()
        answers = pd.read_csv(folder / "answers.csv", dtype={"id": str, "worker": str})
        g = pd.read_csv(folder / "gold.csv", dtype={"id": str})
        gold = pd.Series(text(g["label"].to_numpy()), index=g["id"].astype(str))
        gold = gold[gold.index.isin(set(answers["id"]))]
        row = {}
        for short, cls in OURS.items():
            row[short] = cell([score(cls(seed=s).fit_predict(answers), gold) for s in SEEDS])
        mv = MajorityVote().fit(answers).probas_
        top = np.sort(mv.to_numpy(), axis=1)
        ties = int((np.abs(top[:, -1] - top[:, -2]) < 1e-12).sum()) if top.shape[1] > 1 else 0
        half = gold.sample(frac=0.5, random_state=0)
        rest = gold.drop(half.index)
        row["DS+gold"] = cell([score(DawidSkene(seed=s).fit_predict(answers, gold=half), rest)
                               for s in SEEDS])
        ck_data = answers.rename(columns={"id": "task"})[["task", "worker", "label"]]
        for short, cls in theirs.items():
            try:
                row[f"ck {short}"] = f"{score(cls().fit_predict(ck_data), gold):.3f}"
            except Exception as exc:  # noqa: BLE001 -- show crowd-kit's failure, go on
                row[f"ck {short}"] = f"error: {type(exc).__name__}"
        print(f"| {name} | {answers['id'].nunique()} | {len(gold)} | {ties} | "
              + " | ".join(row[c] for c in cols) + f" | {PUBLISHED.get(name, '')} |", flush=True)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
