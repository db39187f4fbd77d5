"""MACE: Multi-Annotator Competence Estimation — who is labelling, and who is spamming.

D. Hovy, T. Berg-Kirkpatrick, A. Vaswani and E. Hovy. *Learning Whom to Trust with MACE.*
NAACL-HLT 2013, 1120–1130. <https://aclanthology.org/N13-1132.pdf>
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma

from ..errors import LabelquorumError
from .base import Encoded
from .glad import softmax_labels
from .seeding import SeededAggregator, check_positive_int, clamp
from .voting import tie_keys

METHODS = ("vb", "em")
RESTART_NOISE = 3.0  # most random votes a restart adds to an item's label


class MACE(SeededAggregator):
    r"""Multi-Annotator Competence Estimation (Hovy et al., 2013).

    On each item, annotator :math:`w` either knows the answer (probability
    :math:`\theta_w`, the competence) and gives the true label, or spams (probability
    :math:`1 - \theta_w`) and draws a label from a personal distribution :math:`\xi_w`.
    True labels are uniform a priori.

    ``method="vb"`` (default, as in crowd-kit) is variational Bayes with symmetric priors:
    :math:`\text{Beta}(\text{alpha}, \text{beta})` on (spamming, knowing) and
    :math:`\text{Dirichlet}(\text{strategy\_prior})` on :math:`\xi_w`; ``method="em"`` is
    plain EM that adds ``smoothing`` (default ``0.01 / n_labels``, as in the original code)
    to the expected counts before normalising.

    **Restarts and initialisation:** the first of ``n_restarts`` runs starts from
    majority-vote posteriors; each other run starts from the vote counts plus up to
    ``RESTART_NOISE`` random votes per item and label, drawn from a hash of ``seed``, the
    restart, the item id and the label's usage rank -- so no restart depends on row order
    or on the names of annotators and labels. The run with the best marginal
    log-likelihood is kept. (crowd-kit draws every restart with the same random state, so
    its restarts are identical.) Each run takes ``n_iter`` EM rounds, stopping early when
    the mean log-likelihood per judgement changes by less than ``tol``.

    **Gold seeding:** ``fit(judgements, gold={item: label})`` fixes the posterior of each
    gold item to one-hot on its gold label throughout EM (see
    :mod:`labelquorum.aggregation.seeding`).

    Attributes after ``fit``: ``labels_``, ``probas_``, ``skills_`` (competence
    :math:`\theta_w` per annotator), ``spam_`` (annotators x labels: each one's spamming
    label distribution :math:`\xi_w`), ``log_likelihood_`` (of the kept run),
    ``n_iter_`` (rounds of the kept run), ``loss_history_`` (negative mean log-likelihood per
    judgement after each round of the kept run).
    """

    def __init__(self, n_iter: int = 50, n_restarts: int = 10, method: str = "vb",
                 smoothing: float | None = None, alpha: float = 0.5, beta: float = 0.5,
                 strategy_prior: float = 10.0, tol: float = 1e-7, seed: int = 0,
                 labels: list[str] | None = None):
        self.n_iter = n_iter
        self.n_restarts = n_restarts
        self.method = method
        self.smoothing = smoothing
        self.alpha = alpha
        self.beta = beta
        self.strategy_prior = strategy_prior
        self.tol = tol
        self.seed = seed
        self.labels = labels

    def _check_params(self) -> None:
        super()._check_params()
        check_positive_int("n_iter", self.n_iter)
        check_positive_int("n_restarts", self.n_restarts)
        if self.method not in METHODS:
            raise LabelquorumError(f"unknown MACE method {self.method!r}; valid: "
                                   f"{', '.join(METHODS)}")
        for name in ("alpha", "beta", "strategy_prior"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise LabelquorumError(f"{name} must be a number > 0, got {value!r}")
        if self.smoothing is not None and not (isinstance(self.smoothing, (int, float))
                                               and self.smoothing >= 0):
            raise LabelquorumError(f"smoothing must be None or a number >= 0, got "
                                   f"{self.smoothing!r}")

    def _fit_seeded(self, enc: Encoded, gold_items: np.ndarray,
                    gold_labels: np.ndarray) -> np.ndarray:
        gold = (gold_items, gold_labels)
        table = _Table(enc)
        counts = enc.counts().T  # (labels, items)
        order = enc.tie_order()
        best = None
        for restart in range(self.n_restarts):
            start = counts.copy()
            if restart:  # random votes added per (item, label by usage rank)
                for rank, label in enumerate(order):
                    keys = tie_keys(enc.items, f"{self.seed}/mace/{restart}/{rank}")
                    start[label] += RESTART_NOISE * (keys / np.float64(2 ** 64))
            start /= start.sum(axis=0)
            clamp(start, np.zeros(enc.n_items), start, *gold)
            know, spam = self._m_step(table, start, None)
            run = self._run(table, know, spam, gold)
            if best is None or run[0] > best[0]:
                best = run
        log_likelihood, posterior, know, spam, history = best
        index = enc.worker_ids.rename("annotator")
        self.log_likelihood_ = float(log_likelihood)
        self.loss_history_ = history
        self.n_iter_ = len(history)
        self.skills_ = pd.Series(know, index=index, name="skill")
        self.spam_ = pd.DataFrame(spam / spam.sum(axis=1, keepdims=True), index=index,
                                  columns=enc.label_values)
        return np.ascontiguousarray(posterior.T)

    def _run(self, table: _Table, know: np.ndarray, spam: np.ndarray, gold):
        posterior, log_likelihood = _e_step(table, know, spam, gold)
        history = []
        for _ in range(self.n_iter):
            know, spam = self._m_step(table, posterior, (know, spam))
            posterior, new = _e_step(table, know, spam, gold)
            history.append(-new / table.size)
            done = abs(new - log_likelihood) / table.size < self.tol
            log_likelihood = new
            if done:
                break
        return log_likelihood, posterior, know, spam, history

    def _m_step(self, table: _Table, posterior: np.ndarray, params):
        """Expected (spamming, knowing) counts per annotator and spam-label counts, turned
        into parameters. Without ``params`` (the first run's start) annotators are taken to
        know every answer the posterior agrees with."""
        m, k = table.n_workers, table.n_labels
        knowing = posterior.reshape(-1)[table.flat]  # P(judgement is right)
        if params is not None:  # times P(knowing | right), a function of (annotator, label)
            know, spam = params
            p_spam = (1 - know)[:, None] * spam
            total = p_spam + know[:, None]  # 0 only where know = 0 and spam = 0
            share = np.divide(know[:, None], total, out=np.ones_like(total), where=total > 0)
            knowing = knowing * share.reshape(-1)[table.wl]
        knowing = np.bincount(table.wl, knowing, minlength=m * k).reshape(m, k)
        # expected spamming counts per label (never below 0 by rounding)
        strategy = np.maximum(table.wl_counts - knowing, 0.0)
        counts = np.stack([strategy.sum(axis=1), knowing.sum(axis=1)], axis=1)
        if self.method == "vb":
            counts = counts + np.array([self.alpha, self.beta])
            strategy = strategy + self.strategy_prior
            total = digamma(counts.sum(axis=1))
            know = np.exp(digamma(counts[:, 1]) - total)
            spam_mass = np.exp(digamma(counts[:, 0]) - total)
            spam = np.exp(digamma(strategy) - digamma(strategy.sum(axis=1, keepdims=True)))
            # variational weights are sub-normalised, as in MACE: P(a | t) =
            # spam_mass * spam[a] + know * [a == t]; stored so that (1 - know) * spam
            # is the spamming term
            spam = spam * (spam_mass / (1 - know))[:, None]
        else:
            smoothing = 0.01 / k if self.smoothing is None else self.smoothing
            counts = counts + smoothing
            strategy = strategy + smoothing
            know = counts[:, 1] / counts.sum(axis=1)  # every annotator has a judgement
            # with smoothing=0 an annotator who never spams has no spamming counts: their
            # spam distribution is then uniform (it is weighted by 1 - know = 0 anyway)
            mass = strategy.sum(axis=1, keepdims=True)
            spam = np.divide(strategy, mass, out=np.full_like(strategy, 1.0 / k),
                             where=mass > 0)
        return know, spam


class _Table:
    """The encoded judgements with the flat indices EM needs: ``flat`` into (labels,
    items) arrays, ``wl`` into (annotators, labels) arrays."""

    def __init__(self, enc: Encoded):
        self.n_items, self.n_workers, self.n_labels = enc.n_items, enc.n_workers, enc.n_labels
        self.item, self.worker = enc.item, enc.worker
        self.flat = enc.label * enc.n_items + enc.item
        self.wl = enc.worker * enc.n_labels + enc.label
        self.size = len(enc.item)
        self.wl_counts = np.bincount(self.wl, minlength=enc.n_workers * enc.n_labels
                                     ).reshape(enc.n_workers, enc.n_labels).astype(float)


def _e_step(table: _Table, know: np.ndarray, spam: np.ndarray, gold):
    """Posterior (labels, items) over true labels and the marginal log-likelihood."""
    n, k = table.n_items, table.n_labels
    p_spam = (1 - know)[:, None] * spam  # per (annotator, label), then per judgement
    log_spam = np.log(p_spam + 1e-300).reshape(-1)[table.wl]
    bonus = (np.log(p_spam + know[:, None]) - np.log(p_spam + 1e-300)).reshape(-1)[table.wl]
    score = np.bincount(table.flat, bonus, minlength=n * k).reshape(k, n)
    score += np.bincount(table.item, log_spam, minlength=n) - np.log(k)
    posterior, norm = softmax_labels(score)
    clamp(posterior, norm, score, *gold)
    return posterior, float(norm.sum())
