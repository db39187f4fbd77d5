"""Ratings: a number on a scale per item (value type ``rating``).

``task.kind = "rating"`` with ``[task] labels`` is **ordinal**: the labels are the scale's
named points, lowest first (a 1-5 Likert scale: five labels), numbered 1..n; a rating is
that number and its text form the point's name. Without labels, ``[task.rating]`` gives a
**numeric** scale: ``min``, ``max`` and optionally ``step``. See
:mod:`labelquorum.kinds.rating_scale` for the consensus, its confidence and the scores.

Consensus (``[task.rating] consensus``): ``median`` (the default of ordinal scales),
``mean`` (numeric scales) or ``bias-corrected`` — the mean after removing each annotator's
bias, the biases estimated jointly from all their answers and shrunk when they gave few
(:class:`labelquorum.aggregation.ratings.BiasCorrectedRating`). Skills weigh the answers
unless ``policy.aggregator = "majority"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import LabelquorumError
from .base import TaskKind
from .rating_scale import (
    RatingScale,
    consensus_of,
    number_text,
    parse_rating_answer,
    rating_example,
    rating_instructions,
    rating_reask,
    rating_schema,
    rating_scores,
    simulated_rating,
)


def scale_of(task: Any) -> RatingScale:
    """The task's scale: its ``settings`` (set from ``[task.rating]``), else its labels as
    ordinal points."""
    settings = getattr(task, "settings", None)
    if isinstance(settings, RatingScale):
        return settings
    return RatingScale(tuple(task.labels))


def scale_from_config(task_config: Any) -> RatingScale:
    """The scale a ``[task]`` section describes (its labels, or ``[task.rating]``)."""
    cfg = getattr(task_config, "rating", None)
    tolerance = getattr(cfg, "tolerance", None)
    consensus = getattr(cfg, "consensus", None)
    if task_config.labels:
        return RatingScale(tuple(task_config.label_names), tolerance=tolerance,
                           consensus=consensus)
    return RatingScale(low=cfg.min, high=cfg.max, step=cfg.step, tolerance=tolerance,
                       consensus=consensus)


def _number(scale: RatingScale, value: Any) -> float:
    """A rating from a text form or number; NaN where there is none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    try:
        return scale.parse(value)
    except LabelquorumError:
        return np.nan


def _numeral(name: str) -> float | None:
    """The number a point's name reads as, None for a word."""
    try:
        value = float(name)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_rating_section(task_config: Any) -> None:
    """Refuse a ``[task]`` section whose scale is missing, doubled or empty (ValueError)."""
    cfg = task_config.rating
    numeric = cfg is not None and (cfg.min is not None or cfg.max is not None)
    if task_config.labels and numeric:
        raise ValueError("a rating task has either labels (an ordinal scale's named points, "
                         "lowest first) or [task.rating] min and max (a numeric scale), not "
                         "both; remove one")
    if len(task_config.labels) == 1:
        raise ValueError("an ordinal rating scale needs at least two points (labels, lowest "
                         "first); for a numeric scale leave labels out and give [task.rating] "
                         "min and max")
    if task_config.labels:
        folded: dict[str, list[str]] = {}
        for name in task_config.label_names:
            folded.setdefault(name.casefold(), []).append(name)
        clash = next((names for names in folded.values() if len(names) > 1), None)
        if clash is not None:
            raise ValueError(f"the rating points {', '.join(map(repr, clash))} differ only in "
                             "case, and points are matched without regard to case (gold "
                             "'Good' is the point 'good'); give each point a distinct name")
        names = list(task_config.label_names)
        off = [(i, n) for i, n in enumerate(names, 1) if _numeral(n) not in (None, i)]
        if off:
            i, name = off[0]
            numbers = [_numeral(n) for n in names]
            hint = ""
            if all(v is not None for v in numbers) and len(set(numbers)) == len(numbers):
                hint = (f" (for these points: [task.rating] min = {min(numbers):g}, max = "
                        f"{max(numbers):g}, step = 1, and no labels)")
            raise ValueError(f"the rating point {name!r} is number {i} of the scale, and a "
                             f"point is also given by its number (1 to {len(names)}), so "
                             f"{name!r} would mean two points; name the points by words, or "
                             f"use a numeric scale{hint}")
        if cfg is not None and (cfg.step is not None or cfg.tolerance is not None):
            raise ValueError("[task.rating] step and tolerance apply to a numeric scale "
                             "(min and max); an ordinal scale's points are its labels, one "
                             "step apart")
        return
    if cfg is None or cfg.min is None or cfg.max is None:
        raise ValueError("a rating task needs its scale: labels = [\"bad\", ..., \"good\"] "
                         "(an ordinal scale's named points, lowest first) or [task.rating] "
                         "with min and max (a numeric scale)")
    if not (math.isfinite(cfg.min) and math.isfinite(cfg.max)):
        raise ValueError(f"[task.rating] min and max must be finite numbers; got min = "
                         f"{cfg.min:g} and max = {cfg.max:g}")
    if not cfg.min < cfg.max:
        raise ValueError(f"[task.rating] needs min < max; got min = {cfg.min:g} and "
                         f"max = {cfg.max:g}")
    if cfg.step is not None and abs((cfg.max - cfg.min) / cfg.step
                                    - round((cfg.max - cfg.min) / cfg.step)) > 1e-6:
        raise ValueError(f"[task.rating] step {cfg.step:g} does not divide the range "
                         f"{cfg.min:g} to {cfg.max:g}; choose a step that reaches max")
    span = cfg.max - cfg.min
    within = cfg.tolerance if cfg.tolerance is not None else cfg.step or span / 20
    limit = span if cfg.step is not None else span / 2
    if not within < limit - 1e-9:
        said = f"tolerance {cfg.tolerance:g}" if cfg.tolerance is not None else \
            f"tolerance (by default the step, {within:g})"
        raise ValueError(f"[task.rating] {said} lets any answer agree with any other on the "
                         f"range {cfg.min:g} to {cfg.max:g}, so agreement and golden "
                         f"questions would mean nothing; set tolerance below {limit:g} "
                         "(tolerance = 0: only equal answers agree)")


def consensus_method(task: Any) -> str:
    """``[task.rating] consensus``, else the scale's default (ordinal: median)."""
    scale = scale_of(task)
    return scale.consensus or ("median" if scale.ordinal else "mean")


def _per_item(task: Any) -> str:
    """The per-item statistic: the bias-corrected consensus is a mean of corrected answers."""
    method = consensus_method(task)
    return "mean" if method == "bias-corrected" else method


class RatingKind(TaskKind, value_type="rating"):
    """A number on an ordinal or numeric scale; consensus by median, mean or bias-corrected
    mean, item by item from the answers on the board."""

    needs_labels = False
    answer_name = "rating on the scale"
    off_label = "off the scale"
    widget = "rating.html"

    # -- the section ---------------------------------------------------------------------
    def settings(self, task_config: Any) -> RatingScale:
        return scale_from_config(task_config)

    # -- values --------------------------------------------------------------------------
    def parse(self, task, raw, text=None):
        if hasattr(raw, "item") and not isinstance(raw, (str, bytes)):  # numpy scalars
            raw = raw.item()
        return scale_of(task).parse(raw)

    def format(self, task, value):
        return scale_of(task).format(float(value))

    def stored(self, task, value):
        if value is None:
            return None, None
        return self.format(task, value), float(value)

    def from_stored(self, task, label, value):
        return float(value) if value is not None else self.parse(task, label)

    def key(self, value):
        return round(float(value), 9)

    def same(self, task, a, b):
        if a is None or b is None:
            return False
        return bool(scale_of(task).credit(np.array([float(a)]), float(b))[0] == 1.0)

    def members(self, task, value):
        """The point (or number) a decided label counts for; labels come in text form."""
        return [self.format(task, self.parse(task, value) if isinstance(value, str)
                            else value)]

    def gold_json(self, task, text_form):
        return self.parse(task, text_form)

    # -- consensus -------------------------------------------------------------------------
    def fit_consensus(self, task, answers):
        """Bias-corrected consensus: each annotator's bias from all their answers."""
        if consensus_method(task) != "bias-corrected":
            return None
        return bias_offsets(task, [(i, a, float(v)) for a, said in answers.items()
                                   for i, v in enumerate(said) if v is not None])

    def consensus(self, task, values, weights, text, fitted=None, annotators=None):
        given = [float(v) for v in values if v is not None]
        w = None if weights is None else [float(x) for v, x in zip(values, weights)
                                          if v is not None]
        offsets = None
        if fitted is not None and annotators is not None:
            offsets = [float(fitted.get(str(a), 0.0)) for v, a in zip(values, annotators)
                       if v is not None]
        return consensus_of(scale_of(task), given, w, _per_item(task), offsets)

    def sample_consensus(self, task, values, text):
        """An LLM's samples: their consensus, confident as far as the samples support it."""
        value, confidence, _agreement = consensus_of(
            scale_of(task), [float(v) for v in values if v is not None], None, _per_item(task))
        return value, confidence, None

    # -- scores ------------------------------------------------------------------------------
    def correct(self, task, answer, gold):
        return self.same(task, answer, gold)

    def chance(self, task):
        scale = scale_of(task)
        if scale.ordinal:
            return 1.0 / len(scale.points)
        if scale.step is None:
            return min(1.0, 2 * scale.within / (scale.high - scale.low))
        # a random answer on the step grid, within the tolerance of a random grid point
        n = round((scale.high - scale.low) / scale.step) + 1
        k = min(int(scale.within / scale.step + 1e-9), n - 1)  # steps that still agree
        return (n + k * (2 * n - k - 1)) / n ** 2

    def evaluate(self, task, truth, pred):
        scale = scale_of(task)
        scores = rating_scores(scale, [_number(scale, t) for t in truth],
                               [_number(scale, p) for p in pred])
        what = "the same point" if scale.ordinal else f"within {scale.within:g}"
        return {"metric": f"rating ({what})", "rating": scores}

    def gold_scores(self, task, truth, pred):
        scale = scale_of(task)
        return rating_scores(scale, [_number(scale, t) for t in truth],
                             [_number(scale, p) for p in pred])

    def agreement_data(self, task, labels):
        """Ratings as numbers; Krippendorff's alpha at the ordinal (named points) or
        interval (numeric scale) level."""
        scale = scale_of(task)
        return labels.map(lambda t: _number(scale, t)), \
            "ordinal" if scale.ordinal else "interval"

    def describe_scores(self, task, scores):
        def show(key, fmt):
            value = scores.get(key)
            return "n/a" if value is None else format(value, fmt)

        one = "point" if scale_of(task).ordinal else "step"
        return (f"MAE {show('mae', '.3f')} · RMSE {show('rmse', '.3f')} · exact "
                f"{show('exact', '.1%')} · within one {one} {show('within_one', '.1%')} · "
                f"Spearman {show('spearman', '.3f')} ({scores.get('n', 0)} items)")

    # -- the LLM -----------------------------------------------------------------------------
    def llm_schema(self, task, verbalized):
        return rating_schema(scale_of(task), verbalized)

    def llm_task(self, task):
        return "You are a careful data annotator. Rate the item you are given."

    def llm_labels_heading(self, task):
        return ""  # the scale's points are listed by the instructions, in order

    def llm_instructions(self, task, verbalized):
        return rating_instructions(scale_of(task), task.descriptions, verbalized)

    def llm_example(self, task, value, text=""):
        scale = scale_of(task)
        return rating_example(scale, value if isinstance(value, (int, float)) else
                              scale.parse(value))

    def llm_answer_guess(self, task):
        scale = scale_of(task)
        return self.llm_example(task, scale.high) + " " + "x" * 60  # a one-line reason

    def llm_reask(self, task, reason):
        return {"role": "user", "content": rating_reask(scale_of(task), reason)}

    def llm_parse(self, task, content, text=""):
        from ..llm.prompt import InvalidAnswer, json_object, read_confidence

        try:
            data = json_object(content)
        except ValueError:
            data = content.strip().strip('"\'.` ')
        try:
            value, reason = parse_rating_answer(scale_of(task), data)
        except ValueError as exc:
            raise InvalidAnswer(str(exc), content) from None
        confidence = read_confidence(data) if isinstance(data, dict) else None
        log = {"reason": reason} if reason else {}
        return value, confidence, self.format(task, value), log

    # -- the widget ----------------------------------------------------------------------------
    def hotkeys(self, task, keys):
        if not scale_of(task).ordinal:
            return []
        return list(zip(task.labels, keys, task.descriptions))

    def check_answer(self, task, value, text):
        """An answer (a person's, a recorded one) must be on the scale's step grid."""
        try:
            scale_of(task).parse(value, on_step=True)
        except LabelquorumError as exc:
            return str(exc)
        return None

    def view(self, task, value, text):
        """The rating as a number (a suggestion or the assistant's advice, in either form)."""
        number = _number(scale_of(task), value)
        return {} if np.isnan(number) else {"rating": number}

    def editor(self, task, text, candidates):
        """The review page's number box (numeric scales; an ordinal scale's points are the
        page's label choices), started from the first candidate on the scale."""
        scale = scale_of(task)
        if scale.ordinal:
            return None
        start = next((_number(scale, c) for c in candidates
                      if not np.isnan(_number(scale, c))), None)
        return {"value": "" if start is None else number_text(start),
                **self.widget_scale(task)}

    def widget_scale(self, task) -> dict[str, Any]:
        """What the widget template shows of the scale: its range and step, as text."""
        scale = scale_of(task)
        return {"ordinal": scale.ordinal, "low": number_text(scale.low),
                "high": number_text(scale.high),
                "step": number_text(scale.step) if scale.step else None}

    def export_columns(self, task, labels, values):
        """``rating``: the decided rating as a number (the label is its text form)."""
        scale = scale_of(task)
        return {"rating": labels.map(lambda t: scale.parse(t) if isinstance(t, str) else None)
                .astype(float)}

    # -- formats -------------------------------------------------------------------------------
    def labelstudio_result(self, task, value, text=""):
        if scale_of(task).ordinal:
            return [{"from_name": "rating", "to_name": task.text_field, "type": "rating",
                     "value": {"rating": round(float(value))}}]
        return [{"from_name": "rating", "to_name": task.text_field, "type": "number",
                 "value": {"number": float(value)}}]

    def from_labelstudio(self, task, results, text):
        for r in results:
            v = r.get("value", {})
            for key in ("rating", "number"):
                if key in v:
                    return self.parse(task, v[key])
            if v.get("choices"):
                return self.parse(task, v["choices"][0])
        return None

    def hf_feature(self, task):
        import datasets

        return datasets.Value("float64")

    def hf_encode(self, task, value):
        return float(value) if isinstance(value, (int, float)) else self.parse(task, value)

    # -- simulated answers ---------------------------------------------------------------------
    def simulate(self, task, gold, accuracy, draw: Callable[..., float], confusion=None,
                 noise: float | None = None, bias: float = 0.0):
        """``gold + bias + noise * z`` put back on the scale; its confidence is the
        chance that noise alone keeps it on the right point (ordinal) or within the
        tolerance (numeric). Without ``noise``: right with probability ``accuracy``, else
        one point or step off."""
        if gold is None or (isinstance(gold, str) and not gold.strip()):
            return None, np.nan
        scale = scale_of(task)
        truth = float(gold) if isinstance(gold, (int, float)) else scale.parse(gold)
        if noise is None:
            if draw() < accuracy:
                return truth, accuracy
            off = scale.one if draw("up") < 0.5 else -scale.one
            if not scale.low <= truth + off <= scale.high:
                off = -off
            return simulated_rating(scale, truth + off, 0.0, 0.0, 0.5), accuracy
        from scipy.stats import norm

        value = simulated_rating(scale, truth, noise, bias, draw("noise"))
        half = 0.5 if scale.ordinal else scale.within
        confidence = float(2 * norm.cdf(half / noise) - 1) if noise > 0 else 1.0
        return value, confidence


RATING = RatingKind("rating", check=check_rating_section, description="a number on an ordinal (named points) or numeric "
                    "scale")


def bias_offsets(task: Any, answers: Sequence[tuple[Any, str, float]]) -> dict[str, float]:
    """Each annotator's bias from ``(item, annotator, rating)`` answers (the project's
    answers so far), for the bias-corrected consensus: :class:`BiasCorrectedRating`."""
    import pandas as pd

    from ..aggregation.ratings import BiasCorrectedRating

    if not answers:
        return {}
    table = pd.DataFrame(list(answers), columns=["item", "annotator", "label"])
    table["item"] = table["item"].map(str)
    table["annotator"] = table["annotator"].map(str)
    return BiasCorrectedRating().fit(table).biases_.to_dict()


__all__ = ["RATING", "RatingKind", "bias_offsets", "scale_from_config", "scale_of"]
