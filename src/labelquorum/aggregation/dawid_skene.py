"""Dawid-Skene and one-coin Dawid-Skene, by expectation-maximisation.

A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates Using
the EM Algorithm", Journal of the Royal Statistical Society C 28(1), 1979, 20-28.

Both run over the long arrays of :class:`~labelquorum.aggregation.base.Encoded` with no
Python loop over items or annotators: the judgements form one sparse 0/1 matrix ``A``
(items x (annotator, observed label)), so the E-step is ``A @ log(errors)`` and the M-step
``A.T @ posterior`` -- two sparse products per iteration.

Documented choices (as in crowd-kit unless said otherwise):

* **Initialisation:** majority-vote posteriors (vote shares), then an M-step.
* **Stopping:** after at most ``n_iter`` iterations, or as soon as the log-likelihood per
  judgement improves by less than ``tol``. ``loss_history_`` holds the log-likelihood per
  judgement after each iteration, ``n_iter_`` the iterations run.
* **Smoothing:** crowd-kit uses none and guards zeros; here every count gets ``1e-10``
  before normalising (confusion rows, class priors), so no probability is exactly 0, every
  row still sums to 1, and a (annotator, true label) row with no mass is uniform. The
  effect on any estimate is below 1e-9.
* **Gold:** ``fit(judgements, gold=...)`` takes known labels (dict or Series, item ->
  label). Those items' posteriors are one-hot on the gold label from the initialisation on
  and are never re-estimated, so the confusion matrices are initialised from (and keep
  learning from) them; their ``labels_`` are the gold labels. Gold for items with no
  judgements is ignored; a gold label outside the label set is an error.
* A ``confidence`` column, if present, is ignored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import LabelquorumError
from .base import Encoded
from .majority_vote import normalise
from .seeding import SeededAggregator

EPS = 1e-10


class _EM(SeededAggregator):
    """Shared by the EM aggregators: ``fit(judgements, gold=None)`` and the loop."""

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, seed: int = 0,
                 labels: list[str] | None = None):
        self.n_iter = n_iter
        self.tol = tol
        self.seed = seed
        self.labels = labels

    def _check_params(self) -> None:
        super()._check_params()
        if not (isinstance(self.n_iter, (int, np.integer)) and self.n_iter >= 0):
            raise LabelquorumError(f"n_iter must be a non-negative integer; got {self.n_iter!r}")
        if not (isinstance(self.tol, (int, float)) and self.tol >= 0):
            raise LabelquorumError(f"tol must be a non-negative number; got {self.tol!r}")

    def _fit_seeded(self, enc: Encoded, gold_item: np.ndarray,
                    gold_label: np.ndarray) -> np.ndarray:
        k = enc.n_labels
        posterior = normalise(enc.counts())
        posterior[gold_item] = np.eye(k)[gold_label]
        self._setup(enc)
        self._priors(posterior.sum(axis=0))
        self._m_step(enc, posterior)
        self.loss_history_ = []
        self.n_iter_ = 0
        for _ in range(self.n_iter):
            # work in (labels, items) layout: numpy reduces a short inner axis slowly
            joint = np.ascontiguousarray(self._log_joint(enc).T)
            joint += np.log(self.priors_)[:, None]
            top = joint.max(axis=0)
            joint -= top
            np.exp(joint, out=joint)
            total = joint.sum(axis=0)
            joint /= total
            joint[:, gold_item] = 0.0
            joint[gold_label, gold_item] = 1.0
            self._priors(joint.sum(axis=1))
            posterior = np.ascontiguousarray(joint.T)
            self._m_step(enc, posterior)
            self.n_iter_ += 1
            loss = float((np.log(total) + top).sum()) / len(enc.item)
            self.loss_history_.append(loss)
            if len(self.loss_history_) > 1 and loss - self.loss_history_[-2] < self.tol:
                break
        return np.ascontiguousarray(posterior)

    def _priors(self, mass: np.ndarray) -> None:
        """Class priors from the posterior mass of each label (summed over items)."""
        priors = mass + EPS
        self.priors_ = priors / priors.sum()


class DawidSkene(_EM):
    """Dawid & Skene (1979): one full confusion matrix per annotator, fitted by EM.

    See the module docstring for initialisation, stopping, smoothing and gold seeding.

    Parameters
    ----------
    n_iter : int
        Most EM iterations.
    tol : float
        Stop when the log-likelihood per judgement improves by less than this.
    seed : int
        Seed of the tie-break among equally probable labels.
    labels : list, optional
        The label set, in the order of ``probas_`` columns; by default the labels seen.

    Attributes
    ----------
    labels_, probas_ : consensus label and posterior per item.
    errors_ : DataFrame indexed by (annotator, true label), columns the observed labels;
        each row is P(observed | true) and sums to 1.
    priors_ : Series, the class priors.
    skills_ : Series, each annotator's P(observed = true) averaged under ``priors_``.
    n_iter_, loss_history_ : iterations run and log-likelihood per judgement after each.
    """

    def _setup(self, enc: Encoded) -> None:
        k = enc.n_labels
        col = enc.worker * k + enc.label
        ones = np.ones(len(col))
        shape = (enc.n_items, enc.n_workers * k)
        # A (CSR) for the E-step; its transpose is a CSC view, whose product with a dense
        # matrix scatters row by row -- several times faster than a CSR transpose here.
        # Judgements sorted by (item, annotator) are its rows with sorted columns as they
        # are: no sort needed
        if enc.by_item is None:
            self._A = sparse.csr_matrix((ones, (enc.item, col)), shape=shape)
            return
        indptr = np.zeros(enc.n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(enc.item, minlength=enc.n_items), out=indptr[1:])
        self._A = sparse.csr_matrix((ones, col[enc.by_item], indptr), shape=shape)

    def _m_step(self, enc: Encoded, posterior: np.ndarray) -> None:
        k = enc.n_labels
        # counts[w, observed, true]
        counts = np.asarray(self._A.T @ posterior).reshape(enc.n_workers, k, k) + EPS
        self._errors = counts / counts.sum(axis=1, keepdims=True)
        self._log_errors = np.log(self._errors).reshape(enc.n_workers * k, k)

    def _log_joint(self, enc: Encoded) -> np.ndarray:
        """(items, labels) log-likelihood of each item's judgements under each true label."""
        return np.asarray(self._A @ self._log_errors)

    def _set_result(self, enc: Encoded, posterior: np.ndarray) -> None:
        super()._set_result(enc, posterior)
        k = enc.n_labels
        errors = self._errors.transpose(0, 2, 1)  # (worker, true, observed)
        self.errors_ = _errors_frame(enc, errors)
        diag = errors[:, np.arange(k), np.arange(k)]
        self.skills_ = pd.Series(diag @ self.priors_, index=enc.worker_ids.rename("annotator"),
                                 name="skill")
        self.priors_ = pd.Series(self.priors_, index=enc.label_values.rename("label"),
                                 name="prior")
        del self._A, self._errors, self._log_errors


class OneCoinDawidSkene(_EM):
    """One-coin Dawid-Skene: one accuracy per annotator, errors spread evenly.

    The Dawid & Skene (1979) model with each confusion matrix constrained to
    ``skill`` on the diagonal and ``(1 - skill) / (K - 1)`` elsewhere (the "one-coin" model
    of e.g. Zhang, Chen, Zhou & Jordan, "Spectral Methods Meet EM", NeurIPS 2014). Same
    initialisation, stopping, smoothing and gold seeding as :class:`DawidSkene`.

    Parameters
    ----------
    n_iter, tol, seed, labels : as for :class:`DawidSkene`.

    Attributes
    ----------
    labels_, probas_, priors_, n_iter_, loss_history_ : as for :class:`DawidSkene`.
    skills_ : Series, each annotator's accuracy.
    errors_ : DataFrame as for :class:`DawidSkene`, built from ``skills_``.
    """

    def _setup(self, enc: Encoded) -> None:
        self._n = np.bincount(enc.worker, minlength=enc.n_workers).astype(float)
        self._flat = enc.item * enc.n_labels + enc.label

    def _m_step(self, enc: Encoded, posterior: np.ndarray) -> None:
        k = enc.n_labels
        right = np.bincount(enc.worker, weights=posterior[enc.item, enc.label],
                            minlength=enc.n_workers)
        self._skills = (right + EPS) / (self._n + 2 * EPS)
        wrong = np.maximum(1.0 - self._skills, EPS) / max(k - 1, 1)
        self._log_right = np.log(self._skills)
        self._log_wrong = np.log(wrong)

    def _log_joint(self, enc: Encoded) -> np.ndarray:
        k = enc.n_labels
        base = np.bincount(enc.item, weights=self._log_wrong[enc.worker],
                           minlength=enc.n_items)
        bonus = np.bincount(self._flat, weights=(self._log_right - self._log_wrong)[enc.worker],
                            minlength=enc.n_items * k).reshape(enc.n_items, k)
        bonus += base[:, None]
        return bonus

    def _set_result(self, enc: Encoded, posterior: np.ndarray) -> None:
        super()._set_result(enc, posterior)
        k = enc.n_labels
        self.skills_ = pd.Series(self._skills, index=enc.worker_ids.rename("annotator"),
                                 name="skill")
        wrong = (1.0 - self._skills) / max(k - 1, 1)
        errors = np.repeat(wrong[:, None, None], k, axis=1).repeat(k, axis=2)
        errors[:, np.arange(k), np.arange(k)] = self._skills[:, None]
        self.errors_ = _errors_frame(enc, errors)
        self.priors_ = pd.Series(self.priors_, index=enc.label_values.rename("label"),
                                 name="prior")
        del self._n, self._flat, self._skills, self._log_right, self._log_wrong


def _errors_frame(enc: Encoded, errors: np.ndarray) -> pd.DataFrame:
    """(annotator, true label) x observed label, from a (worker, true, observed) array."""
    index = pd.MultiIndex.from_product([enc.worker_ids, enc.label_values],
                                       names=["annotator", "true"])
    return pd.DataFrame(errors.reshape(-1, enc.n_labels), index=index,
                        columns=enc.label_values.rename("observed"))
