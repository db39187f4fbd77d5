"""Run a policy over recorded answers in memory: no store, no ledger, the same decisions.

For studying policies on recordings (``labelquorum.recordings``) across many settings and
splits, where building a project per try would be slow. :func:`run_offline` drives the
policy's own :meth:`~labelquorum.policies.Policy.step` exactly as the run does — the same
:class:`~labelquorum.policies.board.Board` and so the same
:class:`~labelquorum.policies.PolicyState`, consensus and seeded tie-break — and
answers each ask from the recorded matrix instead of calling the annotator. A project
over the same recordings, run with :meth:`labelquorum.Project.run`, makes the same
decisions at the same cost (``tests/test_recordings.py`` and every project run of
``benchmarks/llms_for_css.py`` compare the two).

Not modelled: budgets, people who answer later, trainable annotators that are refitted
mid-run, and gold seed items (decide them before, or leave them out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import PolicyError
from ..injection import flag_injections
from .base import ABSTAIN, FAILED, NOT_ASKED, OK, AnnotatorInfo, Policy
from .board import Board


@dataclass
class OfflineRun:
    """What a run decided: per item, the label index (-1: none), the tier and the
    annotators that decided it, the cost spent on it; ``asked`` is (items, annotators)."""

    label: np.ndarray
    tier: list[str]
    decided_by: list[str]
    cost: np.ndarray
    asked: np.ndarray
    annotators: list[str]

    @property
    def total_cost(self) -> float:
        return float(self.cost.sum())

    def calls(self) -> dict[str, int]:
        return {a: int(n) for a, n in zip(self.annotators, self.asked.sum(axis=0))}


def run_offline(policy: Policy, item_ids, labels: tuple[str, ...], names: list[str],
                answers: np.ndarray, cost: np.ndarray, *, failed: np.ndarray | None = None,
                probs: np.ndarray | None = None, seed: int = 0,
                aggregator: str = "weighted", kind: str = "llm",
                texts: Sequence[str] | None = None, reference: np.ndarray | None = None,
                language: Sequence[str | None] | None = None,
                fields: dict[str, Sequence] | None = None, max_steps: int = 10_000) -> OfflineRun:
    """Run ``policy`` over recorded answers.

    ``answers`` is (items, annotators) of label indices into ``labels``, -1 where the
    annotator gave no label; ``failed`` marks which of those are failed calls (the rest
    abstain); ``cost`` is (items, annotators), what each call costs when asked; ``probs``
    (items, annotators, labels) are per-label probabilities (default: one-hot on the
    answer). ``names`` name the annotators' columns; the policy may ask any of them.
    ``texts`` (the items' texts) turn on the prompt-injection guard as a project run does
    when the annotators are LLMs (``kind="llm"``): flagged items are never decided by LLM
    answers alone. ``reference`` (label index per item, -1 elsewhere) marks the items whose
    right label is known, as calibration gold does in a project (calibrated gates fit on
    them). ``language`` (each item's language, None where unknown) is what per-language
    trust groups the reference items by. ``fields`` (name -> each item's value) are the item
    fields a policy reads (:meth:`~labelquorum.policies.Policy.item_fields`, e.g.
    ``policy.group_by``). Classification tasks only.
    """
    ids = np.asarray(item_ids, dtype=object)
    n, k = len(ids), len(labels)
    answers = np.asarray(answers, dtype=np.int64)
    cost = np.asarray(cost, dtype=float)
    if answers.shape != (n, len(names)) or np.shape(cost) != answers.shape:
        raise PolicyError(f"answers and cost must be (items, annotators) = ({n}, {len(names)}); "
                          f"got {answers.shape} and {np.shape(cost)}")
    failed = np.zeros_like(answers, dtype=bool) if failed is None else np.asarray(failed, bool)
    unknown = [a for a in policy.annotators() if a not in names]
    if unknown:
        raise PolicyError(f"the policy names annotator(s) {', '.join(unknown)} with no recorded "
                          f"answers; recorded: {', '.join(names)}")
    if probs is None:
        probs = np.full((n, len(names), k), np.nan)
        have = answers >= 0
        onehot = np.zeros((int(have.sum()), k))
        onehot[np.arange(len(onehot)), answers[have]] = 1.0
        probs[have] = onehot
    col = {a: j for j, a in enumerate(names)}
    board = Board(ids, tuple(labels), names, seed=seed)
    info = {a: AnnotatorInfo(a, kind, float(np.max(cost[:, col[a]], initial=0.0)), 1.0, False)
            for a in names}
    if reference is not None:
        board.reference[:] = np.asarray(reference, dtype=np.int64)
    if language is not None:
        if len(language) != n:
            raise PolicyError(f"language must give one language per item; got "
                              f"{len(language)} for {n} items")
        board.language = np.array(list(language), dtype=object)
    missing = [f for f in policy.item_fields() if f not in (fields or {})]
    if missing:
        raise PolicyError(f"the policy reads item field(s) {', '.join(missing)}; pass them as "
                          "fields={name: values}")
    for name, values in (fields or {}).items():
        values = np.array(["" if v is None else str(v) for v in values], dtype=object)
        if len(values) != n:
            raise PolicyError(f"field {name!r} has {len(values)} values for {n} items")
        board.fields[name] = values
    if texts is not None and kind == "llm":
        board.suspicious = flag_injections(list(texts))
    out = OfflineRun(np.full(n, -1, dtype=np.int64), [""] * n, [""] * n, np.zeros(n),
                     np.zeros((n, len(names)), dtype=bool), list(names))
    for _ in range(max_steps):
        plan = policy.step(board.policy_state(info, None, aggregator))
        if plan.empty:
            return out
        if plan.refit:
            raise PolicyError("run_offline cannot refit trainable annotators; run the project")
        for a, positions in plan.asks.items():
            if a not in col:
                raise PolicyError(f"the policy asked unknown annotator {a!r}")
            if (~board.open[positions] | (board.status[a][positions] != NOT_ASKED)).any():
                raise PolicyError(f"the policy asked {a!r} about an item that is decided or "
                                  "was already asked")
        for dec in plan.decisions:
            out.label[dec.positions] = dec.consensus.label
            for p in dec.positions.tolist():
                out.tier[p] = dec.tier
                out.decided_by[p] = ",".join(dec.decided_by) or "none"
            board.open[dec.positions] = False
        for a, positions in plan.asks.items():
            j = col[a]
            got = answers[positions, j]
            board.put(a, positions, np.where(got >= 0, OK,
                                             np.where(failed[positions, j], FAILED, ABSTAIN)),
                      got, probs[positions, j], cost[positions, j])
            out.cost[positions] += cost[positions, j]
            out.asked[positions, j] = True
    raise PolicyError(f"the policy did not finish within {max_steps} steps")
