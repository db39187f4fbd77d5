"""Sequential monitoring of golden answers: a quality drop, or a model's new version.

An LLM that drifts after a provider update is caught like a tired person: both keep
answering golden questions, and each answer updates Page's CUSUM of the log-likelihood
ratio between a bad quality ``theta_bad`` and the expected one ``theta_good`` under the
golden-question model of :mod:`labelquorum.quality.theta`:

    S_t = max(0, S_{t−1} + log P(answer_t | θ_bad) − log P(answer_t | θ_good))

An alert (:attr:`AlertKind.QUALITY_DROP`) is raised when ``S_t`` reaches ``threshold``;
the statistic then restarts from 0, so a lasting drop alerts again. A larger threshold
means fewer false alarms and a later alert (``benchmarks/golden_theta.py`` prints both).
Each alert carries θ̂ on the annotator's last ``window`` golden answers.

When an annotator's version string changes (a model retrained, an endpoint now serving a
new model), :attr:`AlertKind.VERSION_CHANGE` is raised and the watch starts afresh: what
was learnt about the old version says nothing about the new one.

:class:`ThetaMonitor` is fed one answer at a time (by the run or the web app, as golden
answers arrive); :func:`monitor_table` replays a stored history.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from ..errors import QualityError
from .theta import GoldenTheta, same_label


class AlertKind(str, Enum):
    QUALITY_DROP = "quality_drop"
    VERSION_CHANGE = "version_change"


@dataclass(frozen=True)
class Alert:
    annotator: Any
    kind: AlertKind
    position: int  # 0-based index of the annotator's golden answer that raised it
    version: str | None
    statistic: float  # the CUSUM when it crossed the threshold (NaN for a version change)
    theta_window: float  # θ̂ on the last `window` answers (NaN for a version change)
    message: str


@dataclass
class WatchState:
    """What the monitor holds for one annotator."""

    version: str | None = None
    cusum: float = 0.0
    answers: int = 0  # golden answers since the watch (re)started
    position: int = 0  # golden answers seen in all
    recent: deque = field(default_factory=deque)


class ThetaMonitor:
    """CUSUM watch over each annotator's golden answers.

    Parameters
    ----------
    theta_good : float
        The quality expected of a working annotator (the in-control θ).
    theta_bad : float
        The quality that should raise an alert (below ``theta_good``).
    threshold : float
        The CUSUM level that raises an alert (log-likelihood ratio units).
    n_labels, chance : as in :class:`~labelquorum.quality.GoldenTheta`.
    window : int
        How many recent golden answers the alert's θ̂ is computed on.
    """

    def __init__(self, theta_good: float = 0.9, theta_bad: float = 0.5,
                 threshold: float = 6.0, n_labels: int | None = None,
                 chance: float | None = None, window: int = 20):
        for name, value in (("theta_good", theta_good), ("theta_bad", theta_bad)):
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise QualityError(f"{name} must be a quality in [0, 1]; got {value!r}.")
        if theta_bad >= theta_good:
            raise QualityError(f"theta_bad ({theta_bad}) must be below theta_good "
                               f"({theta_good}): the monitor looks for a drop.")
        if not (isinstance(threshold, (int, float)) and threshold > 0):
            raise QualityError(f"threshold must be a positive CUSUM level (6 is the "
                               f"default); got {threshold!r}.")
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise QualityError(f"window must be a positive number of answers; got {window!r}.")
        if chance is None:
            if not isinstance(n_labels, int) or isinstance(n_labels, bool) or n_labels < 2:
                raise QualityError(f"n_labels must be an integer of at least 2 (the task's "
                                   f"number of labels), or give chance; got {n_labels!r}.")
            chance = 1.0 / n_labels
        elif not (isinstance(chance, (int, float)) and 0.0 <= chance < 1.0):
            raise QualityError(f"chance must be a number in [0, 1); got {chance!r}.")
        self.theta_good, self.theta_bad = float(theta_good), float(theta_bad)
        self.threshold, self.window, self.chance = float(threshold), window, float(chance)
        self._states: dict[Any, WatchState] = {}

    def state(self, annotator: Any) -> WatchState:
        return self._states.setdefault(annotator, WatchState(recent=deque(maxlen=self.window)))

    def llr(self, correct: bool, certainty: float = 1.0) -> float:
        """log P(answer | θ_bad) − log P(answer | θ_good) for one golden answer."""
        c = self.chance
        good = min(max(c + self.theta_good * (certainty - c), 1e-6), 1 - 1e-6)
        bad = min(max(c + self.theta_bad * (certainty - c), 1e-6), 1 - 1e-6)
        return math.log(bad / good) if correct else math.log((1 - bad) / (1 - good))

    def update(self, annotator: Any, correct: bool, certainty: float = 1.0,
               version: str | None = None) -> list[Alert]:
        """Record one golden answer; the alerts it raises (usually none)."""
        if not (0.0 <= certainty <= 1.0):
            raise QualityError(f"certainty must be a probability in [0, 1]; got {certainty!r}.")
        st = self.state(annotator)
        alerts = []
        if version is not None and st.version is not None and version != st.version:
            alerts.append(Alert(annotator, AlertKind.VERSION_CHANGE, st.position, version,
                                math.nan, math.nan,
                                f"Annotator {annotator!r} changed version from {st.version!r} "
                                f"to {version!r}; its quality is watched afresh from here."))
            st.cusum, st.answers = 0.0, 0
            st.recent.clear()
        if version is not None:
            st.version = version
        st.recent.append((bool(correct), float(certainty)))
        st.cusum = max(0.0, st.cusum + self.llr(bool(correct), float(certainty)))
        st.answers += 1
        if st.cusum >= self.threshold:
            theta = self.window_theta(annotator)
            alerts.append(Alert(
                annotator, AlertKind.QUALITY_DROP, st.position, st.version, st.cusum, theta,
                f"Annotator {annotator!r} looks worse than θ = {self.theta_good:g} on its "
                f"recent golden questions (CUSUM {st.cusum:.2f} ≥ {self.threshold:g}; θ̂ on "
                f"the last {len(st.recent)} answers is {theta:.2f})."))
            st.cusum = 0.0
        st.position += 1
        return alerts

    def window_theta(self, annotator: Any) -> float:
        st = self.state(annotator)
        if not st.recent:
            return math.nan
        correct, certainty = zip(*st.recent)
        if all(p <= self.chance for p in certainty):
            return math.nan
        est = GoldenTheta(chance=self.chance).fit(list(correct), certainty=list(certainty))
        return est.theta_


ALERT_COLUMNS = ["annotator", "kind", "position", "version", "statistic", "theta_window",
                 "message"]


def monitor_table(events: pd.DataFrame, **settings) -> pd.DataFrame:
    """Replay a history of golden answers, in row order, through a :class:`ThetaMonitor`
    built from ``settings``; the alerts as a table (``kind`` as its text value).

    ``events`` has an ``annotator`` column and either ``correct`` (booleans) or ``label``
    and ``gold``; optional ``certainty`` (default 1) and ``version``."""
    if not isinstance(events, pd.DataFrame):
        raise QualityError(f"monitor_table expects a pandas DataFrame of golden answers; got "
                           f"{type(events).__name__}.")
    has_correct = "correct" in events.columns
    needed = ["annotator"] + ([] if has_correct or {"label", "gold"} <= set(events.columns)
                              else ["correct"])
    missing = [c for c in needed if c not in events.columns]
    if missing:
        raise QualityError(
            f"monitor_table needs the columns annotator and correct (or label and gold); "
            f"{', '.join(missing)} missing, columns found: {', '.join(map(str, events.columns))}.")
    monitor = ThetaMonitor(**settings)
    if has_correct:
        correct = events["correct"].astype(bool).tolist()
    else:
        correct = [same_label(a, g) for a, g in zip(events["label"], events["gold"])]
    certainty = (events["certainty"].fillna(1.0).astype(float).tolist()
                 if "certainty" in events.columns else [1.0] * len(events))
    versions = (events["version"].tolist() if "version" in events.columns
                else [None] * len(events))
    rows = []
    for who, ok, p, v in zip(events["annotator"], correct, certainty, versions):
        v = None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
        for alert in monitor.update(who, ok, p, v):
            rows.append([alert.annotator, alert.kind.value, alert.position, alert.version,
                         alert.statistic, alert.theta_window, alert.message])
    return pd.DataFrame(rows, columns=ALERT_COLUMNS)
