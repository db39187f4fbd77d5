"""``labelquorum report``: the dataset's card, as one self-contained HTML page and a JSON file.

:func:`build_report` reads a project's records and computes every section once, into
plain JSON-ready data (:class:`Report`); the HTML page (:mod:`.report_html`) only draws
that data. A section that cannot be computed says why (``status: "skipped"`` and a
``reason``) instead of being left out, so a reader can tell "not applicable" from "not
done".

Sections: a summary; the DataRubrics card (:mod:`.rubric`); the label distribution;
accuracy, macro-F1, per-class scores and the confusion matrix on evaluation gold (entity
scores for spans); agreement (Krippendorff's α with a bootstrap interval, Fleiss' κ)
overall and per label; each annotator's accuracy, golden-question quality θ̂ and
calibration (ECE, reliability) on control and evaluation gold; cost and share decided per
tier; label issues (cleanlab); the alternative annotator test where people and an LLM
labelled the same items; languages; provenance counts; and what is simulated.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from ..errors import LabelquorumError, QualityError
from ..store import schema
from . import report_sections as sections
from .rubric import RecordFacts, fill_rubric

if TYPE_CHECKING:
    from ..project import Project

GOLD_ROLES = ("control", "evaluation")  # gold the report measures annotators on
MAX_LANGUAGE_ITEMS = 5000


@dataclass
class Report:
    """The computed report: ``data`` is the JSON document (see the module docstring)."""

    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=2, allow_nan=False)

    def html(self) -> str:
        from .report_html import render

        return render(self.data)

    def write(self, html_path: str | Path | None = None,
              json_path: str | Path | None = None) -> list[Path]:
        """Write the page and/or the JSON; returns the paths written."""
        out = []
        for path, text in ((html_path, self.html), (json_path, self.to_json)):
            if path is None:
                continue
            path = Path(path)
            if path.is_dir():
                raise QualityError(f"{path} is a directory; give a file name for the report, "
                                   "such as report.html or report.json.")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text(), encoding="utf-8")
            except OSError as exc:
                raise QualityError(f"cannot write the report to {path}: "
                                   f"{exc.strerror or exc}.") from None
            out.append(path)
        return out


def build_report(project: Project, *, judge: str | None = None, n_boot: int = 1000,
                 seed: int | None = None, label_issues: bool = True) -> Report:
    """Compute the report of ``project``.

    ``judge`` names an ``llm`` annotator of the project that answers the rubric options
    the records cannot (its calls are logged and paid like any model call); ``n_boot`` is
    the number of bootstrap resamples of the agreement intervals (0: none); ``seed`` the
    bootstrap's seed (default: the project's); ``label_issues=False`` skips cleanlab."""
    if not isinstance(n_boot, int) or isinstance(n_boot, bool) or n_boot < 0:
        raise QualityError(f"the number of bootstrap resamples must be a whole number of 0 or "
                           f"more (1000 is usual); got {n_boot!r}.")
    if judge is not None:
        llms = sorted(n for n, a in project.config.annotators.items() if a.type == "llm")
        if judge not in llms:
            choices = ", ".join(llms) or 'none (add an [annotators.NAME] with type = "llm")'
            raise QualityError(f"the judge {judge!r} is not an llm annotator of this project; "
                               f"choose one of: {choices}.")
    seed = project.config.project.seed if seed is None else int(seed)
    rec = _Records.read(project)
    status = project.status()
    data: dict[str, Any] = {"summary": sections.summary(project, status, rec)}
    data["labels"] = sections.label_distribution(project.task, rec.decisions)
    data["evaluation"] = sections.evaluation(project.task, rec.gold, rec.decisions)
    answers = rec.answers(project.task)
    data["agreement"] = sections.agreement(project.task, answers, n_boot, seed)
    golden = rec.golden_answers(project)
    data["annotators"] = sections.annotators(project.task, rec.judgements, golden,
                                             rec.gold_values(project, GOLD_ROLES))
    data["tiers"] = sections.tiers(status, rec)
    data["label_issues"] = (sections.label_issues(project) if label_issues else
                            sections.skipped("Skipped on request (--no-label-issues)."))
    data["alt_test"] = sections.alt_test(answers, rec.judgements)
    languages = _languages(project, rec)
    data["languages"] = sections.languages(languages, rec, project)
    data["provenance"] = sections.provenance(rec)
    data["simulated"] = sections.simulated(project, rec)
    # the task kind's own result tables (pairwise: "systems"), each a section of its own
    tables = project.task.strategy.tables(project.task, project)
    data["kind_tables"] = [name for name in tables if name not in data]
    data.update({name: tables[name] for name in data["kind_tables"]})
    facts = _facts(project, rec, data, languages)
    rubric = fill_rubric(facts)
    if judge is not None:
        from .rubric_judge import judge_rubric

        judge_rubric(project, rubric, judge, facts, rec.sample_texts(project))
    data["rubric"] = rubric
    return Report(_clean(data))


def _clean(value: Any) -> Any:
    """JSON-ready: NaN and infinities become None, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


# -- reading the records ---------------------------------------------------------------
@dataclass
class _Records:
    """The tables the report reads, read once."""

    items: pd.DataFrame  # id, seq, gold, gold_role, source
    judgements: pd.DataFrame  # project.judgements(): item, annotator (identity), ...
    decisions: pd.DataFrame  # item_id, label, value, state, tier, decided_by, provenance
    model_calls: dict[str, Any]
    assignments: pd.DataFrame  # item_id, user, state, control, label, correct, judge_score
    reviews: pd.DataFrame  # item_id, user
    runs: int

    @property
    def gold(self) -> pd.DataFrame:
        return self.items[self.items["gold"].notna()]

    @classmethod
    def read(cls, project: Project) -> _Records:
        it, d, mc = schema.items, schema.decisions, schema.model_calls
        a, rv, u, r = schema.assignments, schema.reviews, schema.users, schema.runs
        pid = project.store.project_id
        with project.store.connect() as conn:
            items = pd.read_sql(select(it.c.id, it.c.seq, it.c.gold, it.c.gold_role,
                                       it.c.source).where(it.c.project_id == pid)
                                .order_by(it.c.seq), conn)
            decisions = pd.read_sql(select(d.c.item_id, d.c.label, d.c.state, d.c.tier,
                                           d.c.decided_by, d.c.provenance, d.c.value)
                                    .where(d.c.project_id == pid), conn)
            calls = conn.execute(select(func.count(), func.sum(mc.c.tokens_in),
                                        func.sum(mc.c.tokens_out), func.sum(mc.c.cost),
                                        func.count(mc.c.error))
                                 .where(mc.c.project_id == pid)).one()
            assignments = pd.read_sql(
                select(a.c.item_id, u.c.name.label("user"), a.c.state, a.c.control, a.c.label,
                       a.c.correct, a.c.judge_score)
                .join(u, u.c.id == a.c.user_id).where(a.c.project_id == pid), conn)
            reviews = pd.read_sql(select(rv.c.item_id, u.c.name.label("user"))
                                  .join(u, u.c.id == rv.c.user_id)
                                  .where(rv.c.project_id == pid), conn)
            runs = conn.execute(select(func.count()).select_from(r)
                                .where(r.c.project_id == pid)).scalar() or 0
        model_calls = {"calls": int(calls[0] or 0), "tokens_in": int(calls[1] or 0),
                       "tokens_out": int(calls[2] or 0), "cost": float(calls[3] or 0.0),
                       "failed": int(calls[4] or 0)}
        j = project.judgements()
        j = j[j["value_type"] != schema.VERDICT]  # a judge's verdicts are not answers
        return cls(items, j, decisions, model_calls, assignments, reviews, int(runs))

    def answers(self, task) -> pd.DataFrame:
        """Each annotator identity's latest ok answer per item: item, annotator, label
        (labels as text; span sets in their canonical text)."""
        j = self.judgements
        ok = j[(j["status"] == "ok") & j["label"].notna()]
        ok = ok.drop_duplicates(["item", "annotator"], keep="last")
        return ok[["item", "annotator", "annotator_kind", "label"]].reset_index(drop=True)

    def gold_values(self, project: Project, roles) -> dict[str, Any]:
        """Gold labels of the given roles as text, comparable with judgement labels."""
        gold = self.items[self.items["gold_role"].isin(roles) & self.items["gold"].notna()]
        task = project.task
        return {i: sections.as_text(task, json.loads(g))
                for i, g in zip(gold["id"], gold["gold"])}

    def golden_answers(self, project: Project) -> pd.DataFrame:
        """People's golden questions answered in the web app (assignments on control
        gold): item, annotator (``human:user``), label, confidence (none)."""
        a = self.assignments
        done = a[a["control"].astype(bool) & (a["state"] == "done") & a["label"].notna()]
        humans = [n for n, c in project.config.annotators.items() if c.type == "human"]
        prefix = humans[0] if len(humans) == 1 else "people"
        return pd.DataFrame({"item": done["item_id"].to_numpy(),
                             "annotator": (prefix + ":" + done["user"]).to_numpy(),
                             "label": done["label"].to_numpy()})

    def sample_texts(self, project: Project, n: int = 5) -> list[str]:
        rows = self._spread(project, n)
        field_name = project.task.text_field
        return [str(json.loads(f).get(field_name, ""))[:400] for f in rows["fields"]]

    def _spread(self, project: Project, n: int) -> pd.DataFrame:
        """``n`` items spread evenly through the import order (all of them when there are
        fewer), with their fields."""
        it = schema.items
        seqs = self.items["seq"]
        if len(seqs) > n:
            seqs = seqs.iloc[np.linspace(0, len(seqs) - 1, n).astype(int)]
        wanted = sorted({int(s) for s in seqs})
        with project.store.connect() as conn:
            return pd.read_sql(select(it.c.id, it.c.seq, it.c.fields)
                               .where((it.c.project_id == project.store.project_id)
                                      & it.c.seq.in_(wanted)).order_by(it.c.seq), conn)


def _languages(project: Project, rec: _Records) -> dict[str, Any]:
    """Detected languages of (up to MAX_LANGUAGE_ITEMS of) the items' texts."""
    from .language import detect_languages

    if not len(rec.items):
        return {"error": "The project has no items."}
    rows = rec._spread(project, MAX_LANGUAGE_ITEMS)
    texts = [str(json.loads(f).get(project.task.text_field, "")) for f in rows["fields"]]
    try:
        found = detect_languages(texts, ids=rows["id"].tolist())
    except LabelquorumError as exc:  # py3langid missing: the quality extra
        return {"error": str(exc)}
    return {"table": found, "checked": len(texts), "of": len(rec.items)}


def _facts(project: Project, rec: _Records, data: dict[str, Any],
           languages: dict[str, Any]) -> RecordFacts:
    from .. import __version__

    cfg, task = project.config, project.task
    j = rec.judgements
    ok = j[j["status"] == "ok"]
    real = ok[~ok["simulated"].astype(bool)]
    kinds = real.groupby("annotator_kind").size().to_dict()
    kind_annotators = {k: sorted(g["annotator_name"].unique())
                       for k, g in real.groupby("annotator_kind")}
    sim = ok[ok["simulated"].astype(bool)].groupby("annotator_name").size().to_dict()
    stands = {n: c.stands_for for n, c in cfg.annotators.items() if c.type == "simulated"}
    humans = real[real["annotator_kind"] == "human"]
    people = set(humans["worker"].dropna().astype(str))
    people |= set(humans.loc[humans["worker"].isna(), "annotator_name"])
    people |= set(rec.assignments.loc[rec.assignments["state"] == "done", "user"])
    control = set(rec.items.loc[rec.items["gold_role"] == "control", "id"])
    on_control = ok[ok["item"].isin(control)].groupby("annotator_kind").size().to_dict()
    a = rec.assignments
    per_item = data["agreement"].get("items_per_annotator_count", {})
    agreement = data["agreement"]
    alpha = (agreement.get("overall", {}).get("krippendorff_alpha", {}) or {}).get("estimate") \
        if agreement["status"] == "computed" else None
    facts = RecordFacts(
        items=len(rec.items),
        sources=sorted(str(Path(s).name) for s in rec.items["source"].dropna().unique()),
        text_field=task.text_field,
        image_fields={n: c.image_field for n, c in cfg.annotators.items()
                      if c.type == "llm" and c.image_field},
        kind_counts={str(k): int(v) for k, v in kinds.items()},
        kind_annotators={str(k): v for k, v in kind_annotators.items()},
        simulated={str(k): int(v) for k, v in sim.items()},
        simulated_stands_for=stands,
        people=sorted(people),
        guidelines_chars=len(task.guidelines.strip()),
        labels=len(task.labels),
        described_labels=sum(bool(d.strip()) for d in task.descriptions),
        judge_rubric=bool(cfg.web.judge and cfg.web.judge_rubric.strip()),
        few_shot={n: c.few_shot.k for n, c in cfg.annotators.items()
                  if c.type == "llm" and c.few_shot.k > 0},
        seed_items=int((rec.items["gold_role"] == "seed").sum()),
        control_answers={str(k): int(v) for k, v in on_control.items()},
        web_golden_answers=int((a["control"].astype(bool) & (a["state"] == "done")).sum()),
        reviews=len(rec.reviews),
        reviewers=sorted(set(rec.reviews["user"])),
        judge_scores=int(a["judge_score"].notna().sum()),
        overlap_items=int(sum(v for k, v in per_item.items() if int(k) >= 2)),
        mean_annotators=float(data["agreement"].get("mean_annotators", 0.0) or 0.0),
        agreement=alpha,
        config_hash=project.config_hash,
        seed=cfg.project.seed,
        version=__version__,
        runs=rec.runs,
        model_calls=rec.model_calls["calls"],
        decisions_with_provenance=int(rec.decisions["provenance"].notna().sum()),
    )
    if "error" in languages:
        facts.languages, facts.languages_note = None, languages["error"]
    else:
        table = languages["table"]
        facts.languages = {str(k): int(v) for k, v in
                           table["language"].dropna().value_counts().items()}
        facts.undetermined_language = int(table["language"].isna().sum())
    return facts
