"""``labelquorum plan``: what a run would cost, before it runs. No calls are made.

For a random sample of the open items, every annotator of the policy builds its real
prompts (few-shot examples retrieved from the verified pool included) and estimates
their tokens offline (:mod:`labelquorum.llm.pricing`: 4 characters per token) and their
cost from the price table; the mean per item, times the open items, is the estimate of
the whole run. The first tier is asked about every open item; a later tier only about
what earlier tiers leave open, which a plan cannot know — so each tier is shown at its
worst case (every open item reaches it), and the total is an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import and_, select

from .annotators.base import Items, JsonRows
from .config import CascadeConfig, ChainConfig, LlmConfig, VoteThenVerifyConfig
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
    return []


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
            if r.gold_role == "seed" or (r.decided is not None
                                         and r.state not in REOPENABLE):
                continue
            ids.append(r.id)
            fields.append(r.fields)
    return ids, fields


def plan_run(project: Project, sample: int = 20, seed: int | None = None) -> RunPlan:
    """Estimate tokens and cost of running the project's policy over its open items."""
    from .run import Runner

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
        runner = Runner(project, annotators, None)
        pool_ids: list[str] = []
        texts, labels = runner._verified(None, pool_ids)
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
    df = pd.DataFrame(rows, columns=["tier", "annotator", "type", "items", "tokens_in",
                                     "tokens_out", "cost_per_item", "cost"])
    return RunPlan(len(ids), len(items), df, notes)

