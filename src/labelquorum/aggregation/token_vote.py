"""Token-level vote of spans (named entities) across annotators.

Each annotator's spans on an item become BIO tags over the item's tokens; every token
takes the tag with the most (optionally skill-weighted) votes; the winning tags become
spans again. This is the usual way to aggregate sequence labels from a crowd (e.g. the
token-level majority vote baseline of Rodrigues, Pereira & Ribeiro (2014), "Sequence
labeling with multiple annotators"). Tokens and tie rules: :mod:`labelquorum.spans`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator

from ..errors import LabelquorumError
from ..spans import entity_scores, parse_spans, vote_spans
from .base import find_columns, sorted_ids


class TokenVoteSpans(BaseEstimator):
    """``TokenVoteSpans().fit(judgements, texts)``; then ``labels_`` (item -> tuple of
    ``(start, end, type)``), ``confidence_`` and ``agreement_`` (item -> float), and
    ``skills_`` (annotator -> entity-level micro F1 of its answers against the consensus).
    Item and annotator ids keep the caller's types.

    ``judgements`` is the long table (``item, annotator, label``; the label is a span list
    or its JSON text, ``[]`` for "no entities"; a missing label is no answer). The last row
    of an (item, annotator) pair wins. ``texts`` maps each item to its text.

    Parameters
    ----------
    weights : mapping of annotator -> weight, optional
        Skill weights of the vote (default: one vote each); annotators are matched as text.
    labels : list of str, optional
        The entity types allowed; by default any type is accepted.
    """

    def __init__(self, weights: Mapping[str, float] | None = None,
                 labels: list[str] | None = None):
        self.weights = weights
        self.labels = labels

    def fit(self, judgements: pd.DataFrame, texts: Mapping[Any, str] | pd.Series
            ) -> TokenVoteSpans:
        if not isinstance(judgements, pd.DataFrame):
            raise LabelquorumError(f"expected a pandas DataFrame of judgements, got "
                                   f"{type(judgements).__name__}")
        weights = {str(a): w for a, w in dict(self.weights or {}).items()}
        bad = {a: w for a, w in weights.items() if not w > 0}
        if bad:
            raise LabelquorumError(f"weights must be positive; got {bad}")
        item_col, worker_col, label_col = find_columns(judgements)
        df = judgements[judgements[label_col].notna()]
        df = df.drop_duplicates([item_col, worker_col], keep="last")
        if df.empty:
            raise LabelquorumError("the judgement table has no labelled rows")
        texts = dict(texts.items()) if hasattr(texts, "items") else None
        if texts is None:
            raise LabelquorumError("texts must map each item id to its text (a dict or a "
                                   "pandas Series indexed by item)")
        per_item: dict[Any, list[tuple[str, tuple]]] = {}
        for item, worker, raw in zip(df[item_col], df[worker_col], df[label_col]):
            if item not in texts:
                raise LabelquorumError(f"item {item!r} has judgements but no text; pass every "
                                       "judged item's text")
            text = str(texts[item])
            labels = self.labels
            try:
                spans = parse_spans(raw, labels if labels is not None else _AnyType(), text)
            except LabelquorumError as exc:
                raise LabelquorumError(f"item {item!r}, annotator {worker!r}: {exc}") from None
            per_item.setdefault(item, []).append((worker, spans))
        out, conf, agree = {}, {}, {}
        for item, answers in per_item.items():
            w = [weights.get(str(worker), 1.0) for worker, _ in answers]
            out[item], conf[item], agree[item] = vote_spans(
                str(texts[item]), [s for _, s in answers], w)
        given: dict[Any, tuple[list, list]] = {}
        for item, answers in per_item.items():
            for worker, spans in answers:
                mine, consensus = given.setdefault(worker, ([], []))
                mine.append(spans)
                consensus.append(out[item])
        workers = sorted_ids(pd.Series(list(given)))[1]
        self.skills_ = pd.Series(
            [float(entity_scores(c, m).loc["micro", "f1"]) if any(c) or any(m) else 1.0
             for m, c in (given[w] for w in workers)], index=workers.rename("annotator"),
            name="skill", dtype=float)
        index = pd.Index(list(out), name="item")
        self.labels_ = pd.Series(list(out.values()), index=index, name="label", dtype=object)
        self.confidence_ = pd.Series(list(conf.values()), index=index, name="confidence")
        self.agreement_ = pd.Series(list(agree.values()), index=index, name="agreement")
        return self

    def fit_predict(self, judgements: pd.DataFrame, texts) -> pd.Series:
        return self.fit(judgements, texts).labels_


class _AnyType(tuple):
    """A label set that contains every type."""

    def __contains__(self, item: object) -> bool:
        return True
