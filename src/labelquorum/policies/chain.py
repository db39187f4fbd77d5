"""A rank-based chain: LLM Chain Ensembles (Farr et al.).

D. Farr, N. Manzonelli, I. Cruickshank, K. Starbird, J. West, "LLM Chain Ensembles for
Scalable and Accurate Data Annotation", 2024.

**Routing.** Links are asked in order. When every item that reached link ``i`` has its
answer, the link keeps its most confident ``floor(reached / links_left)`` items (ties by
import order) and forwards the rest to link ``i + 1``; the last link keeps everything.
Abstained or failed answers rank last and are never kept by a link that is not the last.
The decision needs the whole link's answers, so a link whose answers arrive later
(people) holds the chain until they do.

**The final label** (``label_from``). With ``"most-confident-link"`` (the paper's
rank-based ensemble, the default), an item kept at link ``i`` takes the label of the link,
among links ``1..i`` that labelled it, where it ranked highest *within that link*: its
confidence percentile among all the answers that link gave (mid-rank: the share of the
link's answers less confident than this one, plus half of those tied with it). A tie
between links goes to the later link. Raw confidences of different models are never
compared, only ranks. With ``"keeping-link"`` the link that kept the item labels it.

**Confidence** (``confidence``). ``"own"``: a link's own consensus confidence — one
annotator's confidence (e.g. the log-probability margin between its top two labels), or,
for a link that is a group of annotators, the confidence of the group's consensus (with a
vote, the share of the group agreeing). ``"agreement"``: the share of all answers given so
far in the chain — by this link and every earlier link — that agree with this link's
label. That is the confidence to use when the models give none (recorded outputs,
constrained decoding): make the first link a small group, so its agreement ranks its
items, and each later link is trusted where it agrees with the cheaper models before it.

A link is one annotator or a group (``links = [["a", "b", "c"], "d"]``); a group's label is
the consensus of its members under the policy's aggregator.

**Prompt injection.** An item flagged as a likely prompt injection
(:mod:`labelquorum.injection`) is never kept on LLM answers alone: unless a non-LLM
annotator of the links so far agrees with its label, a link that keeps it forwards it
instead, and the last link decides it with the flags ``injection,needs-review``, for
review. An item whose call failed at the last link is decided ``failed``: the next run
asks again. A link never keeps its share twice: items it forwarded that the budget stopped
before the next link answered stay forwarded when a later run reopens them.

The chain works on the batch of items open when it starts; items imported while it is
half-way join at the link it has reached.
"""

from __future__ import annotations

import numpy as np

from ..aggregation import Consensus
from ..config import ChainConfig
from ..errors import PolicyError
from .base import FAILED, NOT_ASKED, Decision, DecisionState, Plan, Policy, PolicyState
from .cascade import HELD, take

CONFIDENCES = ("own", "agreement")
LABEL_FROM = ("most-confident-link", "keeping-link")


class Chain(Policy):
    def __init__(self, links: list[str | list[str]], confidence: str = "own",
                 label_from: str = "most-confident-link"):
        self.links = links
        self.confidence = confidence
        self.label_from = label_from

    @classmethod
    def from_config(cls, cfg: ChainConfig) -> Chain:
        return cls(cfg.links, cfg.confidence, cfg.label_from)

    @property
    def groups(self) -> list[list[str]]:
        return [[link] if isinstance(link, str) else list(link) for link in self.links]

    def link_name(self, i: int) -> str:
        return f"link {i + 1}: {'+'.join(self.groups[i])}"

    def annotators(self) -> list[str]:
        return list(dict.fromkeys(a for group in self.groups for a in group))

    def _check(self, state: PolicyState) -> None:
        if self.confidence not in CONFIDENCES:
            raise PolicyError(f"unknown chain confidence {self.confidence!r}; valid: "
                              f"{', '.join(CONFIDENCES)}")
        if self.label_from not in LABEL_FROM:
            raise PolicyError(f"unknown chain label_from {self.label_from!r}; valid: "
                              f"{', '.join(LABEL_FROM)}")
        if self.confidence == "agreement" and state.multilabel:
            raise PolicyError("chain confidence 'agreement' needs a classification task; use "
                              "confidence = \"own\" for multilabel tasks")
        names = [a for group in self.groups for a in group]
        if len(names) != len(set(names)):
            twice = sorted({a for a in names if names.count(a) > 1})
            raise PolicyError(f"annotator(s) {', '.join(twice)} appear in more than one chain "
                              "link; each annotator answers an item once, so give each link "
                              "its own annotators")

    def link_consensus(self, state: PolicyState, i: int, positions: np.ndarray) -> Consensus:
        """Link ``i``'s label on the given items, with the chain's confidence."""
        group = self.groups[i]
        c = state.consensus(group, positions)
        if self.confidence == "own":
            return c
        scope = [a for g in self.groups[:i + 1] for a in g]
        said = np.stack([state.label[a][positions] for a in scope], axis=1)
        have = said >= 0
        agree = ((said == c.label[:, None]) & have).sum(axis=1) / np.maximum(have.sum(axis=1), 1)
        agree = np.where(c.votes > 0, agree, 0.0)
        return Consensus(c.posterior, c.label, agree, c.agreement, c.votes)

    def percentiles(self, state: PolicyState, i: int, positions: np.ndarray) -> np.ndarray:
        """Each item's mid-rank confidence percentile among all answers link ``i`` gave;
        ``-inf`` where the link gave the item no label."""
        reached = np.flatnonzero(state.resolved(self.groups[i]))
        ref = self.link_consensus(state, i, reached)
        pool = np.sort(ref.confidence[ref.votes > 0])
        c = self.link_consensus(state, i, positions)
        if not len(pool):
            return np.full(len(positions), -np.inf)
        below = np.searchsorted(pool, c.confidence, side="left")
        upto = np.searchsorted(pool, c.confidence, side="right")
        pct = (below + 0.5 * (upto - below)) / len(pool)
        return np.where(c.votes > 0, pct, -np.inf)

    def _decide(self, state: PolicyState, plan: Plan, i: int, positions: np.ndarray,
                c: Consensus) -> np.ndarray:
        """Decide the items link ``i`` keeps, each with the label of its chosen link.

        Returns the mask of items held back: flagged as prompt injections with no non-LLM
        annotator of links ``1..i`` agreeing with their label. A link that is not the last
        leaves them undecided (they go on); the last decides them flagged ``injection``."""
        name = self.link_name(i)
        last = i == len(self.groups) - 1
        scope = [a for g in self.groups[:i + 1] for a in g]
        held_all = np.zeros(len(positions), dtype=bool)

        def decide(rows: np.ndarray, src: Consensus, group: list[str]) -> None:
            at = np.flatnonzero(rows)
            held = state.unconfirmed(scope, positions[at], src) & (src.votes > 0)
            held_all[at[held]] = True
            if not last:
                plan.decide(Decision(positions[at[~held]], take(src, ~held), group, name))
                return
            # at the last link, an item whose call failed stays reopenable: asked again
            failed = np.zeros(len(at), dtype=bool)
            for a in self.groups[i]:
                failed |= state.status[a][positions[at]] == FAILED
            for fail in (False, True):
                st = DecisionState.FAILED if fail else DecisionState.FINAL
                for these, flags in ((~held & (failed == fail), ""),
                                     (held & (failed == fail), HELD)):
                    plan.decide(Decision(positions[at[these]], take(src, these), group, name,
                                         flags=flags, state=st))

        if self.label_from == "keeping-link" or i == 0:
            decide(np.ones(len(positions), dtype=bool), c, self.groups[i])
            return held_all
        best = np.zeros(len(positions), dtype=np.int64)
        top = np.full(len(positions), -np.inf)
        for j in range(i + 1):
            pct = self.percentiles(state, j, positions)
            better = pct >= top  # a tie goes to the later link
            better &= pct > -np.inf
            best[better], top[better] = j, pct[better]
        best[np.isinf(top)] = i  # no link labelled it: the keeping link's (empty) answer
        for j in np.unique(best).tolist():
            rows = best == j
            src = take(c, rows) if j == i else self.link_consensus(state, j, positions[rows])
            decide(rows, src, self.groups[j])
        return held_all

    def step(self, state: PolicyState) -> Plan:
        self._check(state)
        plan = Plan()
        cand = state.open
        pos = np.flatnonzero(cand)
        groups = self.groups
        n_links = len(groups)
        for i, group in enumerate(groups):
            if len(pos) == 0:
                return plan
            asked = False
            for a in group:
                need = cand & (state.status[a] == NOT_ASKED)
                if need.any():
                    plan.ask(a, np.flatnonzero(need))
                    asked = True
            if asked or state.pending(group)[pos].any():
                return plan
            if i == n_links - 1:
                self._decide(state, plan, i, pos, self.link_consensus(state, i, pos))
                return plan
            following = groups[i + 1]
            if any((cand & state.was_planned(a)).any() for a in following):
                continue  # this link has kept its share already (in this run or before)
            c = self.link_consensus(state, i, pos)
            conf = np.where(c.votes > 0, c.confidence, -1.0)
            order = np.lexsort((pos, -conf))
            keep = len(pos) // (n_links - i)
            kept = np.zeros(len(pos), dtype=bool)
            kept[order[:keep]] = True
            kept &= c.votes > 0
            held = self._decide(state, plan, i, pos[kept], take(c, kept))
            kept[np.flatnonzero(kept)[held]] = False  # flagged, LLM answers only: go on
            for a in following:
                plan.ask(a, pos[~kept])
            return plan
        return plan
