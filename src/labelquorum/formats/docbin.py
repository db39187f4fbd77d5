"""spaCy ``DocBin`` files (``.spacy``, what ``spacy train`` reads) for spans tasks; needs
the ``spacy`` extra (only ``spacy.blank``: no pipeline is loaded or downloaded).

Out: one ``Doc`` per item that has a label, its entities the label's spans; the item id
is kept in ``doc.user_data["id"]``. Items from a CoNLL import keep their tokens; others
are cut by spaCy's English tokenizer, and a span that does not fall on token boundaries
is widened to them (``alignment_mode="expand"``); overlapping spans keep the longest.

In: one item per ``Doc`` (id from ``user_data["id"]`` when there is one), ``text`` its
text and its entities the gold spans.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import ExportError, ImportDataError, MissingExtraError

if TYPE_CHECKING:
    from ..project import Project
    from ..task import Task


def _spacy():
    try:
        import spacy
    except ImportError:
        raise MissingExtraError("spaCy DocBin import and export", "spacy", "spacy") from None
    return spacy


def read(path: Path, task: Task) -> pd.DataFrame:
    spacy = _spacy()
    from spacy.tokens import DocBin

    try:
        docs = list(DocBin().from_disk(path).get_docs(spacy.blank("xx").vocab))
    except (OSError, ValueError) as exc:
        raise ImportDataError(f"not a spaCy DocBin file ({exc})", path=str(path)) from None
    rows = []
    for doc in docs:
        row: dict[str, Any] = {"text": doc.text,
                               "entities": [[e.start_char, e.end_char, e.label_]
                                            for e in doc.ents]}
        if doc.user_data.get("id") is not None:
            row["id"] = str(doc.user_data["id"])
        rows.append(row)
    if not rows:
        raise ImportDataError("the file has no documents", path=str(path))
    return pd.DataFrame(rows)


def write(project: Project, path: Path) -> int:
    spacy = _spacy()
    from spacy.tokens import Doc, DocBin
    from spacy.util import filter_spans

    from ..export import export_frame, item_fields
    from .conll import token_offsets

    task = project.task
    nlp = spacy.blank("en")
    labels = export_frame(project, "none").set_index("id")["label"]
    out = DocBin(store_user_data=True)
    written = 0
    for item, row in item_fields(project).iterrows():
        label = labels.get(item)
        if not isinstance(label, str) or label == "":
            continue
        fields = {k: v for k, v in row.items() if isinstance(v, (str, list))}
        text = str(fields.get(task.text_field, ""))
        if isinstance(fields.get("tokens"), list):
            words, offsets = token_offsets(fields, text)
            spaces = [offsets[i][1] < offsets[i + 1][0] for i in range(len(offsets) - 1)]
            doc = Doc(nlp.vocab, words=words, spaces=[*spaces, False]) \
                if words and "".join(w + " " * s for w, s in zip(words, [*spaces, False])) \
                == text else nlp.make_doc(text)
        else:
            doc = nlp.make_doc(text)
        ents = [doc.char_span(s, e, label=t, alignment_mode="expand")
                for s, e, t in task.parse_label(json.loads(label))]
        doc.ents = filter_spans([e for e in ents if e is not None])
        doc.user_data["id"] = item
        out.add(doc)
        written += 1
    try:
        out.to_disk(path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    return written
