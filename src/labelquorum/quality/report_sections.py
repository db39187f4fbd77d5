"""The computed sections of :mod:`labelquorum.quality.report`, each a JSON-ready dict with
``status`` (``computed`` or ``skipped``) and, when skipped, the ``reason``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..calibration import expected_calibration_error, reliability_table, wilson_interval
from ..errors import AgreementError, LabelquorumError, QualityError
from ..policies import REOPENABLE

if TYPE_CHECKING:
    from ..project import Project
    from ..task import Task

MIN_LABEL_ISSUE_POOL = 50  # verified labels below which cleanlab is not run
MAX_QUEUE = 20  # label issues listed in the report
ALT_TEST_EPSILON = 0.1  # the alt-test's margin against crowd workers (Calderon et al.)


def skipped(reason: str, **extra: Any) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason, **extra}


def as_text(task: Task, value: Any) -> str:
    """A gold value in the text form of the judgement and decision labels."""
    return task.format_label(task.parse_label(value))


def _closed(decisions: pd.DataFrame) -> pd.DataFrame:
    return decisions[~decisions["state"].isin(REOPENABLE) & decisions["label"].notna()]


def summary(project: Project, status, rec) -> dict[str, Any]:
    from .. import __version__

    roles = rec.items["gold_role"].dropna().value_counts().to_dict()
    return {"status": "computed", "project": project.config.project.name,
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "labelquorum": __version__, "task": project.task.kind,
            "labels": list(project.task.labels), "items": status.items,
            "decided": status.decided, "open": status.open, "unlabelled": status.unlabelled,
            "runs": status.runs, "total_cost": status.total_cost,
            "gold": {str(k): int(v) for k, v in sorted(roles.items())}}


# -- labels ----------------------------------------------------------------------------
def _members(task: Task, label: str) -> list[str]:
    """The labels (entity types for spans) one decided label counts for."""
    return task.strategy.members(task, label)


def label_distribution(task: Task, decisions: pd.DataFrame) -> dict[str, Any]:
    decided = _closed(decisions)
    if not len(decided):
        return skipped("No item is decided yet; run 'labelquorum run' first.")
    counts = dict.fromkeys(task.labels, 0)
    for label in decided["label"]:
        for member in _members(task, label):
            counts[member] = counts.get(member, 0) + 1
    total = sum(counts.values())
    unit = task.strategy.unit
    return {"status": "computed", "decided": len(decided), "unit": unit, "total": total,
            "counts": [{"label": k, "count": v, "share": v / total if total else 0.0}
                       for k, v in counts.items()]}


# -- evaluation gold -------------------------------------------------------------------
def evaluation(task: Task, gold_items: pd.DataFrame, decisions: pd.DataFrame) -> dict[str, Any]:
    ev = gold_items[gold_items["gold_role"] == "evaluation"]
    if not len(ev):
        return skipped("The project has no evaluation gold; import gold labels with "
                       "--gold-role evaluation (or --split evaluation=0.1) to measure the "
                       "labels.")
    merged = ev.merge(_closed(decisions), left_on="id", right_on="item_id", how="inner")
    if not len(merged):
        return skipped(f"None of the {len(ev):,} evaluation items is decided yet.")
    truth = [as_text(task, json.loads(g)) for g in merged["gold"]]
    pred = merged["label"].tolist()
    out: dict[str, Any] = {"status": "computed", "items": len(ev), "n": len(merged),
                           "undecided": len(ev) - len(merged),
                           "accuracy": float(np.mean([t == p for t, p in zip(truth, pred)]))}
    kind = task.strategy
    if not kind.vector and "value" in merged:  # value kinds: the values as decided (free
        pred = [kind.from_stored(task, label, value)  # text: with their judge scores)
                for label, value in zip(pred, merged["value"].astype(object).where(
                    merged["value"].notna(), None))]
    out.update(kind.evaluate(task, truth, pred))
    return out


# -- agreement -------------------------------------------------------------------------
def _project_label(task: Task, label: str, target: str) -> str:
    return task.strategy.project(task, task.parse_label(label), target)


def _interval(metric, table: pd.DataFrame, n_boot: int, seed: int) -> dict[str, Any]:
    from ..agreement import bootstrap_ci

    try:
        if n_boot:
            est, low, high = bootstrap_ci(metric, table, n_boot=n_boot, seed=seed)
        else:
            est, low, high = metric(table), None, None
        return {"estimate": est, "low": low, "high": high, "note": ""}
    except AgreementError as exc:
        return {"estimate": None, "low": None, "high": None, "note": str(exc)}


def agreement(task: Task, answers: pd.DataFrame, n_boot: int, seed: int) -> dict[str, Any]:
    from ..agreement import fleiss_kappa, krippendorff_alpha, percent_agreement

    per_item = answers.groupby("item")["annotator"].nunique()
    counts = per_item.value_counts().sort_index()
    base = {"items_per_annotator_count": {str(k): int(v) for k, v in counts.items()},
            "mean_annotators": float(per_item.mean()) if len(per_item) else 0.0}
    shared = per_item[per_item >= 2].index
    table = answers[answers["item"].isin(shared)][["item", "annotator", "label"]]
    values, level = task.strategy.agreement_data(task, table["label"])
    if not len(shared):
        return skipped("No item has answers from two or more annotators, so agreement is "
                       "undefined; give the people's annotator an overlap of 2 or more, or "
                       "let several annotators label the same items.", **base)
    def alpha(t: pd.DataFrame) -> float:
        return krippendorff_alpha(t, level=level)

    overall = {"krippendorff_alpha": _interval(alpha, table.assign(label=values), n_boot,
                                                seed),
               "fleiss_kappa": _interval(fleiss_kappa, table, n_boot, seed),
               "percent_agreement": _interval(percent_agreement, table, n_boot, seed)}
    per_label = []
    for target in task.labels:
        projected = table.assign(label=[_project_label(task, lab, target)
                                        for lab in table["label"]])
        per_label.append({"label": target,
                          **_interval(krippendorff_alpha, projected, n_boot, seed)})
    return {"status": "computed", **base, "items": len(shared),
            "annotators": sorted(table["annotator"].unique()), "n_boot": n_boot,
            "level": 0.95, "alpha_level": level, "overall": overall, "per_label": per_label,
            "per_label_method": task.strategy.per_label_method}


# -- annotators --------------------------------------------------------------------------
def _chance(task: Task) -> dict[str, Any]:
    kind = task.strategy
    return {"n_labels": len(task.labels)} if kind.one_label else {"chance": kind.chance(task)}


def annotators(task: Task, judgements: pd.DataFrame, golden: pd.DataFrame,
               gold: dict[str, str]) -> dict[str, Any]:
    from .theta import theta_table

    if not len(judgements) and not len(golden):
        return skipped("No annotator has answered yet; run 'labelquorum run' first.")
    j = judgements
    rows: dict[str, dict[str, Any]] = {}
    for who, g in j.groupby("annotator", sort=True):
        rows[who] = {"annotator": who, "name": g["annotator_name"].iloc[0],
                     "kind": g["annotator_kind"].iloc[0],
                     "simulated": bool(g["simulated"].astype(bool).any()),
                     "judgements": int((g["status"] == "ok").sum()),
                     "failed": int((g["status"] == "failed").sum()),
                     "cost": float(g["cost"].sum())}
    ok = j[(j["status"] == "ok") & j["label"].notna()].drop_duplicates(
        ["item", "annotator"], keep="last")
    on_gold = ok[ok["item"].isin(gold)][["item", "annotator", "label", "confidence"]]
    web = golden[golden["item"].isin(gold)].assign(confidence=np.nan)
    for who in web["annotator"].unique():
        rows.setdefault(who, {"annotator": who, "name": who.split(":")[0], "kind": "human",
                              "simulated": False, "judgements": 0, "failed": 0, "cost": 0.0})
    answered = pd.concat([on_gold, web], ignore_index=True)
    thetas = pd.DataFrame()
    if len(answered):
        try:
            thetas = theta_table(answered, gold, **_chance(task))
        except QualityError:
            thetas = pd.DataFrame()
    for who, g in answered.groupby("annotator"):
        right = np.array([a == gold[i] for i, a in zip(g["item"], g["label"])], dtype=float)
        n, hits = len(right), float(right.sum())
        low, high = wilson_interval(hits, n)
        conf = g["confidence"].to_numpy(dtype=float)
        row = rows[who]
        row.update({"gold_answers": n, "accuracy": hits / n, "accuracy_low": low,
                    "accuracy_high": high,
                    "ece": expected_calibration_error(conf, right),
                    "reliability": reliability_table(conf, right).to_dict("records")})
        if who in thetas.index:
            t = thetas.loc[who]
            row.update({"theta": float(t["theta"]), "theta_low": float(t["low"]),
                        "theta_high": float(t["high"]), "theta_method": str(t["method"])})
    return {"status": "computed", "gold_roles": ["control", "evaluation"],
            "certainty": 1.0, **_chance(task), "rows": list(rows.values())}


# -- tiers -----------------------------------------------------------------------------
def tiers(status, rec) -> dict[str, Any]:
    if not len(status.tiers):
        return skipped("No item is decided yet; run 'labelquorum run' first.")
    decided = _closed(rec.decisions)[["item_id", "tier"]]
    cost = rec.judgements.groupby("item")["cost"].sum()
    decided = decided.assign(cost=decided["item_id"].map(cost).fillna(0.0))
    per_tier = decided.groupby("tier")["cost"].sum()
    rows = []
    for r in status.tiers.itertuples():
        c = float(per_tier.get(r.tier, 0.0))
        rows.append({"tier": str(r.tier), "items": int(r.items), "share": float(r.share),
                     "cost": c, "cost_per_item": c / r.items if r.items else 0.0})
    return {"status": "computed", "rows": rows, "total_cost": status.total_cost,
            "cost_note": ("a tier's cost is what every annotator asked about the items it "
                          "decided cost, earlier tiers included")}


# -- label issues ----------------------------------------------------------------------
def label_issues(project: Project) -> dict[str, Any]:
    if not project.task.strategy.vector:
        return skipped(f"Label issues are found for classification and multilabel tasks; "
                       f"{project.task.kind} tasks are not checked.")
    try:
        import cleanlab  # noqa: F401
    except ImportError:
        return skipped("cleanlab is not installed; pip install 'labelquorum[quality]' to find "
                       "likely label errors.")
    from ..engine.training import verified
    from .label_issues import project_label_issues, save_label_issues

    texts, _ = verified(project.store, project.task, None)
    if len(texts) < MIN_LABEL_ISSUE_POOL:
        return skipped(f"Only {len(texts):,} verified labels (seed gold, reviews, accepted "
                       f"labels); label-issue detection needs at least "
                       f"{MIN_LABEL_ISSUE_POOL} to cross-validate a model on them.")
    try:
        found = project_label_issues(project)
    except LabelquorumError as exc:
        return skipped(str(exc))
    save_label_issues(project, found)  # the review page's queue and status read them
    issues = found.issues
    queue = [{"item": str(i), "label": _text(issues.at[i, "label"]),
              "predicted": _text(issues.at[i, "predicted_label"]),
              "label_quality": float(issues.at[i, "label_quality"])}
             for i in found.review_queue()[:MAX_QUEUE]]
    flagged = int(issues["is_label_issue"].sum())
    return {"status": "computed", "annotator": found.info.get("annotator"),
            "folds": found.info.get("n_splits"), "checked": len(issues), "flagged": flagged,
            "share": flagged / len(issues) if len(issues) else 0.0, "queue": queue}


def _text(value: Any) -> str:
    return "|".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


# -- people against an LLM -----------------------------------------------------------------
def alt_test(answers: pd.DataFrame, judgements: pd.DataFrame) -> dict[str, Any]:
    from .alt_test import alt_test as run_alt_test

    kinds = answers.drop_duplicates("annotator").set_index("annotator")["annotator_kind"]
    sim = judgements.groupby("annotator")["simulated"].any()
    llms = sorted(kinds[kinds == "llm"].index)
    people = sorted(kinds[kinds == "human"].index)
    if not llms:
        return skipped("No LLM answered, so there is nothing to compare with the people.")
    if len(people) < 2:
        return skipped(f"The alternative annotator test needs items labelled by an LLM and by "
                       f"at least two people; {len(people)} person answered.")
    results = []
    for llm in llms:
        try:
            res = run_alt_test(answers[["item", "annotator", "label"]], llm, people,
                               epsilon=ALT_TEST_EPSILON)
        except QualityError as exc:
            results.append({"llm": llm, "status": "skipped", "reason": str(exc)})
            continue
        per = res.per_person.reset_index()
        results.append({"llm": llm, "status": "computed", "epsilon": res.epsilon,
                        "alpha": res.alpha, "winning_rate": res.winning_rate,
                        "advantage_probability": res.advantage_probability,
                        "passed": res.passed, "verdict": res.verdict,
                        "simulated": bool(sim.get(llm, False))
                        or any(bool(sim.get(p, False)) for p in people),
                        "per_person": per.to_dict("records")})
    return {"status": "computed", "people": people, "results": results}


# -- languages -------------------------------------------------------------------------
def languages(found: dict[str, Any], rec, project: Project) -> dict[str, Any]:
    from .language import language_accuracy
    from .rubric import counted_languages

    if "error" in found:
        return skipped(found["error"])
    table = found["table"]
    counts = table["language"].dropna().value_counts()
    out = {"status": "computed", "checked": found["checked"], "of": found["of"],
           "counts": {str(k): int(v) for k, v in counts.items()},
           "undetermined": int(table["language"].isna().sum()),
           "counted": sorted(counted_languages({str(k): int(v) for k, v in counts.items()}))}
    gold = rec.gold_values(project, ("control", "evaluation"))
    if len(out["counted"]) >= 2 and gold:
        answers = rec.answers(project.task)
        acc = language_accuracy(answers, gold, table["language"].to_dict())
        out["per_annotator"] = acc.reset_index().to_dict("records")
    return out


# -- provenance and simulation ---------------------------------------------------------
def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts(dropna=False).items()}


def provenance(rec) -> dict[str, Any]:
    j, d, a = rec.judgements, rec.decisions, rec.assignments
    return {"status": "computed",
            "items_by_gold_role": _counts(rec.items["gold_role"].fillna("none")),
            "sources": _counts(rec.items["source"].fillna("unknown")),
            "judgements_by_status": _counts(j["status"]),
            "judgements_by_kind": _counts(j.loc[j["status"] == "ok", "annotator_kind"]),
            "decisions_by_state": _counts(d["state"]),
            "decisions_by_tier": _counts(d["tier"].fillna("none")),
            "decided_by": dict(list(_counts(d["decided_by"].fillna("nobody")).items())[:12]),
            "model_calls": rec.model_calls, "runs": rec.runs,
            "web": {"answers": int((a["state"] == "done").sum()),
                    "golden_answers": int((a["control"].astype(bool)
                                           & (a["state"] == "done")).sum()),
                    "reviews": len(rec.reviews),
                    "judge_scores": int(a["judge_score"].notna().sum())}}


def simulated(project: Project, rec) -> dict[str, Any]:
    j = rec.judgements
    sim = j[j["simulated"].astype(bool) & (j["status"] == "ok")]
    stands = {n: c.stands_for for n, c in project.config.annotators.items()
              if c.type == "simulated"}
    decided = _closed(rec.decisions)
    touched = decided["item_id"].isin(set(sim["item"]))
    ok = int((j["status"] == "ok").sum())
    rows = [{"annotator": name, "stands_for": stands.get(name, "unknown"),
             "judgements": len(g)} for name, g in sim.groupby("annotator_name")]
    return {"status": "computed", "annotators": rows, "judgements": len(sim),
            "share_of_judgements": len(sim) / ok if ok else 0.0,
            "decided_items_touched": int(touched.sum()),
            "share_of_decided": float(touched.mean()) if len(decided) else 0.0}
