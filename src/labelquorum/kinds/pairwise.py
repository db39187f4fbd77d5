"""Pairwise preference: which of two responses to a prompt is better (``A``, ``B``, ``tie``).

An item holds a prompt and two responses (``[task] prompt_field`` and
``response_fields``, default ``prompt``, ``response_a``, ``response_b``) and, optionally,
the names of the systems that wrote them (``system_fields``, default ``model_a``,
``model_b``). The answer is the label ``A`` or ``B`` — or ``tie`` with ``[task] allow_tie``
— so the value type is ``class`` with a fixed label set, and everything built for
classes works unchanged: weighted votes and truth inference per item, golden questions
(the chance of a right random answer is 1/2, or 1/3 with ties), accuracy against gold.

On top of the per-item label, the comparisons of every answer rank the *systems*:
:func:`system_table` fits Bradley–Terry (:mod:`labelquorum.aggregation.bradley_terry`,
ties as half a win for each side) over all answers, and over the gold labels when there
are some, and compares the two rankings by Kendall's τ.

Position bias: an LLM asked "A or B" prefers one position more often than it should. An
``llm`` annotator with ``both_orders = true`` asks each item twice, the second time with
the responses swapped, and combines the two answers (:func:`combine_orders`); the share of
items on which the two orders agree is its *position consistency*, shown in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .base import BOTH_ORDERS_AGREE, BOTH_ORDERS_DIFFER, TaskKind
from .classification import ClassKind

A, B, TIE = "A", "B", "tie"
KEYS = {A: "a", B: "b", TIE: "t"}
DESCRIPTIONS = {A: "Response A is better.", B: "Response B is better.",
                TIE: "Both responses are equally good (or equally bad)."}


def pair_labels(allow_tie: bool) -> list[str]:
    return [A, B, TIE] if allow_tie else [A, B]


def swap_label(value: Any) -> Any:
    """The answer about the swapped pair as an answer about the original one."""
    return {A: B, B: A}.get(value, value)


def combine_orders(labels: Sequence[str], first: tuple[str, np.ndarray],
                   swapped: tuple[str, np.ndarray]) -> tuple[str, float, np.ndarray, bool]:
    """One answer from two ``(label, per-label probabilities)``: ``first`` asked A-then-B,
    ``swapped`` asked B-then-A (already mapped back to the original positions). Returns
    ``(label, confidence, probabilities, consistent)``.

    The probabilities are the mean of the two. When the two orders pick the same label it
    is the answer. When they disagree the judge preferred a position, not a response:
    where ties are allowed the answer is ``tie``, and the probability that A and B share in
    the mean (the smaller of the two, which the position gave each) moves to ``tie``;
    without ties the answer is the label of the higher mean probability (the first
    order's on equal means)."""
    labels = list(labels)
    one, two = labels.index(first[0]), labels.index(swapped[0])
    mean = (np.asarray(first[1], dtype=float) + np.asarray(swapped[1], dtype=float)) / 2.0
    consistent = one == two
    if consistent:
        pick = one
    elif TIE in labels:
        a, b, pick = labels.index(A), labels.index(B), labels.index(TIE)
        shared = min(mean[a], mean[b])
        mean[a] -= shared
        mean[b] -= shared
        mean[pick] += 2 * shared
    else:
        pick = one if mean[one] >= mean[two] else two
    return labels[pick], float(mean[pick]), mean, consistent


def item_text(task: Any, fields: dict[str, Any], swapped: bool = False) -> str:
    """The text an LLM judges: the prompt and both responses, labelled A and B (with
    ``swapped``, response B is shown as A and A as B)."""
    prompt_field, (a_field, b_field) = pair_fields(task)
    first, second = fields.get(a_field), fields.get(b_field)
    if swapped:
        first, second = second, first

    def show(value: Any) -> str:
        return "" if value is None else str(value)

    return (f"Prompt:\n{show(fields.get(prompt_field))}\n\nResponse A:\n{show(first)}\n\n"
            f"Response B:\n{show(second)}")


def pair_fields(task: Any) -> tuple[str, tuple[str, str]]:
    """``(prompt field, (response A field, response B field))`` of a task."""
    cfg = task.config
    if cfg is None:
        return "prompt", ("response_a", "response_b")
    return cfg.prompt_field, (cfg.response_fields[0], cfg.response_fields[1])


def system_fields(task: Any) -> tuple[str, str]:
    """The fields naming the systems that wrote response A and B."""
    cfg = task.config
    names = ("model_a", "model_b") if cfg is None else cfg.system_fields
    return names[0], names[1]


def _field_list(value: Any, default: list[str]) -> list[str] | None:
    if value is None:
        return default
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None  # the section's validation says what is wrong


class PairwiseKind(ClassKind):
    """Which of two responses is better: the labels ``A``, ``B`` and optionally ``tie``."""

    widget = "pairwise.html"
    starter = TaskKind.starter  # people: a text model cannot judge which response is better
    starter_task = """prompt_field = "prompt"                          # the item's prompt
response_fields = ["response_a", "response_b"]   # the two responses, shown side by side
system_fields = ["model_a", "model_b"]           # who wrote them (optional; never shown)"""

    # -- the [task] section ------------------------------------------------------------
    def complete(self, section):
        """The labels are A and B (and tie with ``allow_tie``), with their descriptions and
        the keys A, B, T unless the section gives others; the fields shown are the prompt
        and the two responses (the system names never), and models read the prompt."""
        given = section.get("labels")
        if "allow_tie" not in section and isinstance(given, list) and len(given) == 3:
            section["allow_tie"] = True  # naming the tie label allows ties
        allow_tie = section.get("allow_tie", False) is True
        expected = pair_labels(allow_tie)
        if not given:
            section["labels"] = [{"name": lab, "description": DESCRIPTIONS[lab],
                                  "hotkey": KEYS[lab]} for lab in expected]
        elif isinstance(given, list):
            entries = [{"name": g} if isinstance(g, str) else g for g in given]
            names = [e.get("name") if isinstance(e, dict) else e for e in entries]
            if names != expected:
                shown = ", ".join(map(str, names))
                raise ValueError(
                    f"a pairwise task's labels are fixed: {', '.join(expected)} (tie only "
                    f"with allow_tie = true); the section names {shown}. Leave out "
                    "[[task.labels]] (the page then shows A, B and tie with their keys), or "
                    "name exactly these to give them your own descriptions or hotkeys")
            section["labels"] = [
                {**e, "description": e.get("description") or DESCRIPTIONS[e["name"]],
                 "hotkey": e.get("hotkey") or KEYS[e["name"]]} if isinstance(e, dict) else e
                for e in entries]
        prompt = section.get("prompt_field", "prompt")
        responses = _field_list(section.get("response_fields"), ["response_a", "response_b"])
        if isinstance(prompt, str) and responses is not None:
            shown = _field_list(section.get("fields"), [])
            if shown is not None:
                section["fields"] = list(dict.fromkeys([prompt, *responses, *shown]))
            section.setdefault("text_field", prompt)
        return section

    # -- the widget --------------------------------------------------------------------
    def hotkeys(self, task, keys):
        """A, B and T choose; ← and → choose A and B too (the page's arrow keys)."""
        return [(lab, KEYS.get(lab, key), desc or DESCRIPTIONS.get(lab, ""))
                for lab, key, desc in zip(task.labels, keys, task.descriptions)]

    # -- scores ------------------------------------------------------------------------
    def tables(self, task, project):
        """``systems``: the Bradley–Terry table of :func:`project_systems`."""
        return {"systems": project_systems(project)}

    # -- the LLM -----------------------------------------------------------------------
    def llm_text(self, task, fields):
        return item_text(task, fields)

    def swap_sides(self, task, fields):
        _, (a, b) = pair_fields(task)
        left, right = system_fields(task)
        out = dict(fields)
        out[a], out[b] = fields.get(b), fields.get(a)
        out[left], out[right] = fields.get(right), fields.get(left)
        return out

    def combine_orders(self, task, first, swapped):
        """See :func:`combine_orders`; an answer without probabilities counts as certain of
        its label, and the result has a confidence only when both answers had one."""
        labels = list(task.labels)
        flip = [labels.index(swap_label(lab)) for lab in labels]
        answers, known = [], []
        for value, _conf, probs, turn in (*first, False), (*swapped, True):
            if turn:
                value = swap_label(value)
                probs = None if probs is None else np.asarray(probs, dtype=float)[flip]
            ok = probs is not None and np.isfinite(probs).all()
            known.append(ok)
            answers.append((value, np.asarray(probs, dtype=float) if ok else
                            np.eye(len(labels))[labels.index(value)]))
        label, conf, mean, agree = combine_orders(labels, answers[0], answers[1])
        if not all(known):
            return label, float("nan"), np.full(len(labels), np.nan), agree
        return label, conf, mean, agree

    def llm_task(self, task):
        return ("You are a careful, impartial judge. Read the prompt and the two responses, "
                "and say which response answers the prompt better. Judge the content, not "
                "the position: the order of the responses is arbitrary.")

    def llm_labels_heading(self, task):
        return "Answers:"

    def llm_instructions(self, task, verbalized):
        names = " | ".join(f'"{lab}"' for lab in task.labels)
        shape = f'{{"label": {names}'
        shape += ', "confidence": <probability from 0 to 1 that you are right>}' \
            if verbalized else "}"
        return [f"Answer with JSON only: {shape}"]


PAIRWISE = PairwiseKind("pairwise", description="which of two responses to a prompt is "
                        "better (A, B, or a tie)")


# -- system scores ---------------------------------------------------------------------
def comparisons(systems: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    """The Bradley–Terry input from answers: ``systems`` is indexed by item with the two
    system columns ``left`` and ``right``; ``answers`` has ``item`` and ``label`` (A, B or
    tie). ``label`` is the winner, missing for a tie. Answers on items without both system
    names, or with the same system on both sides, are left out."""
    merged = answers[["item", "label"]].join(systems, on="item", how="inner")
    merged = merged.dropna(subset=["left", "right"])
    merged = merged[merged["left"] != merged["right"]]  # a system against itself: no news
    winner = np.where(merged["label"] == A, merged["left"],
                      np.where(merged["label"] == B, merged["right"], None))
    return pd.DataFrame({"left": merged["left"].to_numpy(), "right": merged["right"].to_numpy(),
                         "label": winner, "item": merged["item"].to_numpy()})


def scores(table: pd.DataFrame) -> tuple[pd.Series, str | None]:
    """Bradley–Terry scores (ties as half-wins), and a note when they had to be smoothed:
    the maximum-likelihood scores do not exist when some system never beat the rest, and
    then one virtual tie per compared pair is added (and said)."""
    from ..aggregation.bradley_terry import BradleyTerry
    from ..errors import LabelquorumError

    try:
        return BradleyTerry().fit_predict(table), None
    except LabelquorumError as exc:
        first = str(exc).split(" (")[0].split(", so")[0]
        try:
            return BradleyTerry(prior=1.0).fit_predict(table), (
                f"{first}; the scores add one virtual tie per compared pair of systems")
        except LabelquorumError as again:
            return pd.Series([], dtype=float), str(again)


def system_table(systems: pd.DataFrame, answers: pd.DataFrame,
                 gold: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report's system table: per system its comparisons, wins, ties and losses over
    every answer, its Bradley–Terry score and rank, and (with gold) the score from the gold
    labels and Kendall's τ between the two rankings."""
    from ..aggregation.bradley_terry import kendall_tau

    table = comparisons(systems, answers)
    if table.empty:
        return {"rows": [], "comparisons": 0, "ties": "half a win for each side"}
    fitted, note = scores(table)
    names = sorted(set(table["left"]) | set(table["right"]), key=str)
    wins = pd.Series(0, index=names, dtype=int)
    losses, ties = wins.copy(), wins.copy()
    for left, right, label in zip(table["left"], table["right"], table["label"]):
        if left == right:
            continue
        if pd.isna(label):  # a tie
            ties[left] += 1
            ties[right] += 1
        else:
            wins[label] += 1
            losses[right if label == left else left] += 1
    played = int((table["left"] != table["right"]).sum())
    out: dict[str, Any] = {"comparisons": played, "ties": "half a win for each side",
                           "note": note}
    gold_scores = pd.Series([], dtype=float)
    if gold:
        gold_answers = pd.DataFrame({"item": list(gold), "label": list(gold.values())})
        gold_table = comparisons(systems, gold_answers)
        if not gold_table.empty:
            gold_scores, gold_note = scores(gold_table)
            out["gold_comparisons"] = len(gold_table)
            out["gold_note"] = gold_note
            out["kendall_tau"] = kendall_tau(fitted, gold_scores)
    order = sorted(names, key=lambda s: (-float(fitted[s]) if s in fitted.index else np.inf,
                                         str(s)))
    out["rows"] = [{"system": s, "rank": i + 1,
                    "score": float(fitted[s]) if s in fitted.index else None,
                    "gold_score": float(gold_scores[s]) if s in gold_scores.index else None,
                    "comparisons": int(wins[s] + losses[s] + ties[s]), "wins": int(wins[s]),
                    "ties": int(ties[s]), "losses": int(losses[s])}
                   for i, s in enumerate(order)]
    return out


def position_consistency(judgements: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per annotator asked in both orders: on how many items, and the share of them on
    which the two orders gave the same answer."""
    method = judgements.get("confidence_method")
    if method is None:
        return {}
    asked = judgements[method.isin([BOTH_ORDERS_AGREE, BOTH_ORDERS_DIFFER])]
    out = {}
    for name, rows in asked.groupby("annotator_name"):
        agreed = rows["confidence_method"] == BOTH_ORDERS_AGREE
        out[str(name)] = {"items": len(rows), "consistent": float(agreed.mean())}
    return out


def project_systems(project: Any) -> dict[str, Any]:
    """The system table of a pairwise project (see :func:`system_table`) over every
    current answer (people's included; golden-question answers are measurements, not
    answers), with the gold of every role, the LLM annotators' position consistency, and
    the rows ready to show (``columns``, ``table``)."""
    from ..export import item_fields

    left, right = system_fields(project.task)
    fields = item_fields(project)
    systems = pd.DataFrame({"left": fields.get(left), "right": fields.get(right)},
                           index=fields.index)
    j = project.judgements()
    j = j[j["status"] == "ok"]
    answers = j[["item", "label"]]
    out = system_table(systems, answers, project.gold_labels())
    out["position_consistency"] = position_consistency(j)
    out["title"] = "Systems (Bradley–Terry)"
    out["columns"] = ["rank", "system", "score", "gold_score", "comparisons", "wins", "ties",
                      "losses"]
    notes = [(f"{out['comparisons']} comparisons (every current answer on an item whose two "
             "systems are known); a tie counts half a win for each side; scores sum to 1.")]
    if not out["rows"]:
        notes = [(f"No answer is on an item that names its systems: give the items the "
                 f"fields {left!r} and {right!r} to rank the systems.")]
    for key in ("note", "gold_note"):
        if out.get(key):
            notes.append(out[key] + ".")
    if out.get("kendall_tau") is not None:
        notes.append(f"Kendall's tau between this ranking and the gold's: "
                     f"{out['kendall_tau']:.3f} ({out['gold_comparisons']} gold comparisons).")
    for name, pc in out["position_consistency"].items():
        notes.append(f"{name} was asked in both orders on {pc['items']} items and gave the "
                     f"same answer in both on {100 * pc['consistent']:.1f} % of them.")
    out["notes"] = notes
    return out


__all__ = ["PAIRWISE", "PairwiseKind", "combine_orders", "comparisons", "item_text",
           "pair_labels", "position_consistency", "project_systems", "swap_label",
           "system_table"]
