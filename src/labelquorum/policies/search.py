"""Choosing a policy on calibration gold: candidates, cross-validated scores, the choice.

The search sees a :class:`Probe`: every candidate annotator's answers on the calibration
gold items, their right labels and what each answer cost. It builds candidate policies
from the families the project has —

* ``single``: one annotator asked about everything;
* ``truth inference``: a set of annotators all asked, the label from the calibrated
  posterior over their answers (a one-tier cascade with ``gate = "calibrated"``) — the
  most accurate ones up to a price, or those cheaper than the most accurate one;
* ``vote``: the same cheaper set, by the policy's vote (no calibration to fit);
* ``vote-then-verify``: cheap specialists, a paid verifier, the calibrated gate;
* ``cascade``: a cheap annotator (calibrated gate), or a cheap group that must agree
  (``min_agreement = 1``, cumulative scope), before a paid one;
* ``chain``: a cheap group then a paid model, ranked by agreement (Farr et al.)

— and scores each with K-fold cross-validation *inside* the calibration set: on each fold
the candidate is built and fitted on the other folds only (which annotators it uses, its
calibration and gates), then run (:func:`~labelquorum.policies.run_offline`, the policy's
own ``step``) on the held-out fold, where its labels and cost are measured. A candidate is
a *recipe* ("the two most accurate annotators costing less than the most accurate one
costing at most p"), so the choice of annotators is cross-validated too, and a 50-item
set does not pick the annotators that were lucky on it. The pooled out-of-fold hits give
the accuracy and its Wilson interval.

:func:`choose` takes the cheapest candidate whose interval's lower end reaches a target
accuracy, or the most accurate whose cost per item fits a budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from ..calibration import wilson_interval
from ..errors import PolicyError

__all__ = ["Probe", "Recipe", "Scored", "choose", "describe", "evaluate", "frontier",
           "make_policy", "more_gold", "recipes", "search"]

EPS = 1e-12
MIN_ITEMS = 20  # calibration items (answered by every candidate) the search needs


@dataclass
class Probe:
    """The candidates' answers on the calibration gold: ``answers`` (items, annotators)
    label indices, -1 where none; ``cost`` (items, annotators) USD per answer."""

    names: list[str]
    labels: tuple[str, ...]
    answers: np.ndarray
    truth: np.ndarray
    cost: np.ndarray
    failed: np.ndarray | None = None
    probs: np.ndarray | None = None
    ids: np.ndarray | None = None
    language: np.ndarray | None = None  # each item's language (None: unknown), if known

    def __post_init__(self):
        self.answers = np.asarray(self.answers, dtype=np.int64)
        self.truth = np.asarray(self.truth, dtype=np.int64)
        self.cost = np.asarray(self.cost, dtype=float)
        if self.ids is None:
            self.ids = np.array([f"c{i}" for i in range(len(self.truth))], dtype=object)

    @property
    def price(self) -> np.ndarray:
        """Mean cost of one answer, per annotator."""
        return self.cost.mean(axis=0) if len(self.cost) else np.zeros(len(self.names))

    def accuracy(self, rows: np.ndarray | None = None) -> np.ndarray:
        rows = np.arange(len(self.truth)) if rows is None else rows
        return (self.answers[rows] == self.truth[rows, None]).mean(axis=0)


@dataclass(frozen=True)
class Recipe:
    """How to build one candidate from the annotators' accuracies on training items;
    ``build`` returns a policy config (a dict, as in ``[policy]``), or None."""

    family: str
    name: str
    build: Callable[[np.ndarray], dict | None]


@dataclass
class Scored:
    """A candidate's cross-validated score: out-of-fold hits and cost per item."""

    family: str
    recipe: str
    config: dict  # built on every calibration item: what a run would use
    hits: np.ndarray
    spent: np.ndarray
    level: float = 0.95
    order: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.hits)

    @property
    def accuracy(self) -> float:
        return float(self.hits.mean()) if self.n else 0.0

    @property
    def cost(self) -> float:
        return float(self.spent.mean()) if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """Two-sided Wilson interval at ``level`` on the pooled out-of-fold hits."""
        return wilson_interval(self.hits.sum(), self.n, z_of(self.level))

    @property
    def lower(self) -> float:
        return self.interval[0]

    @property
    def name(self) -> str:
        return describe(self.config)


def z_of(level: float) -> float:
    return float(norm.ppf(1 - (1 - level) / 2))


def describe(cfg: dict) -> str:
    """A candidate in a few words, e.g. ``[a+b agree] > c``."""
    kind = cfg["type"]
    if kind == "vote-then-verify":
        return f"{'+'.join(cfg['specialists'])} vote, {'+'.join(cfg['verifiers'])} verifies"
    if kind == "chain":
        return " > ".join("+".join(x) if isinstance(x, list) else x for x in cfg["links"])
    tiers = cfg["tiers"]
    if len(tiers) == 1:
        names = tiers[0]["annotators"]
        how = "posterior of " if cfg.get("gate") == "calibrated" else "vote of "
        return names[0] if len(names) == 1 else how + "+".join(names)
    parts = []
    for t in tiers[:-1]:
        group = "+".join(t["annotators"])
        parts.append(f"[{group} agree]" if t.get("min_agreement", 0) >= 1 else group)
    return " > ".join(parts + ["+".join(tiers[-1]["annotators"])])


def make_policy(cfg: dict):
    """The policy a candidate config describes (validated like a ``[policy]`` section)."""
    from ..plugins import policies

    kind = policies.get(cfg["type"])
    return kind.build(kind.config(**cfg))


def _uses_reference(cfg: dict) -> bool:
    return cfg["type"] == "vote-then-verify" or cfg.get("gate") == "calibrated"


# -- candidates --------------------------------------------------------------------
def recipes(probe: Probe, *, margin: float = 0.02, min_reference: int = 30,
            budget: float | None = None, per_language: bool = True,
            language_gap: float = 0.05) -> list[Recipe]:
    """The candidates for this probe's annotators and prices (see the module docstring).

    Paid tiers are chosen at each *price step*: a price at which the most accurate
    annotator affordable (on all calibration items) changes. With a budget, candidates
    whose first tier alone costs more are left out."""
    price = probe.price
    names = list(probe.names)
    a = len(names)
    by_price = sorted(range(a), key=lambda j: (price[j], names[j]))

    def rank(idx, acc):
        return sorted(idx, key=lambda j: (-acc[j], price[j], names[j]))

    def pool(p):
        return [j for j in by_price if price[j] <= p + EPS]

    def best(p, acc):
        return rank(pool(p), acc)[0]

    def cheaper(v):
        return [j for j in by_price if price[j] < price[v] - EPS]

    def cal(extra: dict) -> dict:
        out = {**extra, "margin": margin, "min_reference": min_reference}
        if not per_language or language_gap != 0.05:  # else the defaults say it
            out.update(per_language=per_language, language_gap=language_gap)
        return out

    acc_all = probe.accuracy()
    steps, seen = [], None
    for j in by_price:
        v = best(price[j], acc_all)
        if v != seen:
            steps.append(float(price[j]))
            seen = v
    out = [Recipe("single", names[j], (lambda acc, j=j: {
        "type": "cascade", "tiers": [{"annotators": [names[j]]}]})) for j in by_price]

    def ti(p, size):
        def build(acc):
            members = rank(pool(p), acc)[:size]
            if len(members) < size:
                return None
            members = sorted(members, key=lambda j: (price[j], names[j]))
            return cal({"type": "cascade", "gate": "calibrated",
                        "tiers": [{"annotators": [names[j] for j in members]}]})
        return build

    def with_verifier(p, size, make):
        def build(acc):
            v = best(p, acc)
            group = rank(cheaper(v), acc)[:size]
            if len(group) < size:
                return None
            group = [names[j] for j in sorted(group, key=lambda j: (price[j], names[j]))]
            return make(group, names[v])
        return build

    def vtv(group, v):
        return cal({"type": "vote-then-verify", "specialists": group, "verifiers": [v]})

    def calibrated_cascade(group, v):
        return cal({"type": "cascade", "gate": "calibrated",
                    "tiers": [{"annotators": group}, {"annotators": [v]}]})

    def agree_cascade(group, v):
        return {"type": "cascade", "scope": "cumulative",
                "tiers": [{"annotators": group, "min_agreement": 1.0,
                           "min_votes": len(group)}, {"annotators": [v]}]}

    def chain(group, v):
        return {"type": "chain", "links": [group, v], "confidence": "agreement"}

    for p in steps:
        tag = f"up to {p:.6g} USD"
        out.append(Recipe("single", f"most accurate {tag}", lambda acc, p=p: {
            "type": "cascade", "tiers": [{"annotators": [names[best(p, acc)]]}]}))
        for size in (2, 3, 5):
            out.append(Recipe("truth inference", f"{size} most accurate {tag}", ti(p, size)))
        for size in (3, 5):  # the cheaper annotators together, the best one not asked
            out.append(Recipe("truth inference", f"{size} most accurate cheaper than the "
                              f"best {tag}", with_verifier(p, size, lambda g, v: cal({
                                  "type": "cascade", "gate": "calibrated",
                                  "tiers": [{"annotators": g}]}))))
            out.append(Recipe("vote", f"{size} most accurate cheaper than the best {tag}",
                              with_verifier(p, size, lambda g, v: {
                                  "type": "cascade", "tiers": [{"annotators": g}]})))
        out.append(Recipe("cascade", f"most accurate cheaper one, then {tag}",
                          with_verifier(p, 1, calibrated_cascade)))
        for size in (2, 3):
            out.append(Recipe("vote-then-verify", f"{size} cheaper vote, then {tag}",
                              with_verifier(p, size, vtv)))
            out.append(Recipe("cascade", f"{size} cheaper agree, else {tag}",
                              with_verifier(p, size, agree_cascade)))
            out.append(Recipe("chain", f"{size} cheaper, then {tag}",
                              with_verifier(p, size, chain)))
    if budget is None:
        return out
    col = {n: j for j, n in enumerate(names)}
    kept = []
    for r in out:
        cfg = r.build(acc_all)
        if cfg is not None and _first_cost(cfg, price, col) <= budget + EPS:
            kept.append(r)
    return kept


def _first_cost(cfg: dict, price: np.ndarray, col: dict[str, int]) -> float:
    """What a candidate pays on every item at least: its first tier (or link)."""
    if cfg["type"] == "vote-then-verify":
        first = cfg["specialists"]
    elif cfg["type"] == "chain":
        link = cfg["links"][0]
        first = link if isinstance(link, list) else [link]
    else:
        first = cfg["tiers"][0]["annotators"]
    return float(sum(price[col[a]] for a in first))


# -- scoring -----------------------------------------------------------------------
def _folds(m: int, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold

    k = max(2, min(folds, m // 2))
    return list(KFold(k, shuffle=True, random_state=seed).split(np.arange(m)))


def evaluate(probe: Probe, candidates: list[Recipe], *, folds: int = 5, seed: int = 0,
             level: float = 0.95) -> list[Scored]:
    """Cross-validated score of each candidate (identical candidates scored once)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # tiny matrices: threads only contend
        return _evaluate(probe, candidates, folds, seed, level)


def _evaluate(probe, candidates, folds, seed, level) -> list[Scored]:
    from .offline import run_offline

    m = len(probe.truth)
    splits = _folds(m, folds, seed)
    train_acc = [probe.accuracy(train) for train, _ in splits]
    acc_all = probe.accuracy()
    runs: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    out: dict[str, Scored] = {}

    def run(cfg: dict, key: str, fold: int, train: np.ndarray):
        ref = np.full(m, -1, dtype=np.int64)
        if fold >= 0:
            ref[train] = probe.truth[train]
        if (key, fold) not in runs:
            r = run_offline(make_policy(cfg), probe.ids, probe.labels, probe.names,
                            probe.answers, probe.cost, failed=probe.failed, probs=probe.probs,
                            reference=ref, language=probe.language, seed=seed)
            runs[key, fold] = (r.label == probe.truth, r.cost)
        return runs[key, fold]

    for order, rec in enumerate(candidates):
        final = rec.build(acc_all)
        if final is None:
            continue
        final_key = json.dumps(final, sort_keys=True)
        hits, spent = np.zeros(m, dtype=bool), np.zeros(m)
        signature = []
        for f, (train, test) in enumerate(splits):
            cfg = rec.build(train_acc[f])
            if cfg is None:
                break
            key = json.dumps(cfg, sort_keys=True)
            h, c = run(cfg, key, f if _uses_reference(cfg) else -1, train)
            hits[test], spent[test] = h[test], c[test]
            signature.append(key)
        else:
            ident = final_key + "|" + "|".join(signature)
            if ident not in out:
                out[ident] = Scored(rec.family, rec.name, final, hits, spent, level, order)
    return list(out.values())


def frontier(scored: list[Scored]) -> list[Scored]:
    """Candidates no other is as accurate as and as cheap as (and better at one)."""
    return [s for s in scored if not any(
        o.accuracy >= s.accuracy and o.cost <= s.cost + EPS
        and (o.accuracy > s.accuracy or o.cost < s.cost - EPS) for o in scored)]


def choose(scored: list[Scored], *, target: float | None = None,
           budget: float | None = None) -> Scored:
    """The cheapest candidate whose lower bound reaches ``target`` (ties: the more
    accurate), or the most accurate costing at most ``budget`` per item (ties: the
    cheaper). Raises :class:`PolicyError`, saying how close the best came, when none does."""
    if not scored:
        raise PolicyError("no candidate policy could be built from the annotators' answers "
                          "on the calibration gold")
    level = scored[0].level
    if target is not None:
        meets = [s for s in scored if s.lower >= target - EPS]
        if not meets:
            top = max(scored, key=lambda s: (s.lower, -s.cost))
            raise PolicyError(
                f"no candidate policy reaches target_accuracy {target:g} with "
                f"{round(100 * level)} % confidence on {top.n} calibration items: the best, "
                f"{top.family} {top.name}, is right on {top.accuracy:.3f} of them (interval "
                f"{top.interval[0]:.3f}-{top.interval[1]:.3f}). Lower policy.target_accuracy, "
                "add calibration gold (labelquorum import --split calibration=N) to narrow "
                "the interval, or add more accurate annotators")
        return min(meets, key=lambda s: (s.cost, -s.accuracy, s.order))
    if budget is None:
        raise PolicyError("choose needs a target accuracy or a budget per item")
    fits = [s for s in scored if s.cost <= budget + EPS]
    if not fits:
        low = min(scored, key=lambda s: s.cost)
        raise PolicyError(
            f"no candidate policy costs at most {budget:g} USD per item; the cheapest, "
            f"{low.family} {low.name}, costs {low.cost:.6g}. Raise the budget or add a "
            "cheaper annotator")
    return max(fits, key=lambda s: (s.accuracy, -s.cost, -s.order))


def more_gold(scored: list[Scored], chosen: Scored, *, target: float | None = None,
              budget: float | None = None) -> tuple[int | None, Scored | None]:
    """How many calibration items (in all) would narrow the choice, if the accuracies
    held (binomial variance): with a target, until the cheapest cheaper candidate whose
    accuracy reaches it is shown to (its lower bound at the target); with a budget,
    until the chosen candidate's interval separates from the runner-up's. Returns the
    number and that rival; (None, None) when there is none."""
    z = z_of(chosen.level)
    if target is not None:
        rivals = [s for s in scored if s.cost < chosen.cost - EPS and s.accuracy > target]
        if not rivals:
            return None, None
        r = min(rivals, key=lambda s: (s.cost, -s.accuracy))
        p = r.accuracy
        return int(np.ceil(z * z * p * (1 - p) / (p - target) ** 2)), r
    fits = [s for s in scored if s is not chosen and s.cost <= (budget or np.inf) + EPS
            and s.name != chosen.name]
    if not fits:
        return None, None
    r = max(fits, key=lambda s: (s.accuracy, -s.cost))
    gap = abs(chosen.accuracy - r.accuracy)
    if gap < EPS:
        return None, r
    sd = (np.sqrt(chosen.accuracy * (1 - chosen.accuracy)) + np.sqrt(r.accuracy
                                                                      * (1 - r.accuracy)))
    return int(np.ceil((z * sd / gap) ** 2)), r


@dataclass
class SearchResult:
    scored: list[Scored]
    chosen: Scored
    target: float | None
    budget: float | None

    def more_gold(self) -> tuple[int | None, Scored | None]:
        return more_gold(self.scored, self.chosen, target=self.target, budget=self.budget)


def search(probe: Probe, *, target: float | None = None, budget: float | None = None,
           folds: int = 5, level: float = 0.95, margin: float = 0.02,
           min_reference: int = 30, seed: int = 0, per_language: bool = True,
           language_gap: float = 0.05) -> SearchResult:
    """Score every candidate on the probe and choose (see :func:`choose`)."""
    m = len(probe.truth)
    if m < MIN_ITEMS:
        raise PolicyError(f"choosing a policy needs at least {MIN_ITEMS} calibration gold "
                          f"items answered by every candidate annotator; there are {m}. "
                          "Import more with labelquorum import --split calibration=N")
    cands = recipes(probe, margin=margin, min_reference=min_reference, budget=budget,
                    per_language=per_language, language_gap=language_gap)
    if not cands:  # nothing fits the budget: score the single annotators, to say so
        cands = recipes(probe)[:len(probe.names)]
    scored = evaluate(probe, cands, folds=folds, seed=seed, level=level)
    return SearchResult(scored, choose(scored, target=target, budget=budget), target, budget)
