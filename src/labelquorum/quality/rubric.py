"""The dataset's rubric card: DataRubrics' seven groups as categorical checklists.

DataRubrics (Winata et al., 2025, "Datasheets Aren't Enough: DataRubrics for Automated
Quality Metrics and Accountability", arXiv 2506.01789) reviews a dataset with categorical
checklists — data sources, annotations and guidelines, quality assurance, novelty, task
utility, language coverage, reproducibility — each option marked applicable or not with a
reference and a reasoning. Its authors fill them with an LLM reading the dataset's paper.
Here a labelling project fills them from its *own records*: every selected option carries
evidence that points at a table of the store (``judgements`` by annotator kind,
``reviews``, ``assignments``...), the config (guidelines, label descriptions, few-shot
examples) or a computed figure (agreement, detected languages).

An option the records cannot decide (who wrote the items, what the dataset is for) is
``judged_by: "unanswered"`` and not selected; :mod:`labelquorum.quality.rubric_judge` can
ask one of the project's ``llm`` annotators about those, under a strict JSON schema, and
marks its answers ``judged_by: "model"``. Options that are labelquorum's own practices
rather than DataRubrics' (golden questions, overlap, agreement...) say
``origin: "labelquorum"``.

:data:`RUBRIC_SCHEMA` is the JSON Schema of the card; :func:`fill_rubric` builds it from a
:class:`RecordFacts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rubric_schema import GROUP_IDS, GROUPS, REFERENCE, RUBRIC_SCHEMA

__all__ = ["GROUPS", "GROUP_IDS", "REFERENCE", "RUBRIC_SCHEMA", "RecordFacts", "counted_languages",
           "fill_rubric", "refresh_status"]


@dataclass
class RecordFacts:
    """What the project's records say, gathered once by the report (see
    :func:`labelquorum.quality.report.build_report`)."""

    items: int = 0
    sources: list[str] = field(default_factory=list)  # distinct items.source
    text_field: str = "text"
    image_fields: dict[str, str] = field(default_factory=dict)  # llm annotator -> image_field
    kind_counts: dict[str, int] = field(default_factory=dict)  # ok judgements, not simulated
    kind_annotators: dict[str, list[str]] = field(default_factory=dict)
    simulated: dict[str, int] = field(default_factory=dict)  # annotator -> simulated judgements
    simulated_stands_for: dict[str, str] = field(default_factory=dict)
    people: list[str] = field(default_factory=list)  # distinct real people who labelled
    guidelines_chars: int = 0
    labels: int = 0
    described_labels: int = 0
    judge_rubric: bool = False
    few_shot: dict[str, int] = field(default_factory=dict)  # llm annotator -> k (k > 0)
    seed_items: int = 0
    control_answers: dict[str, int] = field(default_factory=dict)  # kind -> answers on control
    web_golden_answers: int = 0
    reviews: int = 0
    reviewers: list[str] = field(default_factory=list)
    judge_scores: int = 0
    overlap_items: int = 0  # items with at least two annotators' answers
    mean_annotators: float = 0.0
    agreement: float | None = None  # Krippendorff's alpha, when computed
    languages: dict[str, int] | None = None  # None: not detected (reason in languages_note)
    languages_note: str = ""
    undetermined_language: int = 0
    config_hash: str = ""
    seed: int = 0
    version: str = ""
    runs: int = 0
    model_calls: int = 0
    decisions_with_provenance: int = 0


def _ev(record: str, detail: str, count: int | None = None) -> dict[str, Any]:
    return {"record": record, "detail": detail, "count": count}


def _opt(spec: tuple, selected: bool, evidence: list | None = None, reasoning: str = "",
         judged_by: str = "records") -> dict[str, Any]:
    oid, name, desc, origin = spec
    return {"id": oid, "name": name, "description": desc, "origin": origin,
            "selected": bool(selected), "judged_by": judged_by, "evidence": evidence or [],
            "reasoning": reasoning}


def _unanswered(spec: tuple, why: str) -> dict[str, Any]:
    return _opt(spec, False, [], why, judged_by="unanswered")


def _status(options: list[dict]) -> str:
    open_ = sum(o["judged_by"] == "unanswered" for o in options)
    return "answered" if not open_ else ("unanswered" if open_ == len(options)
                                         else "partly answered")


def fill_rubric(facts: RecordFacts) -> dict[str, Any]:
    """The rubric card from the project's records (see the module docstring)."""
    groups = {}
    for gid, title, question, specs in GROUPS:
        by_id = {s[0]: s for s in specs}
        options, notes = globals()[f"_{gid}"](facts, by_id)
        groups[gid] = {"id": gid, "title": title, "question": question,
                       "status": _status(options), "notes": notes, "options": options}
    return {"rubric": "DataRubrics", "reference": REFERENCE, "judge": None, "groups": groups}


def refresh_status(rubric: dict[str, Any]) -> None:
    """Recompute each group's status after options changed (the judge's answers)."""
    for group in rubric["groups"].values():
        group["status"] = _status(group["options"])


# -- the groups ------------------------------------------------------------------------
_ORIGIN_WHY = ("The records name the file each item was imported from, not who wrote the "
               "items; pass --judge NAME to ask a model, or fill this in by hand.")


def _sources(f: RecordFacts, s: dict) -> tuple[list, list]:
    src = ", ".join(f.sources[:5]) + (" and more" if len(f.sources) > 5 else "")
    text_ev = [_ev("config", f"task.text_field = {f.text_field!r}"),
               _ev("items", f"{f.items:,} items imported from {src or 'a data frame'}",
                   f.items)]
    image_ev = [_ev("config", f"annotators.{name}.image_field = {fld!r}")
                for name, fld in sorted(f.image_fields.items())]
    opts = [
        _opt(s["text"], f.items > 0, text_ev if f.items else [],
             "Every item has a text field that annotators read."),
        _opt(s["image"], bool(image_ev), image_ev,
             "An llm annotator reads an image field." if image_ev else
             "No annotator reads an image field."),
        _opt(s["other_modality"], False, [], "A labelquorum project holds text and images "
             "only."),
        _unanswered(s["human_generated"], _ORIGIN_WHY),
        _unanswered(s["model_generated"], _ORIGIN_WHY),
        _unanswered(s["unknown_origin"], _ORIGIN_WHY),
    ]
    return opts, []


def _annotations(f: RecordFacts, s: dict) -> tuple[list, list]:
    kinds, who = f.kind_counts, f.kind_annotators
    people = len(f.people)
    people_ev = [_ev("judgements", f"{kinds.get('human', 0):,} answers from people "
                     f"({', '.join(f.people[:8])}{' ...' if people > 8 else ''})",
                     kinds.get("human", 0))] if people else []
    expert_why = ("The records hold no statement of anyone's expertise; DataRubrics counts "
                  "annotators without one as non-experts.")
    ai = kinds.get("llm", 0) + kinds.get("model", 0)
    ai_ev = [_ev("judgements", f"{kinds[k]:,} judgements of kind {k} from "
                 f"{', '.join(who.get(k, []))}", kinds[k])
             for k in ("llm", "model") if kinds.get(k)]
    auto_ev = [_ev("judgements", f"{kinds['rules']:,} judgements of kind rules from "
                   f"{', '.join(who.get('rules', []))}", kinds["rules"])] \
        if kinds.get("rules") else []
    auto_ev += [_ev("judgements", f"{n:,} simulated judgements from {name} (simulating "
                    f"{f.simulated_stands_for.get(name, 'an annotator')})", n)
                for name, n in sorted(f.simulated.items()) if n]
    notes = []
    if kinds.get("replay"):
        notes.append(f"{kinds['replay']:,} replayed judgements ({', '.join(who['replay'])}) "
                     "have no stated kind and are counted in no category; set "
                     "annotators.NAME.kind for a replay annotator.")
    instr = [_ev("config", f"task.guidelines: {f.guidelines_chars:,} characters",
                 f.guidelines_chars)] if f.guidelines_chars else []
    rubric_ev = []
    if f.labels and f.described_labels == f.labels:
        rubric_ev.append(_ev("config", f"task.labels: every one of the {f.labels} labels has "
                             "a description", f.described_labels))
    if f.judge_rubric:
        rubric_ev.append(_ev("config", "web.judge_rubric scores people's answers"))
    examples_ev = [_ev("config", f"annotators.{name}.few_shot.k = {k}; {f.seed_items:,} seed "
                       "gold items to draw examples from", f.seed_items)
                   for name, k in sorted(f.few_shot.items())] if f.seed_items else []
    opts = [
        _opt(s["single_human_expert"], False, [], expert_why),
        _opt(s["multiple_human_experts"], False, [], expert_why),
        _opt(s["single_human_non_expert"], people == 1, people_ev,
             "One person answered." if people == 1 else f"{people} people answered."),
        _opt(s["multiple_human_non_experts"], people > 1, people_ev,
             f"{people} people answered."),
        _opt(s["ai_model"], ai > 0, ai_ev, "Models and LLMs labelled items." if ai else
             "No model or LLM judgement is recorded."),
        _opt(s["automatic_process"], bool(auto_ev), auto_ev,
             "Rules or simulated annotators labelled items." if auto_ev else
             "No rules or simulated judgement is recorded."),
        _opt(s["has_instructions"], bool(instr), instr,
             "The task's guidelines are given to every annotator." if instr else
             "task.guidelines is empty."),
        _opt(s["has_rubrics"], bool(rubric_ev), rubric_ev,
             "Each label is defined." if rubric_ev else
             f"{f.described_labels} of {f.labels} labels have a description."),
        _opt(s["has_examples"], bool(examples_ev), examples_ev,
             "LLM prompts carry labelled examples." if examples_ev else
             "No annotator is shown labelled examples (few_shot.k = 0 or no seed gold)."),
        _opt(s["no_guidelines"], not (instr or rubric_ev or examples_ev),
             [_ev("config", "task.guidelines is empty, no label has a description and no "
                  "few-shot examples are configured")]
             if not (instr or rubric_ev or examples_ev) else [],
             "Guidelines are given." if (instr or rubric_ev or examples_ev) else
             "Annotators get the label names only."),
    ]
    return opts, notes


def _quality_assurance(f: RecordFacts, s: dict) -> tuple[list, list]:
    n_rev = len(f.reviewers)
    rev_ev = [_ev("reviews", f"{f.reviews:,} labels decided by reviewers "
                  f"({', '.join(f.reviewers[:8])})", f.reviews)] if f.reviews else []
    gold_total = sum(f.control_answers.values()) + f.web_golden_answers
    gold_ev = [_ev("judgements", f"{n:,} answers of kind {k} on control gold", n)
               for k, n in sorted(f.control_answers.items()) if n]
    if f.web_golden_answers:
        gold_ev.append(_ev("assignments", f"{f.web_golden_answers:,} golden questions "
                           "answered by people in the web app", f.web_golden_answers))
    overlap_ev = [_ev("judgements", f"{f.overlap_items:,} items labelled by two or more "
                      f"annotators ({f.mean_annotators:.2f} per item on average)",
                      f.overlap_items)] if f.overlap_items else []
    agree_ev = [_ev("agreement", f"Krippendorff's alpha {f.agreement:.3f} over the items "
                    "with two or more answers")] if f.agreement is not None else []
    judge_ev = [_ev("assignments", f"{f.judge_scores:,} people's answers scored by an LLM "
                    "judge (web.judge)", f.judge_scores)] if f.judge_scores else []
    auto_ev = gold_ev + agree_ev
    expert_why = "The records hold no statement of the reviewers' expertise."
    applied = bool(rev_ev or auto_ev or judge_ev)
    opts = [
        _opt(s["qa_single_human_expert"], False, [], expert_why),
        _opt(s["qa_multiple_human_experts"], False, [], expert_why),
        _opt(s["qa_single_human_non_expert"], n_rev == 1, rev_ev, f"{n_rev} reviewers."),
        _opt(s["qa_multiple_human_non_experts"], n_rev > 1, rev_ev, f"{n_rev} reviewers."),
        _opt(s["automatic_verification"], bool(auto_ev), auto_ev,
             "Answers were scored against control gold, or agreement was measured."
             if auto_ev else "No golden answers and no agreement are recorded."),
        _opt(s["qa_ai_model"], bool(judge_ev), judge_ev,
             "An LLM judge scored people's answers." if judge_ev else
             "No LLM judge scores are recorded."),
        _opt(s["no_qa"], not applied,
             [_ev("judgements", "no control gold answers, no reviews, no agreement and no "
                  "judge scores are recorded")] if not applied else [],
             "Some quality assurance is recorded." if applied else "Nothing checked labels."),
        _opt(s["golden_questions"], gold_total > 0, gold_ev,
             f"{gold_total:,} golden answers." if gold_total else
             "No control gold was answered (import some with --split control=...)."),
        _opt(s["review"], f.reviews > 0, rev_ev, f"{f.reviews:,} reviews."),
        _opt(s["overlap"], f.overlap_items > 0, overlap_ev,
             f"{f.overlap_items:,} items have two or more annotators."),
        _opt(s["agreement_computed"], f.agreement is not None, agree_ev,
             "Agreement was computed for this report." if agree_ev else
             "Agreement is undefined here (fewer than two answers per item)."),
    ]
    return opts, []


_NOVELTY_WHY = ("The records do not say how the items were created; pass --judge NAME to ask "
                "a model, or fill this in by hand.")
_UTILITY_WHY = ("The records do not say what the dataset is for; pass --judge NAME to ask a "
                "model, or fill this in by hand.")


def _novelty(f: RecordFacts, s: dict) -> tuple[list, list]:
    return [_unanswered(spec, _NOVELTY_WHY) for spec in s.values()], []


def _task_utility(f: RecordFacts, s: dict) -> tuple[list, list]:
    return [_unanswered(spec, _UTILITY_WHY) for spec in s.values()], []


def counted_languages(languages: dict[str, int]) -> dict[str, int]:
    """The languages that count for coverage: at least two items and 1 % of the items
    with a detected language (one misdetected short text does not make a set bilingual)."""
    total = sum(languages.values())
    floor = max(2, 0.01 * total)
    return {k: v for k, v in languages.items() if v >= floor}


def _language_coverage(f: RecordFacts, s: dict) -> tuple[list, list]:
    special_why = ("Language identification tells human languages apart; it does not detect "
                   "code, notation or non-human communication. Pass --judge NAME to ask a "
                   "model.")
    specials = [_unanswered(s[k], special_why) for k in
                ("code", "math_notation", "non_human_communication", "constructed_language")]
    if f.languages is None:
        why = f.languages_note or "Languages were not detected."
        return [_unanswered(s[k], why) for k in ("multilingual", "bilingual",
                                                 "monolingual_english",
                                                 "monolingual_non_english")] + specials + [
            _unanswered(s["language_unknown"], why), _unanswered(s["no_language"], why)], []
    counted = counted_languages(f.languages)
    detected = sum(f.languages.values())
    listing = ", ".join(f"{k} {v:,}" for k, v in sorted(counted.items(),
                                                       key=lambda kv: -kv[1]))
    ev = [_ev("languages", f"py3langid on the items' {f.text_field!r} field: {listing} "
              f"(of {detected:,} items with a detected language)", detected)] if counted else []
    n = len(counted)
    notes = []
    minor = {k: v for k, v in f.languages.items() if k not in counted}
    if minor:
        notes.append("Languages below 1 % of the items (or a single item) are not counted: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(minor.items())) + ".")
    why = f"{n} language(s) counted."
    opts = [
        _opt(s["multilingual"], n > 2, ev if n > 2 else [], why),
        _opt(s["bilingual"], n == 2, ev if n == 2 else [], why),
        _opt(s["monolingual_english"], n == 1 and "en" in counted,
             ev if n == 1 and "en" in counted else [], why),
        _opt(s["monolingual_non_english"], n == 1 and "en" not in counted,
             ev if n == 1 and "en" not in counted else [], why),
        *specials,
        _opt(s["language_unknown"], n == 0 and f.undetermined_language > 0,
             [_ev("languages", f"no language detected on {f.undetermined_language:,} items",
                  f.undetermined_language)] if n == 0 and f.undetermined_language else [],
             "Languages were detected." if n else "No language could be determined."),
        _opt(s["no_language"], False, [], "Every item has a text field."),
    ]
    return opts, notes


def _reproducibility(f: RecordFacts, s: dict) -> tuple[list, list]:
    code_ev = [_ev("config", f"labelquorum.toml (config hash {f.config_hash}), project seed "
                   f"{f.seed}, labelquorum {f.version}"),
               _ev("runs", f"{f.runs:,} runs recorded with their seed and config hash", f.runs)]
    doc_ev = []
    if f.model_calls:
        doc_ev.append(_ev("model_calls", f"{f.model_calls:,} model calls logged with their "
                          "request, response, tokens and cost", f.model_calls))
    if f.decisions_with_provenance:
        doc_ev.append(_ev("decisions", f"{f.decisions_with_provenance:,} decisions with "
                          "their provenance (who was asked, who decided)",
                          f.decisions_with_provenance))
    opts = [
        _opt(s["has_code"], f.runs > 0, code_ev if f.runs else [],
             "The config, the program version and the seed reproduce the runs." if f.runs
             else "Nothing was run yet."),
        _opt(s["has_documentation"], bool(doc_ev), doc_ev,
             "Every decision and call is logged." if doc_ev else "No decision is logged yet."),
    ]
    return opts, []
