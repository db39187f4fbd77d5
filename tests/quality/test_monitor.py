"""Sequential monitoring of golden answers: a CUSUM that alerts when an annotator's quality
drops (a tired person, an LLM after a provider update) and an alert when a model's version
changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelquorum.errors import QualityError
from labelquorum.quality import AlertKind, ThetaMonitor, monitor_table


def stream(rng, theta, n, chance=0.5, certainty=1.0):
    return rng.random(n) < chance + theta * (certainty - chance)


def first_drop(monitor, annotator, answers):
    for i, ok in enumerate(answers):
        alerts = monitor.update(annotator, bool(ok))
        if any(a.kind is AlertKind.QUALITY_DROP for a in alerts):
            return i
    return None


def test_a_drop_in_quality_is_caught_soon_and_a_steady_annotator_rarely_alarms():
    rng = np.random.default_rng(11)
    delays, false_alarms = [], 0
    for k in range(200):
        monitor = ThetaMonitor(theta_good=0.9, theta_bad=0.5, n_labels=2)  # threshold 6
        answers = np.concatenate([stream(rng, 0.9, 150), stream(rng, 0.3, 100)])
        at = first_drop(monitor, f"a{k}", answers)
        if at is not None and at < 150:
            false_alarms += 1
        elif at is not None:
            delays.append(at - 150)
    assert false_alarms / 200 <= 0.05
    assert len(delays) >= 180  # nearly every drop is caught ...
    assert np.median(delays) <= 15  # ... within a few golden answers


def test_annotators_are_monitored_apart():
    monitor = ThetaMonitor(theta_good=0.9, theta_bad=0.5, threshold=3.0, n_labels=2)
    for _ in range(10):
        assert monitor.update("careful", True) == []
    alerts = []
    for _ in range(10):
        alerts += monitor.update("sloppy", False)
    assert {a.annotator for a in alerts} == {"sloppy"}
    assert monitor.state("careful").cusum == 0.0


def test_alert_carries_the_window_estimate_and_a_sentence():
    monitor = ThetaMonitor(theta_good=0.9, theta_bad=0.5, threshold=3.0, n_labels=2, window=10)
    alerts = []
    for ok in [True] * 10 + [False] * 6:
        alerts += monitor.update("llm", ok)
    drop = next(a for a in alerts if a.kind is AlertKind.QUALITY_DROP)
    # the second wrong answer crosses 3.0; 8 of the last 10 were right: θ̂ = (0.8 - 0.5) / 0.5
    assert drop.position == 11 and drop.statistic >= 3.0
    assert drop.theta_window == pytest.approx(0.6)
    assert "llm" in drop.message and drop.message.endswith(".")
    assert monitor.state("llm").cusum == 0.0  # reset after the alert: it can alert again


def test_a_version_change_alerts_once_and_starts_a_fresh_watch():
    monitor = ThetaMonitor(theta_good=0.9, theta_bad=0.5, threshold=4.0, n_labels=2)
    assert monitor.update("gpt", True, version="2024-05") == []
    monitor.update("gpt", False, version="2024-05")
    monitor.update("gpt", False, version="2024-05")
    assert monitor.state("gpt").cusum > 0
    alerts = monitor.update("gpt", True, version="2024-08")
    assert [a.kind for a in alerts] == [AlertKind.VERSION_CHANGE]
    assert "2024-05" in alerts[0].message and "2024-08" in alerts[0].message
    assert monitor.state("gpt").cusum == 0.0 and monitor.state("gpt").answers == 1
    assert monitor.update("gpt", True, version="2024-08") == []


def test_monitor_table_replays_a_stored_history_in_order():
    events = pd.DataFrame({
        "annotator": ["m"] * 12 + ["p"] * 3,
        "correct": [True] * 4 + [False] * 8 + [True] * 3,
        "version": ["v1"] * 6 + ["v2"] * 6 + [None] * 3,
        "certainty": [1.0] * 15,
    })
    alerts = monitor_table(events, theta_good=0.9, theta_bad=0.5, threshold=3.0, n_labels=2)
    assert list(alerts.columns) == ["annotator", "kind", "position", "version", "statistic",
                                    "theta_window", "message"]
    kinds = alerts[alerts.annotator == "m"].kind.tolist()
    assert "version_change" in kinds and "quality_drop" in kinds
    assert alerts[alerts.kind == "version_change"].position.tolist() == [6]
    assert (alerts.annotator == "p").sum() == 0


def test_monitor_table_compares_labels_with_gold():
    events = pd.DataFrame({"annotator": ["m"] * 8, "label": ["b"] * 8, "gold": ["a"] * 8})
    alerts = monitor_table(events, theta_good=0.9, theta_bad=0.5, threshold=3.0, n_labels=2)
    assert alerts.kind.tolist()[:1] == ["quality_drop"]


@pytest.mark.parametrize("kwargs, phrase", [
    ({"theta_good": 0.5, "theta_bad": 0.7}, "theta_bad"),
    ({"threshold": 0}, "threshold"),
    ({"window": 0}, "window"),
    ({"n_labels": 1}, "n_labels"),
])
def test_bad_settings_are_clear_errors(kwargs, phrase):
    with pytest.raises(QualityError, match=phrase):
        ThetaMonitor(**{"n_labels": 2, **kwargs}).update("a", True)


def test_monitor_table_names_missing_columns():
    with pytest.raises(QualityError, match="correct"):
        monitor_table(pd.DataFrame({"annotator": ["a"]}), n_labels=2)
