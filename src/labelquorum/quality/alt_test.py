"""Can the LLM replace the people? The alternative annotator test (alt-test) of Calderon,
Reichart & Dror (ACL 2025), "The Alternative Annotator Test for LLM-as-a-Judge: How to
Statistically Justify Replacing Human Annotators with LLMs".

Leave one person out at a time. On each item that person labelled (with the LLM and at
least one other person), score how well the LLM agrees with the *remaining* people and
how well the left-out person does (``accuracy``: the share of the others they match;
``neg_rmse``: minus the root-mean-square difference, for ratings). The LLM wins the item
when its score is at least the person's (``W_f``), the person when theirs is at least the
LLM's (``W_h``); ties count for both. Over the items, ρ_f and ρ_h are those shares (the
advantage probabilities).

Per person, the one-sided test of H0 ``ρ_f ≤ ρ_h − ε`` against ``ρ_f > ρ_h − ε`` is a
paired t-test on ``W_h − W_f`` against ``ε`` (a Wilcoxon signed-rank test when the person
labelled fewer than ``min_items`` items, where the t-test's normal approximation fails).
ε is the cost-benefit margin the LLM is granted for being cheaper and faster: the paper
suggests 0.2 against experts, 0.15 against skilled annotators, 0.1 against crowd workers.
The p-values are corrected for the number of people with the Benjamini–Yekutieli
procedure; the winning rate ω is the share of people whose null is rejected, and the LLM
passes — it can replace the people on this task — when ω ≥ 0.5. The average advantage
probability ρ (mean ρ_f) compares LLMs with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ttest_1samp, wilcoxon

from ..aggregation.base import label_text
from ..errors import QualityError
from .theta import same_label

METRICS = ("accuracy", "neg_rmse")


@dataclass(frozen=True)
class AltTestResult:
    """``per_person``: one row per person (``n_items, rho_llm, rho_human, p_value,
    wins``); ``winning_rate`` ω, ``advantage_probability`` ρ, ``passed`` (ω ≥ 0.5)."""

    llm: Any
    epsilon: float
    alpha: float
    per_person: pd.DataFrame
    winning_rate: float
    advantage_probability: float
    passed: bool

    @property
    def verdict(self) -> str:
        beaten = int(self.per_person["wins"].sum())
        n = len(self.per_person)
        verb = "can replace" if self.passed else "cannot replace"
        return (f"The LLM {self.llm!r} {verb} the people on this task: it beats {beaten} of "
                f"{n} people (winning rate {self.winning_rate:.2f}, needs 0.50) at "
                f"ε = {self.epsilon:g} and α = {self.alpha:g}, with average advantage "
                f"probability {self.advantage_probability:.2f}.")


def benjamini_yekutieli(p_values: np.ndarray, alpha: float) -> np.ndarray:
    """Which hypotheses the Benjamini–Yekutieli step-up procedure rejects at FDR ``alpha``
    (valid under any dependence between the tests)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool)
    harmonic = np.sum(1.0 / np.arange(1, m + 1))
    order = np.argsort(p, kind="stable")
    below = p[order] <= np.arange(1, m + 1) * alpha / (m * harmonic)
    rejected = np.zeros(m, dtype=bool)
    if below.any():
        rejected[order[: np.flatnonzero(below)[-1] + 1]] = True
    return rejected


def _alignment(metric: str):
    if metric == "accuracy":
        return lambda value, others: float(np.mean([same_label(value, o) for o in others]))

    def neg_rmse(value, others):
        diff = np.asarray(others, dtype=float) - float(value)
        return -float(np.sqrt(np.mean(diff ** 2)))

    return neg_rmse


def _paired_p(d: np.ndarray, epsilon: float, min_items: int) -> float:
    """p-value of H0 mean(d) >= ε against mean(d) < ε."""
    shifted = d - epsilon
    if np.allclose(shifted, shifted[0]):  # no spread: the sign decides
        return 0.0 if shifted[0] < 0 else 1.0
    if len(d) < min_items:
        if np.all(shifted == 0):
            return 1.0
        return float(wilcoxon(shifted, alternative="less", zero_method="zsplit").pvalue)
    return float(ttest_1samp(d, epsilon, alternative="less").pvalue)


def alt_test(judgements: pd.DataFrame, llm: Any, humans: list | None = None, *,
             epsilon: float = 0.1, alpha: float = 0.05, metric: str = "accuracy",
             min_items: int = 30) -> AltTestResult:
    """Run the alt-test on a long judgement table (``item, annotator, label``; or
    ``task, worker, label``) where ``llm`` names the LLM's annotator and ``humans`` the
    people (default: every other annotator). See the module docstring."""
    if not isinstance(judgements, pd.DataFrame):
        raise QualityError(f"alt_test expects a pandas DataFrame of judgements; got "
                           f"{type(judgements).__name__}.")
    for cols in (("item", "annotator", "label"), ("task", "worker", "label")):
        if set(cols) <= set(judgements.columns):
            item_col, who_col, label_col = cols
            break
    else:
        raise QualityError("alt_test needs the columns item, annotator, label (or task, "
                           "worker, label); columns found: "
                           f"{', '.join(map(str, judgements.columns))}.")
    if not (isinstance(epsilon, (int, float)) and 0.0 <= epsilon < 1.0):
        raise QualityError(f"epsilon must be a margin in [0, 1) (the paper suggests 0.1 for "
                           f"crowd workers, 0.2 for experts); got {epsilon!r}.")
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise QualityError(f"alpha must be a significance level between 0 and 1; got "
                           f"{alpha!r}.")
    if metric not in METRICS:
        raise QualityError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}.")
    rows = judgements[judgements[label_col].notna()]
    who = rows[who_col].map(label_text)
    llm_key = label_text(llm)
    if llm_key not in set(who):
        raise QualityError(f"the LLM {llm!r} has no judgements in the table; annotators "
                           f"found: {', '.join(sorted(set(who))[:10])}.")
    people = sorted({label_text(h) for h in humans} if humans is not None
                    else set(who) - {llm_key})
    if len(people) < 2:
        raise QualityError(f"the alt-test needs at least two people (three or more are "
                           f"better) besides the LLM; found {len(people)}.")
    table: dict[str, dict[str, Any]] = {}  # item -> annotator -> label (last row wins)
    for item, w, label in zip(rows[item_col].map(label_text), who, rows[label_col]):
        table.setdefault(item, {})[w] = label
    align = _alignment(metric)
    out = []
    for person in people:
        w_f, w_h = [], []
        for answers in table.values():
            if person not in answers or llm_key not in answers:
                continue
            others = [answers[p] for p in people if p != person and p in answers]
            if not others:
                continue
            s_f, s_h = align(answers[llm_key], others), align(answers[person], others)
            w_f.append(s_f >= s_h)
            w_h.append(s_h >= s_f)
        if not w_f:
            continue
        w_f_arr, w_h_arr = np.array(w_f, float), np.array(w_h, float)
        p = _paired_p(w_h_arr - w_f_arr, float(epsilon), min_items)
        out.append((person, len(w_f), w_f_arr.mean(), w_h_arr.mean(), p))
    if len(out) < 2:
        raise QualityError("fewer than two people share items with the LLM and another "
                           "person; the alt-test needs items labelled by the LLM and by at "
                           "least two people.")
    per = pd.DataFrame(out, columns=["person", "n_items", "rho_llm", "rho_human", "p_value"])
    per = per.set_index("person")
    per["wins"] = benjamini_yekutieli(per["p_value"].to_numpy(), float(alpha))
    omega = float(per["wins"].mean())
    return AltTestResult(llm, float(epsilon), float(alpha), per, omega,
                         float(per["rho_llm"].mean()), omega >= 0.5)
