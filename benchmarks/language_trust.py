"""Per-language trust: accuracy and cost of a calibrated cascade with and without it.

``../shared/data`` holds no labelled set in several languages (its text sets are English),
so the mix is built: templated hotel-and-travel reviews in English, French, German and
Spanish (``tests/fixtures/make_mixed_languages_reviews.py``; py3langid tells all of them
apart), labelled by

* ``cheap``: a simulated model, right 75 % of the time everywhere, free;
* ``llm``: recorded answers of an LLM that is right ``--strong`` of the time in English,
  German and Spanish and ``--weak`` in French, always 95 % sure of itself (the shape
  Jadhav et al. report for Marathi: confident, and 10–14 points or more below par);
* ``people``: simulated people, right ``--people`` of the time, 0.05 USD an answer.

The policy is ``cheap > llm > people`` with the calibrated gate (``gate_bound =
"estimate"``). Each project is a real one (SQLite store, real run); the languages are
either imported from the input or detected by py3langid at the run's start
(``--detect``). Printed per setting: accuracy on the evaluation items (all, French, the
rest), cost per item, and the share of French and other items the LLM tier accepted.

    python benchmarks/language_trust.py --per-language 500 --calibration 200
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
sys.path.insert(0, str(REPO / "src"))

from make_mixed_languages_reviews import reviews

import labelquorum as lq

CONFIG = """
[project]
name = "language-trust"
seed = {seed}
[task]
labels = ["negative", "positive"]
[annotators.cheap]
type = "simulated"
stands_for = "model"
accuracy = 0.75
[annotators.llm]
type = "replay"
kind = "llm"
path = "llm.csv"
cost_per_call = 0.001
[annotators.people]
type = "simulated"
stands_for = "human"
accuracy = {people}
cost_per_call = 0.05
[policy]
type = "cascade"
gate = "calibrated"
gate_bound = "estimate"
margin = {margin}
per_language = {per_language}
[[policy.tiers]]
name = "model"
annotators = ["cheap"]
[[policy.tiers]]
name = "llm"
annotators = ["llm"]
[[policy.tiers]]
name = "people"
annotators = ["people"]
"""


def _draw(*parts) -> float:
    return int.from_bytes(hashlib.sha1("/".join(map(str, parts)).encode()).digest()[:8],
                          "big") / 2**64


def llm_answers(items: pd.DataFrame, strong: float, weak: float, seed: int) -> pd.DataFrame:
    flip = {"positive": "negative", "negative": "positive"}
    rows = []
    for item, lang, gold in zip(items["id"], items["language"], items["label"]):
        right = _draw(seed, "llm", item) < (weak if lang == "fr" else strong)
        rows.append((item, "llm", gold if right else flip[gold], 0.95))
    return pd.DataFrame(rows, columns=["item", "annotator", "label", "confidence"])


def one(items: pd.DataFrame, *, per_language: bool, strong: float, weak: float, seed: int,
        calibration: int, detect: bool, people: float, margin: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "p"
        project = lq.init_project(root, config_text=CONFIG.format(
            seed=seed, per_language=str(per_language).lower(), people=people, margin=margin))
        llm_answers(items, strong, weak, seed).to_csv(root / "llm.csv", index=False)
        data = items.drop(columns="language") if detect else items
        project.import_dataframe(data, id_column="id", split=f"calibration={calibration}")
        start = time.perf_counter()
        report = project.run()
        seconds = time.perf_counter() - start
        out = project.to_dataframe().set_index("id")
        project.close()
    out["lang"] = items.set_index("id")["language"]
    ev = out[out["gold_role"] == "evaluation"]
    fr = ev["lang"] == "fr"
    right = ev["label"] == ev["gold"]
    return {"accuracy": right.mean(), "fr": right[fr].mean(), "rest": right[~fr].mean(),
            "usd_per_item": report.cost / len(out),
            "llm_fr": (ev.loc[fr, "tier"] == "llm").mean(),
            "llm_rest": (ev.loc[~fr, "tier"] == "llm").mean(),
            "distrusted": sum(n.startswith("per-language trust") for n in report.notes),
            "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-language", type=int, default=500, help="items per language")
    ap.add_argument("--calibration", type=int, default=200, help="calibration gold items")
    ap.add_argument("--strong", type=float, default=0.97)
    ap.add_argument("--weak", type=float, nargs="+", default=[0.45, 0.65, 0.8])
    ap.add_argument("--people", type=float, default=0.9, help="the people's accuracy")
    ap.add_argument("--margin", type=float, default=0.02, help="policy.margin")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--detect", action="store_true",
                    help="leave the language column out: py3langid detects at the run")
    args = ap.parse_args()
    items = pd.DataFrame(reviews(args.per_language), columns=["id", "text", "language",
                                                              "label"])
    print(f"{len(items):,} items ({args.per_language} per language), {args.calibration} "
          f"calibration gold; LLM {args.strong:.2f} outside French, people "
          f"{args.people:.2f}; languages "
          f"{'detected by py3langid' if args.detect else 'from the input'}; "
          f"{args.seeds} seeds")
    print(f"{'fr acc of LLM':>13} {'trust':>5} | {'accuracy':>8} {'fr':>6} {'rest':>6} | "
          f"{'USD/item':>8} | {'LLM tier: fr':>12} {'rest':>6} | distrusted  run s")
    for weak in args.weak:
        for per_language in (False, True):
            runs = [one(items, per_language=per_language, strong=args.strong, weak=weak,
                        seed=s, calibration=args.calibration, detect=args.detect,
                        people=args.people, margin=args.margin)
                    for s in range(args.seeds)]
            m = pd.DataFrame(runs).mean()
            print(f"{weak:>13.2f} {'on' if per_language else 'off':>5} | {m['accuracy']:>8.3f} "
                  f"{m['fr']:>6.3f} {m['rest']:>6.3f} | {m['usd_per_item']:>8.4f} | "
                  f"{m['llm_fr']:>12.2f} {m['llm_rest']:>6.2f} | {m['distrusted']:>10.1f} "
                  f"{m['seconds']:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
