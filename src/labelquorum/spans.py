"""Spans (named entities): values, alignment, token vote and entity-level scores.

A span value is a tuple of ``(start, end, type)`` triples: character offsets into the
item's text field (``end`` exclusive, Python slicing) and an entity type from the task's
label set. The canonical form is sorted by ``(start, end, type)`` without repeats; its text
form (:func:`to_text`) is compact JSON, ``[[0,5,"PER"],[10,15,"LOC"]]``, which is what the
judgement table's ``label`` column and the export hold. ``[]`` means "no entities" and is
an answer, not an abstention.

Three things live here:

* :func:`align_entities` turns an LLM's entity list (surface text, type) into offsets.
* :func:`vote_spans` is the token-level vote over several annotators' spans (used by
  policies and by :class:`labelquorum.aggregation.TokenVoteSpans`).
* :func:`entity_scores` is entity-level precision, recall and F1 (exact match of start,
  end and type), micro and per type.

Tokens are ``\\w+`` runs and single other non-space characters (so ``U.S.`` is four tokens
and ``Apple Inc.`` three); a span covers every token it overlaps. The vote is over BIO tags,
so two adjacent entities of the same type stay two entities when most annotators say so.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import LabelquorumError

Span = tuple[int, int, str]
TOKEN = re.compile(r"\w+|[^\w\s]")


# -- values --------------------------------------------------------------------------------
def canonical(spans: Iterable[Sequence[Any]]) -> tuple[Span, ...]:
    """Spans sorted by (start, end, type), repeats removed."""
    return tuple(sorted({(int(s), int(e), str(t)) for s, e, t in spans}))


def to_text(spans: Iterable[Sequence[Any]]) -> str:
    """The canonical text form: ``[[0,5,"PER"]]`` (compact JSON, sorted)."""
    return json.dumps([list(s) for s in canonical(spans)], separators=(",", ":"),
                      ensure_ascii=False)


def parse_spans(raw: Any, labels: Sequence[str], text: str | None = None) -> tuple[Span, ...]:
    """A span value from its stored or imported form; raise :class:`LabelquorumError`.

    Accepted: JSON text or a list of ``[start, end, type]`` triples or of objects
    ``{"start": .., "end": .., "label": ..}`` (``type`` is accepted for ``label``; an optional
    ``text`` must equal the covered text). With ``text`` given, offsets must lie inside it.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError as exc:
            raise LabelquorumError(f"spans are not valid JSON ({exc.msg} at column "
                                   f"{exc.colno}); expected a list like "
                                   '[{"start": 0, "end": 5, "label": "PER"}]') from None
    if hasattr(raw, "tolist") and not isinstance(raw, (str, bytes)):  # numpy arrays (Parquet)
        raw = raw.tolist()
    if not isinstance(raw, (list, tuple)):
        raise LabelquorumError(f"spans must be a list of entities; found "
                               f"{type(raw).__name__} {raw!r}")
    out = []
    for n, ent in enumerate(raw, start=1):
        out.append(_one_span(ent, n, labels, text))
    return canonical(out)


def _one_span(ent: Any, n: int, labels: Sequence[str], text: str | None) -> Span:
    where = f"entity {n}"
    surface = None
    if isinstance(ent, Mapping):
        missing = [k for k in ("start", "end") if k not in ent]
        kind = ent.get("label", ent.get("type"))
        if kind is None:
            missing.append("label")
        if missing:
            raise LabelquorumError(f"{where} has no {', '.join(missing)}; each entity needs "
                                   "start, end and label, like "
                                   '{"start": 0, "end": 5, "label": "PER"}')
        start, end, surface = ent["start"], ent["end"], ent.get("text")
    elif isinstance(ent, (list, tuple)) and len(ent) == 3:
        start, end, kind = ent
    else:
        raise LabelquorumError(f"{where} is {ent!r}; expected an object with start, end and "
                               "label, or a [start, end, label] triple")
    whole = all((isinstance(v, (int, np.integer)) and not isinstance(v, bool))
                or (isinstance(v, float) and v.is_integer()) for v in (start, end))
    if not whole:
        raise LabelquorumError(f"{where}: start and end must be whole numbers (character "
                                   f"offsets); found {start!r} and {end!r}")
    start, end, kind = int(start), int(end), str(kind)
    if not 0 <= start < end:
        raise LabelquorumError(f"{where}: offsets {start}..{end} are not a non-empty range; "
                               "need 0 <= start < end (end is exclusive)")
    if text is not None and end > len(text):
        raise LabelquorumError(f"{where}: end {end} is past the end of the text "
                               f"({len(text)} characters)")
    if kind not in labels:
        raise LabelquorumError(f"{where}: type {kind!r} is not in the task's label set "
                               f"({', '.join(labels)}); add it under [[task.labels]] in "
                               "labelquorum.toml or fix the data")
    if text is not None and surface is not None and text[start:end] != surface:
        raise LabelquorumError(f"{where}: text {surface!r} does not match the text at "
                               f"{start}..{end}, {text[start:end]!r}; fix the offsets")
    return start, end, kind


def segments(text: str, spans: Iterable[Sequence[Any]]) -> list[tuple[str, str | None]]:
    """``text`` cut into consecutive pieces, each with the type of the entity it is, or
    None between entities; joined, the pieces are ``text``. For showing spans as marks; a
    span overlapping an earlier one is shown from where the earlier one ends."""
    out: list[tuple[str, str | None]] = []
    at = 0
    for start, end, kind in canonical(spans):
        start, end = max(start, at), min(end, len(text))
        if start >= end:
            continue
        if start > at:
            out.append((text[at:start], None))
        out.append((text[start:end], kind))
        at = end
    if at < len(text):
        out.append((text[at:], None))
    return out


# -- alignment -----------------------------------------------------------------------------
def _pattern(surface: str) -> re.Pattern[str] | None:
    words = surface.split()
    if not words:
        return None
    body = r"\s+".join(re.escape(w) for w in words)
    before = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
    after = r"(?!\w)" if re.search(r"\w$", words[-1]) else ""
    return re.compile(before + body + after, re.IGNORECASE)


def align_entities(text: str, entities: list[tuple[str, str]]
                   ) -> tuple[list[tuple[int, int, str]], list[tuple[str, str]]]:
    """Align entities given as ``(surface text, type)`` to character offsets in ``text``.

    Matching ignores case and treats any run of whitespace as one space; a match must start
    and end at word boundaries (``"Paris"`` does not match inside ``"Parisian"``).

    Repeated mentions: when the same surface and type is listed ``k`` times and occurs
    ``n`` times in the text, ``k == 1`` tags **every** occurrence (an LLM usually names an
    entity once); ``k > 1`` maps the listings to the first ``k`` occurrences in order, and
    listings beyond ``n`` are rejected. Longer surfaces are placed first and an occurrence
    overlapping an already placed span is skipped, so ``"New York"`` wins over ``"York"``.

    Returns ``(spans, rejected)``: the canonical spans, and the entities (as given) that
    match nowhere, are empty or malformed, or found every occurrence taken. Types are not
    checked against a label set here; the caller does that.
    """
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    rejected: list[tuple[str, str]] = []
    for ent in entities:
        surface, kind = ent if isinstance(ent, (list, tuple)) and len(ent) == 2 else (None, None)
        if not isinstance(surface, str) or not isinstance(kind, str) or not surface.strip() \
                or not kind.strip():
            rejected.append(ent)
            continue
        key = (" ".join(surface.split()).casefold(), kind)
        groups.setdefault(key, []).append(ent)
    taken = np.zeros(len(text) + 1, dtype=bool)
    spans: list[Span] = []
    for (norm, kind), given in sorted(groups.items(), key=lambda kv: -len(kv[0][0])):
        pattern = _pattern(given[0][0])  # the surface as given: casefold may change length
        free = [(m.start(), m.end()) for m in pattern.finditer(text)
                if not taken[m.start():m.end()].any()]
        wanted = free if len(given) == 1 else free[:len(given)]
        if not wanted:
            rejected += given
            continue
        rejected += given[len(wanted):] if len(given) > 1 else []
        for start, end in wanted:
            taken[start:end] = True
            spans.append((start, end, kind))
    return list(canonical(spans)), rejected


def align_typed_entities(text: str, entities: list[tuple[str, str]], labels: Sequence[str]
                         ) -> tuple[list[tuple[int, int, str]], list[tuple[str, str]]]:
    """:func:`align_entities` for a task: entities whose type is not in ``labels`` are
    rejected first (one bad entity does not fail the whole answer)."""
    known = [e for e in entities if isinstance(e, (list, tuple)) and len(e) == 2
             and e[1] in labels]
    unknown = [e for e in entities if not (isinstance(e, (list, tuple)) and len(e) == 2
                                           and e[1] in labels)]
    spans, rejected = align_entities(text, known)
    return spans, unknown + rejected


# -- token vote ----------------------------------------------------------------------------
def tokenize(text: str) -> list[tuple[int, int]]:
    """Token offsets: ``\\w+`` runs and single non-space, non-word characters."""
    return [m.span() for m in TOKEN.finditer(text)]


def _sparse_tags(tokens: Sequence[tuple[int, int]], ends: list[int],
                 spans: Iterable[Span]) -> dict[int, str]:
    """The non-``O`` BIO tags by token index (``ends``: the tokens' end offsets)."""
    tags: dict[int, str] = {}
    for start, end, kind in canonical(spans):
        i, first = bisect.bisect_right(ends, start), True  # first token ending after start
        while i < len(tokens) and tokens[i][0] < end:
            if i not in tags:
                tags[i] = ("B-" if first else "I-") + kind
                first = False
            i += 1
    return tags


def spans_to_tags(tokens: Sequence[tuple[int, int]], spans: Iterable[Span]) -> list[str]:
    """BIO tags per token; a span tags every token it overlaps (an earlier span wins)."""
    tags = ["O"] * len(tokens)
    for i, tag in _sparse_tags(tokens, [e for _, e in tokens], spans).items():
        tags[i] = tag
    return tags


def _spans_of(tokens: Sequence[tuple[int, int]], tags: dict[int, str]) -> tuple[Span, ...]:
    out: list[list[Any]] = []
    last = -2
    for i in sorted(tags):
        tag = tags[i]
        prefix, kind = tag[:2], tag[2:]
        if prefix == "I-" and last == i - 1 and out[-1][2] == kind:
            out[-1][1] = tokens[i][1]
        else:
            out.append([tokens[i][0], tokens[i][1], kind])
        last = i
    return canonical(out)


def tags_to_spans(tokens: Sequence[tuple[int, int]], tags: Sequence[str]) -> tuple[Span, ...]:
    """Spans from BIO tags; an ``I-X`` that does not follow ``B-X``/``I-X`` starts an entity."""
    return _spans_of(tokens, {i: tag for i, tag in enumerate(tags) if tag != "O"})


def vote_spans(text: str, answers: Sequence[Iterable[Span]],
               weights: Sequence[float] | None = None) -> tuple[tuple[Span, ...], float, float]:
    """Token-level (optionally weighted) vote of several annotators' spans on one text.

    Each answer becomes BIO tags per token; each token takes the tag with the most weight
    (ties: ``O`` first, then ``B-`` before ``I-``, then type name, so the result does not
    depend on annotator order); the tags become spans again. Returns ``(spans,
    confidence, agreement)``: confidence is the mean winning weight share over the tokens
    that any annotator tagged (1.0 when none did); agreement is the share of answers whose
    spans (aligned to tokens) equal the consensus exactly. With no answers: ``((), 0, 0)``.
    """
    answers = [canonical(a) for a in answers]
    if not answers:
        return (), 0.0, 0.0
    w = [1.0] * len(answers) if weights is None else [float(x) for x in weights]
    total = sum(w)
    tokens = tokenize(text)
    ends = [e for _, e in tokens]
    tagged = [_sparse_tags(tokens, ends, a) for a in answers]
    result: dict[int, str] = {}
    shares = []
    for t in sorted(set().union(*tagged)):  # tokens nobody tagged stay O, unanimously
        score: dict[str, float] = {}
        for tags, weight in zip(tagged, w):
            tag = tags.get(t, "O")
            score[tag] = score.get(tag, 0.0) + weight
        best = min(score, key=lambda tag: (-score[tag], tag != "O", tag[:2] != "B-", tag))
        if best != "O":
            result[t] = best
        shares.append(score[best] / total)
    spans = _spans_of(tokens, result)
    confidence = sum(shares) / len(shares) if shares else 1.0
    agreement = sum(_spans_of(tokens, tags) == spans for tags in tagged) / len(tagged)
    return spans, float(confidence), float(agreement)


# -- scores --------------------------------------------------------------------------------
def entity_scores(gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[Span]],
                  types: Sequence[str] | None = None) -> pd.DataFrame:
    """Entity-level precision, recall and F1: a predicted span counts only when its start,
    end and type all equal a gold span's on the same item.

    ``gold`` and ``predicted`` are aligned sequences (one span collection per item).
    Returns one row per type (``types``, or every type seen, sorted), then ``micro``
    (pooled counts over those types) and ``macro`` (mean of the per-type scores), with
    columns ``precision, recall, f1, tp, predicted, gold``. A ratio with a zero
    denominator is 0.0.
    """
    if len(gold) != len(predicted):
        raise LabelquorumError(f"gold has {len(gold)} items and predictions {len(predicted)}; "
                               "give one span list per item for both")
    tp: dict[str, int] = {}
    n_pred: dict[str, int] = {}
    n_gold: dict[str, int] = {}
    for g, p in zip(gold, predicted):
        g, p = set(canonical(g)), set(canonical(p))
        for _, _, kind in g:
            n_gold[kind] = n_gold.get(kind, 0) + 1
        for _, _, kind in p:
            n_pred[kind] = n_pred.get(kind, 0) + 1
        for _, _, kind in g & p:
            tp[kind] = tp.get(kind, 0) + 1
    names = list(types) if types is not None else sorted(set(n_gold) | set(n_pred))
    rows = {k: _prf(tp.get(k, 0), n_pred.get(k, 0), n_gold.get(k, 0)) for k in names}
    rows["micro"] = _prf(sum(tp.get(k, 0) for k in names), sum(n_pred.get(k, 0) for k in names),
                         sum(n_gold.get(k, 0) for k in names))
    per_type = [rows[k] for k in names]
    rows["macro"] = {m: float(np.mean([r[m] for r in per_type])) if per_type else 0.0
                     for m in ("precision", "recall", "f1")} | {
        c: rows["micro"][c] for c in ("tp", "predicted", "gold")}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "type"
    return out[["precision", "recall", "f1", "tp", "predicted", "gold"]]


def _prf(tp: int, pred: int, gold: int) -> dict[str, float]:
    p = tp / pred if pred else 0.0
    r = tp / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "predicted": pred, "gold": gold}
