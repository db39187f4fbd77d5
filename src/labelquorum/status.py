"""What a project has done so far: progress, cost, tiers, accuracy on evaluation gold.

Progress is read from ``decisions.state`` (:class:`labelquorum.policies.DecisionState`),
never from ``flags``: an item is *decided* when it has a label and its state is ``final``
or ``review``; ``final`` without a label is *unlabelled* (closed: nothing could label it);
``budget`` (stopped by the budget) and ``failed`` (its calls failed) are *open*, like items
without a decision yet, because the next run works on them again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Integer, and_, distinct, func, or_, select

from .policies import REOPENABLE, DecisionState
from .store import schema

if TYPE_CHECKING:
    from .project import Project


@dataclass
class Status:
    items: int
    decided: int  # labelled, state final or review
    open: int  # not decided yet, stopped by the budget, or failed: a later run works on them
    waiting_human: int
    failed_calls: int
    repeated_calls: int
    total_cost: float
    annotators: pd.DataFrame  # annotator, kind, judgements, failed, cost, simulated
    tiers: pd.DataFrame  # tier, items, share
    evaluation_items: int
    evaluation_accuracy: float | None
    runs: int
    last_run: str | None
    flags: dict[str, int] = field(default_factory=dict)
    evaluation_f1: float | None = None  # spans tasks: entity-level micro F1 on evaluation gold
    # the task kind's other figures on evaluation gold (a rating's MAE, RMSE, Spearman, ...;
    # free text: token F1, exact match, the judge's mean score)
    evaluation_scores: dict[str, Any] = field(default_factory=dict)
    evaluation_scores_line: str = ""  # the same, in a line for people, where the kind gives one
    failures: pd.DataFrame | None = None  # annotator, error, calls: why open calls failed
    rejected_entities: dict[str, int] = field(default_factory=dict)  # spans: per llm annotator
    unlabelled: int = 0  # closed without a label (state final or review, no label)
    budget_stopped: int = 0  # state budget: best label so far, reopened by the next run
    failed_items: int = 0  # state failed: asked again by the next run
    # per annotator on gold it never trained on (calibration, evaluation, control): answers,
    # accuracy with its 95 % Wilson interval, expected calibration error of its confidence
    quality: pd.DataFrame | None = None
    # the same per language, indexed (annotator, language): n, correct, accuracy, low, high
    # (95 % Wilson interval); None while no gold item has a language
    languages: pd.DataFrame | None = None
    # likely label errors last found (``labelquorum label-issues`` or ``report``) that no
    # reviewer has decided since; None: never looked for
    label_issues: int | None = None
    # per annotator on its golden probes (labelquorum.quality.watch.golden_quality): θ̂, its
    # interval, the one-sided test of θ ≤ quality.monitor.theta_bad, alerts
    golden: pd.DataFrame | None = None
    alerts: pd.DataFrame | None = None  # every alert the golden monitor stored, oldest first
    # the task kind's own result tables (pairwise: the systems), see TaskKind.tables
    tables: dict[str, dict] = field(default_factory=dict)


def project_status(project: Project) -> Status:
    it, d, j, rq, runs = (schema.items, schema.decisions, schema.judgements, schema.requests,
                          schema.runs)
    pid = project.store.project_id
    with project.store.connect() as conn:
        n_items = conn.execute(select(func.count()).select_from(it)
                               .where(it.c.project_id == pid)).scalar()
        # decisions are counted in SQL (one row per tier, state, flags): a million items
        # read into pandas took about 800 MB
        labelled = d.c.label.isnot(None)
        dec = pd.read_sql(select(d.c.tier, d.c.state, d.c.flags,
                                 func.cast(labelled, Integer).label("labelled"),
                                 func.count().label("n"), func.min(d.c.created).label("first"))
                          .where(d.c.project_id == pid)
                          .group_by(d.c.tier, d.c.state, d.c.flags, labelled), conn)
        per_ann = pd.read_sql(
            select(j.c.annotator, j.c.annotator_kind.label("kind"),
                   func.count().label("judgements"),
                   func.sum(func.cast(j.c.status == "failed", Integer)).label("failed"),
                   func.sum(j.c.cost).label("cost"),
                   func.max(func.cast(j.c.simulated, Integer)).label("simulated"))
            .where(j.c.project_id == pid).group_by(j.c.annotator, j.c.annotator_kind)
            .order_by(j.c.annotator), conn)
        human_names = [n for n, a in project.config.annotators.items() if a.type == "human"]
        waiting = conn.execute(select(func.count()).select_from(rq).where(
            (rq.c.project_id == pid) & rq.c.state.in_(("pending", "sent"))
            & rq.c.annotator.in_(human_names))).scalar() if human_names else 0
        run_rows = conn.execute(select(runs.c.id, runs.c.status, runs.c.repeated_calls)
                                .where(runs.c.project_id == pid).order_by(runs.c.id)).all()
        failures = pd.read_sql(
            select(rq.c.annotator, rq.c.error, func.count().label("calls"))
            .where((rq.c.project_id == pid) & (rq.c.state == "failed"))
            .group_by(rq.c.annotator, rq.c.error)
            .order_by(func.count().desc(), rq.c.annotator), conn)
        rejected = _rejected_entities(project, conn) if project.task.spans else {}
        merged = pd.read_sql(
            select(it.c.id.label("item_id"), it.c.gold, d.c.label, d.c.value)
            .join(d, and_(d.c.project_id == it.c.project_id, d.c.item_id == it.c.id))
            .where((it.c.project_id == pid) & (it.c.gold_role == "evaluation"))
            .order_by(it.c.seq), conn)
    per_ann["simulated"] = per_ann["simulated"].fillna(0).astype(bool)
    per_ann["failed"] = per_ann["failed"].fillna(0).astype(int)
    dec["labelled"] = dec["labelled"].astype(bool)
    closed = ~dec["state"].isin(REOPENABLE)
    decided = dec[closed & dec["labelled"]]
    n_decided = int(decided["n"].sum())
    unlabelled = int(dec.loc[closed & ~dec["labelled"], "n"].sum())
    # tiers in the order they first decided something: gold, then the policy's order
    tiers = (decided.groupby("tier").agg(items=("n", "sum"), first=("first", "min"))
             .sort_values("first", kind="stable").drop(columns="first").reset_index())
    tiers["items"] = tiers["items"].astype(int)
    tiers["share"] = tiers["items"] / max(n_decided, 1)
    accuracy = f1 = None
    kind_scores: dict[str, Any] = {}
    if len(merged):
        from .export import gold_text

        # label sets, spans: the share of items whose value is exactly right
        task = project.task
        truth = merged["gold"].map(lambda g: gold_text(g, task))
        accuracy = float((truth == merged["label"]).mean())
        f1 = task.strategy.status_f1(task, truth.tolist(), merged["label"].tolist())
        kind_scores = task.strategy.gold_scores(task, truth.tolist(),
                                                merged["label"].tolist())
        if not kind_scores and not task.strategy.vector and f1 is None:
            kind_scores = _kind_scores(project, merged) or {}
    n_eval = len(merged)
    answers = gold_answers(project)
    quality = annotator_quality(project, answers)
    languages = language_quality(project, answers)
    from .quality.watch import golden_quality, stored_alerts

    golden = golden_quality(project.store, project.task, project.config.quality)
    alerts = stored_alerts(project.store)
    flagged = dec[dec["flags"].fillna("") != ""].groupby("flags")["n"].sum()
    flags = flagged.sort_values(ascending=False, kind="stable").to_dict()
    return Status(
        items=int(n_items), decided=n_decided,
        open=int(n_items) - n_decided - unlabelled,
        waiting_human=int(waiting or 0), failed_calls=int(per_ann["failed"].sum()),
        repeated_calls=int(sum(r.repeated_calls for r in run_rows)),
        total_cost=float(per_ann["cost"].sum()) if len(per_ann) else 0.0,
        annotators=per_ann, tiers=tiers, evaluation_items=n_eval,
        evaluation_accuracy=accuracy, runs=len(run_rows),
        last_run=run_rows[-1].status if run_rows else None,
        flags={str(k): int(v) for k, v in flags.items()}, evaluation_f1=f1,
        evaluation_scores=kind_scores,
        evaluation_scores_line=project.task.strategy.describe_scores(
            project.task, kind_scores) if kind_scores else "",
        failures=failures, rejected_entities=rejected, unlabelled=unlabelled,
        budget_stopped=int(dec.loc[dec["state"] == DecisionState.BUDGET, "n"].sum()),
        failed_items=int(dec.loc[dec["state"] == DecisionState.FAILED, "n"].sum()), quality=quality,
        label_issues=_label_issues(project),
        languages=languages, golden=golden, alerts=alerts,
        tables=project.task.strategy.tables(project.task, project))


QUALITY_COLUMNS = ["annotator", "answers", "accuracy", "low", "high", "ece"]


def annotator_quality(project: Project, answers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each annotator's accuracy on gold it never trained on (roles calibration,
    evaluation and control), with a 95 % Wilson interval, and the expected calibration
    error of the confidence it stated (:mod:`labelquorum.calibration`); each item counts
    once per annotator, with its latest answer. People are one row per person
    (``people:alice``). Classification tasks; empty otherwise. ``answers``: what
    :func:`gold_answers` returns, when the caller has it already."""
    from .calibration import expected_calibration_error, wilson_interval

    rows = gold_answers(project) if answers is None else answers
    if not len(rows):
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    out = []
    for who, g in rows.groupby("annotator", sort=True):
        n, hits = len(g), float(g["right"].sum())
        low, high = wilson_interval(hits, n)
        out.append((who, n, hits / n, low, high,
                    expected_calibration_error(g["confidence"].to_numpy(dtype=float),
                                               g["right"].to_numpy())))
    return pd.DataFrame(out, columns=QUALITY_COLUMNS)


def language_quality(project: Project,
                     answers: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """:func:`annotator_quality` per language: rows (annotator, language) with ``n,
    correct, accuracy, low, high`` (95 % Wilson interval). Gold items without a known
    language count under ``und``. None while no gold item has a language."""
    from .calibration import wilson_interval

    rows = (gold_answers(project) if answers is None else answers).copy()
    if not len(rows):
        return None
    it = schema.items
    with project.store.connect() as conn:
        langs = dict(conn.execute(select(it.c.id, it.c.language).where(
            (it.c.project_id == project.store.project_id) & it.c.gold.is_not(None)
            & it.c.language.is_not(None))).all())
    if not langs:
        return None
    rows["language"] = rows["item_id"].map(langs).fillna("und")
    out = []
    for (who, lang), g in rows.groupby(["annotator", "language"], sort=True):
        n, hits = len(g), int(g["right"].sum())
        low, high = wilson_interval(hits, n)
        out.append((who, lang, n, hits, hits / n, low, high))
    return pd.DataFrame(out, columns=["annotator", "language", "n", "correct", "accuracy",
                                      "low", "high"]).set_index(["annotator", "language"])


def _json(value):
    """A JSON column as read by pandas: text on some drivers, parsed on others."""
    return json.loads(value) if isinstance(value, str) else value


def gold_answers(project: Project) -> pd.DataFrame:
    """Each annotator's latest answer on each gold item it never trained on (roles
    calibration, evaluation, control): ``annotator`` (a person as ``people:alice``),
    ``item_id``, ``confidence`` (NaN where none was stated) and ``right`` (1.0 or 0.0).
    Kinds with one label or one value per answer (right: :meth:`TaskKind.correct`); empty
    for label sets and spans."""
    columns = ["annotator", "item_id", "confidence", "right"]
    task = project.task
    kind = task.strategy
    if not kind.one_label and (kind.vector or kind.needs_text):  # label sets, spans
        return pd.DataFrame(columns=columns)
    it, j = schema.items, schema.judgements
    pid = project.store.project_id
    with project.store.connect() as conn:
        rows = pd.read_sql(
            select(j.c.id, j.c.item_id, j.c.annotator, j.c.worker, j.c.label, j.c.value,
                   j.c.confidence, it.c.gold)
            .join(it, and_(it.c.project_id == j.c.project_id, it.c.id == j.c.item_id))
            .where((j.c.project_id == pid) & (j.c.status == "ok")
                   & (j.c.value_type != schema.VERDICT)  # a judge's verdicts: no answers
                   & it.c.gold_role.in_(("calibration", "evaluation", "control"))), conn)
    if not len(rows):
        return pd.DataFrame(columns=columns)
    worker = rows["worker"].fillna("")
    rows["annotator"] = rows["annotator"].where(worker == "",
                                                rows["annotator"] + ":" + worker)
    rows = rows.sort_values("id").drop_duplicates(["item_id", "annotator"], keep="last")
    if kind.one_label:
        rows["right"] = (rows["gold"].map(json.loads) == rows["label"]).astype(float)
    else:  # a value kind says what counts as right (a rating: the same point; free text:
        # equal after normalisation)
        rows["right"] = [float(kind.correct(task, kind.from_stored(task, label, _json(value)),
                                            json.loads(gold)))
                         for label, value, gold in zip(rows["label"], rows["value"],
                                                       rows["gold"])]
    rows["confidence"] = rows["confidence"].astype(float)
    return rows[columns].reset_index(drop=True)


def _kind_scores(project: Project, merged: pd.DataFrame) -> dict[str, Any] | None:
    """The task kind's scores (:meth:`TaskKind.evaluate`) of the decided values against
    evaluation gold; only the numbers."""
    task = project.task
    kind = task.strategy
    decided = merged[merged["label"].notna()]
    if not len(decided):
        return None
    truth = [json.loads(g) for g in decided["gold"]]
    pred = [kind.from_stored(task, label, None if v is None or pd.isna(v) is True else v)
            for label, v in zip(decided["label"], decided["value"])]
    out = kind.evaluate(task, truth, pred)
    return {k: v for k, v in out.items() if k == "metric" or (
        isinstance(v, (int, float)) and not isinstance(v, bool))}


def items_failed_in_run(project: Project, run_id: int) -> int:
    """Items that failed calls of run ``run_id`` left without a label for good: a request
    of the run failed, and the item has no decision, one without a label, or one the next
    run reopens (state ``budget`` or ``failed``). The next run asks their failed calls
    again."""
    rq, d = schema.requests, schema.decisions
    pid = project.store.project_id
    q = (select(func.count(distinct(rq.c.item_id)))
         .select_from(rq.outerjoin(d, and_(d.c.project_id == rq.c.project_id,
                                           d.c.item_id == rq.c.item_id)))
         .where((rq.c.project_id == pid) & (rq.c.run_id == run_id) & (rq.c.state == "failed")
                & or_(d.c.item_id.is_(None), d.c.label.is_(None),
                      d.c.state.in_(REOPENABLE))))
    with project.store.connect() as conn:
        return int(conn.execute(q).scalar() or 0)


def _rejected_entities(project: Project, conn) -> dict[str, int]:
    """Spans tasks: the entities each llm annotator named that did not align (from the
    ``rejected_entities`` of its logged responses)."""
    names = [n for n, a in project.config.annotators.items() if a.type == "llm"]
    if not names:
        return {}
    mc = schema.model_calls
    out: dict[str, int] = {}
    rows = conn.execute(select(mc.c.annotator, mc.c.response).where(
        (mc.c.project_id == project.store.project_id) & mc.c.annotator.in_(names)))
    for name, response in rows:
        if isinstance(response, str):
            response = json.loads(response)
        found = response.get("rejected_entities") if isinstance(response, dict) else None
        if found:
            out[name] = out.get(name, 0) + len(found)
    return out


def _label_issues(project: Project) -> int | None:
    """Open likely label errors, or None when none were ever looked for."""
    from .quality.label_issues import open_label_issues

    t = schema.label_issue_scores
    with project.store.connect() as conn:
        checked = conn.execute(select(func.count()).select_from(t).where(
            t.c.project_id == project.store.project_id)).scalar()
    return len(open_label_issues(project.store)) if checked else None
