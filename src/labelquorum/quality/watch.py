"""Golden questions in the store: the bank of control items, every annotator's golden
answers, the monitor that watches them, and the per-annotator quality table.

Control gold (gold role ``control``) is never real work: a run closes each control item
with its gold and mixes the items into every model, LLM, rules, replay and simulated
annotator's stream as *golden probes* (:mod:`labelquorum.engine.probes`); people get them
as golden questions through the web app (:mod:`labelquorum.quality.golden`).

**Certainty.** A control item serves as a golden question only when its certainty is at
least ``quality.min_certainty``. The certainty is, in this order: the ``certainty`` column
it was imported with (expert agreement); else, once at least ``MIN_PEOPLE`` people answered
it as a golden question, the share of them whose answer matches its gold
(:func:`~labelquorum.quality.estimate_certainty`; people are the strong annotators here:
models' and LLMs' answers are what the bank measures, so they never decide which items
measure them); else 1.0 (no information: the gold is taken as certain).

**Versions.** The monitor restarts an annotator's watch when its version changes: a
trainable model's version (it changes when the model is retrained, within a run or before
it), an LLM's configured model name (from its call log), any other annotator's config hash.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, select

from ..errors import LabelquorumError
from ..store import Store, insert_rows, schema
from ..task import Task
from .bank import GoldenBank, estimate_certainty
from .monitor import ALERT_COLUMNS, Alert, ThetaMonitor
from .theta import GoldenTheta, same_label, theta_skills

MIN_PEOPLE = 3  # people's golden answers before their agreement is an item's certainty
ALPHA = 0.05  # level of the one-sided test shown by status
ANSWER_COLUMNS = ["id", "item", "annotator", "kind", "version", "answer", "gold", "certainty",
                  "correct"]
QUALITY_COLUMNS = ["annotator", "kind", "golden", "correct", "theta", "low", "high", "p_value",
                   "passes", "weight", "drops", "version_changes"]


def control_bank(store: Store, min_certainty: float, seed: int = 0
                 ) -> tuple[dict[str, Any], dict[str, float], GoldenBank]:
    """The control items with gold: their gold values, their certainty (by the rule of
    this module) and the :class:`GoldenBank` of those at or above ``min_certainty``."""
    it, a = schema.items, schema.assignments
    pid = store.project_id
    with store.connect() as conn:
        rows = conn.execute(select(it.c.id, it.c.gold, it.c.gold_certainty)
                            .where((it.c.project_id == pid) & (it.c.gold_role == "control")
                                   & it.c.gold.is_not(None))).all()
        people = pd.DataFrame(conn.execute(
            select(a.c.item_id, a.c.user_id, a.c.correct)
            .where((a.c.project_id == pid) & a.c.control & (a.c.state == "done")
                   & a.c.correct.is_not(None))).all(), columns=["item", "annotator", "correct"])
    gold = {r.id: json.loads(r.gold) for r in rows}
    certainty = {r.id: float(r.gold_certainty) for r in rows if r.gold_certainty is not None}
    unknown = [i for i in gold if i not in certainty]
    if unknown and len(people):
        people = people[people["item"].isin(unknown)]
        counts = people.groupby("item").size()
        people = people[people["item"].isin(counts[counts >= MIN_PEOPLE].index)]
        # right or wrong against the gold: the label is "right" where the person was
        people = people.assign(label=np.where(people["correct"].astype(bool), "right", "wrong"))
        share = estimate_certainty(people, {i: "right" for i in people["item"].unique()})
        certainty.update({i: float(p) for i, p in share.items() if not math.isnan(p)})
    for i in unknown:
        certainty.setdefault(i, 1.0)
    return gold, certainty, GoldenBank(certainty, min_certainty, seed)


def golden_answers(store: Store, task: Task, gold: Mapping[str, Any],
                   certainty: Mapping[str, float], after: int = 0) -> pd.DataFrame:
    """The non-people annotators' answers on control items (judgement id > ``after``), in
    the order they were stored: ``id, item, annotator, kind, version, answer, gold,
    certainty, correct``. Abstentions and failed calls are no answer."""
    j, it, mc = schema.judgements, schema.items, schema.model_calls
    pid = store.project_id
    q = (select(j.c.id, j.c.item_id, j.c.annotator, j.c.annotator_kind, j.c.annotator_version,
                j.c.label, j.c.value, mc.c.model)
         .join(it, and_(it.c.project_id == j.c.project_id, it.c.id == j.c.item_id))
         .outerjoin(mc, mc.c.id == j.c.call_id)
         .where((j.c.project_id == pid) & (j.c.id > after) & (it.c.gold_role == "control")
                & (j.c.status == "ok") & (j.c.annotator_kind != "human"))
         .order_by(j.c.id))
    with store.connect() as conn:
        rows = conn.execute(q).all()
    out = []
    kind = task.strategy
    truth: dict[str, Any] = {}  # each control item's gold as a value of the task
    for r in rows:
        if r.item_id not in gold:
            continue
        stored = json.loads(r.value) if isinstance(r.value, str) else r.value
        value = kind.from_stored(task, r.label, stored)
        g = gold[r.item_id]
        if r.item_id not in truth:
            try:
                truth[r.item_id] = kind.parse(task, g)
            except LabelquorumError:  # gold outside today's label set: compared as text
                truth[r.item_id] = None
        right = (same_label(value, g) if truth[r.item_id] is None
                 else kind.correct(task, value, truth[r.item_id]))
        version = r.model if r.annotator_kind == "llm" and r.model else r.annotator_version
        out.append((r.id, r.item_id, r.annotator, r.annotator_kind, version, value, g,
                    float(certainty.get(r.item_id, 1.0)), right))
    return pd.DataFrame(out, columns=ANSWER_COLUMNS)


def make_monitor(task: Task, monitor) -> ThetaMonitor:
    """A :class:`ThetaMonitor` from the ``quality.monitor`` settings."""
    return ThetaMonitor(monitor.theta_good, monitor.theta_bad, monitor.threshold,
                        chance=chance_of(task), window=monitor.window)


def chance_of(task: Task) -> float:
    """The chance that a guess matches a golden item's gold: 1/K for a single label; a
    label set or a span list is matched whole, which a guess almost never does."""
    return task.strategy.chance(task)


class GoldenWatch:
    """The monitor of one project's golden answers, fed from the store.

    Built at the start of a run, it replays every stored golden answer (so a resumed run
    continues the same statistic: :func:`~labelquorum.quality.monitor_table` on the same
    history); :meth:`catch_up` feeds what arrived since. Alerts are stored in
    ``quality_alerts``, each once (an alert is keyed by annotator, kind and the id of the
    judgement that raised it, which a replay finds again)."""

    def __init__(self, store: Store, task: Task, gold: Mapping[str, Any],
                 certainty: Mapping[str, float], monitor_settings):
        self.store, self.task = store, task
        self.gold, self.certainty = gold, certainty
        self.monitor = make_monitor(task, monitor_settings)
        self.last = 0
        self.answers: pd.DataFrame | None = None  # every golden answer fed so far
        qa = schema.quality_alerts
        with store.connect() as conn:
            self.stored = {(r.annotator, r.kind, r.position) for r in conn.execute(
                select(qa.c.annotator, qa.c.kind, qa.c.position)
                .where(qa.c.project_id == store.project_id))}

    def catch_up(self, run_id: int | None) -> list[Alert]:
        """Feed the golden answers stored since the last call; store and return the new
        alerts (those not stored before)."""
        rows = golden_answers(self.store, self.task, self.gold, self.certainty, self.last)
        if not len(rows):
            return []
        self.last = int(rows["id"].iloc[-1])
        self.answers = rows if self.answers is None else pd.concat([self.answers, rows],
                                                                   ignore_index=True)
        new: list[Alert] = []
        for jid, who, ok, p, v in zip(rows["id"], rows["annotator"], rows["correct"],
                                      rows["certainty"], rows["version"]):
            for alert in self.monitor.update(who, bool(ok), float(p), v):
                # keyed by the judgement that raised it: an index into the history would
                # shift when answered items become golden later (their old answers join it)
                alert = replace(alert, position=int(jid))
                key = (alert.annotator, alert.kind.value, alert.position)
                if key not in self.stored:
                    self.stored.add(key)
                    new.append(alert)
        if new:
            self._store(new, run_id)
        return new

    def _store(self, alerts: list[Alert], run_id: int | None) -> None:
        from ..engine.lock import now

        stamp = self.store.timestamp(now())
        qa = schema.quality_alerts
        rows = [(self.store.project_id, run_id, a.annotator, a.kind.value, a.position,
                 a.version, _finite(a.statistic), _finite(a.theta_window), a.message, stamp)
                for a in alerts]
        with self.store.begin() as conn:
            insert_rows(conn, qa, ("project_id", "run_id", "annotator", "kind", "position",
                                   "version", "statistic", "theta_window", "message",
                                   "created"), rows)


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def stored_alerts(store: Store) -> pd.DataFrame:
    """Every alert the monitor stored, oldest first (``ALERT_COLUMNS`` and ``run_id``)."""
    qa = schema.quality_alerts
    with store.connect() as conn:
        rows = conn.execute(select(*(qa.c[c] for c in ALERT_COLUMNS), qa.c.run_id)
                            .where(qa.c.project_id == store.project_id)
                            .order_by(qa.c.id)).all()
    return pd.DataFrame(rows, columns=[*ALERT_COLUMNS, "run_id"])


def theta_of(answers: pd.DataFrame, chance: float) -> dict[str, GoldenTheta]:
    """A fitted :class:`GoldenTheta` per annotator with golden answers, on its answers
    since its current version began (what an earlier version did says nothing about it)."""
    out = {}
    for who, part in answers.groupby("annotator", sort=True):
        part = part[part["version"] == part["version"].iloc[-1]]
        if (part["certainty"] <= chance).all():
            continue
        out[who] = GoldenTheta(chance=chance).fit(part["correct"].tolist(),
                                                  certainty=part["certainty"].tolist())
    return out


def theta_weights(fits: Mapping[str, GoldenTheta], task: Task) -> dict[str, float]:
    """Vote weights from θ̂ (``quality.weight_by_theta``): the log-odds weight of
    :func:`~labelquorum.quality.theta_skills` at certainty 1, floored at 0.01 so that an
    item only a guesser answered still gets a label. Spans and multilabel tasks take the
    accuracy θ̂ predicts (θ̂ itself when the chance is 0) as the weight."""
    if not fits:
        return {}
    thetas = pd.Series({who: est.theta_ for who, est in fits.items()}, dtype=float)
    if not task.strategy.one_label:
        weights = thetas.clip(0, 1)
    else:
        weights = theta_skills(thetas, len(task.labels))
    return {str(k): max(float(v), 0.01) for k, v in weights.items()}


def golden_quality(store: Store, task: Task, quality) -> pd.DataFrame:
    """One row per annotator with golden answers (models, LLMs, rules, replay, simulated;
    people are in the dashboard's golden-question table): answers and correct ones on the
    current version, θ̂ and its 95 % interval, the exact one-sided test of H0
    θ ≤ ``quality.monitor.theta_bad`` (``p_value``; ``passes``: rejected at 5 %), the vote
    weight θ̂ gives, and the monitor's alerts so far."""
    gold, certainty, _ = control_bank(store, quality.min_certainty)
    answers = golden_answers(store, task, gold, certainty)
    if not len(answers):
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    chance = chance_of(task)
    fits = theta_of(answers, chance)
    weights = theta_weights(fits, task)
    alerts = stored_alerts(store)
    kinds = answers.groupby("annotator")["kind"].last()
    out = []
    theta0 = quality.monitor.theta_bad
    for who, est in fits.items():
        test = est.test(theta0, alpha=ALPHA)
        mine = alerts[alerts["annotator"] == who]
        out.append((who, kinds[who], est.n_answers_, est.n_correct_, est.theta_, *est.interval_,
                    test.p_value, bool(test.reject), weights.get(who, math.nan),
                    int((mine["kind"] == "quality_drop").sum()),
                    int((mine["kind"] == "version_change").sum())))
    return pd.DataFrame(out, columns=QUALITY_COLUMNS)
