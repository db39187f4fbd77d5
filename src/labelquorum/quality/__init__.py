"""Quality: golden questions, annotator quality and monitoring, label issues, language checks,
and the dataset's card (``labelquorum report``: :func:`build_report`, the DataRubrics
checklist of :mod:`.rubric`).

The golden questions for people (control gold served through the web app, accuracy with a
Wilson interval, pausing) live in :mod:`labelquorum.quality.golden`; their public names are
re-exported here so ``from labelquorum.quality import gold_accuracy`` keeps working.
Golden probes for every other annotator kind, in the run, and the monitor fed from the
store are in :mod:`labelquorum.quality.watch` (and :mod:`labelquorum.engine.probes`).
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
from .label_issues import (
    LabelIssues,
    cross_val_probs,
    crowd_label_issues,
    label_issues,
    open_label_issues,
    project_label_issues,
    save_label_issues,
)
from .language import detect_languages, language_accuracy, untrusted_languages
from .monitor import Alert, AlertKind, ThetaMonitor, monitor_table
from .report import Report, build_report
from .rubric import RUBRIC_SCHEMA, RecordFacts, fill_rubric
from .theta import GoldenTheta, ThetaTest, theta_skills, theta_table
from .watch import GoldenWatch, control_bank, golden_quality, stored_alerts

__all__ = [
    "REFRESH_SECONDS",
    "RUBRIC_SCHEMA",
    "Alert",
    "AlertKind",
    "AltTestResult",
    "GoldAccuracy",
    "GoldQuestions",
    "GoldenBank",
    "GoldenTheta",
    "GoldenWatch",
    "LabelIssues",
    "RecordFacts",
    "Report",
    "ThetaMonitor",
    "ThetaTest",
    "alt_test",
    "build_report",
    "control_bank",
    "cross_val_probs",
    "crowd_label_issues",
    "detect_languages",
    "estimate_certainty",
    "fill_rubric",
    "gold_accuracy",
    "golden_quality",
    "label_issues",
    "language_accuracy",
    "mark_gold",
    "monitor_table",
    "open_label_issues",
    "pause_flagged",
    "pause_if_flagged",
    "project_label_issues",
    "save_label_issues",
    "stored_alerts",
    "theta_skills",
    "theta_table",
    "untrusted_languages",
    "wilson_interval",
]
