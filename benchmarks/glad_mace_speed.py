"""GLAD and MACE: speed, memory and accuracy, beside crowd-kit.

Run by hand (it is not a test)::

    python benchmarks/glad_mace_speed.py                      # ours on 1,000,000 judgements
    python benchmarks/glad_mace_speed.py --crowdkit-items 4000  # + crowd-kit on a subset
    python benchmarks/glad_mace_speed.py --real                 # + accuracy on crowd sets

Synthetic set: 200,000 items x 5 judgements from 1,000 annotators whose accuracies are
drawn from Beta(6, 2), 4 classes, wrong answers uniform over the other labels (seed 0).
Every fit runs in a fresh child interpreter, so peak memory is that of one process doing
one fit ("peak" is the process's high-water mark, "fit" the part above the memory it held
before fitting). crowd-kit runs in its own environment (``--crowdkit-python``, default
``/work/venvs/crowdkit/bin/python``); it is never a dependency of the package. crowd-kit's
GLAD takes minutes on a 100,000-judgement subset, so by default it runs on the first
``--crowdkit-items`` items and its time on the full set is extrapolated linearly (labelled
as such).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, peak_rss_mb, table

CROWDKIT_PYTHON = "/work/venvs/crowdkit/bin/python"
REAL_SETS = {  # crowd-kit paper's published accuracies, from each set's README
    "zheng_product": {"GLAD": 0.928, "MACE": 0.929, "MV": 0.897},
    "zheng_sentiment": {"GLAD": 0.948, "MACE": 0.950, "MV": 0.932},
    "zheng_relevance": {"GLAD": 0.511, "MACE": 0.501, "MV": 0.536},
}


def synthetic(n_items=200_000, per_item=5, n_workers=1_000, k=4, seed=0):
    """(item, worker, label, truth) arrays; each item has per_item distinct annotators."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    accuracy = rng.beta(6, 2, n_workers)
    first = rng.integers(0, n_workers, n_items)
    worker = ((first[:, None] + np.arange(per_item) * (n_workers // per_item))
              % n_workers).reshape(-1)
    item = np.repeat(np.arange(n_items), per_item)
    right = rng.random(len(item)) < accuracy[worker]
    wrong = (truth[item] + rng.integers(1, k, len(item))) % k
    label = np.where(right, truth[item], wrong)
    return item, worker, label, truth


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_child(method: str, data: Path) -> dict:
    """Fit one method on the saved data in this process; return time, accuracy, memory."""
    arrays = np.load(data)
    n_items = int(arrays["n_items"])
    keep = arrays["item"] < n_items
    df = pd.DataFrame({"task": arrays["item"][keep], "worker": arrays["worker"][keep],
                       "label": arrays["label"][keep]})
    truth = pd.Series(arrays["truth"][:n_items])
    before = rss_mb()
    if method.startswith("crowdkit-"):
        from crowdkit.aggregation import GLAD, MACE
        est = {"crowdkit-glad": GLAD, "crowdkit-mace": MACE}[method]()
        start = time.perf_counter()
        labels = est.fit_predict(df)
        seconds = time.perf_counter() - start
        labels.index = labels.index.astype(int)
        iterations = len(getattr(est, "loss_history_", []))
    else:
        from labelquorum.aggregation.glad import GLAD
        from labelquorum.aggregation.mace import MACE
        est = {"glad": GLAD, "mace": MACE}[method]()
        start = time.perf_counter()
        labels = est.fit(df).labels_
        seconds = time.perf_counter() - start
        labels.index = labels.index.astype(int)
        iterations = est.n_iter_
    acc = float((labels.astype(int) == truth.reindex(labels.index)).mean())
    peak = peak_rss_mb()
    return {"seconds": seconds, "accuracy": acc, "peak_mb": peak, "fit_mb": peak - before,
            "judgements": len(df), "iterations": iterations}


def child(python: str, method: str, data: Path) -> dict:
    proc = subprocess.run([python, __file__, "--child", method, str(data)], text=True,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{method} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def save(path: Path, n_items: int, arrays) -> Path:
    item, worker, label, truth = arrays
    np.savez(path, item=item, worker=worker, label=label, truth=truth, n_items=n_items)
    return path


def real_accuracy(data_dir: Path, crowdkit_python: str | None) -> list[dict]:
    from labelquorum.aggregation import MajorityVote
    from labelquorum.aggregation.glad import GLAD
    from labelquorum.aggregation.mace import MACE
    rows = []
    for name, published in REAL_SETS.items():
        folder = data_dir / name
        if not folder.exists():
            print(f"(skipping {name}: {folder} not found)")
            continue
        answers = pd.read_csv(folder / "answers.csv", dtype=str).rename(columns={"id": "task"})
        gold = pd.read_csv(folder / "gold.csv", dtype=str).set_index("id")["label"]
        crowdkit = _crowdkit_real(crowdkit_python, folder) if crowdkit_python else {}
        for method, cls in (("MV", MajorityVote), ("GLAD", GLAD), ("MACE", MACE)):
            start = time.perf_counter()
            labels = cls().fit(answers).labels_
            seconds = time.perf_counter() - start
            row = {"set": name, "method": method,
                   "ours": float((labels.reindex(gold.index) == gold).mean()),
                   "ours s": seconds, "crowd-kit published": published[method]}
            if method in crowdkit:
                row["crowd-kit here"], row["crowd-kit s"] = crowdkit[method]
            rows.append(row)
        print(table(rows[-3:]), flush=True)
    return rows


def _crowdkit_real(python: str, folder: Path) -> dict:
    code = f"""
import json, time, pandas as pd
from crowdkit.aggregation import GLAD, MACE
a = pd.read_csv({str(folder / 'answers.csv')!r}, dtype=str).rename(columns={{'id': 'task'}})
g = pd.read_csv({str(folder / 'gold.csv')!r}, dtype=str).set_index('id')['label']
out = {{}}
for name, cls in (('GLAD', GLAD), ('MACE', MACE)):
    t = time.perf_counter(); lab = cls().fit_predict(a); t = time.perf_counter() - t
    out[name] = (float((lab.reindex(g.index) == g).mean()), t)
print(json.dumps(out))
"""
    proc = subprocess.run([python, "-c", code], text=True, capture_output=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-2000:])
        return {}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "DATA"), help=argparse.SUPPRESS)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--crowdkit-items", type=int, default=0,
                        help="also run crowd-kit on the first N items (0: skip)")
    parser.add_argument("--crowdkit-python", default=CROWDKIT_PYTHON)
    parser.add_argument("--real", action="store_true", help="accuracy on the Zheng crowd sets")
    parser.add_argument("--real-crowdkit", action="store_true",
                        help="also run crowd-kit on the crowd sets (slow: minutes)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child[0], Path(args.child[1]))))
        return
    arrays = synthetic(n_items=args.items)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        full = save(Path(tmp) / "full.npz", args.items, arrays)
        for method in ("glad", "mace"):
            rows.append({"method": f"labelquorum {method.upper()}", **child(sys.executable,
                                                                          method, full)})
            print(table(rows[-1:]), flush=True)
        if args.crowdkit_items:
            if not Path(args.crowdkit_python).exists():
                print(f"(crowd-kit skipped: {args.crowdkit_python} not found)")
            else:
                sub = save(Path(tmp) / "sub.npz", args.crowdkit_items, arrays)
                for method in ("glad", "mace"):
                    ours = child(sys.executable, method, sub)
                    theirs = child(args.crowdkit_python, f"crowdkit-{method}", sub)
                    rows.append({"method": f"labelquorum {method.upper()} (subset)", **ours})
                    rows.append({"method": f"crowd-kit {method.upper()} (subset)", **theirs})
                    scale = len(arrays[0]) / theirs["judgements"]
                    rows.append({"method": f"crowd-kit {method.upper()} (extrapolated x{scale:g})",
                                 "seconds": theirs["seconds"] * scale, "accuracy": float("nan"),
                                 "peak_mb": float("nan"), "fit_mb": float("nan"),
                                 "judgements": len(arrays[0]), "iterations": 0})
                    print(table(rows[-3:]), flush=True)
    print("\nSynthetic: 1,000 annotators, Beta(6, 2) accuracies, 4 classes")
    print(table(rows))
    if args.real:
        python = args.crowdkit_python if args.real_crowdkit else None
        print("\nAccuracy on gold items")
        print(table(real_accuracy(args.data, python)))


if __name__ == "__main__":
    main()
