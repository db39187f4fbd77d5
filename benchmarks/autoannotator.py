"""The AutoAnnotator shape, end to end: a gold seed, then batches imported and run in turn.

For each dataset and each of ``--splits`` random splits (split ``s`` shuffles the pool with
seed ``s`` and is also the project's seed), in a fresh temporary directory:

1. a project is created with the Python API (``labelquorum.init_project``) holding the
   specialists ``tfidf`` and ``embedding`` (plus ``vader`` on sentiment sets) and one
   verifier named ``llm``, under the policy of ``--policy-config`` (default: today's
   ``vote-then-verify``: unanimous specialists accept, the rest go to ``llm``);
2. ``--seed-size`` items are imported with their gold as the seed (``--seed-split``,
   default ``seed=N``) and the project is run;
3. ``--batches`` batches of ``--batch-size`` items (fewer where the set is smaller: the
   items left after the seed, shared equally) are imported one after the other as
   ordinary items (no gold role: the simulated verifier reads the truth from an item
   field, ``truth_field``, that nothing else reads) and the project is run after each;
   the trainable specialists retrain at the start of every run on what is verified so
   far (the seed, and labels verified by another source: see the policy), and within a
   run with ``policy.retrain_every``;
4. a second project asks ``llm`` alone about every batch item (a one-tier cascade): the
   comparison on the same items. Its answers are checked against the pipeline's own
   ``llm`` answers wherever both asked (they must be identical).

Per batch: the share of items sent to ``llm``, accuracy (an item without a label counts
as wrong), accuracy of the items the specialists accepted, cost; and the same for ``llm``
alone. Over all batch items per split: accuracy against ``llm`` alone and cost; over the
splits: means with 95 % t intervals (on the paired difference for accuracy).

Datasets (``../shared/data``):

* ``sst2``: the 2,693 labelled SST-2 sentences (GLUE validation + labelled test; the
  training split is phrases), negative/positive, with ``vader``;
* ``offensive``: TweetEval offensive, train + val + test (14,100 tweets);
* ``css-TASK``: an llms_for_css task (``--css-tasks``; 266-500 items), parsed by
  ``labelquorum.recordings.llms_for_css``.

Verifiers: everywhere a ``simulated`` LLM, right with probability 0.92 on the easiest items
falling linearly to 0.80 on the hardest (mean 0.86), 0.002 USD a call. What "hard" means
is ``--difficulty``: ``random`` (the simulated annotator's own per-item draw: difficulty
has nothing to do with the text, so the LLM is as good on the items the specialists
disagree on as anywhere) or ``model`` (the item's rank, scaled to [0, 1], by the
out-of-fold probability a reference model — character 2-5-gram TF-IDF and a logistic
regression, 5-fold cross-fitted over the whole pool — gives its gold label: items hard for
a model are hard for the LLM too; the mean accuracy stays 0.86). On ``css-*`` tasks also
each recorded real LLM of ``--css-verifiers`` as a ``replay`` annotator, priced as in
``benchmarks/llms_for_css.py``; its failed calls and missing rows give no label.

``--policy-config`` takes a TOML file or snippet. Its ``[policy]`` table replaces the
default policy (``"$SPECIALISTS"`` as a value stands for the dataset's specialists); its
other tables are merged into the generated config (``[annotators.tfidf]`` keys, say).
Results go to ``--out`` (default ``benchmarks/results/autoannotator.json``) under the
policy's ``--label``, beside earlier labels' results.

    python benchmarks/autoannotator.py [--data ../shared/data] [--splits 5] [--batches 5]
        [--batch-size 1000] [--seed-size 100] [--policy-config FILE_OR_TOML] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, REPO, table
from llms_for_css import PRICES

import labelquorum as lq
from labelquorum.recordings import llms_for_css as css

OUT_JSON = REPO / "benchmarks" / "results" / "autoannotator.json"
SIM = {"accuracy": 0.92, "accuracy_hard": 0.80, "cost_per_call": 0.002}
DEFAULT_POLICY = """
[policy]
type = "vote-then-verify"
specialists = "$SPECIALISTS"
verifiers = ["llm"]
"""
TARGET_GAIN, TARGET_SHARE, TARGET_LAST_SHARE = 0.03, 0.30, 0.20


@dataclass
class Pool:
    """A dataset's items (``id, text, gold``), its labels and its specialists."""

    name: str
    labels: list[str]
    frame: pd.DataFrame
    specialists: list[str]
    recording: css.TaskRecording | None = None


@dataclass
class Verifier:
    name: str  # "simulated" or the recorded model
    annotator: dict[str, Any]  # the [annotators.llm] table
    files: dict[str, pd.DataFrame] = field(default_factory=dict)  # written into the project


def _classification(name: str, data: Path, parts: list[str], sentiment: bool) -> Pool:
    frames = []
    for part in parts:
        df = pd.read_csv(data / part, dtype=str, keep_default_na=False)
        frames.append(pd.DataFrame({"id": Path(part).stem + "-" + df["id"], "text": df["text"],
                                    "gold": df["label"]}))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame["text"].str.strip() != ""].reset_index(drop=True)
    specialists = ["tfidf", "embedding"] + (["vader"] if sentiment else [])
    return Pool(name, sorted(frame["gold"].unique()), frame, specialists)


def load_pools(args) -> list[Pool]:
    pools = []
    for name in args.datasets:
        if name == "sst2":
            pools.append(_classification(name, args.data, ["sst2/validation.csv",
                                                           "sst2/test.csv"], True))
        elif name == "offensive":
            pools.append(_classification(name, args.data, [
                f"tweeteval/offensive/{p}.csv" for p in ("train", "val", "test")], False))
        elif name == "css":
            recs = css.load(args.data / "llms_for_css", args.css_tasks)
            for task, rec in recs.items():
                frame = rec.items.rename(columns={"item": "id"})[["id", "text", "gold"]]
                pools.append(Pool(f"css-{task}", list(rec.labels), frame,
                                  ["tfidf", "embedding"], rec))
        else:
            raise SystemExit(f"unknown dataset {name!r}; choose from sst2, offensive, css")
    return pools


def difficulty(pool: Pool, mode: str) -> np.ndarray | None:
    """``model`` mode: rank of 1 - P(gold) from a cross-fitted reference model, in [0, 1]."""
    if mode == "random":
        return None
    from scipy.stats import rankdata
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    texts, gold = pool.frame["text"].to_numpy(), pool.frame["gold"].to_numpy()
    p_gold = np.zeros(len(texts))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for train, test in folds.split(texts, gold):
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                              sublinear_tf=True)
        model = LogisticRegression(C=4.0, max_iter=2000).fit(vec.fit_transform(texts[train]),
                                                              gold[train])
        probs = model.predict_proba(vec.transform(texts[test]))
        col = {lab: j for j, lab in enumerate(model.classes_)}
        p_gold[test] = [probs[i, col[g]] if g in col else 0.0 for i, g in enumerate(gold[test])]
    return (rankdata(1.0 - p_gold) - 1) / max(len(texts) - 1, 1)


def verifiers(pool: Pool, args) -> list[Verifier]:
    # the truth is an item field only the simulation reads: batch items stay ordinary items
    sim = {"type": "simulated", "stands_for": "llm", "truth_field": "truth", **SIM}
    if args.difficulty == "model":
        sim["difficulty_field"] = "difficulty"
    out = [Verifier("simulated", sim)]
    if pool.recording is not None:
        rec = pool.recording
        for model in args.css_verifiers:
            if model not in rec.models:
                print(f"  {pool.name}: no recording of {model}; skipped", flush=True)
                continue
            frame = css.replay_frame(rec, PRICES, [model])
            out.append(Verifier(model, {"type": "replay", "path": "recorded.csv",
                                        "annotator": model, "kind": "llm",
                                        "cost_per_call": float(frame["cost"].mean())},
                                {"recorded.csv": frame}))
    return out


# -- config ---------------------------------------------------------------------------------
def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise SystemExit(f"cannot write {v!r} into a TOML config")


def to_toml(d: dict[str, Any], prefix: str = "") -> str:
    """A nested dict as TOML: scalars first, then sub-tables and arrays of tables."""
    lines, later = [], []
    for k, v in d.items():
        path = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, dict):
            later.append(f"\n[{path}]\n" + to_toml(v, path))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            later += [f"\n[[{path}]]\n" + to_toml(x, path) for x in v]
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    return "\n".join(lines) + "".join(later)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _substitute(v: Any, specialists: list[str]) -> Any:
    if v == "$SPECIALISTS":
        return list(specialists)
    if isinstance(v, dict):
        return {k: _substitute(x, specialists) for k, x in v.items()}
    if isinstance(v, list):
        return [_substitute(x, specialists) for x in v]
    return v


def read_policy(text_or_path: str) -> dict[str, Any]:
    path = Path(text_or_path)
    text = path.read_text(encoding="utf-8") if path.suffix == ".toml" or path.is_file() \
        else text_or_path
    try:
        snippet = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SystemExit(f"--policy-config is not valid TOML: {exc}") from None
    if "policy" not in snippet:
        raise SystemExit("--policy-config needs a [policy] table, e.g. "
                         "'[policy]\\ntype = \"vote-then-verify\"\\n...'")
    return snippet


def project_config(pool: Pool, verifier: Verifier, split: int, snippet: dict | None,
                   name: str) -> str:
    annotators: dict[str, Any] = {s: {"type": s} for s in pool.specialists}
    annotators["llm"] = verifier.annotator
    config: dict[str, Any] = {"project": {"name": name, "seed": split},
                              "task": {"labels": pool.labels}, "annotators": annotators}
    if snippet is None:  # the llm alone
        config["annotators"] = {"llm": verifier.annotator}
        config["policy"] = {"type": "cascade", "tiers": [{"name": "llm",
                                                          "annotators": ["llm"]}]}
    else:
        config["policy"] = _substitute(snippet["policy"], pool.specialists)
        config = _merge(config, {k: v for k, v in snippet.items() if k != "policy"})
    return to_toml(config) + "\n"


# -- one split ------------------------------------------------------------------------------
def _project(root: Path, text: str, verifier: Verifier):
    project = lq.init_project(root, config_text=text)
    for fname, frame in verifier.files.items():
        frame.to_csv(root / fname, index=False)
    return project


def _llm_rows(project) -> pd.DataFrame:
    j = project.judgements()
    return j[(j["annotator_name"] == "llm") & (j["status"] != "superseded")]


def run_split(pool: Pool, verifier: Verifier, snippet: dict, split: int, args,
              diff: np.ndarray | None, tmp: Path) -> dict:
    frame = pool.frame.copy()
    if diff is not None:
        frame["difficulty"] = diff
    frame = frame.assign(truth=frame["gold"])
    order = np.random.default_rng(split).permutation(len(frame))
    seed_idx, rest = order[:args.seed_size], order[args.seed_size:]
    size = min(args.batch_size, len(rest) // args.batches)
    batches = [rest[k * size:(k + 1) * size] for k in range(args.batches)]
    tag = f"{pool.name}-{verifier.name}-{split}"
    gold = frame.set_index("id")["gold"]
    rows, t0 = [], time.perf_counter()
    with _project(tmp / f"pipeline-{tag}", project_config(pool, verifier, split, snippet, tag),
                  verifier) as project:
        project.import_dataframe(frame.iloc[seed_idx], id_column="id", gold_column="gold",
                                 split=args.seed_split or f"seed={len(seed_idx)}")
        project.run()
        walls = []
        for idx in batches:
            # ordinary items, as a user's new data would be: no gold role, so the labels
            # verified on them can train the specialists
            project.import_dataframe(frame.iloc[idx].drop(columns=["gold"]), id_column="id")
            t = time.perf_counter()
            project.run()
            walls.append(time.perf_counter() - t)
        # measured once every batch has run: an item whose verifier call failed is asked
        # again by later runs, and what that costs belongs to its own batch
        final = project.to_dataframe().set_index("id")
        pipeline_llm = _llm_rows(project).drop_duplicates("item", keep="last") \
            .set_index("item")["label"]
    for k, (idx, wall) in enumerate(zip(batches, walls), 1):
        ids = frame["id"].to_numpy()[idx]
        out = final.loc[ids]
        right = (out["label"] == gold.loc[ids]).to_numpy()
        kept = ~np.isin(ids, pipeline_llm.index)
        rows.append({"batch": k, "items": len(ids), "llm_share": float(1 - kept.mean()),
                     "accuracy": float(right.mean()),
                     "accepted_accuracy": float(right[kept].mean()) if kept.any()
                     else float("nan"),
                     "cost": float(out["cost"].fillna(0).sum()), "run_s": wall,
                     "ids": ids, "right": right})
    all_ids = np.concatenate([r["ids"] for r in rows])
    alone_cfg = project_config(pool, verifier, split, None, tag + "-alone")
    with _project(tmp / f"alone-{tag}", alone_cfg, verifier) as alone:
        alone.import_dataframe(frame.set_index("id").loc[all_ids].reset_index(),
                               id_column="id", gold_column="gold")
        alone.run()
        out = alone.to_dataframe().set_index("id")
        alone_llm = _llm_rows(alone).drop_duplicates("item", keep="last") \
            .set_index("item")["label"]
    shared = pipeline_llm.index.intersection(alone_llm.index)
    mismatched = int((pipeline_llm.loc[shared].fillna("") != alone_llm.loc[shared].fillna(""))
                     .sum())
    for r in rows:
        a = out.loc[r["ids"]]
        r["llm_alone_accuracy"] = float((a["label"] == gold.loc[r["ids"]]).mean())
        r["llm_alone_cost"] = float(a["cost"].fillna(0).sum())
    right = np.concatenate([r.pop("right") for r in rows])
    alone_right = (out.loc[all_ids, "label"] == gold.loc[all_ids]).to_numpy()
    for r in rows:
        del r["ids"]
    n = len(all_ids)
    return {"split": split, "items": n, "batch_size": size, "batches": rows,
            "accuracy": float(right.mean()), "llm_alone_accuracy": float(alone_right.mean()),
            "gain": float(right.mean() - alone_right.mean()),
            "llm_share": sum(r["llm_share"] * r["items"] for r in rows) / n,
            "cost": sum(r["cost"] for r in rows),
            "llm_alone_cost": float(out.loc[all_ids, "cost"].fillna(0).sum()),
            "llm_answers_compared": len(shared), "llm_answers_mismatched": mismatched,
            "wall_s": time.perf_counter() - t0}


# -- summaries ------------------------------------------------------------------------------
def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95 % t interval (NaN half-width with one value)."""
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float("nan"), float("nan")
    half = float(t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def summarise(splits: list[dict]) -> dict:
    k = len(splits[0]["batches"])
    shares = [float(np.mean([s["batches"][b]["llm_share"] for s in splits])) for b in range(k)]
    gain = interval([s["gain"] for s in splits])
    out = {
        "splits": len(splits),
        "accuracy": interval([s["accuracy"] for s in splits]),
        "llm_alone_accuracy": interval([s["llm_alone_accuracy"] for s in splits]),
        "gain": gain,
        "splits_above_llm_alone": sum(s["gain"] > 0 for s in splits),
        "llm_share": interval([s["llm_share"] for s in splits]),
        "llm_share_by_batch": shares,
        "accepted_accuracy_by_batch": [float(np.nanmean(
            [s["batches"][b]["accepted_accuracy"] for s in splits])) for b in range(k)],
        "cost_ratio": interval([s["cost"] / s["llm_alone_cost"] if s["llm_alone_cost"]
                                else float("nan") for s in splits]),
        "llm_answers_mismatched": sum(s["llm_answers_mismatched"] for s in splits),
    }
    out["targets"] = {
        "gain_3_points_on_mean": gain[0] >= TARGET_GAIN,
        "above_llm_alone_every_split": out["splits_above_llm_alone"] == len(splits),
        "llm_share_at_most_30": out["llm_share"][0] <= TARGET_SHARE,
        "llm_share_falling": all(b < a for a, b in itertools.pairwise(shares)),
        "last_batch_share_at_most_20": shares[-1] <= TARGET_LAST_SHARE,
    }
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def print_result(pool: Pool, verifier: Verifier, splits: list[dict], summary: dict) -> None:
    print(f"\n## {pool.name}, verifier {verifier.name} ({len(pool.frame):,} items; seed "
          f"{splits[0]['seed_size']}, {len(splits[0]['batches'])} batches of "
          f"{splits[0]['batch_size']:,}; {len(splits)} splits)\n")
    k = len(splits[0]["batches"])
    per_batch = []
    for b in range(k):
        bs = [s["batches"][b] for s in splits]
        per_batch.append({
            "batch": b + 1,
            "LLM share %": _pct(np.mean([x["llm_share"] for x in bs])),
            "accuracy": float(np.mean([x["accuracy"] for x in bs])),
            "LLM alone": float(np.mean([x["llm_alone_accuracy"] for x in bs])),
            "accepted acc": float(np.nanmean([x["accepted_accuracy"] for x in bs])),
            "cost $": float(np.mean([x["cost"] for x in bs])),
            "LLM alone $": float(np.mean([x["llm_alone_cost"] for x in bs])),
            "run s": float(np.mean([x["run_s"] for x in bs]))})
    print("Per batch (mean over splits):\n")
    print(table(per_batch))
    print("\nPer split (all batch items):\n")
    print(table([{"split": s["split"], "accuracy": s["accuracy"],
                  "LLM alone": s["llm_alone_accuracy"], "gain pts": 100 * s["gain"],
                  "LLM share %": _pct(s["llm_share"]),
                  "shares by batch %": " ".join(_pct(b["llm_share"]) for b in s["batches"]),
                  "cost $": s["cost"], "LLM alone $": s["llm_alone_cost"],
                  "wall s": s["wall_s"]} for s in splits]))
    g, sh = summary["gain"], summary["llm_share"]
    print(f"\nGain over the LLM alone: {100 * g[0]:+.1f} points (95 % t interval "
          f"{100 * g[1]:+.1f} to {100 * g[2]:+.1f}); above it on "
          f"{summary['splits_above_llm_alone']} of {summary['splits']} splits. LLM share "
          f"{_pct(sh[0])} % ({_pct(sh[1])} to {_pct(sh[2])}); cost "
          f"{summary['cost_ratio'][0]:.2f} x the LLM alone. LLM answers that differ between "
          f"the pipeline and the LLM alone: {summary['llm_answers_mismatched']} (must be 0).")
    print("Targets: " + "; ".join(f"{k} {'met' if v else 'NOT met'}"
                                  for k, v in summary["targets"].items()))


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--datasets", nargs="+", default=["sst2", "offensive", "css"],
                    help="sst2, offensive, css (the tasks of --css-tasks)")
    ap.add_argument("--css-tasks", default="emotion,mrf_classification",
                    type=lambda s: [t for t in s.split(",") if t])
    ap.add_argument("--css-verifiers", default="flan-ul2,chatgpt",
                    type=lambda s: [t for t in s.split(",") if t],
                    help="recorded models used as the verifier on css tasks, one at a time")
    ap.add_argument("--splits", type=int, help="random splits (default 5)")
    ap.add_argument("--batches", type=int, help="batches after the seed (default 5)")
    ap.add_argument("--batch-size", type=int, help="items per batch at most (default 1000)")
    ap.add_argument("--seed-size", type=int, help="gold seed items (default 100)")
    ap.add_argument("--seed-split", default=None,
                    help="gold roles of the seed items (default seed=SEED_SIZE), e.g. "
                         "seed=50,calibration=50")
    ap.add_argument("--difficulty", choices=["random", "model"], default="random")
    ap.add_argument("--policy-config", default=DEFAULT_POLICY,
                    help="a TOML file or snippet with a [policy] table")
    ap.add_argument("--label", default=None, help="name of these results in --out")
    ap.add_argument("--out", type=Path, default=OUT_JSON)
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 2 splits, 2 batches of 200, a 50-item seed, one css "
                         "task and one recorded verifier (flags given explicitly win)")
    args = ap.parse_args()
    sizes = {"splits": (5, 2), "batches": (5, 2), "batch_size": (1000, 200),
             "seed_size": (100, 50)}
    for name, (full, quick) in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.quick:
        args.css_tasks, args.css_verifiers = args.css_tasks[:1], args.css_verifiers[:1]
    snippet = read_policy(args.policy_config)
    label = args.label or (snippet["policy"].get("type", "policy") + f"/{args.difficulty}"
                           + ("/quick" if args.quick else ""))
    print(f"# AutoAnnotator shape: policy {label}\n\n```toml\n{to_toml(snippet).strip()}\n```")
    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lq-autoannotator-") as tmpdir:
        for pool in load_pools(args):
            diff = difficulty(pool, args.difficulty)
            for verifier in verifiers(pool, args):
                splits = []
                for split in range(args.splits):
                    with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
                        res = run_split(pool, verifier, snippet, split, args, diff, Path(tmp))
                    res["seed_size"] = args.seed_size
                    splits.append(res)
                    print(f"  {pool.name} / {verifier.name} split {split}: acc "
                          f"{res['accuracy']:.3f} vs {res['llm_alone_accuracy']:.3f}, share "
                          f"{_pct(res['llm_share'])} % ({res['wall_s']:.0f} s)", flush=True)
                summary = summarise(splits)
                print_result(pool, verifier, splits, summary)
                results[f"{pool.name}/{verifier.name}"] = {"summary": summary,
                                                            "splits": splits}
    entry = {"date": date.today().isoformat(), "commit": _commit(),
             "policy_config": snippet, "difficulty": args.difficulty,
             "simulated_llm": SIM, "splits": args.splits, "batches": args.batches,
             "batch_size": args.batch_size, "seed_size": args.seed_size,
             "seed_split": args.seed_split, "wall_s": time.perf_counter() - t0,
             "results": results}
    everything = json.loads(args.out.read_text()) if args.out.exists() else {}
    everything[label] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(everything, indent=1, default=float) + "\n")
    print(f"\nwrote {args.out} [{label!r}] ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
