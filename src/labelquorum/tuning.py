"""``labelquorum tune``: the accuracy-cost frontier of the policies a project could run.

:func:`tune` asks every candidate annotator about the calibration gold items through a
run (:class:`ProbePolicy`: it asks and decides nothing), so the ledger, the budget and
resumption hold and no answer is paid for twice; then it reads the stored answers
(:func:`stored_probe`) and runs the search of ``policy.type = "auto"``
(:mod:`labelquorum.policies.search`): every candidate's cross-validated accuracy with its
95 % interval and its cost per item. :class:`Tuning` holds the result: the frontier as a
table, an SVG plot (:func:`frontier_svg`), how many more gold items would narrow the
choice, and the chosen policy as a ``[policy]`` section of plain TOML
(:func:`policy_toml`) that a user can read, commit and run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import select

from .config import AutoConfig
from .errors import PolicyError
from .policies import NOT_ASKED, Plan, Policy, PolicyState
from .policies.search import Probe, Scored, SearchResult, frontier, search
from .store import schema

if TYPE_CHECKING:
    from .project import Project
    from .run import RunReport

__all__ = ["ProbePolicy", "Tuning", "frontier_svg", "policy_toml", "stored_probe", "tune"]


class ProbePolicy(Policy):
    """Ask every named annotator about the open reference items; decide nothing."""

    def __init__(self, names: list[str]):
        self.names = names

    def annotators(self) -> list[str]:
        return list(self.names)

    def step(self, state: PolicyState) -> Plan:
        plan = Plan()
        ref = state.reference_positions()
        for a in self.names:
            plan.ask(a, ref[state.open[ref] & (state.status[a][ref] == NOT_ASKED)])
        return plan


def candidates_of(project: Project) -> list[str]:
    policy = project.config.policy
    if isinstance(policy, AutoConfig) and policy.annotators:
        return list(policy.annotators)
    return [n for n, a in project.config.annotators.items() if a.type != "human"]


def stored_probe(project: Project, names: list[str]) -> Probe:
    """The named annotators' stored answers on the calibration gold items that every one
    of them has answered (in import order, as a run's state has them), with what each
    answer cost."""
    task = project.task
    gold = project.gold_labels(["calibration"])
    it = schema.items
    with project.store.connect() as conn:
        order = [r.id for r in conn.execute(
            select(it.c.id).where((it.c.project_id == project.store.project_id)
                                  & (it.c.gold_role == "calibration")).order_by(it.c.seq))]
    j = project.judgements()
    j = j[j["item"].isin(gold) & j["annotator_name"].isin(names)
          & j["status"].isin(["ok", "abstain", "failed"])]
    j = j.drop_duplicates(["item", "annotator_name"], keep="last")
    have = j.groupby("item")["annotator_name"].nunique()
    ids = [i for i in order if have.get(i, 0) == len(names)]
    pos = {i: p for p, i in enumerate(ids)}
    col = {a: c for c, a in enumerate(names)}
    k = len(task.labels)
    answers = np.full((len(ids), len(names)), -1, dtype=np.int64)
    failed = np.zeros(answers.shape, dtype=bool)
    probs = np.full((len(ids), len(names), k), np.nan)
    cost = np.zeros(answers.shape)
    for r in j[j["item"].isin(pos)].itertuples():
        p, c = pos[r.item], col[r.annotator_name]
        cost[p, c] = float(r.cost or 0.0)
        failed[p, c] = r.status == "failed"
        if r.status != "ok" or r.label not in task.index:
            continue
        answers[p, c] = task.index[r.label]
        given = json.loads(r.probs) if isinstance(r.probs, str) else r.probs
        row = np.zeros(k)
        row[answers[p, c]] = 1.0
        if isinstance(given, dict) and given:
            row = np.array([float(given.get(lab, 0.0)) for lab in task.labels])
        probs[p, c] = row
    truth = np.array([task.index[gold[i]] for i in ids], dtype=np.int64)
    return Probe(list(names), tuple(task.labels), answers, truth, cost, failed=failed,
                 probs=probs, ids=np.array(ids, dtype=object))


@dataclass
class Tuning:
    result: SearchResult
    probe: Probe
    report: RunReport | None
    budget: float | None = None  # the project's money budget, carried into the policy

    @property
    def chosen(self) -> Scored:
        return self.result.chosen

    def table(self) -> pd.DataFrame:
        """candidate, family, built, accuracy, low, high, cost_per_item, frontier, chosen
        (cheapest first)."""
        on = {id(s) for s in frontier(self.result.scored)}
        rows = [(s.name, s.family, s.recipe, s.accuracy, *s.interval, s.cost, id(s) in on,
                 s is self.chosen) for s in self.result.scored]
        df = pd.DataFrame(rows, columns=["candidate", "family", "built", "accuracy", "low",
                                         "high", "cost_per_item", "frontier", "chosen"])
        return df.sort_values(["cost_per_item", "accuracy"], ascending=[True, False],
                              kind="stable").reset_index(drop=True)

    def more_gold(self) -> str:
        """How many more calibration items would narrow the choice, in a sentence."""
        n, rival = self.result.more_gold()
        have = self.probe.truth.size
        if rival is None:
            return "No other candidate is close enough for more gold to change the choice."
        if n is None:
            return (f"{rival.name} ({rival.family}) is as accurate as the chosen policy on "
                    "these items; more gold would only tell them apart by chance.")
        more = max(n - have, 0)
        if self.result.target is not None:
            what = (f"{rival.name} ({rival.family}, {rival.accuracy:.3f} at "
                    f"{rival.cost:.6g} USD per item) would be shown to reach the target")
        else:
            what = (f"the chosen policy's interval would separate from the runner-up's, "
                    f"{rival.name} ({rival.family}, {rival.accuracy:.3f})")
        if not more:
            return f"With {have} calibration items, {what} already at these accuracies."
        return (f"About {more:,} more calibration gold items ({n:,} in all, if the "
                f"accuracies held) and {what}.")

    def policy_toml(self) -> str:
        c = self.chosen
        goal = (f"target accuracy {self.result.target:g}" if self.result.target is not None
                else f"budget {self.result.budget:.6g} USD per item")
        low, high = c.interval
        header = [f"Chosen by 'labelquorum tune' for the {goal}: {c.family}, {c.name}.",
                  (f"On {c.n} calibration gold items (cross-validated): accuracy "
                   f"{c.accuracy:.3f}, {round(100 * c.level)} % interval "
                   f"{low:.3f}-{high:.3f}; {c.cost:.6g} USD per item."),
                  "Replace the [policy] section of labelquorum.toml with this one."]
        cfg = dict(c.config)
        if self.budget is not None:
            cfg["budget"] = self.budget
        return policy_toml(cfg, header)

    def svg(self) -> str:
        return frontier_svg(self.result.scored, self.chosen)


def tune(project: Project, *, target_accuracy: float | None = None,
         budget_per_item: float | None = None, annotators: list[str] | None = None,
         folds: int | None = None, confidence_level: float | None = None,
         progress: Callable[[int, int, str], None] | None = None) -> Tuning:
    """Probe the candidates on the calibration gold (a run), then search; see the module
    docstring. Settings not given come from the project's ``auto`` policy, if it has one."""
    policy = project.config.policy
    auto = policy if isinstance(policy, AutoConfig) else None
    names = list(annotators) if annotators else candidates_of(project)
    unknown = [a for a in names if a not in project.config.annotators]
    if unknown:
        raise PolicyError(f"unknown annotator(s) {', '.join(unknown)}; the project's "
                          f"annotators: {', '.join(project.config.annotators)}")
    people = [a for a in names if project.config.annotators[a].type == "human"]
    if people:
        raise PolicyError(f"{', '.join(people)} are people: tuning asks every candidate about "
                          "the calibration gold at once; leave them out of --annotators")
    if target_accuracy is None and budget_per_item is None and auto is not None:
        target_accuracy, budget_per_item = tune_goal(project)
    if target_accuracy is None and budget_per_item is None:
        raise PolicyError("tuning needs a goal: give --target-accuracy (the cheapest policy "
                          "that reaches it) or --budget-per-item (the most accurate within "
                          "it), or set policy.type = \"auto\" with one in labelquorum.toml")
    if target_accuracy is not None and budget_per_item is not None:
        raise PolicyError("give --target-accuracy or --budget-per-item, not both")
    if not project.gold_labels(["calibration"]):
        raise PolicyError("tuning chooses on calibration gold, and this project has none. "
                          "Import gold items with labelquorum import FILE --split "
                          "calibration=N (50 or more items)")
    report = project.run(policy=ProbePolicy(names), progress=progress)
    probe = stored_probe(project, names)
    result = search(probe, target=target_accuracy, budget=budget_per_item,
                    folds=folds or (auto.folds if auto else 5),
                    level=confidence_level or (auto.confidence_level if auto else 0.95),
                    margin=auto.margin if auto else 0.02,
                    min_reference=auto.min_reference if auto else 30)
    return Tuning(result, probe, report, policy.budget)


def tune_goal(project: Project) -> tuple[float | None, float | None]:
    """The auto policy's goal: (target accuracy, budget per item); a total ``budget`` is
    spread over every item of the project, as the policy does in a run."""
    auto = project.config.policy
    if auto.target_accuracy is not None or auto.budget_per_item is not None:
        return auto.target_accuracy, auto.budget_per_item
    return None, auto.budget / max(_item_count(project), 1)


def _item_count(project: Project) -> int:
    from sqlalchemy import func

    it = schema.items
    with project.store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(it).where(
            it.c.project_id == project.store.project_id)).scalar() or 0)


# -- plain TOML ----------------------------------------------------------------------
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def policy_toml(cfg: dict, header: list[str] | None = None) -> str:
    """A ``[policy]`` section (tiers as ``[[policy.tiers]]`` tables) with comment lines."""
    lines = [f"# {h}" for h in header or []] + ["[policy]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in cfg.items() if k != "tiers"]
    for tier in cfg.get("tiers", []):
        lines += ["", "[[policy.tiers]]"] + [f"{k} = {_toml_value(v)}" for k, v in tier.items()]
    return "\n".join(lines) + "\n"


# -- the plot ------------------------------------------------------------------------
def frontier_svg(scored: list[Scored], chosen: Scored, width: int = 720,
                 height: int = 440) -> str:
    """Accuracy (with its interval) against cost per item, one circle per candidate; the
    frontier joined by a line, the chosen candidate in red. Cost is on a log scale when
    it spans more than a factor of 20 (free candidates at the left edge)."""
    from html import escape

    left, right, top, bottom = 70, 20, 40, 60
    costs = np.array([s.cost for s in scored])
    positive = costs[costs > 0]
    log = len(positive) and positive.max() / positive.min() > 20
    floor = positive.min() / 3 if len(positive) else 1.0

    def fx(c):
        if log:
            lo, hi = np.log10(floor), np.log10(positive.max())
            v = np.log10(max(c, floor))
        else:
            lo, hi = 0.0, max(costs.max(initial=0.0), 1e-12)
            v = c
        return left + (v - lo) / max(hi - lo, 1e-12) * (width - left - right)

    ys = [v for s in scored for v in s.interval]
    ylo, yhi = max(0.0, min(ys) - 0.02), min(1.0, max(ys) + 0.02)

    def fy(a):
        return top + (yhi - a) / max(yhi - ylo, 1e-12) * (height - top - bottom)

    title = (f"Accuracy and cost of candidate policies ({chosen.n} calibration items, "
             f"{round(100 * chosen.level)} % intervals)")
    xlabel = f"cost per item (USD{', log scale' if log else ''})"
    bottom_y = height - bottom
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            'font-family="sans-serif" font-size="11">'),
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           (f'<line x1="{left}" y1="{bottom_y}" x2="{width - right}" y2="{bottom_y}" '
            'stroke="black"/>'),
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom_y}" stroke="black"/>',
           f'<text x="{width / 2}" y="{height - 15}" text-anchor="middle">{xlabel}</text>',
           (f'<text x="15" y="{height / 2}" text-anchor="middle" '
            f'transform="rotate(-90 15 {height / 2})">accuracy (cross-validated)</text>')]
    for a in np.linspace(ylo, yhi, 5):
        out.append(f'<text x="{left - 6}" y="{fy(a) + 4:.1f}" text-anchor="end">{a:.2f}'
                   '</text>')
    ticks = (10.0 ** np.arange(np.floor(np.log10(floor)), np.ceil(np.log10(positive.max()))
                               + 1) if log else np.linspace(0, costs.max(initial=0.0), 5))
    for c in ticks:
        if left <= fx(c) <= width - right:
            out.append(f'<text x="{fx(c):.1f}" y="{height - bottom + 16}" '
                       f'text-anchor="middle">{c:.2g}</text>')
    front = sorted(frontier(scored), key=lambda s: s.cost)
    if len(front) > 1:
        points = " ".join(f"{fx(s.cost):.1f},{fy(s.accuracy):.1f}" for s in front)
        out.append(f'<polyline points="{points}" fill="none" stroke="#888" '
                   'stroke-dasharray="4 3"/>')
    on = {id(s) for s in front}
    for s in scored:
        x, low, high = fx(s.cost), *s.interval
        me = s is chosen
        colour = "#d62728" if me else ("#1f77b4" if id(s) in on else "#aaaaaa")
        out.append(f'<line x1="{x:.1f}" y1="{fy(low):.1f}" x2="{x:.1f}" y2="{fy(high):.1f}" '
                   f'stroke="{colour}" stroke-opacity="0.6"/>')
        out.append(f'<circle cx="{x:.1f}" cy="{fy(s.accuracy):.1f}" r="{6 if me else 4}" '
                   f'fill="{colour}"><title>{escape(s.family)}: {escape(s.name)} — '
                   f'{s.accuracy:.3f} at {s.cost:.6g} USD per item</title></circle>')
        if me or id(s) in on:
            out.append(f'<text x="{x + 7:.1f}" y="{fy(s.accuracy) - 6:.1f}" '
                       f'fill="{colour}">{escape(s.name)}{" (chosen)" if me else ""}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
