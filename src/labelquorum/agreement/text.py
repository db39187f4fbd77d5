"""Similarity of free-text answers: token F1 after normalisation, as SQuAD scores answers.

Why token F1: the answers the free-text kind collects are short (an answer, a rewrite, a
summary of a few sentences), and SQuAD's token-overlap F1 (Rajpurkar et al., 2016) is the
measure practitioners read for short answers: it rewards partial overlap, ignores word
order and needs no model or dependency (chrF would need sacrebleu, and scores character
n-grams that reward shared word stems between different answers).

Normalisation, applied to both texts before comparing (as the SQuAD evaluation script
does, widened to every script):

1. Unicode NFKC (full-width letters fold to their usual form), then lower case;
2. every punctuation character (Unicode category ``P*``) is removed, so ``Eiffel-Tower``
   becomes ``eiffeltower`` and ``«Ça va?»`` becomes ``ça va``;
3. the English articles ``a``, ``an``, ``the`` are dropped as words;
4. the text is split on white space.

Limits: words are found by white space, so a language written without spaces (Chinese,
Japanese, Thai) compares whole phrases; articles are dropped in English only.

=========================== =================================================
:func:`normalize`             the normalised text (tokens joined by one space)
:func:`token_f1`              F1 of the two answers' token bags, in [0, 1]
:func:`exact_match`           equal after normalisation
:func:`mean_pairwise_f1`      mean token F1 over every pair of answers
=========================== =================================================
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from collections.abc import Sequence
from itertools import combinations

ARTICLES = frozenset({"a", "an", "the"})


@functools.cache
def _punctuation() -> dict[int, None]:
    """Every punctuation code point (Unicode category P*) of the Basic Multilingual Plane,
    for ``str.translate`` to delete; built on first use (a few milliseconds)."""
    return dict.fromkeys(c for c in range(0x10000)
                         if unicodedata.category(chr(c)).startswith("P"))


def tokens(text: str) -> list[str]:
    """The normalised tokens of a text (see the module docstring)."""
    text = unicodedata.normalize("NFKC", str(text)).lower().translate(_punctuation())
    if text and max(text) > "\uffff":  # beyond the BMP: punctuation there too, one by one
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return [w for w in text.split() if w not in ARTICLES]


def normalize(text: str) -> str:
    """The text after normalisation: its tokens joined by one space."""
    return " ".join(tokens(text))


def token_f1(a: str, b: str) -> float:
    """F1 between the token bags of two answers (shared tokens counted with multiplicity).
    Symmetric; 1.0 for two answers that both normalise to nothing, 0.0 when only one does."""
    ta, tb = tokens(a), tokens(b)
    if not ta or not tb:
        return float(ta == tb)
    common = sum((Counter(ta) & Counter(tb)).values())
    if not common:
        return 0.0
    precision, recall = common / len(ta), common / len(tb)
    return 2 * precision * recall / (precision + recall)


def exact_match(a: str, b: str) -> bool:
    """Whether two answers are equal after normalisation."""
    return tokens(a) == tokens(b)


def mean_pairwise_f1(answers: Sequence[str]) -> float:
    """The mean token F1 over every pair of answers (1.0 for fewer than two answers)."""
    pairs = list(combinations(answers, 2))
    if not pairs:
        return 1.0
    return sum(token_f1(a, b) for a, b in pairs) / len(pairs)


__all__ = ["ARTICLES", "exact_match", "mean_pairwise_f1", "normalize", "token_f1", "tokens"]
