"""Projects full of real data for the reviewer's pages: one per task kind.

:func:`populated` builds a project whose model (a replay annotator reading a CSV, kind
``model``) is unsure of every item, so every item goes to two people; two people answer
(and disagree), one flags an item with a comment, golden questions are mixed in and
answered, and a reviewer decides one item. A third person, ``cat``, still has work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from helpers import Session, add_users

from labelquorum import init_project

CONFIG = """
[project]
name = "pages-{kind}"
seed = 0
media_root = "media"

[task]
kind = "{kind}"
guidelines = "Label what the text says."
fields = ["text"]
text_field = "text"
{labels}

[annotators.tagger]
type = "replay"
path = "tagger.csv"
kind = "model"

[annotators.people]
type = "human"
overlap = 2
cost_per_hour = 30.0

[policy]
type = "cascade"
aggregator = "majority"

[[policy.tiers]]
name = "models"
annotators = ["tagger"]
min_confidence = 0.99
min_votes = 2

[[policy.tiers]]
name = "people"
annotators = ["people"]

[web]
gold_rate = 0.3
gold_min_answers = 1
accuracy_threshold = 0.7
public_url = "http://127.0.0.1:8000"
"""

LABELS = {"classification": ("pos", "neg", "neutral"),
          "multilabel": ("red", "green", "blue"),
          "spans": ("PER", "LOC")}
SPAN_TEXTS = ["Alice met Bob in Paris.", "Carol flew to Rome with Dan.",
              "Erin lives in Oslo.", "Frank and Grace saw Lima.",
              "Hugo visited Kyiv.", "Ivan wrote from Quito."]
USERS = {"ann": "annotator", "bob": "annotator", "cat": "annotator", "rev": "reviewer",
         "adm": "admin"}


def _texts(kind: str, n: int) -> list[str]:
    if kind == "spans":
        return [SPAN_TEXTS[i % len(SPAN_TEXTS)] + ("" if i < len(SPAN_TEXTS) else f" ({i})")
                for i in range(n)]
    return [f"review text number {i}: {'good' if i % 2 else 'bad'} service" for i in range(n)]


def first_word_spans(text: str, kind: str = "PER") -> list[list]:
    """The first word of ``text`` as one entity: [[0, len, kind]]."""
    end = text.index(" ")
    return [[0, end, kind]]


def answer_for(kind: str, person: str, i: int, text: str):
    """Two people who disagree on every other item."""
    labels = LABELS[kind]
    flip = person == "bob" and i % 2 == 0
    if kind == "classification":
        return labels[1] if flip else labels[0]
    if kind == "multilabel":
        return [labels[0], labels[2]] if flip else [labels[0]]
    return first_word_spans(text, "LOC" if flip else "PER")


def model_label(kind: str, text: str) -> str:
    if kind == "classification":
        return "neg"
    if kind == "multilabel":
        return "green"
    return json.dumps(first_word_spans(text, "PER"))


def populated(root: Path, kind: str, *, n: int = 8, control: int = 2, app_factory=None):
    """(project, app) with real answers, flags, gold and a review, for ``kind``."""
    from labelquorum.web import create_app

    labels = LABELS[kind]
    label_toml = "\n".join(f'[[task.labels]]\nname = "{lab}"\ndescription = "about {lab}"\n'
                           for lab in labels)
    p = init_project(root, config_text=CONFIG.format(kind=kind, labels=label_toml))
    texts = _texts(kind, n)
    ids = [f"i{i:04d}" for i in range(n)]
    pd.DataFrame({"item": ids, "annotator": "tagger",
                  "label": [model_label(kind, t) for t in texts],
                  "confidence": 0.6}).to_csv(p.path / "tagger.csv", index=False)
    gold = []
    for i, t in enumerate(texts):
        if i >= control:
            gold.append(None)
        elif kind == "spans":
            gold.append(json.dumps(first_word_spans(t)))
        elif kind == "multilabel":
            gold.append(labels[0])
        else:
            gold.append(labels[0])
    p.import_dataframe(pd.DataFrame({"id": ids, "text": texts, "gold": gold}), id_column="id",
                       gold_column="gold", gold_role="control", split=f"control={control}")
    p.run()
    add_users(p, USERS)
    app = (app_factory or create_app)(p)
    by_text = dict(zip(texts, range(n)))
    for person, keep in (("ann", 0), ("bob", 2)):
        s = Session(app, person)
        answered = 0
        while (item := s.next()) is not None:
            i = by_text[item["fields"]["text"]]
            if person == "ann" and answered == 0:
                s.post("/api/comment", json={"id": item["id"], "flag": True,
                                             "text": "the text looks cut off"})
            if keep and i >= n - keep:  # left for cat
                s.post("/api/skip", json={"id": item["id"]})
                continue
            r = s.post("/api/submit", json={"id": item["id"], "seconds": 3.0,
                                            "label": answer_for(kind, person, i, item["fields"]["text"])})
            assert r.status_code == 200, r.text
            answered += 1
    p.run()
    return p, app
