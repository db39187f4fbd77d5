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
    from srsly.msgpack import unpackb

    try:
        docbin = DocBin().from_disk(path)
    except (OSError, ValueError) as exc:
        raise ImportDataError(f"not a spaCy DocBin file ({exc})", path=str(path)) from None
    # user data unpacked here with a plain hook: get_docs would look up srsly's decoder
    # registry once per Doc (slow); only the id is read from it
    packed, docbin.user_data = docbin.user_data, []
    rows = []
    for n, doc in enumerate(docbin.get_docs(spacy.blank("xx").vocab)):
        row: dict[str, Any] = {"text": doc.text,
                               "entities": [[e.start_char, e.end_char, e.label_]
                                            for e in doc.ents]}
        data = unpackb(packed[n], raw=False, object_pairs_hook=dict) if n < len(packed) and \
            packed[n] else {}
        if isinstance(data, dict) and data.get("id") is not None:
            row["id"] = str(data["id"])
        rows.append(row)
    if not rows:
        raise ImportDataError("the file has no documents", path=str(path))
    return pd.DataFrame(rows)


def write(project: Project, path: Path) -> int:
    spacy = _spacy()
    from spacy.tokens import Doc, DocBin
    from spacy.util import filter_spans
    from srsly.msgpack import Packer

    from .conll import labelled_items, token_offsets

    text_field = project.task.text_field
    nlp = spacy.blank("en")
    out = DocBin(store_user_data=False)
    ids = []
    for item, fields, spans in labelled_items(project):
        text = str(fields.get(text_field, ""))
        doc = None
        if isinstance(fields.get("tokens"), list):
            words, offsets = token_offsets(fields, text)
            spaces = [offsets[i][1] < offsets[i + 1][0] for i in range(len(offsets) - 1)]
            if words and "".join(w + " " * s for w, s in zip(words, [*spaces, False])) == text:
                doc = Doc(nlp.vocab, words=words, spaces=[*spaces, False])
        if doc is None:
            doc = nlp.make_doc(text)
        ents = [doc.char_span(s, e, label=t, alignment_mode="expand") for s, e, t in spans]
        doc.ents = filter_spans([e for e in ents if e is not None])
        out.add(doc)
        ids.append(item)
    # the ids as each Doc's user_data, packed with one Packer: DocBin.add packs user data
    # with a new one per Doc, which looks up srsly's encoder registry every time (slow)
    packer = Packer(use_bin_type=True)
    out.store_user_data = True
    out.user_data = [packer.pack({"id": item}) for item in ids]
    try:
        out.to_disk(path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    return len(ids)
