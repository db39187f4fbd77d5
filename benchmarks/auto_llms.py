"""``policy.type = "auto"`` on 13 recorded real LLMs: accuracy at a cost, against one model.

For each of the 13 tasks of ``../shared/data/llms_for_css`` (loaded, priced and filtered
as in ``benchmarks/llms_for_css.py``) and each of ``--splits`` random splits, 10 % of the
items are calibration gold and 90 % the test items. On the calibration items only:

* the *calibration-chosen single model* is the most accurate one (ties: the cheaper), as
  in ``llms_for_css.py``; its cost per item on them is the reference cost;
* the auto search (:mod:`labelquorum.policies.search`, what ``policy.type = "auto"`` and
  ``labelquorum tune`` run) scores every candidate policy by 5-fold cross-validation
  inside the calibration items, once per split, and chooses the most accurate within 10 %,
  25 %, 50 % and 100 % of the reference cost per item.

Each chosen policy then runs (``run_offline``: the policy's own ``step``) over the
calibration and test items, with the calibration items as reference (as calibration
gold is in a project), and is scored on the test items. Figures: mean over splits with a
95 % interval (t over splits); the paired difference to the chosen single model.

Calibration: the recorded models state no confidence (one answer each), so their raw
confidence is 1; the calibrated P(right) (``ConfidenceCalibrator``, fitted on the
calibration items) is scored on the test items. Expected calibration error before and
after, mean over splits.

    python benchmarks/auto_llms.py [--data ../shared/data] [--splits 20] [--tasks a,b]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, REPO
from llms_for_css import CAL_SHARE, PRICES, Data, task_data

from labelquorum.calibration import ConfidenceCalibrator, expected_calibration_error
from labelquorum.errors import PolicyError
from labelquorum.policies import run_offline
from labelquorum.policies.search import Probe, choose, evaluate, make_policy, recipes
from labelquorum.recordings import llms_for_css as css

SHARES = (0.10, 0.25, 0.50, 1.00)
OUT_MD = REPO / "benchmarks" / "results" / "auto_llms.md"


def split(d: Data, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(d.ids)
    perm = np.random.default_rng(seed).permutation(n)
    n_cal = max(round(CAL_SHARE * n), 2)
    return np.sort(perm[:n_cal]), np.sort(perm[n_cal:])


def one_split(d: Data, seed: int) -> tuple[list[dict], list[dict]]:
    cal, test = split(d, seed)
    acc = (d.answers[cal] == d.gold[cal, None]).mean(axis=0)
    best = max(range(len(d.models)), key=lambda j: (acc[j], -PRICES[d.models[j]][0]))
    ref_cost = float(d.cost[cal, best].mean())
    rows = [{"seed": seed, "method": "chosen single", "acc": float(
        (d.answers[test, best] == d.gold[test]).mean()), "cost": float(d.cost[test, best].mean()),
        "config": d.models[best], "ref_cost": ref_cost}]
    probe = Probe(d.models, d.rec.labels, d.answers[cal], d.gold[cal], d.cost[cal],
                  failed=d.failed[cal], ids=d.ids[cal])
    scored = evaluate(probe, recipes(probe), folds=5, seed=seed)
    both = np.concatenate([cal, test])
    reference = np.concatenate([d.gold[cal], np.full(len(test), -1)])
    texts = d.rec.items["text"].to_numpy()[both]
    is_test = np.arange(len(both)) >= len(cal)
    runs: dict[str, tuple[float, float]] = {}
    for share in SHARES:
        try:
            chosen = choose(scored, budget=share * ref_cost)
        except PolicyError:
            continue
        key = repr(chosen.config)
        if key not in runs:
            r = run_offline(make_policy(chosen.config), d.ids[both], d.rec.labels, d.models,
                            d.answers[both], d.cost[both], failed=d.failed[both], texts=texts,
                            reference=reference, seed=seed)
            runs[key] = (float((r.label[is_test] == d.gold[test]).mean()),
                         float(r.cost[is_test].mean()))
        a, c = runs[key]
        rows.append({"seed": seed, "method": f"auto @{round(share * 100)}%", "acc": a,
                     "cost": c, "config": f"{chosen.family}: {chosen.name}",
                     "ref_cost": ref_cost, "cv_acc": chosen.accuracy})
    ece = []
    for j, m in enumerate(d.models):
        right_cal = (d.answers[cal, j] == d.gold[cal]).astype(float)
        has_t = d.answers[test, j] >= 0
        right_t = (d.answers[test, j] == d.gold[test])[has_t].astype(float)
        cal_j = ConfidenceCalibrator(n_labels=len(d.rec.labels)).fit(
            np.ones(len(cal)), right_cal, d.answers[cal, j])
        p = cal_j.predict(np.ones(int(has_t.sum())), d.answers[test, j][has_t])
        ece.append({"seed": seed, "model": m,
                    "before": expected_calibration_error(np.ones(int(has_t.sum())), right_t),
                    "after": expected_calibration_error(p, right_t)})
    return rows, ece


def run_task(args) -> tuple[str, pd.DataFrame, pd.DataFrame, int, float]:
    data_dir, name, splits = args
    t = time.perf_counter()
    d = task_data(css.load(data_dir / "llms_for_css", [name])[name])
    rows, ece = [], []
    for seed in range(splits):
        r, e = one_split(d, seed)
        rows += r
        ece += e
    return name, pd.DataFrame(rows), pd.DataFrame(ece), len(d.ids), time.perf_counter() - t


def ci(x: np.ndarray) -> float:
    """Half-width of the 95 % t interval of the mean over splits."""
    from scipy.stats import t

    x = np.asarray(x, dtype=float)
    return float(t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 \
        else float("nan")


def summarise(name: str, n: int, df: pd.DataFrame, ece: pd.DataFrame) -> tuple[list[str], dict]:
    single = df[df.method == "chosen single"].set_index("seed")
    lines = [f"### {name} ({n} items; chosen single model: "
             + ", ".join(f"{m} ×{c}" for m, c in single.config.value_counts().items()) + ")",
             "", ("| method | accuracy (95 % CI) | vs chosen single (paired, 95 % CI) | "
             "cost / single's | splits | chosen most often |"), "| --- | --- | --- | --- | --- | --- |",
             (f"| chosen single | {single.acc.mean():.3f} ± {ci(single.acc):.3f} | | 1.00 | "
             f"{len(single)} | |")]
    res = {"task": name, "single": single.acc.mean(), "single_ci": ci(single.acc)}
    for share in SHARES:
        method = f"auto @{round(share * 100)}%"
        a = df[df.method == method].set_index("seed")
        if a.empty:
            lines.append(f"| {method} | – | | | 0 | nothing fits the budget |")
            continue
        diff = a.acc - single.acc.loc[a.index]
        ratio = (a.cost / single.cost.loc[a.index]).mean()
        top = a.config.value_counts()
        lines.append(f"| {method} | {a.acc.mean():.3f} ± {ci(a.acc):.3f} | "
                     f"{100 * diff.mean():+.1f} ± {100 * ci(diff):.1f} pts | {ratio:.2f} | "
                     f"{len(a)} | {top.index[0]} ×{top.iloc[0]} |")
        res[method] = a.acc.mean()
        res[method + " diff"] = diff.mean()
        res[method + " splits"] = len(a)
    e = ece.groupby("model")[["before", "after"]].mean()
    lines += ["", "ECE on the test items, before (raw confidence 1) → after (calibrated on "
              "the calibration items): " + ", ".join(f"{m} {r.before:.3f} → {r.after:.3f}"
                                                     for m, r in e.iterrows()), ""]
    res["ece_before"], res["ece_after"] = e.before.mean(), e.after.mean()
    return lines, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--tasks", default="")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    names = [t for t in args.tasks.split(",") if t] or list(
        css.load(args.data / "llms_for_css"))
    md = ["# auto on recorded LLMs (llms_for_css)", "",
          (f"`python benchmarks/auto_llms.py --splits {args.splits}`: {args.splits} random "
           f"splits, {round(CAL_SHARE * 100)} % calibration / {100 - round(CAL_SHARE * 100)} "
           "% test; prices as in llms_for_css.py. auto @x% = the search's choice within x % "
           "of the chosen single model's cost per item on the calibration items."), ""]
    results = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for name, df, ece, n, secs in pool.map(run_task, [(args.data, t, args.splits)
                                                          for t in names]):
            lines, res = summarise(name, n, df, ece)
            results.append(res)
            md += lines
            print("\n".join(lines), f"({secs:.0f} s)", flush=True)
    r = pd.DataFrame(results)
    full = "auto @100%"
    at_least = int((r[full + " diff"] >= 0).sum())
    mean_diff = 100 * r[full + " diff"].mean()
    worst = (r[full] - (r.single - r.single_ci))
    below = r.task[worst < 0].tolist()
    tail = ["## Summary", "",
            (f"- auto at the chosen single model's cost at least as accurate (mean over splits) "
            f"on {at_least} of {len(r)} tasks (target 10): "
            f"{'MET' if at_least >= 10 else 'not met'}"),
            (f"- mean difference {mean_diff:+.2f} points (target +2): "
            f"{'MET' if mean_diff >= 2 else 'not met'}"),
            "- below the chosen model by more than its 95 % interval on: "
            + (", ".join(below) if below else "no task") + f" ({'not met' if below else 'MET'})",
            "- frontier (mean accuracy over tasks; chosen single model "
            f"{r.single.mean():.3f}): " + ", ".join(
                f"{s} {r[s].mean():.3f} ({100 * r[s + ' diff'].mean():+.1f} pts)"
                for s in [f"auto @{round(x * 100)}%" for x in SHARES] if s in r),
            (f"- ECE, mean over tasks and models: {r.ece_before.mean():.3f} before, "
            f"{r.ece_after.mean():.3f} after calibration"),
            f"- wall time {time.perf_counter() - t0:.0f} s"]
    md += tail
    print("\n".join(tail))
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    OUT_MD.write_text("\n".join(md) + "\n", encoding="utf-8")
    print(f"wrote {OUT_MD}")


if __name__ == "__main__":
    main()
