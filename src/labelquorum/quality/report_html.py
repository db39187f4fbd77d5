"""The report's HTML page: one self-contained file (inline CSS and SVG, no script, nothing
fetched), drawn from the report's JSON data. Every value is escaped; a missing value is
shown as "–", never as ``None`` or ``nan``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from html import escape
from typing import Any

from . import svg

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933;
       margin: 0; background: #f5f7fa; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; } h2 { font-size: 20px; margin: 34px 0 8px;
border-bottom: 2px solid #d9e2ec; padding-bottom: 4px; } h3 { font-size: 16px; margin: 20px 0 6px; }
.meta, .note, .reason { color: #616e7c; } .reason { font-style: italic; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.card { border: 1px solid #d9e2ec; border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card b { display: block; font-size: 20px; } .card span { color: #616e7c; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 4px 10px 4px 0; text-align: left;
         vertical-align: top; }
th { color: #3e4c59; font-weight: 600; } td.num, th.num { text-align: right; }
.yes { color: #1d7a3e; font-weight: 600; } .no { color: #9aa5b1; }
.open { color: #d9822b; font-weight: 600; }
.tag { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 8px;
       background: #e4e7eb; color: #3e4c59; margin-left: 4px; }
.tag.sim { background: #fde8d0; color: #8a4b08; } .tag.model { background: #e0ecfa; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 6px 0; } figcaption { font-size: 13px; color: #616e7c; }
nav a { margin-right: 10px; font-size: 13px; }
.evidence { font-size: 13px; color: #3e4c59; margin: 0 0 2px; padding-left: 18px; }
.evidence li { margin: 0; }
"""

SECTIONS = [("rubric", "The dataset's card (DataRubrics)"), ("labels", "Label distribution"),
            ("evaluation", "Evaluation gold"), ("agreement", "Agreement"),
            ("annotators", "Annotators"), ("tiers", "Cost and share per tier"),
            ("label_issues", "Label issues"), ("alt_test", "People against an LLM"),
            ("languages", "Languages"), ("provenance", "Provenance"),
            ("simulated", "What is simulated")]


def _fmt(value: Any, kind: str = "num") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f} %"
    if kind == "usd":
        return f"${value:,.4f}"
    if kind == "3":
        return f"{value:.3f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _e(value: Any, kind: str = "num") -> str:
    return escape(_fmt(value, kind))


def _table(head: list[str], rows: Iterable[list[str]], numeric: Iterable[int] = (),
           testid: str = "") -> str:
    num = set(numeric)
    tid = f' data-testid="{testid}"' if testid else ""
    out = [f"<table{tid}><thead><tr>"]
    out += [f'<th{" class=num" if i in num else ""}>{escape(h)}</th>'
            for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td{" class=num" if i in num else ""}>{c}</td>'
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _interval(d: dict | None) -> str:
    if not d or d.get("estimate") is None:
        return escape(d.get("note", "") if d else "") or "–"
    if d.get("low") is None:
        return _e(d["estimate"], "3")
    return f'{_e(d["estimate"], "3")} [{_e(d["low"], "3")}, {_e(d["high"], "3")}]'


def _skipped(section: dict) -> str:
    return f'<p class="reason" data-testid="skipped">{escape(section["reason"])}</p>'


def render(data: dict[str, Any]) -> str:
    s = data["summary"]
    extra = [(name, data[name]["title"]) for name in data.get("kind_tables", [])]
    shown = SECTIONS[:1] + extra + SECTIONS[1:]
    body = [f'<h1>{escape(s["project"])}: the dataset\'s card</h1>',
            (f'<p class="meta">A {escape(s["task"])} task with labels '
            f'{escape(", ".join(s["labels"]))}. Generated {escape(s["generated"])} by '
            f'labelquorum {escape(s["labelquorum"])} from the project\'s own records.</p>'),
            _cards(data), "<nav>" + "".join(f'<a href="#{sid}">{escape(t)}</a>'
                                            for sid, t in shown) + "</nav>"]
    for sid, title in shown:
        section = data[sid]
        draw = RENDER.get(sid, _kind_table)
        inner = (_skipped(section) if section.get("status") == "skipped"
                 else draw(section, data))
        body.append(f'<section id="{sid}" data-section="{sid}"><h2>{escape(title)}</h2>'
                    f"{inner}</section>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(s['project'])}: labelquorum report</title>"
            f"<style>{CSS}</style></head><body><main>" + "".join(body)
            + "</main></body></html>\n")


def _kind_table(d: dict, _data: dict) -> str:
    """A task kind's own result table (``TaskKind.tables``): its rows, then its notes."""
    columns = d.get("columns", [])
    rows = [[_e(row.get(c), "3" if isinstance(row.get(c), float) else "num") for c in columns]
            for row in d.get("rows", [])]
    numeric = [i for i, c in enumerate(columns)
               if any(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool)
                      for r in d.get("rows", []))]
    out = _table(columns, rows, numeric, testid="kind-table") if rows else ""
    return out + "".join(f'<p class="note">{escape(n)}</p>' for n in d.get("notes", []))


def _cards(data: dict) -> str:
    s, sim = data["summary"], data["simulated"]
    ev = data["evaluation"]
    cards = [("items", _e(s["items"])), ("decided", _e(s["decided"])), ("open", _e(s["open"])),
             ("total cost", _e(s["total_cost"], "usd")), ("runs", _e(s["runs"]))]
    if ev.get("status") == "computed":
        cards.append(("accuracy on evaluation gold", _e(ev["accuracy"], "pct")))
    cards.append(("decided items with a simulated answer",
                  _e(sim.get("share_of_decided"), "pct")))
    return '<div class="cards">' + "".join(f"<div class=card><b>{v}</b><span>{escape(k)}"
                                           "</span></div>" for k, v in cards) + "</div>"


# -- sections --------------------------------------------------------------------------
def _rubric(r: dict, _data: dict) -> str:
    out = [(f'<p class="note">Seven groups of categorical checklists after '
           f'{escape(r["reference"])}. Each option is judged from the project\'s records '
           "(with the evidence shown), by a model (with --judge), or left unanswered when "
           "the records cannot tell.</p>")]
    if r.get("judge"):
        j = r["judge"]
        out.append(f'<p class="note" data-testid="judge">Unanswered options were put to the '
                   f'llm annotator {escape(j["annotator"])} (model {escape(j["model"])}): '
                   f'{_e(j["calls"])} calls, {_e(j["cost"], "usd")}.'
                   + "".join(f" {escape(f)}" for f in j.get("failures", [])) + "</p>")
    for g in r["groups"].values():
        head = (f'<h3 data-group="{escape(g["id"])}">{escape(g["title"])} '
                f'<span class="tag">{escape(g["status"])}</span></h3>'
                f'<p class="note">{escape(g["question"])}</p>')
        reasons = {o["reasoning"] for o in g["options"]}
        if g["status"] == "unanswered" and len(reasons) == 1:  # one reason: said once
            names = ", ".join(o["name"] for o in g["options"])
            out.append(head + f'<p data-testid="rubric-{escape(g["id"])}"><span '
                       f'class="open">?</span> {escape(names)}.</p><p class="reason">'
                       f"{escape(reasons.pop())}</p>")
            continue
        rows = []
        for o in g["options"]:
            if o["judged_by"] == "unanswered":
                mark = '<span class="open">?</span>'
            else:
                mark = ('<span class="yes">✓</span>' if o["selected"]
                        else '<span class="no">✗</span>')
            ev = "".join(f"<li>{escape(e['record'])}: {escape(e['detail'])}</li>"
                         for e in o["evidence"])
            origin = "" if o["origin"] == "DataRubrics" else '<span class="tag">labelquorum</span>'
            judged = (f'<span class="tag model">{escape(o["judged_by"])}</span>'
                      if o["judged_by"] == "model" else escape(o["judged_by"]))
            rows.append([mark, f'{escape(o["name"])}{origin}', judged,
                         (f'<ul class="evidence">{ev}</ul>' if ev else "")
                         + f'<span class="note">{escape(o["reasoning"])}</span>'])
        notes = "".join(f'<p class="note">{escape(n)}</p>' for n in g["notes"])
        out.append(head + _table(["", "option", "judged by", "evidence"], rows,
                            testid=f"rubric-{g['id']}") + notes)
    return "".join(out)


def _labels(d: dict, _data: dict) -> str:
    rows = [(c["label"], c["count"]) for c in d["counts"]]
    chart = svg.bar_chart(rows, f"{d['unit']} per label",
                          fmt=lambda v: f"{v:,.0f} ({100 * v / max(d['total'], 1):.1f} %)")
    return (f'<p>{_e(d["decided"])} decided items; {_e(d["total"])} {escape(d["unit"])}.</p>'
            f"<figure>{chart}</figure>")


def _evaluation(d: dict, _data: dict) -> str:
    head = (f'<p>{_e(d["n"])} of {_e(d["items"])} evaluation items are decided '
            f'({_e(d["undecided"])} not yet). Exact-match accuracy '
            f'<b data-testid="accuracy">{_e(d["accuracy"], "pct")}</b>')
    if "rating" in d:  # a rating task: errors in points (or the scale's units), ranks
        r = d["rating"]
        return head + ".</p>" + _table(
            ["MAE", "RMSE", "exact", "within one", "Spearman's ρ", "items"],
            [[_e(r["mae"], "3"), _e(r["rmse"], "3"), _e(r["exact"], "pct"),
              _e(r["within_one"], "pct"), _e(r["spearman"], "3"), _e(r["n"])]],
            numeric=(0, 1, 2, 3, 4, 5), testid="rating-scores") + \
            f'<p class="note">Exact: {escape(d["metric"])}.</p>'
    if "per_class" not in d:  # a kind's own scores (free text: token F1, exact match...)
        scores = [(k, v) for k, v in d.items() if k not in ("status", "items", "n",
                  "undecided", "accuracy", "metric") and (v is None or isinstance(v, (int,
                                                                                      float)))]
        return head + f' ({escape(str(d.get("metric", "")))}).</p>' + _table(
            ["score", "value"], ([escape(k.replace("_", " ")), _e(v, "3") if isinstance(
                v, float) else _e(v)] for k, v in scores), numeric=(1,), testid="kind-scores")
    if d["metric"] == "entity":
        head += (f', entity F1 micro <b data-testid="micro-f1">{_e(d["micro_f1"], "3")}</b>, '
                 f'macro {_e(d["macro_f1"], "3")}.</p>')
    else:
        head += f', macro-F1 <b data-testid="macro-f1">{_e(d["macro_f1"], "3")}</b>.</p>'
    table = _table(["label", "precision", "recall", "F1", "support"],
                   ([escape(c["label"]), _e(c["precision"], "3"), _e(c["recall"], "3"),
                     _e(c["f1"], "3"), _e(c["support"])] for c in d["per_class"]),
                   numeric=(1, 2, 3, 4), testid="per-class")
    charts = [svg.bar_chart([(c["label"], c["f1"]) for c in d["per_class"]],
                            "F1 per label", fmt=lambda v: f"{v:.3f}")]
    if "confusion" in d:
        c = d["confusion"]
        charts.insert(0, svg.confusion_matrix(c["labels"], c["matrix"],
                                              "Confusion matrix: gold rows, decided columns"))
    return head + table + '<div class="charts">' + "".join(
        f"<figure>{c}</figure>" for c in charts) + "</div>"


def _agreement(d: dict, _data: dict) -> str:
    o = d["overall"]
    boot = (f"95 % bootstrap intervals from {d['n_boot']:,} resamples of the items"
            if d["n_boot"] else "no bootstrap intervals")
    rows = [[f"Krippendorff's α ({d.get('alpha_level', 'nominal')})",
             _interval(o["krippendorff_alpha"])],
            ["Fleiss' κ", _interval(o["fleiss_kappa"])],
            ["percent agreement", _interval(o["percent_agreement"])]]
    per = d["per_label"]
    chart = svg.interval_chart([(p["label"], p["estimate"], p["low"], p["high"]) for p in per],
                               "Krippendorff's alpha per label", low=-0.2, high=1.0,
                               marks=(0.667, 0.8))
    return (f'<p>{_e(d["items"])} items answered by two or more of '
            f'{_e(len(d["annotators"]))} annotators ({d["mean_annotators"]:.2f} per answered '
            f'item on average); {escape(boot)}.</p>'
            + _table(["statistic", "estimate [interval]"], rows, testid="agreement")
            + f'<h3>Per label</h3><p class="note">{escape(d["per_label_method"])}; lines at '
            "0.667 and 0.8, Krippendorff's bounds for tentative and firm conclusions.</p>"
            + _table(["label", "α [interval]"], ([escape(p["label"]), _interval(p)]
                                                 for p in per), testid="agreement-per-label")
            + f"<figure>{chart}</figure>")


def _who(row: dict) -> str:
    tag = '<span class="tag sim">simulated</span>' if row.get("simulated") else ""
    return f'{escape(row["annotator"])}{tag}'


def _annotators(d: dict, _data: dict) -> str:
    rows = d["rows"]
    table = _table(
        ["annotator", "kind", "judgements", "failed", "cost", "gold answers", "accuracy",
         "95 % interval", "θ̂ [interval]", "ECE"],
        ([_who(r), escape(r["kind"]), _e(r["judgements"]), _e(r["failed"]),
          _e(r["cost"], "usd"), _e(r.get("gold_answers", 0)), _e(r.get("accuracy"), "pct"),
          (f'{_e(r["accuracy_low"], "pct")}–{_e(r["accuracy_high"], "pct")}'
           if r.get("accuracy") is not None else "–"),
          (f'{_e(r["theta"], "3")} [{_e(r["theta_low"], "3")}, {_e(r["theta_high"], "3")}]'
           if r.get("theta") is not None else "–"), _e(r.get("ece"), "3")] for r in rows),
        numeric=(2, 3, 4, 5, 6), testid="annotators")
    measured = [r for r in rows if r.get("theta") is not None]
    parts = [(f'<p class="note">Measured on {escape(" and ".join(d["gold_roles"]))} gold. θ̂ is '
             "the golden-question quality of Liu et al. (right with probability "
             "c + θ·(p − c), c the chance of a guess, certainty p = 1): 1 works as carefully "
             "as the items allow, 0 guesses. ECE is the expected calibration error of the "
             "confidence each annotator stated.</p>"), table]
    if measured:
        parts.append("<figure>" + svg.interval_chart(
            [(r["annotator"], r["theta"], r["theta_low"], r["theta_high"]) for r in measured],
            "Golden-question quality θ̂ with its 95 % interval") + "</figure>")
    diagrams = [r for r in rows if r.get("reliability") and r.get("ece") is not None][:12]
    if diagrams:
        parts.append("<h3>Calibration</h3><div class=\"charts\">" + "".join(
            f'<figure>{svg.reliability_diagram(r["reliability"], r["annotator"])}'
            f'<figcaption>{escape(r["annotator"])}: ECE {_e(r["ece"], "3")}</figcaption>'
            "</figure>" for r in diagrams) + "</div>")
    return "".join(parts)


def _tiers(d: dict, _data: dict) -> str:
    rows = d["rows"]
    return (_table(["tier", "items decided", "share", "cost", "cost per item"],
                   ([escape(r["tier"]), _e(r["items"]), _e(r["share"], "pct"),
                     _e(r["cost"], "usd"), _e(r["cost_per_item"], "usd")] for r in rows),
                   numeric=(1, 2, 3, 4), testid="tiers")
            + f'<p class="note">Total cost {_e(d["total_cost"], "usd")}; '
            f'{escape(d["cost_note"])}.</p><figure>'
            + svg.share_bar([(r["tier"], r["share"]) for r in rows], "Share decided per tier")
            + "</figure>")


def _label_issues(d: dict, _data: dict) -> str:
    return (f'<p>cleanlab checked {_e(d["checked"])} verified labels with out-of-sample '
            f'probabilities from {escape(str(d["annotator"]))} ({_e(d["folds"])} folds) and '
            f'flagged <b data-testid="flagged">{_e(d["flagged"])}</b> '
            f'({_e(d["share"], "pct")}). The likeliest errors first:</p>'
            + _table(["item", "label", "the model says", "label quality"],
                     ([escape(q["item"]), escape(q["label"]), escape(q["predicted"]),
                       _e(q["label_quality"], "3")] for q in d["queue"]),
                     numeric=(3,), testid="label-issues"))


def _alt_test(d: dict, _data: dict) -> str:
    out = [(f'<p class="note">The alternative annotator test (Calderon et al., 2025) against '
           f'{_e(len(d["people"]))} people.</p>')]
    for r in d["results"]:
        if r["status"] == "skipped":
            out.append(f'<p class="reason">{escape(r["llm"])}: {escape(r["reason"])}</p>')
            continue
        sim = ' <span class="tag sim">simulated</span>' if r["simulated"] else ""
        out.append(f'<p data-testid="alt-verdict">{escape(r["verdict"])}{sim}</p>')
        out.append(_table(["person", "items", "ρ LLM", "ρ person", "p-value", "LLM wins"],
                          ([escape(str(p["person"])), _e(p["n_items"]), _e(p["rho_llm"], "3"),
                            _e(p["rho_human"], "3"), _e(p["p_value"], "3"),
                            _e(bool(p["wins"]))] for p in r["per_person"]),
                          numeric=(1, 2, 3, 4)))
    return "".join(out)


def _languages(d: dict, _data: dict) -> str:
    counts = sorted(d["counts"].items(), key=lambda kv: -kv[1])
    out = [(f'<p>py3langid on {_e(d["checked"])} of {_e(d["of"])} items; '
           f'{_e(d["undetermined"])} without a clear language. Counted for coverage: '
           f'{escape(", ".join(d["counted"]) or "none")}.</p>')]
    if counts:
        out.append("<figure>" + svg.bar_chart(counts[:20], "Items per detected language")
                   + "</figure>")
    if d.get("per_annotator"):
        out.append("<h3>Accuracy per language on gold</h3>" + _table(
            ["annotator", "language", "answers", "accuracy", "95 % interval"],
            ([escape(str(r["annotator"])), escape(str(r["language"])), _e(r["n"]),
              _e(r["accuracy"], "pct"), f'{_e(r["low"], "pct")}–{_e(r["high"], "pct")}']
             for r in d["per_annotator"]), numeric=(2, 3)))
    return "".join(out)


def _counts_table(title: str, counts: dict) -> str:
    return f"<h3>{escape(title)}</h3>" + _table(
        ["", "count"], ([escape(str(k)), _e(v)] for k, v in counts.items()), numeric=(1,))


def _provenance(d: dict, _data: dict) -> str:
    mc, web = d["model_calls"], d["web"]
    return ('<div class="charts">'
            + "".join(f"<div>{_counts_table(t, d[k])}</div>" for t, k in (
                ("Items by gold role", "items_by_gold_role"), ("Items by source", "sources"),
                ("Judgements by status", "judgements_by_status"),
                ("Answers by annotator kind", "judgements_by_kind"),
                ("Decisions by state", "decisions_by_state"),
                ("Decided by", "decided_by")))
            + "</div>"
            + _counts_table("Model calls", {"calls": mc["calls"], "failed": mc["failed"],
                                            "tokens in": mc["tokens_in"],
                                            "tokens out": mc["tokens_out"]})
            + _counts_table("People in the web app", {
                "answers": web["answers"], "golden answers": web["golden_answers"],
                "reviews": web["reviews"], "answers scored by a judge": web["judge_scores"]})
            + f'<p class="note">{_e(d["runs"])} runs.</p>')


def _simulated(d: dict, _data: dict) -> str:
    if not d["annotators"]:
        return '<p data-testid="simulated-none">No annotator of this project is simulated.</p>'
    return (f'<p data-testid="simulated-share">{_e(d["judgements"])} answers '
            f'({_e(d["share_of_judgements"], "pct")} of all answers) come from simulated '
            f'annotators, which draw labels from gold with a stated noise model; '
            f'{_e(d["decided_items_touched"])} decided items '
            f'({_e(d["share_of_decided"], "pct")}) had a simulated answer.</p>'
            + _table(["annotator", "stands for", "answers"],
                     ([escape(r["annotator"]), escape(r["stands_for"]), _e(r["judgements"])]
                      for r in d["annotators"]), numeric=(2,)))


RENDER: dict[str, Callable[[dict, dict], str]] = {
    "rubric": _rubric, "labels": _labels, "evaluation": _evaluation, "agreement": _agreement,
    "annotators": _annotators, "tiers": _tiers, "label_issues": _label_issues,
    "alt_test": _alt_test, "languages": _languages, "provenance": _provenance,
    "simulated": _simulated}
