"""Aggregation: judgements in, consensus labels, posteriors and skills out.

Estimators follow scikit-learn's contract: hyperparameters in ``__init__``, ``fit`` takes
the long judgement table and returns ``self``, learned state ends in ``_`` (``labels_``,
``probas_``, ``skills_``, ``errors_``). The table may use labelquorum's column names
(``item, annotator, label``) or crowd-kit's (``task, worker, label``); see ``base.py`` for
the documented input rules (last duplicate wins, seeded tie-break). One module per method.
"""

from __future__ import annotations

from .base import Aggregator, Encoded, encode
from .bradley_terry import BradleyTerry
from .dawid_skene import DawidSkene, OneCoinDawidSkene
from .glad import GLAD
from .mace import MACE
from .majority_vote import MajorityVote
from .multilabel import BinaryRelevance
from .ratings import MeanRating, MedianRating, WeightedMeanRating
from .registry import available, make_aggregator
from .token_vote import TokenVoteSpans
from .voting import METHODS, Consensus, tie_keys, vote
from .wawa import Wawa
from .weighted_vote import WeightedVote

__all__ = [
           "GLAD",
           "MACE",
           "METHODS",
           "Aggregator",
           "BinaryRelevance",
           "BradleyTerry",
           "Consensus",
           "DawidSkene",
           "Encoded",
           "MajorityVote",
           "MeanRating",
           "MedianRating",
           "OneCoinDawidSkene",
           "TokenVoteSpans",
           "Wawa",
           "WeightedMeanRating",
           "WeightedVote",
           "available",
           "encode",
           "make_aggregator",
           "tie_keys",
           "vote",
]
