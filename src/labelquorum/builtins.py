"""The built-in extensions, registered like a plugin's (see :mod:`labelquorum.plugins`).

Classes are named by ``"module:Class"`` paths and imported when a project uses them, so
heavy libraries load on demand; the config models are light and imported here.
"""

from __future__ import annotations

from .kinds import BUILTIN_KINDS
from .plugins import AggregatorType, AnnotatorType, PolicyType
from .sections import annotators as a
from .sections import policies as p

_ITEMS = ("class", "labelset")  # whole-item values: not spans

ANNOTATORS = [
    AnnotatorType(a.TfidfConfig, "labelquorum.annotators.tfidf:TfidfAnnotator", _ITEMS),
    AnnotatorType(a.EmbeddingConfig, "labelquorum.annotators.embedding:EmbeddingAnnotator",
                  _ITEMS),
    AnnotatorType(a.VaderConfig, "labelquorum.annotators.vader:VaderAnnotator", ("class",)),
    AnnotatorType(a.RulesConfig, "labelquorum.annotators.rules:RulesAnnotator", _ITEMS),
    AnnotatorType(a.ReplayConfig, "labelquorum.annotators.replay:ReplayAnnotator"),
    AnnotatorType(a.SimulatedConfig, "labelquorum.annotators.simulated:SimulatedAnnotator",
                  needs_gold=True),
    AnnotatorType(a.HumanConfig, "labelquorum.annotators.human:HumanAnnotator"),
    AnnotatorType(a.SpacyConfig, "labelquorum.annotators.spacy_ner:SpacyAnnotator",
                  ("spans",)),
    AnnotatorType(a.LlmConfig, "labelquorum.annotators.llm:LlmAnnotator"),
]

POLICIES = [
    PolicyType(p.CascadeConfig, "labelquorum.policies.cascade:Cascade"),
    PolicyType(p.VoteThenVerifyConfig, "labelquorum.policies.cascade:VoteThenVerify"),
    PolicyType(p.ChainConfig, "labelquorum.policies.chain:Chain"),
    PolicyType(p.AutoConfig, "labelquorum.policies.auto:Auto"),
]

_CLASSES = ("class",)
AGGREGATORS = [
    AggregatorType("majority-vote", "labelquorum.aggregation.majority_vote:MajorityVote",
                   value_types=_CLASSES),
    AggregatorType("wawa", "labelquorum.aggregation.wawa:Wawa", value_types=_CLASSES),
    AggregatorType("dawid-skene", "labelquorum.aggregation.dawid_skene:DawidSkene",
                   value_types=_CLASSES),
    AggregatorType("one-coin-dawid-skene",
                   "labelquorum.aggregation.dawid_skene:OneCoinDawidSkene", value_types=_CLASSES),
    AggregatorType("glad", "labelquorum.aggregation.glad:GLAD", value_types=_CLASSES),
    AggregatorType("mace", "labelquorum.aggregation.mace:MACE", value_types=_CLASSES),
]

TASK_KINDS = BUILTIN_KINDS
