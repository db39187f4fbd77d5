"""Reading a recorded task's label set from the options its prompts offered, and a
model's raw output against them (:mod:`labelquorum.recordings.llms_for_css` documents the
rules)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from ..errors import RecordingError

BOOLEAN_LABELS = ("True", "False")
BOOL_ALIASES = {"true": "True", "yes": "True", "false": "False", "no": "False"}
_OPTION = re.compile(r"^\s*([A-Z])\s*:\s*(.+?)\s*$", re.MULTILINE)
_WORD = re.compile(r"\w")
_FIRST_SEGMENT = re.compile(r"^([^.:!\n]+?)\s*[.:!\n]")


def normalise(text: str) -> str:
    """Lower case; quotes, punctuation and ``&`` dropped; whitespace collapsed."""
    text = str(text).replace("&", " ").lower()
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class LabelSet:
    """A task's labels and every spelling that maps to one of them."""

    labels: tuple[str, ...]
    letters: dict[str, str]  # option letter -> label ({} for yes/no tasks)
    aliases: dict[str, str]  # normalised spelling -> label

    @classmethod
    def from_prompt(cls, prompt: str, quoted: str = "") -> LabelSet:
        """The options of ``prompt``. With ``quoted`` (the item's own text, which the prompt
        quotes), an option-like line that is part of that text is not an option: one that
        starts inside an occurrence of it and runs on past it by no more than punctuation
        (a closing quote). A line that only begins with the text (``A: F`` at the start of
        ``A: Favor``) stays an option."""
        inside = _occurrences(prompt, quoted)
        options = [(m.group(1), _option_name(m.group(2))) for m in _OPTION.finditer(prompt)
                   if not any(a <= m.start(1) < b and not _WORD.search(prompt, b, m.end(2))
                              for a, b in inside)]
        if len(options) >= 2:
            letters = dict(options)
            aliases = {normalise(name): name for _, name in options}
            aliases.update({letter.lower(): name for letter, name in options})
            return cls(tuple(name for _, name in options), letters, aliases)
        return cls(BOOLEAN_LABELS, {}, dict(BOOL_ALIASES))

    def match(self, text: str) -> str | None:
        return self.aliases.get(normalise(text))


def _option_name(text: str) -> str:
    """``Article Omission (e.g., '...')`` -> ``Article Omission``."""
    return re.sub(r"\s*\(.*$", "", text).strip()


def parse_output(raw: str, labels: LabelSet) -> tuple[str | None, str | None]:
    """One raw output -> ``(label, None)``, or ``(None, error)`` for a failed call."""
    text = str(raw).replace("&", "").strip()
    if not text:
        return None, "empty output"
    found = labels.match(text)
    if found is not None:
        return found, None
    first = _FIRST_SEGMENT.match(text)
    if first is not None:
        found = labels.match(first.group(1))
        if found is not None:
            return found, None
    shown = text if len(text) <= 60 else text[:57] + "..."
    return None, f"no label of the task in the output {shown!r}"


def _occurrences(text: str, part: str) -> list[tuple[int, int]]:
    """Spans of the non-overlapping occurrences of ``part`` in ``text`` (none for ``""``)."""
    spans, at = [], text.find(part) if part else -1
    while at >= 0:
        spans.append((at, at + len(part)))
        at = text.find(part, at + len(part))
    return spans


def _shown(labels: LabelSet) -> str:
    return ", ".join(labels.labels)


def item_label_sets(name: str, items: pd.DataFrame) -> list[LabelSet]:
    """One label set per item, read from the options of the item's own prompt. Every
    prompt of a task must offer the same options (by name, after normalisation); their
    letters, order and descriptions may differ by item. The labels keep the first item's
    order and spelling; an item's letters stay its own."""
    cache: dict[tuple[str, str], LabelSet] = {}
    sets = []
    for prompt, text in zip(items["prompt"], items["text"]):
        # the item's text matters only where it has option-like lines the prompt quotes
        quoted = text if _OPTION.search(text) and text in prompt else ""
        if (prompt, quoted) not in cache:
            cache[prompt, quoted] = LabelSet.from_prompt(prompt, quoted)
        sets.append(cache[prompt, quoted])
    first = sets[0]
    canonical = {normalise(lab): lab for lab in first.labels}
    rebuilt: dict[int, LabelSet] = {id(first): first}
    out = []
    for key, labels in zip(items["item_key"], sets):
        if id(labels) not in rebuilt:
            if sorted(map(normalise, labels.labels)) != sorted(canonical):
                raise RecordingError(
                    f"task {name!r}: items' prompts offer different options: item "
                    f"{items['item_key'].iloc[0]!r} offers {_shown(first)}; item {key!r} "
                    f"offers {_shown(labels)}. The parser needs every prompt of a task to "
                    "offer the same options (their letters, order and descriptions may "
                    "differ); give the items with other options a task name of their own "
                    "in items.csv and predictions.csv.")
            rename = {lab: canonical[normalise(lab)] for lab in labels.labels}
            same = LabelSet(first.labels, {k: rename[v] for k, v in labels.letters.items()},
                            {k: rename[v] for k, v in labels.aliases.items()})
            rebuilt[id(labels)] = first if same == first else same
        out.append(rebuilt[id(labels)])
    return out


__all__ = ["BOOLEAN_LABELS", "BOOL_ALIASES", "LabelSet", "item_label_sets", "normalise",
           "parse_output"]
