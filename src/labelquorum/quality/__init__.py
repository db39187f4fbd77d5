"""Quality: golden questions, annotator quality and monitoring, label issues, language checks.

The golden questions for people (control gold served through the web app, accuracy with a
Wilson interval, pausing) live in :mod:`labelquorum.quality.golden`; their public names are
re-exported here so ``from labelquorum.quality import gold_accuracy`` keeps working.
"""

from .alt_test import AltTestResult, alt_test
from .bank import GoldenBank, estimate_certainty
from .golden import (
    REFRESH_SECONDS,
    GoldAccuracy,
    GoldQuestions,
    gold_accuracy,
    mark_gold,
    pause_flagged,
    pause_if_flagged,
    wilson_interval,
)
from .label_issues import LabelIssues, cross_val_probs, crowd_label_issues, label_issues
from .language import detect_languages, language_accuracy, untrusted_languages
from .monitor import Alert, AlertKind, ThetaMonitor, monitor_table
from .theta import GoldenTheta, ThetaTest, theta_skills, theta_table

__all__ = [
    "REFRESH_SECONDS",
    "Alert",
    "AlertKind",
    "AltTestResult",
    "GoldAccuracy",
    "GoldQuestions",
    "GoldenBank",
    "GoldenTheta",
    "LabelIssues",
    "ThetaMonitor",
    "ThetaTest",
    "alt_test",
    "cross_val_probs",
    "crowd_label_issues",
    "detect_languages",
    "estimate_certainty",
    "gold_accuracy",
    "label_issues",
    "language_accuracy",
    "mark_gold",
    "monitor_table",
    "pause_flagged",
    "pause_if_flagged",
    "theta_skills",
    "theta_table",
    "untrusted_languages",
    "wilson_interval",
]
