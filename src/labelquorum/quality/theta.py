"""Golden-question quality θ of an annotator, after Liu et al. (2025), "Incentivizing
High-Quality Human Annotations with Golden Questions".

The model: an annotator of quality θ answers golden item ``j`` correctly with probability

    q_j(θ) = c + θ · (p_j − c),      c = 1 / K (the chance of a guess among K labels),

where ``p_j`` is the item's *certainty* (the probability that a careful annotator agrees
with its gold label: expert agreement, or the share of strong annotators that agree). θ = 1
is an annotator who always works as carefully as the certainty allows, θ = 0 one who
guesses. The same model fits people, models and LLMs: every annotator kind answers control
gold, and θ is comparable across kinds.

:class:`GoldenTheta` estimates θ by maximum likelihood on [0, 1] (closed form when every
item has the same certainty; otherwise the root of the score, which is decreasing because
the log-likelihood is concave), with an interval from the observed Fisher information
(Wald). At a boundary (θ̂ = 0 or 1) the Wald interval collapses, so the score interval —
Wilson's interval when every certainty is 1 — is used instead; ``interval="score"`` or
``"likelihood"`` (the likelihood-ratio interval) choose those throughout. :meth:`GoldenTheta.test`
is an exact one-sided test of ``θ ≤ θ₀`` (or ``θ ≥ θ₀``) on the number of correct answers.

:func:`theta_table` does this for every annotator of a long judgement table, and
:func:`theta_skills` turns θ into vote weights for
:class:`~labelquorum.aggregation.WeightedVote`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.stats import chi2, norm
from sklearn.base import BaseEstimator

from ..aggregation.base import label_text
from ..errors import QualityError

INTERVALS = ("wald", "score", "likelihood")
ALTERNATIVES = ("greater", "less")
_EDGE = 1e-12  # how close to 0 or 1 the root finders look, where a log may be infinite


@dataclass(frozen=True)
class ThetaTest:
    """The outcome of a one-sided test on θ."""

    theta0: float
    alternative: str  # "greater": H0 θ ≤ θ0; "less": H0 θ ≥ θ0
    alpha: float
    p_value: float
    reject: bool

    @property
    def null(self) -> str:
        sign = "≤" if self.alternative == "greater" else "≥"
        return f"θ {sign} {self.theta0:g}"


def same_label(answer: Any, gold: Any) -> bool:
    """Whether an answer matches the gold label: labels compare as text (1.0 is "1"),
    label sets (multilabel) and span lists as sets of their members."""
    if isinstance(answer, (list, tuple, set, frozenset)) or isinstance(gold, (list, tuple, set,
                                                                              frozenset)):
        return _as_set(answer) == _as_set(gold)
    return label_text(answer) == label_text(gold)


def _as_set(value: Any) -> frozenset:
    if not isinstance(value, (list, tuple, set, frozenset)):
        value = [value]
    return frozenset(tuple(label_text(x) for x in v) if isinstance(v, (list, tuple))
                     else label_text(v) for v in value)


class _Likelihood:
    """The log-likelihood of θ and its derivatives, for fixed answers ``y``, chance ``c``
    and slopes ``b = p − c`` (one per answered item)."""

    def __init__(self, y: np.ndarray, c: float, p: np.ndarray):
        self.y, self.c, self.p = y.astype(bool), c, p
        self.b = p - c

    def parts(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        # q and 1 - q, the latter computed as (1 - p) + (1 - t)·b so that it is exact at t=1
        return self.c + t * self.b, (1.0 - self.p) + (1.0 - t) * self.b

    def loglik(self, t: float) -> float:
        q, r = self.parts(t)
        with np.errstate(divide="ignore"):
            return float(np.where(self.y, np.log(q), np.log(r)).sum())

    def score(self, t: float) -> float:
        q, r = self.parts(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.where(self.y, self.b / q, -self.b / r).sum())

    def observed_information(self, t: float) -> float:
        q, r = self.parts(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.where(self.y, (self.b / q) ** 2, (self.b / r) ** 2).sum())

    def expected_information(self, t: float) -> float:
        q, r = self.parts(t)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float((self.b ** 2 / (q * r)).sum())

    def mle(self) -> float:
        n = len(self.y)
        if np.ptp(self.b) <= 1e-12:  # one certainty: the closed form
            return float(np.clip((self.y.sum() / n - self.c) / self.b[0], 0.0, 1.0))
        if self.score(_EDGE) <= 0:
            return 0.0
        if self.score(1.0 - _EDGE) >= 0:
            return 1.0
        return float(brentq(self.score, _EDGE, 1.0 - _EDGE, xtol=1e-14, rtol=1e-14))

    def wald(self, theta: float, z: float) -> tuple[float, float, float] | None:
        """(low, high, se), or None where the Wald interval is degenerate."""
        if theta <= 0.0 or theta >= 1.0:
            return None
        info = self.observed_information(theta)
        if not np.isfinite(info) or info <= 0:
            return None
        se = 1.0 / math.sqrt(info)
        return max(0.0, theta - z * se), min(1.0, theta + z * se), se

    def score_interval(self, theta: float, z: float) -> tuple[float, float]:
        def f(t: float) -> float:  # the signed score statistic at t
            t = min(max(t, _EDGE), 1.0 - _EDGE)
            info = self.expected_information(t)
            return self.score(t) / math.sqrt(info) if info > 0 else 0.0

        return (self._crossing(lambda t: z - f(t), theta, 0.0),
                self._crossing(lambda t: f(t) + z, theta, 1.0))

    def likelihood_interval(self, theta: float, level: float) -> tuple[float, float]:
        top, cut = self.loglik(theta), chi2.ppf(level, 1)

        def g(t: float) -> float:
            t = min(max(t, _EDGE), 1.0 - _EDGE)
            return cut - 2.0 * (top - self.loglik(t))

        return self._crossing(g, theta, 0.0), self._crossing(g, theta, 1.0)

    @staticmethod
    def _crossing(h, start: float, end: float) -> float:
        """Walking from ``start`` (where h >= 0) towards ``end``, the first point where h
        turns negative; ``end`` when it never does. A scan brackets the crossing so that
        a statistic that is not monotone still gives the innermost one."""
        if h(end) >= 0:
            return end
        grid = np.linspace(start, end, 65)
        values = [h(t) for t in grid]
        for i in range(1, len(grid)):
            if values[i] < 0:
                lo, hi = grid[i - 1], grid[i]
                if values[i - 1] < 0:  # even the start is outside (a rounding edge)
                    return float(lo)
                return float(brentq(h, min(lo, hi), max(lo, hi), xtol=1e-12))
        return end


def poisson_binomial_pmf(q: np.ndarray) -> np.ndarray:
    """P(number of successes = k), k = 0..n, for independent trials with success
    probabilities ``q`` (a dynamic programme, O(n²))."""
    pmf = np.zeros(len(q) + 1)
    pmf[0] = 1.0
    for i, qi in enumerate(q, start=1):
        pmf[1:i + 1] = pmf[1:i + 1] * (1 - qi) + pmf[:i] * qi
        pmf[0] *= 1 - qi
    return pmf


class GoldenTheta(BaseEstimator):
    """Maximum-likelihood quality θ of one annotator from its golden answers.

    Parameters
    ----------
    n_labels : int, optional
        K, the number of labels of the task; a guess is right with probability 1/K. When
        None, the number of distinct labels among the answers and gold (at least 2); give
        the task's label count, which that count can miss.
    chance : float, optional
        The chance of a correct guess, instead of 1/K (use 0 for span tasks, where a guess
        never matches a whole gold span list).
    level : float
        Confidence level of ``interval_`` (0.95).
    interval : {"wald", "score", "likelihood"}
        How ``interval_`` is found: from the observed Fisher information (Wald; at a
        boundary, where it is degenerate, the score interval instead), the score interval
        (Wilson's when every certainty is 1), or the likelihood-ratio interval.

    Attributes (after ``fit``)
    --------------------------
    theta_, interval_ (low, high), interval_method_, se_ (NaN unless Wald), loglik_,
    n_answers_, n_correct_, accuracy_ (observed share correct), chance_, certainty_
    (the certainty of each answered item).
    """

    def __init__(self, n_labels: int | None = None, chance: float | None = None,
                 level: float = 0.95, interval: str = "wald"):
        self.n_labels = n_labels
        self.chance = chance
        self.level = level
        self.interval = interval

    # -- fitting ---------------------------------------------------------------------
    def fit(self, answers, gold=None, certainty=None) -> GoldenTheta:
        """Fit on one annotator's golden answers.

        ``answers`` are the annotator's labels and ``gold`` the gold labels, in the same
        order; or, with ``gold`` None, ``answers`` are booleans (right or wrong). An
        answer of None (an abstention) is left out. ``certainty`` gives each item's
        certainty p_j (default 1: the gold is certain)."""
        self._check_params()
        correct, p = self._correct(answers, gold, certainty)
        c = self._chance(answers, gold)
        if (p < c - 1e-12).any():
            j = int(np.flatnonzero(p < c - 1e-12)[0])
            raise QualityError(
                f"the certainty of golden item {j} is {p[j]:g}, below the chance of a guess "
                f"({c:g}); such an item says nothing about quality. Leave it out of the bank "
                "(quality.min_certainty) or fix its certainty.")
        if np.all(p - c <= 1e-12):
            raise QualityError(
                "every golden item's certainty equals the chance of a guess, so the answers "
                "carry no information about quality; give items whose certainty is higher.")
        lik = _Likelihood(correct, c, p)
        theta = lik.mle()
        z = norm.ppf(0.5 + self.level / 2)
        self.se_ = math.nan
        wald = lik.wald(theta, z) if self.interval == "wald" else None
        if wald is not None:
            low, high, self.se_ = wald
            self.interval_method_ = "wald"
        elif self.interval == "likelihood":
            low, high = lik.likelihood_interval(theta, self.level)
            self.interval_method_ = "likelihood"
        else:
            low, high = lik.score_interval(theta, z)
            self.interval_method_ = "score"
        self.theta_ = theta
        self.interval_ = (min(low, theta), max(high, theta))
        self.loglik_ = lik.loglik(theta)
        self.n_answers_, self.n_correct_ = len(correct), int(correct.sum())
        self.accuracy_ = self.n_correct_ / self.n_answers_
        self.chance_, self.certainty_ = c, p
        return self

    def _check_params(self) -> None:
        if self.n_labels is not None and (not isinstance(self.n_labels, (int, np.integer))
                                          or isinstance(self.n_labels, bool)
                                          or self.n_labels < 2):
            raise QualityError(f"n_labels must be an integer of at least 2 (the task's number "
                               f"of labels); got {self.n_labels!r}.")
        if self.chance is not None and not (isinstance(self.chance, (int, float))
                                            and 0.0 <= self.chance < 1.0):
            raise QualityError(f"chance must be a number in [0, 1) (the probability that a "
                               f"guess is right); got {self.chance!r}.")
        if not (isinstance(self.level, (int, float)) and 0.0 < self.level < 1.0):
            raise QualityError(f"level must be a confidence level between 0 and 1, such as "
                               f"0.95; got {self.level!r}.")
        if self.interval not in INTERVALS:
            raise QualityError(f"interval must be one of {', '.join(INTERVALS)}; got "
                               f"{self.interval!r}.")

    def _correct(self, answers, gold, certainty) -> tuple[np.ndarray, np.ndarray]:
        answers = list(answers)
        if gold is not None:
            gold = list(gold)
            if len(gold) != len(answers):
                raise QualityError(f"answers and gold must have the same length (one gold "
                                   f"label per answer); got {len(answers)} answers and "
                                   f"{len(gold)} gold labels.")
        if certainty is None:
            p = np.ones(len(answers))
        else:
            p = np.asarray(list(certainty), dtype=float)
            if p.shape != (len(answers),):
                raise QualityError(f"certainty must give one value per golden answer; got "
                                   f"{p.size} certainties for {len(answers)} answers.")
            if not np.all((p >= 0) & (p <= 1)):
                raise QualityError("every certainty must be a probability in [0, 1]; found "
                                   f"{p[~((p >= 0) & (p <= 1))][0]!r}.")
        keep = np.array([a is not None and not (isinstance(a, float) and math.isnan(a))
                         for a in answers], dtype=bool)
        if gold is None:
            correct = np.array([bool(a) for a, k in zip(answers, keep) if k], dtype=bool)
        else:
            if any(g is None for g, k in zip(gold, keep) if k):
                raise QualityError("a golden item has no gold label; give every golden "
                                   "question its gold label.")
            correct = np.array([same_label(a, g) for a, g, k in zip(answers, gold, keep) if k],
                               dtype=bool)
        if not len(correct):
            raise QualityError("there are no golden answers to estimate quality from (every "
                               "answer was missing or an abstention); serve golden questions "
                               "first.")
        return correct, p[keep]

    def _chance(self, answers, gold) -> float:
        if self.chance is not None:
            return float(self.chance)
        if self.n_labels is not None:
            return 1.0 / int(self.n_labels)
        if gold is None:
            raise QualityError("with answers given as right/wrong booleans, give n_labels (the "
                               "task's number of labels) or chance.")
        seen = {label_text(v) for v in list(answers) + list(gold)
                if v is not None and not isinstance(v, (list, tuple))}
        return 1.0 / max(2, len(seen))

    # -- using the fit ---------------------------------------------------------------
    def _fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise QualityError("this GoldenTheta is not fitted yet; call fit(answers, gold, "
                               "certainty) first.")

    def expected_accuracy(self, certainty: float | None = None) -> float:
        """The accuracy θ̂ predicts on items of the given certainty (by default the mean
        certainty of the golden items answered)."""
        self._fitted()
        p = float(np.mean(self.certainty_)) if certainty is None else float(certainty)
        return self.chance_ + self.theta_ * (p - self.chance_)

    def accuracy_interval(self, certainty: float | None = None) -> tuple[float, float]:
        """``interval_`` mapped onto accuracy on items of the given certainty."""
        self._fitted()
        p = float(np.mean(self.certainty_)) if certainty is None else float(certainty)
        low, high = self.interval_
        return self.chance_ + low * (p - self.chance_), self.chance_ + high * (p - self.chance_)

    def test(self, theta0: float, alternative: str = "greater",
             alpha: float = 0.05) -> ThetaTest:
        """Exact one-sided test of H0 ``θ ≤ theta0`` (``alternative="greater"``: rejecting
        it shows the annotator is better than θ₀) or of H0 ``θ ≥ theta0``
        (``"less"``: rejecting it shows the annotator is worse).

        The statistic is the number of correct answers; under θ₀ it is Poisson-binomial,
        and as every q_j grows with θ, the boundary θ₀ is the least favourable point of
        the null, so the test keeps its level whatever the certainties."""
        self._fitted()
        if not (isinstance(theta0, (int, float)) and 0.0 <= theta0 <= 1.0):
            raise QualityError(f"theta0 must be a quality in [0, 1]; got {theta0!r}.")
        if alternative not in ALTERNATIVES:
            raise QualityError(f"alternative must be one of {', '.join(ALTERNATIVES)}; got "
                               f"{alternative!r}.")
        if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
            raise QualityError(f"alpha must be a significance level between 0 and 1, such as "
                               f"0.05; got {alpha!r}.")
        q0 = self.chance_ + theta0 * (self.certainty_ - self.chance_)
        pmf = poisson_binomial_pmf(q0)
        k = self.n_correct_
        p_value = float(pmf[k:].sum() if alternative == "greater" else pmf[:k + 1].sum())
        p_value = min(1.0, p_value)
        return ThetaTest(float(theta0), alternative, float(alpha), p_value, p_value <= alpha)


def theta_table(judgements: pd.DataFrame, gold: dict, certainty: dict | None = None, *,
                n_labels: int | None = None, chance: float | None = None,
                level: float = 0.95, interval: str = "wald", theta0: float | None = None,
                alpha: float = 0.05) -> pd.DataFrame:
    """θ̂ for every annotator of a long judgement table, on the items that have gold.

    ``judgements`` has columns ``item, annotator, label`` (or ``task, worker, label``);
    ``gold`` maps golden item id -> gold label and ``certainty`` item id -> certainty
    (default 1). Items not in ``gold`` are ignored. One row per annotator (sorted), with
    ``n, correct, accuracy, theta, low, high, method``; with ``theta0`` also ``p_value``
    and ``passes`` (H0 θ ≤ θ₀ rejected at ``alpha``). An annotator without golden answers
    (abstentions aside) has no row."""
    if not isinstance(judgements, pd.DataFrame):
        raise QualityError(f"theta_table expects a pandas DataFrame of judgements (item, "
                           f"annotator, label); got {type(judgements).__name__}.")
    for names in (("item", "annotator", "label"), ("task", "worker", "label"),
                  ("id", "worker", "label")):
        if set(names) <= set(judgements.columns):
            item_col, who_col, label_col = names
            break
    else:
        raise QualityError("the judgement table needs the columns item, annotator, label (or "
                           "task, worker, label); columns found: "
                           f"{', '.join(map(str, judgements.columns)) or 'none'}.")
    gold_keys = {label_text(k): v for k, v in gold.items()}
    cert = {label_text(k): float(v) for k, v in (certainty or {}).items()}
    item_text = judgements[item_col].map(label_text)
    rows = judgements[item_text.isin(gold_keys) & judgements[label_col].notna()]
    columns = ["n", "correct", "accuracy", "theta", "low", "high", "method"]
    if theta0 is not None:
        columns += ["p_value", "passes"]
    out = {}
    for who, part in rows.groupby(who_col, sort=True):
        items = item_text[part.index]
        est = GoldenTheta(n_labels=n_labels, chance=chance, level=level, interval=interval)
        est.fit(part[label_col].tolist(), [gold_keys[i] for i in items],
                [cert.get(i, 1.0) for i in items])
        row = [est.n_answers_, est.n_correct_, est.accuracy_, est.theta_, *est.interval_,
               est.interval_method_]
        if theta0 is not None:
            result = est.test(theta0, alpha=alpha)
            row += [result.p_value, result.reject]
        out[who] = row
    table = pd.DataFrame.from_dict(out, orient="index", columns=columns)
    table.index.name = "annotator"
    return table


def theta_skills(thetas, n_labels: int, certainty: float = 1.0,
                 chance: float | None = None) -> pd.Series:
    """Vote weights from θ: the log-odds weight log(a·(K−1)/(1−a)) that is optimal for a
    symmetric annotator of accuracy a = c + θ·(p − c), floored at 0 (a guesser gets no
    vote) and capped at accuracy 0.999. Feed it to ``WeightedVote(skills=...)``."""
    if not isinstance(n_labels, (int, np.integer)) or n_labels < 2:
        raise QualityError(f"n_labels must be an integer of at least 2; got {n_labels!r}.")
    series = pd.Series(thetas, dtype=float)
    c = 1.0 / n_labels if chance is None else float(chance)
    acc = np.clip(c + series.clip(0, 1) * (certainty - c), 1e-9, 0.999)
    weights = np.log(acc * (n_labels - 1) / (1 - acc)).clip(lower=0.0)
    return weights.rename("skill")
