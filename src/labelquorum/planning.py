"""``labelquorum plan``: what a run would cost, before it runs. No calls are made.

For a random sample of the open items, every annotator of the policy builds its real
prompts (few-shot examples retrieved from the verified pool included) and estimates
their tokens offline (:mod:`labelquorum.llm.pricing`: 4 characters per token) and their
cost from the price table; the mean per item, times the open items, is the estimate of
the whole run. The first tier is asked about every open item; a later tier only about
what earlier tiers leave open, which a plan cannot know — so each tier is shown at its
worst case (every open item reaches it), and the total is an upper bound.

An ``auto`` policy first asks every candidate about the calibration gold (the probes,
planned per candidate for the calibration items it has not answered); once their answers
are stored (after ``labelquorum tune`` or a run) the plan runs the search and shows the
chosen policy's expected cost: its cross-validated cost per item times the open items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import and_, select

from .annotators.base import Items, JsonRows
from .config import AutoConfig, CascadeConfig, ChainConfig, LlmConfig, VoteThenVerifyConfig
from .errors import AnnotatorError
from .policies import REOPENABLE
from .store import schema

if TYPE_CHECKING:
    from .project import Project


@dataclass
class RunPlan:
    open_items: int
    sampled: int
    rows: pd.DataFrame  # tier, annotator, type, items, tokens_in, tokens_out, cost_per_item, cost
    notes: list[str] = field(default_factory=list)
    expected_cost: float | None = None  # an auto policy's chosen policy, once it is known

    @property
    def first_tier_cost(self) -> float:
        first = self.rows["tier"].iloc[0] if len(self.rows) else None
        return float(self.rows.loc[self.rows["tier"] == first, "cost"].sum())

    @property
    def worst_case_cost(self) -> float:
        return float(self.rows["cost"].sum())


def _tiers(policy) -> list[tuple[str, list[str]]]:
    if isinstance(policy, CascadeConfig):
        return [(t.name or f"tier {i + 1}", list(t.annotators)) for i, t in enumerate(policy.tiers)]
    if isinstance(policy, VoteThenVerifyConfig):
        return [("specialists", list(policy.specialists)), ("verifiers", list(policy.verifiers))]
    if isinstance(policy, ChainConfig):
        return [(f"link {i + 1}", [link] if isinstance(link, str) else list(link))
                for i, link in enumerate(policy.links)]
    if isinstance(policy, AutoConfig):
        return [("probes (calibration gold)", list(policy.annotators or []))]
    # another policy type (a plugin's): the annotators it names, by config key
    return [(key.removeprefix("policy."), list(names)) for key, names in policy.references()]


def _open_items(project: Project) -> tuple[list[str], list[str]]:
    it, d = schema.items, schema.decisions
    pid = project.store.project_id
    q = (select(it.c.id, it.c.fields, it.c.gold_role, d.c.state, d.c.item_id.label("decided"))
         .select_from(it.outerjoin(d, and_(d.c.project_id == it.c.project_id,
                                           d.c.item_id == it.c.id)))
         .where(it.c.project_id == pid).order_by(it.c.seq))
    ids, fields = [], []
    with project.store.connect() as conn:
        for r in conn.execute(q):
            if r.gold_role == "seed" or (r.decided is not None and r.state not in REOPENABLE):
                continue
            ids.append(r.id)
            fields.append(r.fields)
    return ids, fields


def plan_run(project: Project, sample: int = 20, seed: int | None = None) -> RunPlan:
    """Estimate tokens and cost of running the project's policy over its open items."""
    from .engine.training import verified

    cfg = project.config
    ids, fields = _open_items(project)
    rng = np.random.default_rng(cfg.project.seed if seed is None else seed)
    take = np.sort(rng.choice(len(ids), size=min(sample, len(ids)), replace=False)) \
        if ids else np.array([], dtype=np.int64)
    items = Items([ids[i] for i in take], JsonRows([fields[i] for i in take]),
                  project.task.text_field)
    notes: list[str] = []
    names = cfg.policy_annotators
    configs = dict(cfg.annotators)
    for name in names:
        a = configs[name]
        if isinstance(a, LlmConfig) and a.api_key_env:
            import os

            if not os.environ.get(a.api_key_env):
                notes.append(f"{name}: {a.api_key_env} is not set (a run needs it; the plan "
                             "does not)")
                configs[name] = a.model_copy(update={"api_key_env": None})
    from .annotators import Context, build_annotator

    context = Context(project.path, cfg.project.seed, cfg.project.media_root)
    annotators = {}
    for name in names:
        try:
            annotators[name] = build_annotator(name, configs[name], project.task, context,
                                               gold={})
        except AnnotatorError as exc:
            notes.append(f"{name}: cannot be built ({exc})")
    if any(hasattr(a, "fit_examples") for a in annotators.values()):
        pool_ids: list[str] = []
        texts, labels = verified(project.store, project.task, None, pool_ids)
        for a in annotators.values():
            if hasattr(a, "fit_examples"):
                a.fit_examples(pool_ids, texts, labels)
    rows = []
    for tier, members in _tiers(cfg.policy):
        for name in members:
            ann = annotators.get(name)
            if ann is None:
                continue
            est = ann.estimate(items) if len(items) else []
            t_in = float(np.mean([e[0] for e in est])) if est else 0.0
            t_out = float(np.mean([e[1] for e in est])) if est else 0.0
            per_item = float(np.mean([e[2] for e in est])) if est else float(ann.max_cost)
            rows.append({"tier": tier, "annotator": name, "type": cfg.annotators[name].type,
                         "items": len(ids), "tokens_in": t_in, "tokens_out": t_out,
                         "cost_per_item": per_item, "cost": per_item * len(ids)})
        for a in annotators.values():
            if getattr(a, "note", None) and f"{a.name}: {a.note}" not in notes:
                notes.append(f"{a.name}: {a.note}")
    # the kind's own paid work (free text: the judge's verdicts on every answer)
    rows += project.task.strategy.plan_rows(project, items, len(ids), names)
    df = pd.DataFrame(rows, columns=["tier", "annotator", "type", "items", "tokens_in",
                                     "tokens_out", "cost_per_item", "cost"])
    out = RunPlan(len(ids), len(items), df, notes)
    if isinstance(cfg.policy, AutoConfig):
        _plan_auto(project, out)
    return out


def _plan_auto(project: Project, plan: RunPlan) -> None:
    """The probes' rows count the calibration items each candidate has yet to answer; with
    every answer in, the search says what the chosen policy is expected to cost."""
    from .errors import PolicyError
    from .tuning import stored_probe, tune_goal

    names = list(project.config.policy.annotators or [])
    gold = project.gold_labels(["calibration"])
    j = project.judgements()
    j = j[j["item"].isin(gold) & j["status"].isin(["ok", "abstain", "failed"])]
    for i, r in plan.rows.iterrows():
        left = len(gold) - j.loc[j["annotator_name"] == r.annotator, "item"].nunique()
        plan.rows.loc[i, "items"] = left
        plan.rows.loc[i, "cost"] = left * r.cost_per_item
    probe = stored_probe(project, names)
    if probe.truth.size < len(gold) or not len(gold):
        plan.notes.append("auto chooses its policy once every candidate has answered the "
                          "calibration gold; run 'labelquorum tune' to probe them and see "
                          "the choice and its cost before a run")
        return
    from .policies.search import search

    target, budget = tune_goal(project)
    try:
        result = search(probe, target=target, budget=budget, folds=project.config.policy.folds,
                        level=project.config.policy.confidence_level,
                        margin=project.config.policy.margin,
                        min_reference=project.config.policy.min_reference)
    except PolicyError as exc:
        plan.notes.append(f"auto cannot choose: {exc}")
        return
    c = result.chosen
    plan.expected_cost = c.cost * plan.open_items
    plan.notes.append(f"auto would choose {c.family}: {c.name}, {c.cost:.6g} USD per item "
                      f"(cross-validated on {c.n} calibration items), about "
                      f"${plan.expected_cost:,.4f} for the {plan.open_items:,} open items")

