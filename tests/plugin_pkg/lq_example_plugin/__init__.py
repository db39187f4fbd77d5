"""An example labelquorum plugin: one of each extension kind, found by entry point alone.

- annotator ``length``: labels an item by its text's length (``short`` below ``threshold``
  characters, ``long`` from it on);
- policy ``ask-all``: asks every listed annotator about every open item and decides an item
  once all of them have answered it, with the policy's aggregator;
- aggregator ``veto``: the first label in the task's order that any annotator gave wins (a
  cautious rule: an item is "flag" as soon as one annotator says so);
- task kind ``yes-no``: a classification task with exactly two labels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from labelquorum.annotators import Annotator, Answers, Items
from labelquorum.plugins import (
    AggregatorType,
    AnnotatorBase,
    AnnotatorType,
    PolicyBase,
    PolicyType,
    TaskKind,
)
from labelquorum.policies import NOT_ASKED, Decision, Plan, Policy, PolicyState


class LengthConfig(AnnotatorBase):
    type: Literal["length"]
    threshold: int = Field(20, ge=1)
    short: str
    long: str


class LengthAnnotator(Annotator):
    kind = "rules"

    def predict(self, items: Items) -> Answers:
        cfg = self.config
        return Answers([cfg.long if len(t) >= cfg.threshold else cfg.short for t in items.texts])


class AskAllConfig(PolicyBase):
    type: Literal["ask-all"]
    annotators: list[str] = Field(min_length=1)

    def references(self) -> list[tuple[str, list[str]]]:
        return [("policy.annotators", list(self.annotators))]


class AskAll(Policy):
    def __init__(self, names: list[str]):
        self.names = list(names)

    @classmethod
    def from_config(cls, cfg: AskAllConfig) -> AskAll:
        return cls(cfg.annotators)

    def annotators(self) -> list[str]:
        return list(self.names)

    def step(self, state: PolicyState) -> Plan:
        plan = Plan()
        for name in self.names:
            plan.ask(name, np.flatnonzero(state.open & (state.status[name] == NOT_ASKED)))
        ready = np.flatnonzero(state.open & state.resolved(self.names))
        plan.decide(Decision(ready, state.consensus(self.names, ready), list(self.names),
                             "all"))
        return plan


class Veto:
    """The first label, in the task's order, that any annotator gave."""

    def __init__(self, labels: list[str] | None = None):
        self.labels = labels

    def fit(self, judgements: pd.DataFrame) -> Veto:
        table = judgements.rename(columns={"task": "item", "worker": "annotator"})
        order = list(self.labels) if self.labels else sorted(table["label"].unique())
        rank = table["label"].map({lab: i for i, lab in enumerate(order)})
        best = rank.groupby(table["item"]).min()
        self.labels_ = best.map(dict(enumerate(order)))
        probas = np.zeros((len(best), len(order)))
        probas[np.arange(len(best)), best.to_numpy(dtype=int)] = 1.0
        self.probas_ = pd.DataFrame(probas, index=best.index, columns=order)
        return self


def _two_labels(task) -> None:
    if len(task.labels) != 2:
        raise ValueError(f"a yes-no task has exactly two labels; found {len(task.labels)}")


LENGTH = AnnotatorType(config=LengthConfig, factory=LengthAnnotator, value_types=("class",))
ASK_ALL = PolicyType(config=AskAllConfig, policy=AskAll)
VETO = AggregatorType(name="veto", estimator=Veto, task_kinds=("yes-no",))
YES_NO = TaskKind(name="yes-no", value_type="class", check=_two_labels,
                  description="a classification task with exactly two labels")
