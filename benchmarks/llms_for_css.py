"""Chains and cascades of real LLMs, replayed: accuracy and cost on llms_for_css.

For each of the 13 tasks of ``../shared/data/llms_for_css`` (13 LLMs' recorded zero-shot
outputs, Ziems et al. 2024; parsed by ``labelquorum.recordings.llms_for_css``) and each of
``--splits`` random splits, 10 % of the items (with gold) are the calibration split and
the other 90 % the test split. On the calibration split only, the benchmark chooses

* the best single model (highest accuracy; ties to the cheaper),
* a chain ensemble (``policy.type = "chain"``, ``confidence = "agreement"``, labels from
  the most confident link by rank): its first link is a group of two or three models (the most accurate on
  calibration among those up to a price), later links
  one or two single models, every link no cheaper than the one before,
* a cascade (``policy.type = "cascade"``, ``scope = "cumulative"``): a group of cheap
  models first, accepted when they agree; then one or two more models, each tier accepting
  when the share of all answers so far agreeing with the consensus reaches its threshold;
  the last tier takes the rest. A one-tier cascade (one model asked about everything) is
  a candidate too, so "the cheapest model that is good enough" can be chosen,

each twice: the most accurate candidate whose calibration cost is at most 25 % of the
best single model's ("@25%"), and the most accurate at most 100 % ("@100%"). Accuracy and
cost are then measured on the test split, against each single model, majority vote over
all models and Dawid-Skene over all models (seeded with the calibration gold).

The chosen chains and cascades run through the real code path — a labelquorum project per
(task, split, policy), one ``replay`` annotator per model, ``Project.run()`` — unless
``--offline``; the candidate search uses ``labelquorum.policies.offline.run_offline``,
which calls the same ``Policy.step``. Every project run is checked against the offline run
of the same policy (labels, deciding tier and cost must match); the count of checks is
printed.

Costs: no token counts were recorded, so tokens are estimated from text length
(``CHARS_PER_TOKEN`` = 4 characters per token, prompt + item text in, the raw output out)
and priced by ``PRICES`` below. Models with rows for fewer than 95 % of a task's items,
and the fine-tuned ``roberta`` baseline, are left out of that task.

    python benchmarks/llms_for_css.py [--data ../shared/data] [--splits 5] [--offline]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, REPO

from labelquorum.aggregation import DawidSkene, MajorityVote
from labelquorum.config import CascadeConfig, ChainConfig
from labelquorum.policies import Cascade, Chain
from labelquorum.policies.offline import run_offline
from labelquorum.recordings import llms_for_css as css

# USD per 1M (input, output) tokens. OpenAI's completion models at their 2022-23 list
# prices (ada $0.0004, babbage $0.0005, curie $0.002, davinci $0.02 per 1K tokens;
# gpt-3.5-turbo $0.002 per 1K at launch, March 2023). Open models at size-tiered
# serverless prices of the kind hosts publish (sub-1B, up to 4B, up to 16B, up to 21B).
PRICES: dict[str, tuple[float, float]] = {
    "flan-t5-small": (0.02, 0.02),     # 77M parameters
    "flan-t5-base": (0.03, 0.03),      # 248M
    "flan-t5-large": (0.05, 0.05),     # 783M
    "flan-t5-xl": (0.10, 0.10),        # 2.8B
    "flan-t5-xxl": (0.20, 0.20),       # 11B
    "flan-ul2": (0.30, 0.30),          # 20B
    "text-ada-001": (0.40, 0.40),
    "text-babbage-001": (0.50, 0.50),
    "text-curie-001": (2.00, 2.00),
    "text-davinci-001": (20.0, 20.0),
    "text-davinci-002": (20.0, 20.0),
    "text-davinci-003": (20.0, 20.0),
    "chatgpt": (2.00, 2.00),           # gpt-3.5-turbo, early 2023
}
EXCLUDED = ("roberta",)  # fine-tuned on the task: not a zero-shot LLM
MIN_COVERAGE = 0.95
CAL_SHARE = 0.10
CHEAP_BUDGET = 0.25
GROUP = (2, 3)  # first-link / first-tier group sizes
LATER = 3  # later links / tiers are drawn from the 3 most accurate models left (calibration)
AGREE = (1.0, 0.75, 0.6)
OUT_MD = REPO / "benchmarks" / "results" / "llms_for_css.md"


@dataclass
class Data:
    rec: css.TaskRecording
    models: list[str]
    answers: np.ndarray  # (n, m) label index, -1 none
    failed: np.ndarray
    cost: np.ndarray  # (n, m) USD
    gold: np.ndarray  # (n,) label index
    ids: np.ndarray


def task_data(rec: css.TaskRecording) -> Data:
    counts = rec.answers["model"].value_counts()
    models = [m for m in PRICES if m not in EXCLUDED
              and counts.get(m, 0) >= MIN_COVERAGE * len(rec.items)]
    models.sort(key=lambda m: (PRICES[m][0], m))
    index = {lab: i for i, lab in enumerate(rec.labels)}
    return Data(rec, models, rec.matrix(models), rec.failed_matrix(models),
                rec.cost_matrix(PRICES, models), rec.items["gold"].map(index).to_numpy(),
                rec.items["item"].to_numpy())


def offline(d: Data, policy, rows: np.ndarray):
    return run_offline(policy, d.ids[rows], d.rec.labels, d.models, d.answers[rows],
                       d.cost[rows], failed=d.failed[rows],
                       texts=d.rec.items["text"].to_numpy()[rows])


def score(d: Data, label: np.ndarray, cost: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """Accuracy (no label counts as wrong) and USD per 1,000 items."""
    return float((label == d.gold[rows]).mean()), float(cost.mean() * 1000)


def chain_candidates(d: Data, acc: dict[str, float]):
    price = {m: PRICES[m][0] for m in d.models}
    groups = []
    for p in sorted(set(price.values())):
        pool = sorted((m for m in d.models if price[m] <= p), key=lambda m: (-acc[m], price[m]))
        for size in GROUP:
            if len(pool) >= size:
                g = tuple(sorted(pool[:size], key=lambda m: (price[m], m)))
                if g not in groups:
                    groups.append(g)
    for g in groups:
        rest = sorted((m for m in d.models if m not in g and price[m] >= max(price[x] for x in g)),
                      key=lambda m: (-acc[m], price[m]))[:LATER]
        for k in (1, 2):
            for later in itertools.combinations(rest, k):
                later = sorted(later, key=lambda m: (price[m], m))
                yield g, later


def chain_policy(g, later) -> Chain:
    return Chain.from_config(ChainConfig(type="chain", links=[list(g), *later],
                                         confidence="agreement"))


def chain_dict(g, later) -> dict:
    return {"type": "chain", "links": [list(g), *later], "confidence": "agreement"}


def cascade_candidates(d: Data, acc: dict[str, float]):
    for m in d.models:  # one tier: just ask that model (the cheapest adequate model)
        yield (m,), [], ()
    for g, later in chain_candidates(d, acc):
        if len(later) == 1:
            yield g, later, (AGREE[0],)
        else:
            for t2 in AGREE:
                yield g, later, (AGREE[0], t2)


def cascade_dict(g, later, thresholds) -> dict:
    names = [list(g)] + [[m] for m in later]
    tiers = [{"name": "+".join(ann), "annotators": ann,
              "min_agreement": 0.0 if i == len(names) - 1 else thresholds[i]}
             for i, ann in enumerate(names)]
    return {"type": "cascade", "scope": "cumulative", "tiers": tiers}


def cascade_policy(*cand) -> Cascade:
    return Cascade.from_config(CascadeConfig(**cascade_dict(*cand)))


def choose(d: Data, cal: np.ndarray, cands, make, best_cost: float):
    """Per budget share: the candidate most accurate on calibration within it."""
    scored = []
    for cand in cands:
        run = offline(d, make(*cand), cal)
        a, c = score(d, run.label, run.cost, cal)
        scored.append((a, -c, cand, c))
    out = {}
    for share in (CHEAP_BUDGET, 1.0):
        fit = [s for s in scored if s[3] <= share * best_cost + 1e-12]
        out[share] = max(fit, key=lambda s: (s[0], s[1]))[2] if fit else None
    return out


def project_run(d: Data, policy_dict: dict, rows: np.ndarray, workdir: Path, tag: str):
    """The real path: a project with replay annotators, run by the Runner."""
    used = list(dict.fromkeys(a for key in ("links", "tiers") for x in policy_dict.get(key, [])
                              for a in (x["annotators"] if isinstance(x, dict)
                                        else [x] if isinstance(x, str) else x)))
    with css.build_project(d.rec, workdir / tag, models=used, prices=PRICES,
                           policy=policy_dict, items=list(d.ids[rows])) as project:
        report = project.run()
        df = project.to_dataframe().set_index("id").loc[d.ids[rows]]
    index = {lab: i for i, lab in enumerate(d.rec.labels)}
    label = df["label"].map(lambda v: index.get(v, -1) if isinstance(v, str) else -1)
    return label.to_numpy(dtype=np.int64), df["tier"].tolist(), float(report.cost)


def evaluate_task(d: Data, splits: int, real: bool, workdir: Path, checks: list) -> pd.DataFrame:
    n = len(d.ids)
    rows_out = []
    for seed in range(splits):
        perm = np.random.default_rng(seed).permutation(n)
        n_cal = max(round(CAL_SHARE * n), 2)
        cal, test = np.sort(perm[:n_cal]), np.sort(perm[n_cal:])
        acc_cal = {m: float((d.answers[cal, j] == d.gold[cal]).mean())
                   for j, m in enumerate(d.models)}
        cost_cal = {m: float(d.cost[cal, j].mean() * 1000) for j, m in enumerate(d.models)}
        best = max(d.models, key=lambda m: (acc_cal[m], -PRICES[m][0]))

        def add(method, label, cost, kind, config="", test=test, seed=seed, best=best):
            a, c = score(d, label, cost, test)
            rows_out.append({"seed": seed, "method": method, "kind": kind, "acc": a,
                             "cost": c, "config": config, "best": best})

        for j, m in enumerate(d.models):
            add(m, d.answers[test, j], d.cost[test, j], "single")
        add("best single (calibration)", d.answers[test, d.models.index(best)],
            d.cost[test, d.models.index(best)], "best")
        long = pd.DataFrame([(d.ids[p], m, d.rec.labels[d.answers[p, j]])
                             for j, m in enumerate(d.models) for p in range(n)
                             if d.answers[p, j] >= 0], columns=["item", "annotator", "label"])
        total = d.cost[test].sum(axis=1)
        index = {lab: i for i, lab in enumerate(d.rec.labels)}
        mv = MajorityVote(labels=list(d.rec.labels)).fit(long).labels_
        add("majority vote (all)", mv.reindex(d.ids[test]).map(index).fillna(-1).to_numpy(int),
            total, "combination")
        gold_cal = {d.ids[p]: d.rec.labels[d.gold[p]] for p in cal}
        ds = DawidSkene(labels=list(d.rec.labels), seed=seed).fit(long, gold=gold_cal).labels_
        add("Dawid-Skene (all)", ds.reindex(d.ids[test]).map(index).fillna(-1).to_numpy(int),
            total, "combination")

        for family, cands, make, to_dict in (
                ("chain", chain_candidates, chain_policy, chain_dict),
                ("cascade", cascade_candidates, cascade_policy, cascade_dict)):
            chosen = choose(d, cal, list(cands(d, acc_cal)), make, cost_cal[best])
            for share, cand in chosen.items():
                method = f"{family} @{int(share * 100)}%"
                if cand is None:
                    continue
                policy = make(*cand)
                run = offline(d, policy, test)
                label, cost = run.label, run.cost
                if real:
                    plabel, ptier, pcost = project_run(d, to_dict(*cand), test, workdir,
                                                       f"{d.rec.name}-{seed}-{family}-{share}")
                    same = (np.array_equal(plabel, run.label) and ptier == run.tier
                            and abs(pcost - run.total_cost) < 1e-9)
                    checks.append(same)
                    label = plabel
                    cost = np.full(len(test), pcost / len(test))
                add(method, label, cost, "policy", describe(cand))
                if family == "chain":  # the same chain, labelled by the keeping link
                    keeper = Chain(policy.links, policy.confidence, "keeping-link")
                    run = offline(d, keeper, test)
                    add(f"{method} keeping-link", run.label, run.cost, "variant",
                        describe(cand))
    return pd.DataFrame(rows_out)


def describe(cand) -> str:
    g, later = cand[0], cand[1]
    if not later:
        return f"{g[0]} alone"
    text = "[" + "+".join(g) + "] > " + " > ".join(later)
    if len(cand) > 2:
        text += " (agree " + "/".join(f"{t:g}" for t in cand[2]) + ")"
    return text


def split_targets(df: pd.DataFrame) -> tuple[list[list[str]], list[list[str]], int]:
    """Per split, the methods meeting each target against that split's chosen model, and
    the splits where no chain or cascade fitted 25 % of its cost."""
    t1s, t2s, none_fit = [], [], 0
    for _, g in df.groupby("seed"):
        b = g[g.method == "best single (calibration)"].iloc[0]
        pol = g[g.kind == "policy"]
        comb = g[g.kind.isin(["policy", "combination"])]
        cheap = pol[pol.cost <= CHEAP_BUDGET * b.cost + 1e-12]
        none_fit += cheap.empty
        t1s.append(sorted(cheap[cheap.acc >= b.acc - 0.02].method))
        t2s.append(sorted(comb[(comb.acc > b.acc) & (comb.cost <= b.cost + 1e-12)].method))
    return t1s, t2s, none_fit


def _verdict(hits: list[list[str]]) -> tuple[bool, str]:
    met = sum(bool(h) for h in hits)
    counts = pd.Series([m for h in hits for m in h]).value_counts()
    by = ", ".join(f"{m} {c}/{len(hits)}" for m, c in counts.items())
    return met * 2 > len(hits), f"in {met} of {len(hits)} splits" + (f" ({by})" if by else "")


def summarise(name: str, d: Data, df: pd.DataFrame) -> tuple[list[str], dict]:
    """A task's table, and per target whether it is met in most splits (each split's
    policies against that split's calibration-chosen model) and what limits it."""
    agg = df.groupby("method").agg(acc=("acc", "mean"), sd=("acc", "std"), cost=("cost", "mean"),
                                   kind=("kind", "first"), splits=("seed", "nunique"))
    best = agg.loc["best single (calibration)"]
    chosen = df[df.method == "best single (calibration)"]["best"].value_counts()
    t1s, t2s, none_fit = split_targets(df)
    ok1, text1 = _verdict(t1s)
    ok2, text2 = _verdict(t2s)
    policies = agg[agg.kind == "policy"]
    combos = agg[agg.kind.isin(["policy", "combination"])]
    singles = agg[agg.kind == "single"]
    cheap = singles[singles.cost <= CHEAP_BUDGET * best.cost]
    why1 = why2 = ""
    if not ok1:
        parts = []
        if none_fit:
            parts.append(f"in {none_fit} split(s) no chain or cascade fits 25 % of the chosen "
                         "model's cost (the cheapest models cost more)")
        cheap_pol = policies[policies.cost <= CHEAP_BUDGET * best.cost]
        close = cheap_pol[cheap_pol.acc >= best.acc - 0.02]
        if not close.empty:
            parts.append(f"on average {', '.join(close.index)} meet it, but not in most "
                         "splits (unstable calibration choices)")
        elif not cheap_pol.empty:
            top = cheap_pol.acc.max()
            parts.append(f"the best policy at <= 25 % of its mean cost reaches {top:.3f} "
                         f"({(best.acc - top) * 100:.1f} points below {best.acc:.3f})")
        parts.append(f"best single model at <= 25 % cost: {cheap.acc.idxmax()} "
                     f"{cheap.acc.max():.3f}" if not cheap.empty
                     else "no single model costs <= 25 % of it")
        why1 = "; ".join(parts)
    if not ok2:
        within = combos[combos.cost <= best.cost]
        better = combos[combos.acc > best.acc]
        on_average = better[better.cost <= best.cost]
        if not on_average.empty:
            why2 = (f"on average {', '.join(on_average.index)} beat it at no more cost, but "
                    f"not in most splits: {len(d.ids) // 10} calibration items pick unstable "
                    "configurations")
        elif not better.empty:
            why2 = (f"the more accurate combinations ({', '.join(better.index)}) cost more "
                    f"(from {better.cost.min():.4f} USD/1k vs {best.cost:.4f})")
        elif not within.empty:
            why2 = (f"no combination beats it; best within its cost {within.acc.max():.3f}: "
                    "the other models add more errors than information")
        else:
            why2 = "no combination beats it"
        if best.sd > 0.02:
            why2 += (f"; the calibration choice itself is noisy (sd {best.sd:.3f} over "
                     "splits)")
    lines = [(f"### {name} ({len(d.ids)} items, {len(d.models)} models; calibration-chosen "
              f"single model: {', '.join(f'{m} ×{c}' for m, c in chosen.items())})"), "",
             ("| method | accuracy (mean ± sd) | USD per 1k items | cost / best single's "
             "| frontier | splits | chosen on calibration (most often) |"),
             "| --- | --- | --- | --- | --- | --- | --- |"]
    order = (["best single (calibration)"] + [m for m in d.models]
             + ["majority vote (all)", "Dawid-Skene (all)", "chain @25%", "chain @100%",
                "chain @25% keeping-link", "chain @100% keeping-link",
                "cascade @25%", "cascade @100%"])
    for method in order:
        if method not in agg.index:
            continue
        r = agg.loc[method]
        configs = df[df.method == method]["config"]
        config = configs.value_counts().index[0] if configs.any() else ""
        if config and configs.nunique() > 1:
            config += f" (and {configs.nunique() - 1} other)"
        dominated = ((agg.acc >= r.acc) & (agg.cost <= r.cost)
                     & ((agg.acc > r.acc) | (agg.cost < r.cost))).any()
        lines.append(f"| {method} | {r.acc:.3f} ± {0 if np.isnan(r.sd) else r.sd:.3f} | "
                     f"{r.cost:.4f} | {r.cost / best.cost:.2f} | {'' if dominated else '★'} "
                     f"| {r.splits} | {config} |")
    met1 = f"MET {text1}" if ok1 else f"not met (met {text1}) — {why1}"
    met2 = f"MET {text2}" if ok2 else f"not met (met {text2}) — {why2}"
    lines += ["", ("★ = on the accuracy-cost frontier (no other row is as accurate and as cheap); "
              "splits = in how many splits a candidate fitted the budget. A target is met "
              "when it is met in most splits, each split's policies against that split's "
              "calibration-chosen model."),
              "", f"- within 2 points at <= 25 % of its cost: {met1}",
              f"- more accurate at <= its cost: {met2}", ""]
    return lines, {"task": name, "t1": ok1, "t2": ok2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    ap.add_argument("--offline", action="store_true",
                    help="report the offline runs only (no projects)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    tasks = css.load(args.data / "llms_for_css",
                     [t for t in args.tasks.split(",") if t] or None)
    rates = css.failure_rates(tasks)
    md = ["# llms_for_css: single LLMs, votes, chains and cascades", "",
          (f"`python benchmarks/llms_for_css.py --splits {args.splits}"
           f"{' --offline' if args.offline else ''}`; {args.splits} random splits, "
           f"{int(CAL_SHARE * 100)} % calibration / {100 - int(CAL_SHARE * 100)} % test; "
           "accuracy on the test split (mean ± sd over splits); cost estimated at "
           f"{css.CHARS_PER_TOKEN:g} characters per token."), "",
          "Prices (USD per 1M input / output tokens): "
          + ", ".join(f"{m} {p[0]:g}/{p[1]:g}" for m, p in PRICES.items()), "",
          "## Parse failures (failed calls / recorded calls)", ""]
    pivot = rates.pivot(index="task", columns="model", values="failure_rate").reindex(
        index=list(tasks), columns=list(dict.fromkeys(rates.model)))
    md += ["| task | " + " | ".join(pivot.columns) + " |",
           "| --- |" + " --- |" * len(pivot.columns)]
    md += [f"| {task} | " + " | ".join("–" if np.isnan(v) else f"{v:.3f}" for v in row) + " |"
           for task, row in zip(pivot.index, pivot.to_numpy())]
    md += ["", "– = no row recorded. Rows with failures, missing or misaligned rows:", ""]
    absent = rates[rates.recorded == 0]
    failed = rates[(rates.recorded > 0)
                   & ((rates.failed > 0) | (rates.missing > 0) | (rates.misaligned > 0))]
    md += ["| task | model | recorded | failed | failure rate | missing | misaligned |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    md += [f"| {r.task} | {r.model} | {r.recorded} | {r.failed} | {r.failure_rate:.3f} | "
           f"{r.missing} | {r.misaligned} |" for r in failed.itertuples()]
    md += ["", "No rows at all: " + "; ".join(
        f"{task}: {', '.join(g.model)}" for task, g in absent.groupby("task", sort=False)) + ".",
        "", (f"All other (task, model) pairs: {len(rates) - len(failed) - len(absent)} with no "
             "failed, missing or misaligned call."), "", "## Per task", ""]
    print("\n".join(md))
    checks: list[bool] = []
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, rec in tasks.items():
            t = time.perf_counter()
            d = task_data(rec)
            df = evaluate_task(d, args.splits, not args.offline, Path(tmp), checks)
            lines, res = summarise(name, d, df)
            results.append(res)
            md += lines
            print("\n".join(lines), f"({time.perf_counter() - t:.0f} s)", flush=True)
    met1 = sum(r["t1"] for r in results)
    met2 = sum(r["t2"] for r in results)
    tail = ["## Summary", "",
            (f"- within 2 points of the calibration-chosen single model at <= 25 % of its "
             f"cost: {met1} of {len(results)} tasks"),
            f"- more accurate than it at no more than its cost: {met2} of {len(results)} tasks"]
    if checks:
        tail.append(f"- project runs (Project + replay + Runner) that matched the offline run "
                    f"of the same policy exactly (labels, tiers, cost): {sum(checks)} of "
                    f"{len(checks)}")
    tail.append(f"- wall time {time.perf_counter() - t0:.0f} s")
    md += tail
    print("\n".join(tail))
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    OUT_MD.write_text("\n".join(md) + "\n", encoding="utf-8")
    print(f"wrote {OUT_MD}")


if __name__ == "__main__":
    main()
