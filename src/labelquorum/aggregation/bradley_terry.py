"""Bradley–Terry scores of systems from pairwise comparisons.

Bradley, R. A. and Terry, M. E. (1952), *Rank analysis of incomplete block designs I: the
method of paired comparisons*, Biometrika 39; fitted by the MM (minorise–maximise)
iterations of Hunter, D. R. (2004), *MM algorithms for generalized Bradley–Terry models*,
Ann. Statist. 32 — Zermelo's 1929 iteration. System *i* beats *j* with probability
``p_i / (p_i + p_j)``; the scores ``p`` maximise the likelihood of the observed outcomes and
are normalised to sum to 1 (crowd-kit's ``BradleyTerry`` normalisation, so the two can be
compared number for number).

Input: a table with crowd-kit's columns ``left, right, label``, where ``label`` names the
winner (equal to ``left`` or ``right``) or is missing (NaN, None, empty) for a **tie**.

* ``ties="half"`` (the default) counts a tie as half a win for each side, the usual
  convention for system leaderboards; ``ties="ignore"`` drops ties, which is what
  crowd-kit does (a row whose label is neither side counts for nothing there).
* A label that names neither side is refused (crowd-kit drops it silently).
* A system compared with itself says nothing about its strength: such rows are dropped.
* The maximum-likelihood scores exist only when every system has beaten, and been beaten
  by, a chain of the others (the win graph is *strongly connected*). Otherwise ``fit``
  raises an error naming the systems that never won against the rest; ``prior > 0`` adds
  that many virtual ties to every pair of systems that were compared (a smoothing prior),
  which makes the scores finite whenever the comparisons connect the systems at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.sparse import csgraph
from sklearn.base import BaseEstimator

from ..errors import LabelquorumError
from .base import id_texts, sorted_ids

TIE_POLICIES = ("half", "ignore")


def _missing(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy()


def win_matrix(comparisons: pd.DataFrame, *, ties: str = "half",
               prior: float = 0.0) -> tuple[np.ndarray, pd.Index]:
    """``W[i, j]`` = how often system *i* beat system *j* (ties and prior as stated in the
    module docstring), with the systems (sorted, with the caller's types)."""
    if not isinstance(comparisons, pd.DataFrame):
        raise LabelquorumError(f"Expected a pandas DataFrame of comparisons, got "
                               f"{type(comparisons).__name__}.")
    missing = [c for c in ("left", "right", "label") if c not in comparisons.columns]
    if missing:
        raise LabelquorumError(
            f"The comparison table needs the columns left, right and label (the winner, or "
            f"empty for a tie); {', '.join(missing)} missing. Columns found: "
            f"{', '.join(map(str, comparisons.columns)) or 'none'}.")
    if ties not in TIE_POLICIES:
        raise LabelquorumError(f"ties={ties!r} is not a tie policy; choose one of "
                               f"{', '.join(TIE_POLICIES)}.")
    if not np.isfinite(prior) or prior < 0:
        raise LabelquorumError(f"prior={prior!r} must be a number of virtual ties >= 0.")
    df = comparisons[["left", "right", "label"]]
    if _missing(df["left"]).any() or _missing(df["right"]).any():
        raise LabelquorumError("Some comparisons have no left or no right system; give "
                               "every comparison both.")
    codes, systems = sorted_ids(pd.concat([df["left"], df["right"]], ignore_index=True))
    n = len(df)
    left, right = codes[:n], codes[n:]
    left_text = id_texts(systems)[left] if n else np.array([], dtype=object)
    right_text = id_texts(systems)[right] if n else np.array([], dtype=object)
    tie = _missing(df["label"])
    label = np.array([str(v).strip() for v in df["label"]], dtype=object)
    left_won = ~tie & (label == left_text)
    right_won = ~tie & (label == right_text) & ~left_won
    stray = ~tie & ~left_won & ~right_won
    if stray.any():
        at = int(np.flatnonzero(stray)[0])
        raise LabelquorumError(
            f"Comparison {df.index[at]!r} ({left_text[at]} vs {right_text[at]}) has the "
            f"label {df['label'].iloc[at]!r}, which names neither side; the label must be "
            "the winner (left or right) or empty for a tie.")
    other = left != right  # a system against itself tells nothing
    k = len(systems)
    wins = np.zeros((k, k))
    np.add.at(wins, (left[left_won & other], right[left_won & other]), 1.0)
    np.add.at(wins, (right[right_won & other], left[right_won & other]), 1.0)
    if ties == "half":
        both = tie & other
        np.add.at(wins, (left[both], right[both]), 0.5)
        np.add.at(wins, (right[both], left[both]), 0.5)
    if prior:
        compared = np.zeros((k, k), dtype=bool)
        compared[left[other], right[other]] = True
        compared |= compared.T
        wins += prior * compared
    return wins, systems


class BradleyTerry(BaseEstimator):
    """Bradley–Terry system scores (see the module docstring for the input and the rules).

    ``scores_`` (system -> score, summing to 1), ``wins_`` (the win matrix as a DataFrame),
    ``n_iter_`` (MM iterations run) and ``converged_``. ``fit`` stops when the scores move
    by less than ``tol`` in total (L1) between two iterations, or after ``max_iter``.
    """

    def __init__(self, ties: str = "half", prior: float = 0.0, max_iter: int = 100_000,
                 tol: float = 1e-12):
        self.ties = ties
        self.prior = prior
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, comparisons: pd.DataFrame) -> BradleyTerry:
        if int(self.max_iter) < 1:
            raise LabelquorumError(f"max_iter={self.max_iter!r} must be at least 1.")
        wins, systems = win_matrix(comparisons, ties=self.ties, prior=float(self.prior))
        self.wins_ = pd.DataFrame(wins, index=systems, columns=systems)
        self.n_iter_, self.converged_ = 0, True
        if len(systems) == 0:
            self.scores_ = pd.Series([], dtype=float, name="score")
            return self
        _check_connected(wins, id_texts(systems), self.prior)
        games = wins + wins.T
        won = wins.sum(axis=1)
        p = np.full(len(systems), 1.0 / len(systems))
        pairs = games > 0
        self.converged_ = False
        for step in range(1, int(self.max_iter) + 1):
            # Hunter's MM update: p_i = W_i / sum_j n_ij / (p_i + p_j)
            denom = np.zeros_like(games)
            total = p[:, None] + p[None, :]
            denom[pairs] = games[pairs] / total[pairs]
            new = won / denom.sum(axis=1)
            new /= new.sum()
            change = np.abs(new - p).sum()
            p = new
            if change < self.tol:
                self.n_iter_, self.converged_ = step, True
                break
        else:
            self.n_iter_ = int(self.max_iter)
        self.scores_ = pd.Series(p, index=systems, name="score")
        return self

    def fit_predict(self, comparisons: pd.DataFrame) -> pd.Series:
        return self.fit(comparisons).scores_

    def win_probability(self, a, b) -> float:
        """The fitted probability that system ``a`` beats system ``b``."""
        pa, pb = self.scores_[a], self.scores_[b]
        return float(pa / (pa + pb))


def _check_connected(wins: np.ndarray, names: np.ndarray, prior: float) -> None:
    """Refuse win graphs without a finite maximum-likelihood solution, naming a group of
    systems that never beat anyone outside it."""
    if len(names) < 2:
        return
    n_groups, group = csgraph.connected_components(wins > 0, directed=True,
                                                   connection="strong")
    if n_groups == 1:
        return
    outside = group[None, :] != group[:, None]
    beats_out = np.zeros(n_groups, dtype=bool)
    np.logical_or.at(beats_out, group, ((wins > 0) & outside).any(axis=1))
    loser = int(np.flatnonzero(~beats_out)[0])
    members = ", ".join(map(str, names[group == loser][:8]))
    compared = (wins + wins.T) > 0
    n_parts = csgraph.connected_components(compared, directed=False)[0]
    if n_parts > 1:
        raise LabelquorumError(
            f"The comparisons fall into {n_parts} groups of systems never compared with "
            f"each other (one holds {members}), so their Bradley–Terry scores cannot be put "
            "on one scale; add comparisons between the groups.")
    raise LabelquorumError(
        f"System(s) {members} never beat any other system, so their Bradley–Terry score has "
        "no finite maximum-likelihood value (the win graph is not strongly connected). Add "
        f"comparisons, count ties, or fit with prior > 0 (virtual ties per compared pair; "
        f"prior is {prior:g} now).")


def kendall_tau(scores: pd.Series, reference: pd.Series) -> float:
    """Kendall's τ-b between two score tables over the systems both hold (1 = the same
    ranking, -1 = reversed; NaN with fewer than two shared systems or no variation)."""
    shared = scores.index.intersection(reference.index)
    if len(shared) < 2:
        return float("nan")
    tau = stats.kendalltau(scores[shared].to_numpy(), reference[shared].to_numpy()).statistic
    return float(tau)
