"""The scale of a rating task, and the statistics of ratings on it.

A rating is a float. On an **ordinal** scale (named points, lowest first, e.g. ``bad, poor,
fair, good, excellent``) the points are numbered 1..n and a rating is one of those numbers;
its text form is the point's name. On a **numeric** scale (``min``, ``max``, optional
``step``) a rating is any number in the range (on the step grid when a step is given).

Per-item consensus (:func:`consensus_of`) is the weighted median or mean of the answers;
on an ordinal scale it is then moved to the nearest point (a value half-way between two
points goes to the one nearer the answers' mean, then to the lower). Its **confidence** is
the (weighted) share of answers that support it: on an ordinal scale an answer on the
consensus point counts 1 and one on an adjacent point 1/2; on a numeric scale an answer
within ``tolerance`` of the consensus counts 1. Its **agreement** is the share of answers
that count 1. Scores against gold (:func:`rating_scores`): MAE, RMSE, exact accuracy (the
same point; numeric: within the tolerance), within-one accuracy (at most one point away;
numeric: one step, else the tolerance) and Spearman's rank correlation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LabelquorumError

CONSENSUS = ("median", "mean", "bias-corrected")


@dataclass(frozen=True)
class RatingScale:
    """Named points (ordinal), or a numeric range ``[low, high]`` with an optional step."""

    points: tuple[str, ...] = ()
    low: float = 1.0
    high: float = 5.0
    step: float | None = None
    tolerance: float | None = None
    consensus: str | None = None  # median | mean | bias-corrected; None: by the scale

    def __post_init__(self) -> None:
        if self.ordinal:
            object.__setattr__(self, "low", 1.0)
            object.__setattr__(self, "high", float(len(self.points)))
            object.__setattr__(self, "step", 1.0)
        elif not self.low < self.high:
            raise LabelquorumError(f"a numeric rating scale needs min < max; got min = "
                                   f"{self.low:g} and max = {self.high:g}")
        if self.consensus is not None and self.consensus not in CONSENSUS:
            raise LabelquorumError(f"unknown rating consensus {self.consensus!r}; valid: "
                                   f"{', '.join(CONSENSUS)}")
        if self.step is not None and not self.step > 0:
            raise LabelquorumError(f"the rating step must be > 0; got {self.step:g}")

    @property
    def ordinal(self) -> bool:
        return bool(self.points)

    @property
    def within(self) -> float:
        """How far from the consensus an answer still counts as agreeing (numeric)."""
        if self.ordinal:
            return 0.0
        if self.tolerance is not None:
            return self.tolerance
        return self.step if self.step is not None else (self.high - self.low) / 20

    @property
    def one(self) -> float:
        """The distance that 'within one' allows: a point, a step, else the tolerance."""
        return 1.0 if self.ordinal else (self.step or self.within)

    def describe(self) -> str:
        if self.ordinal:
            return ", ".join(f"{i} = {name}" for i, name in enumerate(self.points, 1))
        step = f" in steps of {number_text(self.step)}" if self.step else ""
        return f"a number from {number_text(self.low)} to {number_text(self.high)}{step}"

    # -- values ------------------------------------------------------------------------
    def parse(self, raw: Any, on_step: bool = False) -> float:
        """A rating from its text or number form; raise :class:`LabelquorumError` with a
        sentence when it is not on the scale. A numeric scale's step binds only answers
        given with ``on_step`` (a person's, an LLM's): gold, recorded answers and
        consensus values (a mean) may lie between steps."""
        if isinstance(raw, bool):
            raise LabelquorumError(self._refused(raw))
        if isinstance(raw, str):
            text = raw.strip()
            if self.ordinal:
                folded = {name.casefold(): i for i, name in enumerate(self.points, 1)}
                if text.casefold() in folded:
                    return float(folded[text.casefold()])
            try:
                value = float(text)
            except ValueError:
                raise LabelquorumError(self._refused(raw)) from None
        elif isinstance(raw, (int, float, np.integer, np.floating)):
            value = float(raw)
        else:
            raise LabelquorumError(self._refused(raw))
        if not math.isfinite(value) or not self.low - 1e-9 <= value <= self.high + 1e-9:
            raise LabelquorumError(self._refused(raw))
        if self.step is not None and (on_step or self.ordinal):
            steps = (value - self.low) / self.step
            if abs(steps - round(steps)) > 1e-6:
                raise LabelquorumError(self._refused(raw))
            value = self.low + round(steps) * self.step
        return float(min(max(value, self.low), self.high))

    def _refused(self, raw: Any) -> str:
        shown = repr(raw) if len(repr(raw)) <= 60 else f"{repr(raw)[:60]}…"
        if self.ordinal:
            return (f"rating {shown} is not a point of the scale; give a point's name or "
                    f"number ({self.describe()})")
        return (f"rating {shown} is not on the scale; give {self.describe()} (set the scale "
                "with min, max and step under [task.rating] in labelquorum.toml)")

    def name(self, value: float | None) -> str | None:
        """The point's name (ordinal), else None."""
        if value is None or not self.ordinal or not math.isfinite(value):
            return None
        return self.points[round(value) - 1]

    def format(self, value: float | None) -> str | None:
        """The text form: the point's name (ordinal) or the number."""
        if value is None:
            return None
        return self.name(value) if self.ordinal else number_text(value)

    def snap(self, value: float, prefer: float | None = None) -> float:
        """The nearest value on the scale: clipped to the range, and on an ordinal scale
        the nearest point (half-way: the one nearer ``prefer``, then the lower)."""
        value = min(max(float(value), self.low), self.high)
        if not self.ordinal:
            return value
        lower = math.floor(value)
        if value - lower > 0.5 + 1e-9:
            return float(lower + 1)
        if value - lower < 0.5 - 1e-9:
            return float(lower)
        return float(lower + 1) if prefer is not None and prefer > value else float(lower)

    # -- agreement with a consensus ----------------------------------------------------
    def credit(self, answers: np.ndarray, consensus: float) -> np.ndarray:
        """How much each answer supports the consensus: 1, 1/2 (adjacent point) or 0."""
        distance = np.abs(np.asarray(answers, dtype=float) - consensus)
        if self.ordinal:
            return np.where(distance < 0.5, 1.0, np.where(distance < 1.5, 0.5, 0.0))
        return np.where(distance <= self.within + 1e-9, 1.0, 0.0)


def number_text(value: float | None) -> str:
    """A number as people write it: ``3`` rather than ``3.0``."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


# -- consensus -------------------------------------------------------------------------
def weighted_median(values: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """The value where half the weight lies on either side (equal weights: the usual
    median, the midpoint of the two middle values of an even count)."""
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    keep = w > 0
    x, w = x[keep], w[keep]
    if not len(x):
        return math.nan
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cum = np.cumsum(w)
    half = cum[-1] / 2
    i = int(np.searchsorted(cum, half - 1e-12 * cum[-1]))
    if abs(cum[i] - half) <= 1e-12 * cum[-1] and i + 1 < len(x):
        return float((x[i] + x[i + 1]) / 2)
    return float(x[i])


def consensus_of(scale: RatingScale, answers: Sequence[float],
                 weights: Sequence[float] | None = None, method: str = "median",
                 offsets: Sequence[float] | None = None) -> tuple[float | None, float, float]:
    """``(consensus, confidence, agreement)`` of one item's answers (see the module).

    ``method`` is ``median`` or ``mean`` (weighted by ``weights`` when given);
    ``offsets`` are the answering annotators' biases, removed from their answers first
    (the bias-corrected consensus). No answers: ``(None, 0, 0)``.
    """
    x = np.asarray(answers, dtype=float)
    if not len(x):
        return None, 0.0, 0.0
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if not (w > 0).any():
        w = np.ones_like(x)
    corrected = x if offsets is None else x - np.asarray(offsets, dtype=float)
    mean = float(np.sum(w * corrected) / np.sum(w))
    centre = weighted_median(corrected, w) if method == "median" else mean
    value = scale.snap(centre, prefer=mean)
    credit = scale.credit(x if offsets is None else corrected, value)
    confidence = float(np.sum(w * credit) / np.sum(w))
    agreement = float(np.mean(credit == 1.0))
    return value, confidence, agreement


# -- scores against gold -----------------------------------------------------------------
def rating_scores(scale: RatingScale, gold: Sequence[float],
                  predicted: Sequence[float]) -> dict[str, float | int | None]:
    """MAE, RMSE, exact and within-one accuracy, and Spearman's rho of ``predicted``
    against ``gold`` (aligned; pairs where either is missing are left out). ``spearman``
    is None when either side has fewer than two distinct values (undefined)."""
    from scipy.stats import spearmanr

    g = np.asarray(gold, dtype=float)
    p = np.asarray(predicted, dtype=float)
    keep = np.isfinite(g) & np.isfinite(p)
    g, p = g[keep], p[keep]
    out: dict[str, float | int | None] = {"n": len(g)}
    if not len(g):
        return out | {"mae": None, "rmse": None, "exact": None, "within_one": None,
                      "spearman": None}
    err = np.abs(p - g)
    exact = err < 0.5 if scale.ordinal else err <= scale.within + 1e-9
    rho = None
    if len(np.unique(g)) > 1 and len(np.unique(p)) > 1:
        rho = float(spearmanr(g, p).statistic)
    return out | {"mae": float(err.mean()), "rmse": float(np.sqrt((err ** 2).mean())),
                  "exact": float(exact.mean()), "within_one": float(
                      (err <= scale.one + 1e-9).mean()), "spearman": rho}


# -- LLM prompt, schema and answers ----------------------------------------------------
def rating_schema(scale: RatingScale, verbalized: bool) -> dict[str, Any]:
    """The JSON schema of an answer: ``{"rating": ..., "reason": ...}`` (the reason may be
    null; strict structured output wants every property listed as required)."""
    if scale.ordinal:
        rating: dict[str, Any] = {"type": "string", "enum": list(scale.points)}
    else:
        rating = {"type": "number", "minimum": scale.low, "maximum": scale.high}
    props: dict[str, Any] = {"rating": rating, "reason": {"type": ["string", "null"]}}
    if verbalized:
        props["confidence"] = {"type": "number", "minimum": 0, "maximum": 1}
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def rating_instructions(scale: RatingScale, descriptions: Sequence[str] = (),
                        verbalized: bool = False) -> list[str]:
    """The lines of the system message that state the scale and the answer's shape."""
    if scale.ordinal:
        lines = ["Rate the item on this scale, from lowest to highest:"]
        descs = list(descriptions) + [""] * len(scale.points)
        lines += [f"{i}. {name}" + (f": {desc}" if desc else "")
                  for i, (name, desc) in enumerate(zip(scale.points, descs), 1)]
        shape = '{"rating": "<exactly one point name>"'
    else:
        lines = [f"Rate the item with {scale.describe()}."]
        shape = '{"rating": <a number>'
    shape += ', "reason": "<one short sentence, or null>"'
    if verbalized:
        shape += ', "confidence": <probability from 0 to 1 that you are right>'
    return lines + [f"Answer with JSON only: {shape}}}"]


def rating_example(scale: RatingScale, value: float) -> str:
    """A few-shot example's answer, as the model is asked to write it."""
    shown: Any = scale.name(value) if scale.ordinal else value
    return json.dumps({"rating": shown, "reason": None})


def parse_rating_answer(scale: RatingScale, data: Any) -> tuple[float, str | None]:
    """``(rating, reason)`` from an answer's JSON object (or a bare value); raise
    ``ValueError`` with a sentence for the model when there is no rating on the scale."""
    reason = None
    if isinstance(data, dict):
        if "rating" not in data:
            raise ValueError('The JSON has no "rating".')
        if isinstance(data.get("reason"), str):
            reason = data["reason"]
        data = data["rating"]
    if isinstance(data, (dict, list)) or data is None:
        raise ValueError(f"The rating must be {'a point name' if scale.ordinal else 'a number'}"
                         f", not {json.dumps(data)}.")
    try:
        return scale.parse(data, on_step=True), reason
    except LabelquorumError:
        raise ValueError(f"{json.dumps(data)} is not on the scale ({scale.describe()})."
                         ) from None


def rating_reask(scale: RatingScale, reason: str) -> str:
    allowed = ", ".join(json.dumps(p) for p in scale.points) if scale.ordinal else \
        scale.describe()
    return f'{reason} Answer again with JSON only, with "rating" taken from: {allowed}.'


# -- simulated answers ---------------------------------------------------------------------
def simulated_rating(scale: RatingScale, truth: float, noise: float, bias: float,
                     u: float) -> float:
    """A simulated annotator's answer: ``truth + bias + noise * z`` (z standard normal,
    from the uniform draw ``u`` in (0, 1)), put back on the scale (clipped; the nearest
    point or step)."""
    from scipy.stats import norm

    z = float(norm.ppf(min(max(u, 1e-12), 1 - 1e-12)))
    value = min(max(truth + bias + noise * z, scale.low), scale.high)
    if scale.ordinal:
        return scale.snap(value)
    if scale.step is not None:
        value = scale.low + round((value - scale.low) / scale.step) * scale.step
    return float(min(max(value, scale.low), scale.high))


__all__ = [
    "CONSENSUS",
    "RatingScale",
    "consensus_of",
    "number_text",
    "parse_rating_answer",
    "rating_example",
    "rating_instructions",
    "rating_reask",
    "rating_schema",
    "rating_scores",
    "simulated_rating",
    "weighted_median",
]
