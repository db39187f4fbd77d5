"""Calibrated confidence: each annotator's probability of being right.

Raw scores of different models are not comparable: a tf-idf probe that says 0.9 and an LLM
that says 0.9 are right at different rates. Policies compare *calibrated* probabilities:
for each annotator, the probability that its answer is right given its stated confidence
(or, for an annotator that states none, given the label it gave), fitted on *reference*
items whose right label is known from another source — calibration gold, and labels a
reviewer decided.

:class:`ConfidenceCalibrator` maps one annotator's confidences to P(right), choosing the
method by the data it has (enough-data checks):

* fewer than ``min_sigmoid`` reference answers, or no varying confidence: a constant, the
  annotator's accuracy, shrunk towards chance (per label when each label has answers);
* at least ``min_sigmoid``: Platt scaling (a logistic fit on the confidence's logit);
* at least ``min_isotonic``: isotonic regression (monotone, no shape assumed).

:class:`Calibration` holds the fits of a set of annotators and combines their answers on
an item into a posterior over labels, one-coin style with the calibrated probabilities:
``P(y) ∝ prior(y) · Π_a (r_a if y = l_a else (1 − r_a)/(K − 1))`` — truth inference over
all answers, so that where an LLM and the specialists disagree the better-calibrated side
wins, not "the verifier".

Expected calibration error (ECE, equal-width bins, weighted by the bins' sizes) and the
reliability table are in this module too; the ECE after calibration is cross-validated,
so it is not the fit's own training error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

__all__ = [
    "AnnotatorFit",
    "Calibration",
    "ConfidenceCalibrator",
    "Threshold",
    "calibrated_threshold",
    "combine",
    "cross_fitted",
    "expected_calibration_error",
    "fit_weights",
    "reliability_table",
    "selective_threshold",
    "wilson_interval",
]

EPS = 1e-3


def wilson_interval(correct: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95 % by default); (0, 1) when n=0."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def reliability_table(confidence, correct, bins: int = 10) -> pd.DataFrame:
    """Per equal-width confidence bin: its bounds, answers, mean confidence and accuracy
    (empty bins left out). Answers without a confidence (NaN) are left out."""
    conf = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=float)
    keep = np.isfinite(conf)
    conf, right = np.clip(conf[keep], 0.0, 1.0), right[keep]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = which == b
        if m.any():
            rows.append((edges[b], edges[b + 1], int(m.sum()), float(conf[m].mean()),
                         float(right[m].mean())))
    return pd.DataFrame(rows, columns=["low", "high", "answers", "confidence", "accuracy"])


def expected_calibration_error(confidence, correct, bins: int = 10) -> float | None:
    """Σ_bins (n_b / n) · |accuracy_b − confidence_b|; None without answers."""
    table = reliability_table(confidence, correct, bins)
    n = table["answers"].sum()
    if n == 0:
        return None
    gap = (table["accuracy"] - table["confidence"]).abs()
    return float((gap * table["answers"]).sum() / n)


class ConfidenceCalibrator(BaseEstimator):
    """P(right | confidence[, label]) for one annotator; see the module docstring.

    ``method`` is ``auto`` (by the data), ``isotonic``, ``sigmoid`` or ``constant``.
    ``shrink`` is the weight, in answers, of chance (1/``n_labels``) in the constant
    estimate, so that three right answers out of three do not read as certainty."""

    def __init__(self, method: str = "auto", min_sigmoid: int = 30, min_isotonic: int = 200,
                 n_labels: int = 2, shrink: float = 2.0):
        self.method = method
        self.min_sigmoid = min_sigmoid
        self.min_isotonic = min_isotonic
        self.n_labels = n_labels
        self.shrink = shrink

    def fit(self, confidence, correct, label=None) -> ConfidenceCalibrator:
        if self.method not in ("auto", "isotonic", "sigmoid", "constant"):
            raise ValueError(f"unknown calibration method {self.method!r}; valid: auto, "
                             "isotonic, sigmoid, constant")
        conf = np.asarray(confidence, dtype=float)
        right = np.asarray(correct, dtype=float)
        n = len(right)
        chance = 1.0 / max(self.n_labels, 2)
        self.n_ = n
        self.accuracy_ = float((right.sum() + self.shrink * chance) / (n + self.shrink)) \
            if n + self.shrink > 0 else chance
        self.per_label_: dict[int, float] = {}
        if label is not None and n:
            lab = np.asarray(label)
            for value in np.unique(lab):
                m = lab == value
                self.per_label_[int(value)] = float(
                    (right[m].sum() + self.shrink * self.accuracy_) / (m.sum() + self.shrink))
        finite = np.isfinite(conf)
        varying = finite.sum() > 1 and np.unique(np.round(conf[finite], 6)).size > 1
        both = n > 0 and 0 < right[finite].sum() < finite.sum() if finite.any() else False
        method = self.method
        if method == "auto":
            method = ("isotonic" if finite.sum() >= self.min_isotonic and varying and both
                      else "sigmoid" if finite.sum() >= self.min_sigmoid and varying and both
                      else "constant")
        elif method != "constant" and not (varying and both):
            method = "constant"
        self.method_ = method
        self.model_ = None
        if method == "isotonic":
            self.model_ = IsotonicRegression(y_min=EPS, y_max=1 - EPS, out_of_bounds="clip")
            self.model_.fit(conf[finite], right[finite])
        elif method == "sigmoid":
            self.model_ = LogisticRegression(C=1.0).fit(_logit(conf[finite])[:, None],
                                                        right[finite].astype(int))
        return self

    def predict(self, confidence, label=None) -> np.ndarray:
        """P(right) for each answer (its confidence, and its label when fitted per label)."""
        conf = np.asarray(confidence, dtype=float)
        out = np.full(len(conf), self.accuracy_)
        if label is not None and self.per_label_:
            lab = np.asarray(label)
            for value, acc in self.per_label_.items():
                out[lab == value] = acc
        finite = np.isfinite(conf)
        if self.model_ is not None and finite.any():
            if self.method_ == "isotonic":
                out[finite] = self.model_.predict(conf[finite])
            else:
                out[finite] = self.model_.predict_proba(_logit(conf[finite])[:, None])[:, 1]
        return np.clip(out, EPS, 1 - EPS)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _evidence(labels: np.ndarray, right: np.ndarray, k: int) -> np.ndarray:
    """(n, m, k): each answer's log-likelihood of each label being the truth."""
    r = np.clip(np.nan_to_num(right, nan=1.0 / k), EPS, 1 - EPS)
    hit, miss = np.log(r), np.log((1 - r) / max(k - 1, 1))
    has = labels >= 0
    out = np.where(has, miss, 0.0)[:, :, None].repeat(k, axis=2)
    rows, cols = np.nonzero(has)
    out[rows, cols, labels[rows, cols]] = hit[rows, cols]
    return out


def combine(labels: np.ndarray, right: np.ndarray, k: int, prior: np.ndarray | None = None,
            weights: np.ndarray | None = None) -> np.ndarray:
    """Posterior over ``k`` labels per item from answers ``labels`` (n, m; -1 = none) that
    are right with probability ``right`` (n, m): one-coin truth inference, each
    annotator's evidence scaled by its weight (1: independent annotators)."""
    n = labels.shape[0]
    logp = np.tile(np.log(prior if prior is not None else np.full(k, 1.0 / k)), (n, 1))
    ev = _evidence(labels, right, k)
    w = np.ones(labels.shape[1]) if weights is None else np.asarray(weights, dtype=float)
    logp += np.einsum("nmk,m->nk", ev, w)
    logp -= logp.max(axis=1, keepdims=True)
    post = np.exp(logp)
    return post / post.sum(axis=1, keepdims=True)


def fit_weights(labels: np.ndarray, right: np.ndarray, truth: np.ndarray, k: int,
                prior: np.ndarray | None = None, ridge: float = 1.0) -> np.ndarray:
    """Weights of annotators' evidence that maximise the likelihood of the known labels
    (a conditional logit, shrunk towards 1 by ``ridge``): annotators that make the same
    mistakes together are not counted as independent witnesses."""
    from scipy.optimize import minimize

    m = labels.shape[1]
    if not len(truth) or m == 0:
        return np.ones(m)
    ev = _evidence(labels, right, k)
    base = np.log(prior if prior is not None else np.full(k, 1.0 / k))
    idx = np.arange(len(truth))

    def loss(w):
        z = base + np.einsum("nmk,m->nk", ev, w)
        zmax = z.max(axis=1, keepdims=True)
        logz = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        nll = (logz - z[idx, truth]).sum()
        p = np.exp(z - logz[:, None])
        grad = np.einsum("nk,nmk->m", p, ev) - ev[idx, :, truth].sum(axis=0)
        return nll + ridge * ((w - 1) ** 2).sum(), grad + 2 * ridge * (w - 1)

    res = minimize(loss, np.ones(m), jac=True, method="L-BFGS-B", bounds=[(0.0, 3.0)] * m)
    return res.x if res.success or np.isfinite(res.fun) else np.ones(m)


@dataclass
class AnnotatorFit:
    """One annotator on the reference items: accuracy with its 95 % interval, ECE of its
    raw confidence and (cross-validated) of the calibrated one, and the calibrator."""

    name: str
    n: int
    accuracy: float | None
    interval: tuple[float, float]
    ece_raw: float | None
    ece_calibrated: float | None
    calibrator: ConfidenceCalibrator
    method: str = "constant"

    def right(self, label: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        return self.calibrator.predict(confidence, label)


@dataclass
class Calibration:
    """Fits of a set of annotators on reference items, and their combination.

    ``answers[name] = (label, confidence)`` arrays over the reference items (label -1 where
    the annotator gave none); ``truth`` the right label index per reference item."""

    k: int
    fits: dict[str, AnnotatorFit] = field(default_factory=dict)
    prior: np.ndarray | None = None
    min_items: int = 20
    weights: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)

    @classmethod
    def fit(cls, answers: dict[str, tuple[np.ndarray, np.ndarray]], truth: np.ndarray, k: int,
            *, min_items: int = 20, method: str = "auto", folds: int = 5,
            ece: bool = True) -> Calibration:
        truth = np.asarray(truth)
        counts = np.bincount(truth[truth >= 0], minlength=k).astype(float)
        out = cls(k=k, prior=(counts + 1.0) / (counts.sum() + k), min_items=min_items)
        for name, (label, conf) in answers.items():
            label, conf = np.asarray(label), np.asarray(conf, dtype=float)
            have = (label >= 0) & (truth >= 0)
            lab, cf, right = label[have], conf[have], (label[have] == truth[have]).astype(float)
            cal = ConfidenceCalibrator(method=method, n_labels=k).fit(cf, right, lab)
            n = int(have.sum())
            acc = float(right.mean()) if n else None
            out.fits[name] = AnnotatorFit(
                name, n, acc, wilson_interval(right.sum(), n),
                expected_calibration_error(cf, right) if ece else None,
                _cv_ece(cf, right, lab, k, method, folds) if ece else None, cal, cal.method_)
        return out

    def usable(self, names) -> bool:
        """Every named annotator has at least ``min_items`` reference answers."""
        return all(name in self.fits and self.fits[name].n >= self.min_items for name in names)

    def right(self, name: str, label: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        fit = self.fits.get(name)
        if fit is None:
            return np.full(len(label), 1.0 / self.k)
        return fit.right(label, confidence)

    def posterior(self, labels: dict[str, np.ndarray],
                  confidence: dict[str, np.ndarray]) -> np.ndarray:
        """Posterior over labels per item from the named annotators' answers, their
        evidence weighted as fitted on the reference items for this set of annotators."""
        names = list(labels)
        if not names:
            raise ValueError("posterior needs at least one annotator's answers")
        lab = np.stack([np.asarray(labels[a]) for a in names], axis=1)
        right = np.stack([self.right(a, np.asarray(labels[a]), np.asarray(confidence[a]))
                          for a in names], axis=1)
        return combine(lab, right, self.k, self.prior, self.weights.get(tuple(names)))

    def fit_combination(self, labels: dict[str, np.ndarray], confidence: dict[str, np.ndarray],
                        truth: np.ndarray) -> np.ndarray:
        """Fit (and keep) the evidence weights of this set of annotators on reference items
        (see :func:`fit_weights`); returns them."""
        names = tuple(labels)
        lab = np.stack([np.asarray(labels[a]) for a in names], axis=1)
        right = np.stack([self.right(a, np.asarray(labels[a]), np.asarray(confidence[a]))
                          for a in names], axis=1)
        known = np.asarray(truth) >= 0
        self.weights[names] = fit_weights(lab[known], right[known], np.asarray(truth)[known],
                                          self.k, self.prior)
        return self.weights[names]

    def table(self) -> pd.DataFrame:
        """annotator, reference, accuracy, low, high, ece_raw, ece_calibrated, method."""
        rows = [(f.name, f.n, f.accuracy, f.interval[0], f.interval[1], f.ece_raw,
                 f.ece_calibrated, f.method) for f in self.fits.values()]
        return pd.DataFrame(rows, columns=["annotator", "reference", "accuracy", "low", "high",
                                           "ece_raw", "ece_calibrated", "method"])


def _cv_ece(conf, right, label, k, method, folds) -> float | None:
    """ECE of the calibrated probability on folds it was not fitted on."""
    n = len(right)
    if n < 2 * folds:
        return None
    pred = np.empty(n)
    for train, test in KFold(folds, shuffle=True, random_state=0).split(right):
        cal = ConfidenceCalibrator(method=method, n_labels=k).fit(conf[train], right[train],
                                                                 label[train])
        pred[test] = cal.predict(conf[test], label[test])
    return expected_calibration_error(pred, right)


def cross_fitted(answers: dict[str, tuple[np.ndarray, np.ndarray]], truth: np.ndarray, k: int,
                 sets: list[tuple[str, ...]], folds: int = 5,
                 seed: int = 0) -> dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]]:
    """For each set of annotators, the consensus's top probability on each reference item
    and whether it was right, from calibrations fitted on the *other* folds: what a gate
    chooses its threshold on, so that it does not trust its own training error."""
    truth = np.asarray(truth)
    n = len(truth)
    out = {s: (np.zeros(n), np.zeros(n)) for s in sets}
    if n < 2:
        return out
    splitter = KFold(min(folds, n), shuffle=True, random_state=seed)
    for train, test in splitter.split(truth):
        part = {a: (np.asarray(lab)[train], np.asarray(cf)[train])
                for a, (lab, cf) in answers.items()}
        cal = Calibration.fit(part, truth[train], k, ece=False)
        for names in sets:
            cal.fit_combination({a: part[a][0] for a in names}, {a: part[a][1] for a in names},
                                truth[train])
            post = cal.posterior({a: np.asarray(answers[a][0])[test] for a in names},
                                 {a: np.asarray(answers[a][1])[test] for a in names})
            conf, right = out[names]
            conf[test] = post.max(axis=1)
            right[test] = post.argmax(axis=1) == truth[test]
    return out


@dataclass
class Threshold:
    """Accept where the consensus's top probability is at least ``tau``: the reference
    items above it were right at ``accuracy`` (``n`` of them), whose one-sided lower
    confidence bound ``lower`` reaches ``bar``. ``tau`` is infinite when no threshold
    does: then nothing is accepted."""

    tau: float
    bar: float
    n: int
    accuracy: float | None
    lower: float | None

    def accept(self, confidence: np.ndarray) -> np.ndarray:
        return np.asarray(confidence) >= self.tau


def selective_threshold(confidence, correct, bar: float, *, z: float = 1.6449,
                        min_items: int = 10) -> Threshold:
    """The lowest threshold on confidence whose accepted reference items are right at a
    rate whose one-sided (95 % by default) Wilson lower bound is at least ``bar``
    (selective classification with a risk bound: accept as much as can be shown to be at
    least as good as the alternative)."""
    conf = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=float)
    order = np.argsort(-conf, kind="stable")
    conf, right = conf[order], right[order]
    hits = np.cumsum(right)
    best = Threshold(float("inf"), bar, 0, None, None)
    for i in range(min_items - 1, len(conf)):
        if i + 1 < len(conf) and conf[i + 1] == conf[i]:
            continue  # a threshold takes all items of one confidence or none
        lower = wilson_interval(hits[i], i + 1, z)[0]
        if lower >= bar:
            best = Threshold(float(conf[i]), bar, i + 1, float(hits[i] / (i + 1)), lower)
    return best


def calibrated_threshold(confidence, correct, bar: float, *, n_labels: int = 2) -> Threshold:
    """The lowest consensus probability at which the calibrated probability of being
    right — a :class:`ConfidenceCalibrator` fitted on these (cross-fitted) reference answers
    — reaches ``bar``: each accepted item is *estimated* at least as likely right as the
    alternative (the issue's rule), where :func:`selective_threshold` asks for a lower
    confidence bound over the accepted region (stricter; needs many reference items)."""
    conf = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=float)
    none = Threshold(float("inf"), bar, 0, None, None)
    if not len(conf):
        return none
    cal = ConfidenceCalibrator(n_labels=n_labels).fit(conf, right)
    if cal.method_ == "sigmoid" and cal.model_.coef_[0, 0] <= 0:
        # more confident, less often right: the confidence carries nothing to gate on
        cal = ConfidenceCalibrator(method="constant", n_labels=n_labels).fit(conf, right)
    grid = np.unique(conf)
    ok = cal.predict(grid) >= bar
    if cal.method_ == "constant":
        ok[:] = cal.accuracy_ >= bar
    if not ok.any():
        return none
    # the calibrators are monotone: the region is everything from the first passing value
    first = int(np.argmax(ok))
    if not ok[first:].all():
        first = len(ok) - int(np.argmin(ok[::-1]))  # past the last failing value
        if first >= len(ok):
            return none
    tau = float(grid[first])
    above = conf >= tau
    n = int(above.sum())
    return Threshold(tau, bar, n, float(right[above].mean()) if n else None,
                     float(cal.predict(np.array([tau]))[0]))
