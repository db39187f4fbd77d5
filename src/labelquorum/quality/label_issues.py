"""Label issues: likely errors among the verified and final labels, found with cleanlab.

cleanlab (Northcutt et al., confident learning; Apache-2.0, the ``quality`` extra) is
model-agnostic: it takes *out-of-sample* predicted probabilities and never calls a model.
Here those come from the project's own trainable annotators (``tfidf``, ``embedding``):
:func:`cross_val_probs` fits a fresh annotator on each fold's training part and predicts the
held-out part, so no item is judged by a model that learnt its (possibly wrong) label.

* :func:`label_issues` — one label per item: cleanlab's ``find_label_issues`` (the flag)
  and its self-confidence label-quality score (in [0, 1], lower is worse).
* :func:`crowd_label_issues` — several annotators per item: CROWDLAB
  (``cleanlab.multiannotator.get_label_quality_multiannotator``), its consensus label and
  consensus quality score per item, and each annotator's quality.
* :func:`project_label_issues` — the whole thing on a project's verified pool (seed gold,
  reviewed labels, labels a run accepted), with its first trainable annotator.

Every call returns the cleanlab shape: a per-item table (score, flag), a one-row summary and
an info dict; :meth:`LabelIssues.review_queue` lists the flagged items, likeliest error
first — the order in which a reviewer should look at them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..aggregation.base import label_text
from ..errors import LabelquorumError, MissingExtraError, QualityError

if TYPE_CHECKING:
    from ..annotators import Annotator
    from ..project import Project
    from ..task import Task


@dataclass
class LabelIssues:
    """Per item: ``issues`` (indexed by item id; ``label_quality`` in [0, 1], lower is
    worse, and ``is_label_issue``); ``summary`` (one row); ``info``; for CROWDLAB also
    ``annotators`` (one row per annotator)."""

    issues: pd.DataFrame
    summary: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    annotators: pd.DataFrame | None = None

    def review_queue(self) -> list[Any]:
        """The flagged items' ids, the likeliest label error (lowest score) first."""
        flagged = self.issues[self.issues["is_label_issue"]]
        return list(flagged.sort_values("label_quality", kind="stable").index)


def _cleanlab(what: str):
    try:
        import cleanlab.filter
        import cleanlab.rank
    except ImportError:
        raise MissingExtraError(what, "quality", "cleanlab") from None
    import cleanlab

    return cleanlab


def _summary(issues: pd.DataFrame) -> pd.DataFrame:
    n, k = len(issues), int(issues["is_label_issue"].sum())
    return pd.DataFrame([{"n_items": n, "n_issues": k, "share": k / n if n else 0.0,
                          "mean_label_quality": float(issues["label_quality"].mean())}])


def _check_probs(pred_probs, n: int, k: int, multi_label: bool) -> np.ndarray:
    probs = np.asarray(pred_probs, dtype=float)
    if probs.ndim != 2:
        raise QualityError(f"pred_probs must be a 2-D array (items x labels); got "
                           f"{probs.ndim} dimension(s).")
    if probs.shape[0] != n:
        raise QualityError(f"pred_probs has {probs.shape[0]} rows but there are {n} labels; "
                           "give one row of probabilities per labelled item, in the same order.")
    if probs.shape[1] != k:
        raise QualityError(f"pred_probs has {probs.shape[1]} columns but the task has {k} "
                           "labels; give one column per label, in the label set's order.")
    if not np.isfinite(probs).all() or (probs < 0).any() or (probs > 1).any():
        raise QualityError("pred_probs must be probabilities in [0, 1] (no NaN): an annotator "
                           "that abstained on an item gives no probabilities to check it with.")
    if not multi_label and not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        row = int(np.flatnonzero(~np.isclose(probs.sum(axis=1), 1.0, atol=1e-6))[0])
        raise QualityError(f"each row of pred_probs must sum to 1; row {row} sums to "
                           f"{probs[row].sum():.4g}.")
    return probs


def _codes(labels: Sequence[Any], names: list[str], multi_label: bool):
    index = {n: i for i, n in enumerate(names)}

    def code(value):
        key = label_text(value)
        if key not in index:
            raise QualityError(f"label {key!r} is not in the label set ({', '.join(names)}); "
                               "check the labels or give the task's full label set.")
        return index[key]

    if multi_label:
        return [sorted(code(v) for v in (lab or ())) for lab in labels]
    return np.array([code(v) for v in labels], dtype=int)


def label_issues(labels: Sequence[Any], pred_probs, label_names: Sequence[Any], *,
                 ids: Sequence[Any] | None = None, multi_label: bool = False,
                 filter_by: str = "prune_by_noise_rate",
                 method: str = "self_confidence") -> LabelIssues:
    """Likely errors among ``labels`` given out-of-sample ``pred_probs`` (items x labels, in
    ``label_names`` order). ``ids`` index the result (default: positions). ``filter_by``
    and ``method`` are cleanlab's ``find_label_issues`` and ``get_label_quality_scores``
    options; ``multi_label`` takes label sets (tuples) per item."""
    labels = list(labels)
    names = [label_text(v) for v in label_names]
    probs = _check_probs(pred_probs, len(labels), len(names), multi_label)
    codes = _codes(labels, names, multi_label)
    if ids is not None and len(ids) != len(labels):
        raise QualityError(f"ids must give one id per label; got {len(ids)} ids for "
                           f"{len(labels)} labels.")
    cl = _cleanlab("Label-issue detection")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flags = cl.filter.find_label_issues(codes, probs, filter_by=filter_by,
                                                multi_label=multi_label)
            if multi_label:
                from cleanlab.multilabel_classification import get_label_quality_scores

                scores = get_label_quality_scores(codes, probs, method=method)
            else:
                scores = cl.rank.get_label_quality_scores(codes, probs, method=method)
    except LabelquorumError:
        raise
    except (ValueError, TypeError) as exc:
        raise QualityError(f"cleanlab could not check these labels: {exc}") from None
    if multi_label:
        predicted = [tuple(names[j] for j in np.flatnonzero(row >= 0.5)) for row in probs]
    else:
        predicted = [names[j] for j in probs.argmax(axis=1)]
    index = pd.Index(list(ids) if ids is not None else range(len(labels)), name="item")
    issues = pd.DataFrame({"label": labels, "predicted_label": predicted,
                           "label_quality": np.clip(np.asarray(scores, float), 0.0, 1.0),
                           "is_label_issue": np.asarray(flags, dtype=bool)}, index=index)
    return LabelIssues(issues, _summary(issues),
                       {"filter_by": filter_by, "method": method, "multi_label": multi_label})


def crowd_label_issues(judgements: pd.DataFrame, pred_probs, label_names: Sequence[Any], *,
                       items: Sequence[Any] | None = None,
                       threshold: float = 0.5) -> LabelIssues:
    """CROWDLAB over several annotators per item (Goh, Tkachenko & Mueller 2022).

    ``judgements`` is the long table (``item, annotator, label``); ``pred_probs`` a model's
    out-of-sample probabilities, one row per item of ``items`` (default: the table's items,
    sorted). Per item: ``consensus_label``, ``label_quality`` (CROWDLAB's consensus
    quality score), ``annotator_agreement``, ``num_annotations``; an item is flagged when
    its score is below ``threshold``. CROWDLAB's scores are a ranking more than a
    probability (with three annotators they take a few distinct values), so the review
    queue's order is the main output and ``threshold`` a cut to set per project. ``annotators`` holds each annotator's
    ``annotator_quality``, ``agreement_with_consensus`` and ``num_examples_labeled``."""
    for col in ("item", "annotator", "label"):
        if col not in judgements.columns:
            raise QualityError(f"crowd_label_issues needs the columns item, annotator, label; "
                               f"{col!r} is missing.")
    if not 0.0 < threshold < 1.0:
        raise QualityError(f"threshold must be between 0 and 1; got {threshold!r}.")
    names = [label_text(v) for v in label_names]
    rows = judgements[judgements["label"].notna()]
    item_key = rows["item"].map(label_text)
    if items is None:
        items = sorted(item_key.unique())
    keys = [label_text(i) for i in items]
    probs = _check_probs(pred_probs, len(keys), len(names), False)
    unanswered = sorted(set(keys) - set(item_key))
    if unanswered:
        raise QualityError(f"{len(unanswered)} item(s) have no judgement (first: "
                           f"{unanswered[0]!r}); CROWDLAB needs at least one label per item.")
    codes = _codes(rows["label"].tolist(), names, False)
    wide = (pd.DataFrame({"item": item_key.to_numpy(),
                          "annotator": rows["annotator"].map(label_text).to_numpy(),
                          "code": codes})
            .drop_duplicates(["item", "annotator"], keep="last")
            .pivot(index="item", columns="annotator", values="code")
            .reindex(keys))
    wide = wide[wide.columns[wide.notna().any()]]
    _cleanlab("CROWDLAB")
    from cleanlab.multiannotator import get_label_quality_multiannotator

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = get_label_quality_multiannotator(wide, probs, verbose=False)
    except (ValueError, TypeError) as exc:
        raise QualityError(f"CROWDLAB could not score these judgements: {exc}") from None
    lq = out["label_quality"]
    score = np.clip(lq["consensus_quality_score"].to_numpy(float), 0.0, 1.0)
    issues = pd.DataFrame({
        "consensus_label": [names[int(c)] for c in lq["consensus_label"]],
        "label_quality": score,
        "is_label_issue": score < threshold,
        "annotator_agreement": lq["annotator_agreement"].to_numpy(float),
        "num_annotations": lq["num_annotations"].to_numpy(int),
    }, index=pd.Index(list(items), name="item"))
    stats = out["annotator_stats"].copy()
    stats.index.name = "annotator"
    if "worst_class" in stats.columns:
        stats["worst_class"] = [names[int(c)] for c in stats["worst_class"]]
    return LabelIssues(issues, _summary(issues), {"method": "crowdlab", "threshold": threshold},
                       annotators=stats)


def cross_val_probs(make_annotator: Callable[[], Annotator], texts: Sequence[str],
                    labels: Sequence[Any], task: Task, *, n_splits: int = 5,
                    seed: int = 0) -> np.ndarray:
    """Out-of-sample probabilities (items x task labels): for each of ``n_splits``
    stratified folds, a fresh annotator from ``make_annotator()`` is fitted on the other
    folds' texts and labels and predicts this fold."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from ..annotators import Items

    if not task.strategy.vector:
        raise QualityError(f"label-issue detection works on classification and multilabel "
                           f"tasks; a {task.kind} task has no per-item class probabilities.")
    texts, labels = list(texts), list(labels)
    if len(texts) != len(labels):
        raise QualityError(f"texts and labels must have the same length; got {len(texts)} "
                           f"and {len(labels)}.")
    if not isinstance(n_splits, int) or n_splits < 2:
        raise QualityError(f"n_splits must be an integer of at least 2; got {n_splits!r}.")
    if task.multilabel:
        if len(texts) < n_splits:
            raise QualityError(f"cross-validation in {n_splits} folds needs at least "
                               f"{n_splits} verified labels; there are {len(texts)}.")
        folds = KFold(n_splits, shuffle=True, random_state=seed).split(texts)
    else:
        y = np.array([label_text(v) for v in labels])
        counts = pd.Series(y).value_counts()
        present = [n for n in task.labels if n in counts.index]
        if len(present) < 2 or counts.min() < n_splits:
            least = counts.idxmin() if len(counts) else "any label"
            raise QualityError(
                f"cross-validation in {n_splits} folds needs at least {n_splits} verified "
                f"labels of each of two or more labels; {least!r} has "
                f"{int(counts.min()) if len(counts) else 0}. Verify more labels (review or "
                "seed gold) or lower n_splits.")
        folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(texts, y)
    probs = np.full((len(texts), len(task.labels)), np.nan)
    for train, test in folds:
        annotator = make_annotator()
        annotator.fit([texts[i] for i in train], [labels[i] for i in train])
        held = Items([str(i) for i in test], [{task.text_field: texts[i]} for i in test],
                     task.text_field)
        answers = annotator.predict(held)
        if answers.probs is None or np.isnan(answers.probs).any():
            raise QualityError(f"annotator {annotator.name!r} gave no probabilities on a "
                               f"held-out fold ({annotator.note or 'it abstained'}); it needs "
                               "more verified labels per fold.")
        probs[test] = answers.probs
    if not task.multilabel:
        probs = probs / probs.sum(axis=1, keepdims=True)
    return probs


def project_label_issues(project: Project, annotator: str | None = None, *,
                         n_splits: int = 5, seed: int | None = None) -> LabelIssues:
    """Label issues among a project's verified pool (seed gold, reviewed labels, labels a
    run accepted without a flag; never control or evaluation gold), with out-of-sample
    probabilities from ``annotator`` (default: the first trainable annotator of the
    config). ``info`` names the annotator and the number of folds."""
    from ..annotators import backend_class
    from ..engine.training import verified

    config, task = project.config, project.task
    trainable = [n for n, a in config.annotators.items() if backend_class(a.type).trainable]
    if annotator is None:
        if not trainable:
            raise QualityError("label-issue detection needs a trainable annotator (tfidf or "
                               "embedding) in the config; add one, like [annotators.tfidf] "
                               'with type = "tfidf".')
        annotator = trainable[0]
    elif annotator not in trainable:
        raise QualityError(f"annotator {annotator!r} is not a trainable annotator of this "
                           f"project; choose one of: {', '.join(trainable) or 'none'}.")
    ids: list[str] = []
    texts, labels = verified(project.store, task, None, ids)
    probs = cross_val_probs(lambda: project.build_annotators([annotator])[annotator], texts,
                            labels, task, n_splits=n_splits,
                            seed=config.project.seed if seed is None else seed)
    result = label_issues(labels, probs, list(task.labels), ids=ids,
                          multi_label=task.multilabel)
    result.info.update({"annotator": annotator, "n_splits": n_splits, "pool": "verified"})
    return result


def save_label_issues(project: Project, found: LabelIssues) -> int:
    """Store ``found`` as the project's latest label-issue scores (replacing the last ones)
    for the review page's queue and ``status``; return how many items are flagged."""
    from sqlalchemy import delete

    from ..engine.lock import now
    from ..store import insert_rows, schema

    store, t = project.store, schema.label_issue_scores
    stamp = store.timestamp(now())
    who = found.info.get("annotator")
    rows = [(store.project_id, str(item), float(q), bool(flag), who, stamp)
            for item, q, flag in zip(found.issues.index, found.issues["label_quality"],
                                     found.issues["is_label_issue"])]
    with store.begin() as conn:
        conn.execute(delete(t).where(t.c.project_id == store.project_id))
        if rows:
            insert_rows(conn, t, ("project_id", "item_id", "label_quality", "is_issue",
                                  "annotator", "created"), rows)
    return sum(r[3] for r in rows)


def open_label_issues(store) -> pd.DataFrame:
    """The stored likely label errors no reviewer has decided since they were found, the
    likeliest error (lowest ``label_quality``) first: columns ``item``, ``label_quality``."""
    from sqlalchemy import func, select

    from ..store import schema

    t, rv = schema.label_issue_scores, schema.reviews
    last = (select(rv.c.item_id, func.max(rv.c.created).label("at"))
            .where(rv.c.project_id == store.project_id).group_by(rv.c.item_id).subquery())
    q = (select(t.c.item_id, t.c.label_quality)
         .select_from(t.outerjoin(last, last.c.item_id == t.c.item_id))
         .where((t.c.project_id == store.project_id) & t.c.is_issue
                & (last.c.at.is_(None) | (last.c.at < t.c.created)))
         .order_by(t.c.label_quality, t.c.item_id))
    with store.connect() as conn:
        rows = conn.execute(q).all()
    return pd.DataFrame([(r.item_id, float(r.label_quality)) for r in rows],
                        columns=["item", "label_quality"])
