"""Prompt-injection flags: item text that addresses the annotator with instructions.

Item text is data, and the LLM prompt says so (:mod:`labelquorum.llm.prompt` delimits it),
but a model may still obey it. So an item whose text reads like instructions to the
annotator is flagged, and policies never accept an LLM answer on a flagged item on its
own: another (non-LLM) annotator must agree, or the item goes on to the next tier and,
at the last, is decided with the flag ``injection`` for review.

The heuristic is a short list of patterns, matched case-insensitively:

* override phrases — "ignore / disregard / forget (all) previous|prior|above
  instructions|prompts|rules";
* role changes — "you are now", "act as", "pretend to be", "from now on you";
* a line starting with a chat role — ``system:``, ``assistant:``, ``### instruction``,
  ``<|im_start|>``, ``[INST]``;
* answer dictation — "answer / respond / reply / output / say / label (this|it) (with|as)
  X", "the (correct) label is", "classify this as".

It errs on the side of flagging: a false flag costs one more opinion, a missed one may
let a crafted item choose its own label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

PATTERNS = {
    "override": r"\b(ignore|disregard|forget|override)\b[^.\n]{0,30}\b(previous|prior|above|"
                r"earlier|all|your|the)\b[^.\n]{0,20}\b(instructions?|prompts?|rules|"
                r"guidelines|directions)",
    "role change": r"\byou are now\b|\bact as\b|\bpretend (to be|you are)\b|"
                   r"\bfrom now on,? you\b|\bnew instructions?\b",
    "chat role": r"(^|\n)\s*(system|assistant|developer)\s*:|###\s*instruction|"
                 r"<\|im_start\|>|\[/?INST\]",
    "answer dictation": r"\b(answer|respond|reply|output|say|label|classify)\b[^.\n]{0,20}"
                        r"\b(with|as)\b\s*[\"'`]?\w+|\bthe (correct |right |true )?"
                        r"(label|answer) (is|should be)\b",
}
_COMPILED = {name: re.compile(p, re.IGNORECASE) for name, p in PATTERNS.items()}


def injection_reasons(text: str) -> list[str]:
    """The names of the patterns ``text`` matches (empty: not flagged)."""
    return [name for name, rx in _COMPILED.items() if rx.search(text or "")]


def flag_injections(texts: Sequence[str]) -> np.ndarray:
    """A boolean flag per text: does it address the annotator with instructions?"""
    return np.fromiter((bool(injection_reasons(t)) for t in texts), dtype=bool,
                       count=len(texts))
