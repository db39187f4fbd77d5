"""GLAD: annotator ability and item difficulty, learnt together by EM.

J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma and J. Movellan. *Whose Vote Should Count More:
Optimal Integration of Labels from Labelers of Unknown Expertise.* NeurIPS 2009.
<https://proceedings.neurips.cc/paper/2009/file/f899139df5e1059396431415e770c6dd-Paper.pdf>
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit

from ..errors import LabelquorumError
from .base import Encoded
from .seeding import SeededAggregator, check_positive_int, clamp


class GLAD(SeededAggregator):
    r"""Generative model of Labels, Abilities and Difficulties (Whitehill et al., 2009).

    Annotator :math:`w` has an ability :math:`\alpha_w \in \mathbb{R}` (negative: worse than
    chance, adversarial) and item :math:`i` an inverse difficulty
    :math:`\beta_i = e^{b_i} > 0`. An annotator gives the true label with probability
    :math:`\sigma(\alpha_w \beta_i)` and otherwise one of the other :math:`K - 1` labels
    uniformly — the multiclass form crowd-kit implements. Priors: true labels uniform,
    :math:`\alpha_w \sim N(\text{alpha\_prior}, 1)`, :math:`b_i \sim N(\text{beta\_prior}, 1)`.

    EM maximises the posterior of the parameters. The E-step is exact; the M-step takes
    ``m_step_iter`` rounds of Fisher-scoring steps, first on every :math:`\alpha` at once,
    then on every :math:`b` at once (each is a diagonal Newton step, since abilities only
    interact through items and difficulties only through annotators) — a generalised EM,
    vectorised over the long judgement table.

    Initialisation: every ability and difficulty at its prior mean, so the first E-step is a
    soft majority vote (its argmax is the majority vote), as in crowd-kit. Iteration stops
    after ``n_iter`` rounds or when the mean log posterior per judgement changes by less
    than ``tol``.

    **Gold seeding:** ``fit(judgements, gold={item: label})`` fixes the posterior of each
    gold item to one-hot on its gold label throughout EM (see
    :mod:`labelquorum.aggregation.seeding`); abilities are then learnt against the gold.

    Attributes after ``fit``: ``labels_`` (Series by item), ``probas_`` (items x labels),
    ``skills_`` and ``alphas_`` (ability per annotator), ``betas_`` (inverse difficulty
    :math:`\beta_i > 0` per item; crowd-kit's ``betas_`` is its logarithm :math:`b_i`),
    ``n_iter_``, ``loss_history_`` (negative mean log posterior per judgement after each
    iteration; it does not increase).
    """

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, seed: int = 0,
                 labels: list[str] | None = None, alpha_prior: float = 1.0,
                 beta_prior: float = 1.0, m_step_iter: int = 2):
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed
        self.labels = labels
        self.alpha_prior = alpha_prior
        self.beta_prior = beta_prior
        self.m_step_iter = m_step_iter

    def _check_params(self) -> None:
        super()._check_params()
        check_positive_int("n_iter", self.n_iter)
        check_positive_int("m_step_iter", self.m_step_iter)
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise LabelquorumError(f"tol must be a number >= 0, got {self.tol!r}")

    def _fit_seeded(self, enc: Encoded, gold_items: np.ndarray,
                    gold_labels: np.ndarray) -> np.ndarray:
        n, m, k = enc.n_items, enc.n_workers, enc.n_labels
        item, worker = enc.item, enc.worker
        flat = enc.label * n + item  # labels-major: (k, n) arrays reduce fast over labels
        n_judgements = len(item)
        alpha = np.full(m, float(self.alpha_prior))
        b = np.full(n, float(self.beta_prior))
        log_other = np.log(k - 1) if k > 1 else 0.0

        def e_step():
            x = alpha[worker] * np.exp(b[item])
            log_wrong = log_expit(-x) - log_other
            score = np.bincount(flat, log_expit(x) - log_wrong, minlength=n * k).reshape(k, n)
            score += np.bincount(item, log_wrong, minlength=n)
            posterior, norm = softmax_labels(score)
            clamp(posterior, norm, score, gold_items, gold_labels)
            objective = (norm.sum() - 0.5 * ((alpha - self.alpha_prior) ** 2).sum()
                         - 0.5 * ((b - self.beta_prior) ** 2).sum())
            return posterior, -objective / n_judgements

        posterior, loss = e_step()
        self.loss_history_ = []
        self.n_iter_ = 0
        if k > 1:
            for _ in range(self.n_iter):
                correct = posterior.reshape(-1)[flat]  # P(judgement is right)
                for _ in range(self.m_step_iter):
                    beta = np.exp(b)
                    t = beta[item]
                    s = expit(alpha[worker] * t)
                    grad = np.bincount(worker, (correct - s) * t, minlength=m)
                    hess = np.bincount(worker, s * (1 - s) * t * t, minlength=m)
                    alpha += np.clip((grad - (alpha - self.alpha_prior)) / (hess + 1.0), -2.0, 2.0)
                    x = alpha[worker] * t
                    s = expit(x)
                    grad = np.bincount(item, (correct - s) * x, minlength=n)
                    hess = np.bincount(item, s * (1 - s) * x * x, minlength=n)
                    step = (grad - (b - self.beta_prior)) / (hess + 1.0)
                    b += np.clip(step, -1.0, 1.0)
                posterior, new_loss = e_step()
                self.n_iter_ += 1
                self.loss_history_.append(float(new_loss))
                done = abs(loss - new_loss) < self.tol
                loss = new_loss
                if done:
                    break
        self.alphas_ = pd.Series(alpha, index=enc.worker_ids.rename("annotator"), name="alpha")
        self.skills_ = self.alphas_.rename("skill")
        self.betas_ = pd.Series(np.exp(b), index=enc.item_ids.rename("item"), name="beta")
        return np.ascontiguousarray(posterior.T)


def softmax_labels(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over labels of (labels, items) log scores, and each item's log-sum-exp.

    Labels-major layout, because numpy reduces a short inner axis slowly."""
    top = score.max(axis=0)
    posterior = np.exp(score - top)
    total = posterior.sum(axis=0)
    posterior /= total
    return posterior, top + np.log(total)
