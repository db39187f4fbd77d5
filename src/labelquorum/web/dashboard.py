"""The dashboard's figures, and the small SVG plots drawn on the server (no scripts, no CDN).

Everything is read from the store: progress from items, decisions and the human task
queue; throughput from the people's submissions; cost by tier from the one judgement
table (people's time priced by the human annotator's ``cost_per_hour``, as it was when
the answer came in); agreement among people from :mod:`labelquorum.agreement`; accuracy
on golden questions from :mod:`labelquorum.quality`.
"""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import pandas as pd
from sqlalchemy import func, select

from ..errors import AgreementError
from ..policies import DecisionState
from ..quality import gold_accuracy
from ..store import schema

if TYPE_CHECKING:
    from ..project import Project


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def stats(project: Project) -> dict[str, Any]:
    store, pid = project.store, project.store.project_id
    it, d, j, a, u, ht = (schema.items, schema.decisions, schema.judgements,
                          schema.assignments, schema.users, schema.human_tasks)
    now = datetime.now(UTC)
    with store.connect() as conn:
        items = conn.execute(select(func.count()).where(it.c.project_id == pid)).scalar() or 0
        # decided = labelled for good (as `status` counts): not stopped by the budget, not
        # failed, not closed without a label
        decided = conn.execute(select(func.count()).where(
            (d.c.project_id == pid) & d.c.label.is_not(None)
            & d.c.state.in_((DecisionState.FINAL.value, DecisionState.REVIEW.value)))
        ).scalar() or 0
        reviewed = conn.execute(select(func.count()).where(
            (d.c.project_id == pid) & (d.c.tier == "review"))).scalar() or 0
        tasks = {s: int(n) for s, n in conn.execute(
            select(ht.c.state, func.count()).where(ht.c.project_id == pid)
            .group_by(ht.c.state))}
        cost = [{"annotator": r.annotator, "kind": r.annotator_kind, "answers": int(r.n),
                 "cost": float(r.cost or 0.0)} for r in conn.execute(
            select(j.c.annotator, j.c.annotator_kind, func.count().label("n"),
                   func.sum(j.c.cost).label("cost"))
            .where((j.c.project_id == pid) & (j.c.status != "superseded"))
            .group_by(j.c.annotator, j.c.annotator_kind).order_by(j.c.annotator))]
        mc = schema.model_calls
        cost += [{"annotator": r.annotator, "kind": "llm", "answers": int(r.n),
                  "cost": float(r.cost or 0.0)} for r in conn.execute(
            select(mc.c.annotator, func.count().label("n"), func.sum(mc.c.cost).label("cost"))
            .where((mc.c.project_id == pid) & mc.c.annotator.like("web:%"))
            .group_by(mc.c.annotator).order_by(mc.c.annotator))]  # the assistant and judge
        done = conn.execute(
            select(u.c.name, a.c.submitted, a.c.seconds, a.c.suggestion,
                   a.c.suggestion_accepted)
            .select_from(a.join(u, u.c.id == a.c.user_id))
            .where((a.c.project_id == pid) & (a.c.state == "done"))).all()
        people = pd.read_sql(
            select(j.c.item_id.label("item"), u.c.name.label("annotator"), j.c.label)
            .select_from(j.join(a, a.c.judgement_id == j.c.id).join(u, u.c.id == a.c.user_id))
            .where((j.c.project_id == pid) & (j.c.status == "ok")), conn)
    hours = [0] * 24
    per_person: dict[str, list[float]] = {}
    with_s, without_s, accepted = [], [], []
    for r in done:
        if r.submitted is not None:
            age = (now - _aware(r.submitted)).total_seconds() / 3600
            if 0 <= age < 24:
                hours[23 - int(age)] += 1
        if r.seconds is not None:
            per_person.setdefault(r.name, []).append(r.seconds)
            (with_s if r.suggestion else without_s).append(r.seconds)
        if r.suggestion_accepted is not None:
            accepted.append(bool(r.suggestion_accepted))
    gold = {g.name: g for g in gold_accuracy(project)}
    annotators = []
    for name in sorted(set(gold) | set(per_person)):
        g = gold.get(name)
        secs = per_person.get(name, [])
        annotators.append({"name": name, "answers": len(secs),
                           "median_seconds": statistics.median(secs) if secs else None,
                           "gold": None if g is None else g.to_json()})
    return {
        "calibration": _calibration(project),
        "golden": _golden(project),
        "items": int(items), "decided": int(decided), "reviewed": int(reviewed),
        "tasks": {"open": tasks.get("open", 0), "full": tasks.get("full", 0),
                  "closed": tasks.get("closed", 0)},
        "answers_last_24h": sum(hours), "per_hour": hours,
        "cost": cost, "total_cost": sum(c["cost"] for c in cost),
        "cost_by_kind": _by_kind(cost),
        "agreement": _agreement(people),
        "annotators": annotators,
        "handling": {
            "with_suggestion": _median(with_s), "with_suggestion_n": len(with_s),
            "without_suggestion": _median(without_s), "without_suggestion_n": len(without_s),
            "suggestion_accepted_share": (sum(accepted) / len(accepted)) if accepted else None,
        },
        "since": (now - timedelta(hours=24)).isoformat(),
    }


def _calibration(project: Project) -> list[dict[str, Any]]:
    """Per annotator on gold it never trained on: accuracy with its 95 % interval, the
    expected calibration error of its stated confidence, and its reliability bins."""
    from ..calibration import reliability_table
    from ..status import annotator_quality, gold_answers

    answers = gold_answers(project)
    out = []
    for row in annotator_quality(project).itertuples():
        mine = answers[answers["annotator"] == row.annotator]
        bins = reliability_table(mine["confidence"], mine["right"])
        out.append({"annotator": row.annotator, "answers": int(row.answers),
                    "accuracy": float(row.accuracy), "low": float(row.low),
                    "high": float(row.high), "ece": _finite(row.ece),
                    "bins": [(float(b.confidence), float(b.accuracy), int(b.answers))
                             for b in bins.itertuples()]})
    return out


def _golden(project: Project) -> dict[str, Any]:
    """Models, LLMs and the other non-people annotators on their golden probes (θ̂, its
    interval, the one-sided test, the vote weight θ̂ gives) and the monitor's alerts."""
    from ..quality.watch import golden_quality, stored_alerts

    table = golden_quality(project.store, project.task, project.config.quality)
    alerts = stored_alerts(project.store)
    rows = [{"annotator": r.annotator, "kind": r.kind, "golden": int(r.golden),
             "correct": int(r.correct), "theta": float(r.theta), "low": float(r.low),
             "high": float(r.high), "p_value": float(r.p_value), "passes": bool(r.passes),
             "weight": _finite(float(r.weight)), "drops": int(r.drops),
             "version_changes": int(r.version_changes)} for r in table.itertuples()]
    recent = [{"annotator": r.annotator, "kind": r.kind, "run_id": r.run_id,
               "message": r.message} for r in alerts.tail(10).itertuples()]
    return {"annotators": rows, "alerts": recent,
            "theta0": project.config.quality.monitor.theta_bad}


def _by_kind(cost: list[dict[str, Any]]) -> dict[str, float]:
    """Cost per kind of annotator (model, llm, human, ...): the tiers' bill."""
    out: dict[str, float] = {}
    for c in cost:
        out[c["kind"]] = out.get(c["kind"], 0.0) + c["cost"]
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _finite(value: float | None) -> float | None:
    """A figure, or None where it is not defined (NaN): pages print no ``nan``."""
    return None if value is None or not math.isfinite(value) else float(value)


def _agreement(people: pd.DataFrame) -> dict[str, Any]:
    from ..agreement import fleiss_kappa, percent_agreement

    out: dict[str, Any] = {"items": 0, "percent": None, "fleiss_kappa": None, "note": ""}
    if people.empty:
        out["note"] = "no item has answers from two people yet"
        return out
    shared = people.groupby("item")["annotator"].transform("nunique") >= 2
    out["items"] = int(people.loc[shared, "item"].nunique())
    try:
        out["percent"] = _finite(percent_agreement(people))
        out["fleiss_kappa"] = _finite(fleiss_kappa(people))  # NaN: one label for all
    except AgreementError as exc:
        out["note"] = str(exc)
    return out


# -- SVG ---------------------------------------------------------------------------------
def bar_chart(values: list[float], labels: list[str], *, title: str, width: int = 480,
              height: int = 160, fmt: str = "{:g}") -> str:
    """A bar chart as an inline SVG string; every text is escaped."""
    n = max(len(values), 1)
    top = max([*values, 1e-9])
    left, _bottom, plot_h = 36, 24, height - 44
    bar_w = (width - left - 8) / n
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'),
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="12" class="chart-title">{escape(title)}</text>',
             f'<text x="2" y="{20 + 4}" class="axis">{escape(fmt.format(top))}</text>']
    for i, (v, lab) in enumerate(zip(values, labels)):
        h = 0 if top <= 0 else plot_h * v / top
        x = left + i * bar_w
        y = 20 + plot_h - h
        parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                     f'height="{h:.1f}" class="bar"><title>{escape(lab)}: '
                     f'{escape(fmt.format(v))}</title></rect>')
        if n <= 12 or i % max(n // 6, 1) == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 6}" class="axis" '
                         f'text-anchor="middle">{escape(lab[:12])}</text>')
    parts.append('</svg>')
    return "".join(parts)


def interval_chart(rows: list[tuple[str, float | None, float, float]], *, title: str,
                   threshold: float | None = None, width: int = 480) -> str:
    """Points with 95 % intervals on [0, 1], one row per person."""
    row_h, left, right = 22, 110, 16
    height = 30 + row_h * max(len(rows), 1)
    span = width - left - right

    def x(v: float) -> float:
        return left + span * v

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'),
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="12" class="chart-title">{escape(title)}</text>']
    if threshold is not None:
        parts.append(f'<line x1="{x(threshold):.1f}" y1="18" x2="{x(threshold):.1f}" '
                     f'y2="{height}" class="threshold"/>')
    for i, (name, point, low, high) in enumerate(rows):
        y = 30 + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 4}" class="axis" text-anchor="end">'
                     f'{escape(name[:16])}</text>')
        parts.append(f'<line x1="{x(low):.1f}" y1="{y}" x2="{x(high):.1f}" y2="{y}" '
                     f'class="interval"/>')
        if point is not None:
            parts.append(f'<circle cx="{x(point):.1f}" cy="{y}" r="4" class="point">'
                         f'<title>{escape(name)}: {point:.2f} [{low:.2f}, {high:.2f}]</title>'
                         f'</circle>')
    parts.append('</svg>')
    return "".join(parts)


def reliability_chart(curves: list[dict[str, Any]], *, title: str, size: int = 260) -> str:
    """A reliability diagram: per annotator, its stated confidence (x) against how often it
    was right (y) in each confidence bin, with the diagonal of perfect calibration."""
    left, top, plot = 36, 20, size - 50
    width = size + 150

    def at(v: float, axis: str) -> float:
        return left + plot * v if axis == "x" else top + plot * (1 - v)

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
              f'width="{width}" height="{size}" viewBox="0 0 {width} {size}">'),
             f'<title>{escape(title)}</title>',
             f'<text x="{left}" y="12" class="chart-title">{escape(title)}</text>',
             (f'<rect x="{left}" y="{top}" width="{plot}" height="{plot}" class="frame" '
             'fill="none" stroke="#999"/>'),
             (f'<line x1="{at(0, "x")}" y1="{at(0, "y")}" x2="{at(1, "x")}" y2="{at(1, "y")}" '
             'class="threshold" stroke-dasharray="4 3"/>'),
             f'<text x="{left}" y="{size - 8}" class="axis">stated confidence</text>',
             f'<text x="2" y="{top + 8}" class="axis">right</text>']
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
    shown = [c for c in curves if c["bins"]]
    for i, curve in enumerate(shown):
        colour = colours[i % len(colours)]
        points = " ".join(f'{at(x, "x"):.1f},{at(y, "y"):.1f}' for x, y, _ in curve["bins"])
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')
        for x, y, n in curve["bins"]:
            parts.append(f'<circle cx="{at(x, "x"):.1f}" cy="{at(y, "y"):.1f}" r="3" '
                         f'fill="{colour}"><title>{escape(curve["annotator"])}: said '
                         f'{x:.2f}, right {y:.2f} ({n} answers)</title></circle>')
        parts.append(f'<text x="{left + plot + 10}" y="{top + 12 + 16 * i}" class="axis" '
                     f'fill="{colour}">{escape(curve["annotator"][:22])}</text>')
    if not shown:
        parts.append(f'<text x="{left + 8}" y="{top + plot / 2}" class="axis">no answers '
                     'with a confidence on gold yet</text>')
    parts.append('</svg>')
    return "".join(parts)
