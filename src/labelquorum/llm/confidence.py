"""Confidence from token log-probabilities: the margin between the top two labels.

As in LLM Chain Ensembles (Farr et al.): at the token where the answer's label begins,
the endpoint's ``top_logprobs`` alternatives are mapped to the labels they start (after
the text the token shares with the answer before the label, such as an opening quote);
each label's probability is the sum over the alternatives that start it. The confidence
is the probability of the best label minus that of the second; the per-label
probabilities (mass not seen shared evenly by the labels not seen) are the judgement's
``probs``. When labels share their first token, the first token cannot tell them apart
and the method returns nothing (the caller falls back to another method).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def label_start(content: str, answer: str) -> int:
    """Character offset where the answer's label is written in ``content`` (-1: not found)."""
    quoted = content.find(f'"{answer}"')
    if quoted >= 0:
        return quoted + 1
    return content.lower().find(answer.lower())


def margin_from_logprobs(content: str, answer: str, tokens: list[list[Any]],
                         labels: tuple[str, ...], *,
                         constrained: bool = False) -> tuple[float, np.ndarray] | None:
    """(margin, per-label probabilities) or None when the log-probabilities cannot say.

    ``tokens`` is the compact form ``[[token, logprob, [[alternative, logprob], ...]], ...]``.
    ``constrained``: the log-probabilities come from the model's distribution *before* a
    grammar forced the answer (llama.cpp's ``json_object`` + ``schema`` dialect), so most
    of the mass sits on tokens the grammar forbids and the chosen token may lie below the
    top alternatives. The labels are then compared among themselves (renormalised over the
    alternatives that start a label), and a label not among the alternatives gets the
    smallest listed alternative's probability — an upper bound, so the margin errs low.
    """
    start = label_start(content, answer)
    if start < 0 or not tokens:
        return None
    offset = 0
    for token, logprob, alternatives in tokens:
        end = offset + len(token)
        if end > start:
            break
        offset = end
    else:
        return None
    prefix = content[offset:start]
    folded = [lab.casefold() for lab in labels]
    mass = np.zeros(len(labels))
    seen = np.zeros(len(labels), dtype=bool)
    for alt, alt_lp in alternatives or [[token, logprob]]:
        rest = alt[len(prefix):] if alt.startswith(prefix) else alt.lstrip(' "')
        rest = rest.casefold()
        if not rest.strip():
            continue
        hits = [i for i, lab in enumerate(folded) if lab.startswith(rest) or rest.startswith(lab)]
        if len(hits) > 1:
            if folded.index(answer.casefold()) in hits:
                return None  # the first token cannot tell the answer from another label
            continue
        if hits:
            mass[hits[0]] += math.exp(alt_lp)
            seen[hits[0]] = True
    chosen = folded.index(answer.casefold())
    if not seen[chosen]:
        mass[chosen] += math.exp(logprob)
        seen[chosen] = True
    if constrained:
        others = [lp for alt, lp in alternatives or [] if alt != token] or [logprob]
        mass[~seen] = math.exp(min(others))
        probs = mass / mass.sum()
        top = np.sort(probs)[::-1]
        return float(top[0] - top[1]) if len(top) > 1 else float(top[0]), probs
    mass = np.minimum(mass, 1.0)
    total = mass.sum()
    if total > 1.0:
        mass /= total
    elif (~seen).any():
        mass[~seen] = (1.0 - total) / (~seen).sum()
    probs = mass / mass.sum()
    top = np.sort(probs)[::-1]
    margin = float(top[0] - (top[1] if len(top) > 1 else 0.0))
    return margin, probs
