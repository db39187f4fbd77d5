"""Each item's language, recorded once in ``items.language`` for per-language trust.

An item's language comes from the input (``task.language_field``, or a ``language``
column) when it gave one; otherwise py3langid (the ``quality`` extra) tells it at the first
run whose policy uses per-language trust. py3langid reads about 4,000 short texts a second
on one core, so it is not run at import (a million-item import would take minutes instead
of seconds), and not on every item at once: the gold items are detected first, and the
rest only when the gold holds two languages or more (a one-language project never pays
for detecting its items). Undetermined texts are stored as ``und``, so nothing is detected
twice; NULL means not looked at yet.
"""

from __future__ import annotations

import json

from sqlalchemy import bindparam, func, select, update

from ..errors import MissingExtraError
from ..store import Store, schema
from ..task import Task

CHUNK = 5_000  # items read, detected and written at a time
UNDETERMINED = "und"


def record_languages(store: Store, task: Task) -> str | None:
    """Detect and store the languages of items that have none; a note for the run's
    report when they cannot be detected (py3langid missing), else None."""
    it = schema.items
    pid = store.project_id
    missing = (it.c.project_id == pid) & it.c.language.is_(None)
    with store.connect() as conn:
        gold_missing = conn.execute(select(func.count()).select_from(it).where(
            missing & it.c.gold.is_not(None))).scalar()
        any_missing = gold_missing or conn.execute(
            select(it.c.id).where(missing).limit(1)).first() is not None
    if not any_missing:
        return None
    try:
        from ..quality.language import identifier

        identifier()
    except MissingExtraError:
        return ("per-language trust: items without a language in the input cannot have it "
                "detected because py3langid is not installed; they count as one language. "
                "Install it with pip install 'labelquorum[quality]', or import a language "
                "column (task.language_field).")
    if gold_missing:
        _detect(store, task, missing & it.c.gold.is_not(None))
    if len(gold_languages(store)) >= 2:
        _detect(store, task, missing)
    return None


def gold_languages(store: Store) -> dict[str, int]:
    """Gold items per language (``und`` and unknown left out) that count: at least two
    items and 1 % of them, so one misdetected short text does not make a set bilingual."""
    from ..quality.rubric import counted_languages

    it = schema.items
    with store.connect() as conn:
        rows = conn.execute(select(it.c.language, func.count()).where(
            (it.c.project_id == store.project_id) & it.c.gold.is_not(None)
            & it.c.language.is_not(None) & (it.c.language != UNDETERMINED))
            .group_by(it.c.language)).all()
    return counted_languages({str(k): int(v) for k, v in rows})


def _detect(store: Store, task: Task, where) -> None:
    from ..quality.language import detect_languages

    it = schema.items
    stmt = (update(it).where((it.c.project_id == store.project_id)
                             & (it.c.id == bindparam("item")))
            .values(language=bindparam("lang")))
    while True:
        with store.connect() as conn:
            rows = conn.execute(select(it.c.id, it.c.fields).where(where)
                                .order_by(it.c.seq).limit(CHUNK)).all()
        if not rows:
            return
        texts = [str(json.loads(f).get(task.text_field) or "") for _, f in rows]
        found = detect_languages(texts, ids=[i for i, _ in rows])["language"]
        with store.begin() as conn:
            conn.execute(stmt, [{"item": i, "lang": lang or UNDETERMINED}
                                for i, lang in found.items()])
