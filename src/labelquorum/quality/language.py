"""Languages: each item's language, and each annotator's accuracy per language on gold.

Jadhav et al. found LLMs 10–14 points below a fine-tuned BERT on Marathi: an annotator good
in English can be weak in another language, and an overall accuracy hides it. So each
item's language is detected with py3langid (the ``quality`` extra; a fork of langid.py
whose naive-Bayes model, 97 languages, ships inside the wheel — nothing is downloaded), and
accuracy on gold is scored per annotator *and* language with a Wilson interval.
:func:`untrusted_languages` names the languages where an annotator is shown to be weak (the
whole interval below a bar), for a policy to stop trusting it there.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..aggregation.base import label_text
from ..errors import MissingExtraError, QualityError
from .golden import wilson_interval
from .theta import same_label

UNDETERMINED = "und"  # ISO 639-2 for "undetermined", the row of items without a language
_IDENTIFIER = None
_LOCK = threading.Lock()


def identifier():
    global _IDENTIFIER
    with _LOCK:
        if _IDENTIFIER is None:
            try:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier
            except ImportError:
                raise MissingExtraError("Language detection", "quality", "py3langid") from None
            _IDENTIFIER = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _IDENTIFIER


def known_languages() -> list[str]:
    """The ISO 639-1 codes py3langid can tell apart."""
    return sorted(identifier().labels)


def detect_languages(texts: Sequence[str], *, ids: Sequence[Any] | None = None,
                     languages: Sequence[str] | None = None,
                     min_confidence: float = 0.5) -> pd.DataFrame:
    """Per text, ``language`` (an ISO 639-1 code, or None) and ``confidence`` in [0, 1].

    ``languages`` restricts the candidates (the probabilities are renormalised over them),
    which helps on short texts when the project knows its languages. A text without a
    letter, or whose best language is less likely than ``min_confidence``, gets None."""
    if not (isinstance(min_confidence, (int, float)) and 0.0 <= min_confidence <= 1.0):
        raise QualityError(f"min_confidence must be a probability in [0, 1]; got "
                           f"{min_confidence!r}.")
    texts = ["" if t is None else str(t) for t in texts]
    if ids is not None and len(ids) != len(texts):
        raise QualityError(f"ids must give one id per text; got {len(ids)} ids for "
                           f"{len(texts)} texts.")
    ident = identifier()
    allowed = None
    if languages is not None:
        allowed = {str(code) for code in languages}
        unknown = sorted(allowed - set(ident.labels))
        if unknown:
            raise QualityError(f"unknown language code(s) {', '.join(unknown)}; py3langid "
                               f"knows: {', '.join(sorted(ident.labels))}.")
    out_lang, out_conf = [], []
    for text in texts:
        if not any(ch.isalpha() for ch in text):
            out_lang.append(None)
            out_conf.append(0.0)
            continue
        ranked = ident.rank(text)
        if allowed is not None:
            ranked = [(code, p) for code, p in ranked if code in allowed]
            total = sum(p for _, p in ranked) or 1.0
            ranked = [(code, p / total) for code, p in ranked]
        code, p = ranked[0]
        out_lang.append(code if p >= min_confidence else None)
        out_conf.append(float(np.clip(p, 0.0, 1.0)))
    index = pd.Index(list(ids) if ids is not None else range(len(texts)), name="item")
    return pd.DataFrame({"language": pd.Series(out_lang, index=index, dtype=object),
                         "confidence": out_conf}, index=index)


def language_accuracy(judgements: pd.DataFrame, gold: Mapping[Any, Any],
                      languages: Mapping[Any, str | None], z: float = 1.959964) -> pd.DataFrame:
    """Each annotator's accuracy on gold per language: rows (annotator, language) with
    ``n, correct, accuracy, low, high`` (Wilson interval, 95 % by default). Items without a
    language count under ``und``; items without gold are ignored."""
    missing = [c for c in ("item", "annotator", "label") if c not in judgements.columns]
    if missing:
        raise QualityError(f"language_accuracy needs the columns item, annotator, label; "
                           f"{', '.join(missing)} missing.")
    gold_t = {label_text(k): v for k, v in gold.items()}
    lang_t = {label_text(k): v for k, v in languages.items()}
    rows = judgements[judgements["label"].notna()]
    counts: dict[tuple[Any, str], list[int]] = {}
    for item, who, label in zip(rows["item"].map(label_text), rows["annotator"], rows["label"]):
        if item not in gold_t:
            continue
        lang = lang_t.get(item) or UNDETERMINED
        cell = counts.setdefault((who, lang), [0, 0])
        cell[0] += 1
        cell[1] += same_label(label, gold_t[item])
    records = []
    for (who, lang), (n, k) in sorted(counts.items(), key=lambda kv: (str(kv[0][0]),
                                                                       kv[0][1])):
        low, high = wilson_interval(k, n, z)
        records.append((who, lang, n, k, k / n, low, high))
    table = pd.DataFrame(records, columns=["annotator", "language", "n", "correct", "accuracy",
                                           "low", "high"])
    return table.set_index(["annotator", "language"])


def untrusted_languages(table: pd.DataFrame, min_accuracy: float,
                        min_answers: int = 1) -> dict[Any, list[str]]:
    """Per annotator, the languages where its accuracy is shown to be below
    ``min_accuracy``: at least ``min_answers`` gold answers and the whole Wilson interval
    below the bar. An annotator with no such language is absent."""
    if not 0.0 < min_accuracy <= 1.0:
        raise QualityError(f"min_accuracy must be in (0, 1]; got {min_accuracy!r}.")
    weak = table[(table["n"] >= min_answers) & (table["high"] < min_accuracy)]
    out: dict[Any, list[str]] = {}
    for who, lang in weak.index:
        if lang != UNDETERMINED:
            out.setdefault(who, []).append(lang)
    return out
