"""A rank-based chain (the routing of LLM Chain Ensembles, Farr et al.).

Links are asked in order. When every item that reached link ``i`` has its answer, the
link keeps its most confident ``floor(reached / links_left)`` items (ties by import
order) and forwards the rest to link ``i + 1``; the last link keeps everything. Abstained
or failed answers rank last. The decision needs the whole link's answers, so a link whose
answers arrive later (people) holds the chain until they do.

The chain works on the batch of items open when it starts; items imported while it is
half-way join at the link it has reached.
"""

from __future__ import annotations

import numpy as np

from ..config import ChainConfig
from .base import NOT_ASKED, PENDING, Decision, Plan, Policy, PolicyState
from .cascade import take


class Chain(Policy):
    def __init__(self, links: list[str]):
        self.links = links

    @classmethod
    def from_config(cls, cfg: ChainConfig) -> Chain:
        return cls(cfg.links)

    def annotators(self) -> list[str]:
        return list(dict.fromkeys(self.links))

    def step(self, state: PolicyState) -> Plan:
        plan = Plan()
        cand = state.open
        pos = np.flatnonzero(cand)
        n_links = len(self.links)
        for i, link in enumerate(self.links):
            if len(pos) == 0:
                return plan
            need = cand & (state.status[link] == NOT_ASKED)
            if need.any():
                plan.ask(link, np.flatnonzero(need))
                return plan
            if (cand & (state.status[link] == PENDING)).any():
                return plan
            name = f"link {i + 1}: {link}"
            if i == n_links - 1:
                c = state.consensus([link], pos)
                plan.decide(Decision(pos, c, [link], name))
                return plan
            following = self.links[i + 1]
            if (cand & (state.status[following] != NOT_ASKED)).any():
                continue  # this link has kept its share already
            c = state.consensus([link], pos)
            conf = np.where(c.votes > 0, c.confidence, -1.0)
            order = np.lexsort((pos, -conf))
            keep = len(pos) // (n_links - i)
            kept = np.zeros(len(pos), dtype=bool)
            kept[order[:keep]] = True
            kept &= c.votes > 0
            plan.decide(Decision(pos[kept], take(c, kept), [link], name))
            plan.ask(following, pos[~kept])
            return plan
        return plan
