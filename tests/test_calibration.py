"""Calibrated confidence and the gates built on it (labelquorum.calibration, cascade gate)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labelquorum.calibration import (
    Calibration,
    ConfidenceCalibrator,
    combine,
    expected_calibration_error,
    reliability_table,
)
from labelquorum.config import Tier
from labelquorum.policies import Cascade, VoteThenVerify, run_offline


def noisy(truth, accuracy, rng, k):
    wrong = rng.random(len(truth)) >= accuracy
    other = (truth + rng.integers(1, k, len(truth))) % k
    return np.where(wrong, other, truth)


# -- the calibrator -------------------------------------------------------------------
def test_overconfident_model_is_brought_down_to_its_accuracy():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.9, 1.0, 600)  # says 0.95 on average, right 70 % of the time
    right = (rng.random(600) < 0.7).astype(float)
    cal = ConfidenceCalibrator().fit(conf, right)
    assert cal.method_ == "isotonic"
    assert abs(cal.predict(conf).mean() - 0.7) < 0.05
    before = expected_calibration_error(conf, right)
    after = expected_calibration_error(cal.predict(conf), right)
    assert before > 0.2 and after < 0.05


def test_calibrator_method_follows_the_data_it_has():
    rng = np.random.default_rng(1)
    for n, method in ((10, "constant"), (60, "sigmoid"), (400, "isotonic")):
        conf = rng.uniform(0.5, 1.0, n)
        right = (rng.random(n) < conf).astype(float)
        assert ConfidenceCalibrator().fit(conf, right).method_ == method
    # a model that states no confidence (one-hot answers) gets its accuracy per label
    label = np.array([0] * 50 + [1] * 50)
    right = np.array([1.0] * 45 + [0.0] * 5 + [1.0] * 30 + [0.0] * 20)
    cal = ConfidenceCalibrator().fit(np.ones(100), right, label)
    assert cal.method_ == "constant"
    p = cal.predict(np.ones(2), np.array([0, 1]))
    assert p[0] == pytest.approx(0.9, abs=0.03) and p[1] == pytest.approx(0.6, abs=0.03)


def test_three_right_answers_do_not_read_as_certainty():
    cal = ConfidenceCalibrator(n_labels=2).fit(np.full(3, np.nan), np.ones(3))
    assert cal.predict(np.full(1, np.nan))[0] < 0.9


def test_reliability_table_and_ece():
    conf = np.array([0.05, 0.15, 0.95, 0.95, np.nan])
    right = np.array([0, 0, 1, 0, 1])
    table = reliability_table(conf, right)
    assert table["answers"].sum() == 4  # the answer without confidence is left out
    assert expected_calibration_error(conf, right) == pytest.approx(
        (0.05 + 0.15 + 2 * abs(0.5 - 0.95)) / 4)
    assert expected_calibration_error([], []) is None


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5), st.lists(st.tuples(st.integers(-1, 4), st.floats(0.01, 0.99)),
                                   min_size=1, max_size=6))
def test_combine_is_a_distribution_and_unanimity_wins(k, answers):
    labels = np.array([[min(lab, k - 1) for lab, _ in answers]])
    right = np.array([[max(r, 1.0 / k + 0.01) for _, r in answers]])
    post = combine(labels, right, k)
    assert post.shape == (1, k)
    assert post.sum() == pytest.approx(1.0)
    given_ = labels[labels >= 0]
    if len(given_) and (given_ == given_[0]).all():  # better-than-chance voters agree
        assert post[0].argmax() == given_[0]


def test_two_confident_specialists_outvote_a_weaker_verifier():
    # the verifier does not win by position: truth inference over every answer does
    labels = np.array([[0, 0, 1]])
    right = np.array([[0.95, 0.95, 0.7]])
    assert combine(labels, right, 2)[0].argmax() == 0
    right = np.array([[0.6, 0.6, 0.97]])
    assert combine(labels, right, 2)[0].argmax() == 1


def test_calibration_table_reports_accuracy_interval_and_ece():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 300)
    a = noisy(truth, 0.8, rng, 3)
    cal = Calibration.fit({"a": (a, np.full(300, 0.99))}, truth, 3)
    row = cal.table().iloc[0]
    assert row["reference"] == 300
    assert row["low"] < row["accuracy"] < row["high"]
    assert row["accuracy"] == pytest.approx((a == truth).mean())
    assert row["ece_raw"] > 0.1 and row["ece_calibrated"] < 0.06


# -- gates that cannot make things worse ----------------------------------------------
def simulate(rng, n, k, accs, conf_noise=0.0):
    truth = rng.integers(0, k, n)
    answers = np.stack([noisy(truth, acc, rng, k) for acc in accs], axis=1)
    return truth, answers


def offline(policy, truth, answers, names, cost, reference_n, k, seed=0):
    n = len(truth)
    reference = np.full(n, -1)
    reference[:reference_n] = truth[:reference_n]
    labels = tuple(f"l{i}" for i in range(k))
    return run_offline(policy, [f"i{i}" for i in range(n)], labels, names, answers,
                       np.tile(cost, (n, 1)), reference=reference, seed=seed)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.floats(0.55, 0.95), st.floats(0.55, 0.95),
       st.floats(0.6, 0.95), st.floats(0.0, 0.1), st.sampled_from(["estimate", "lower-bound"]))
def test_a_tier_never_accepts_below_the_bar(seed, a1, a2, verifier, margin, bound):
    """Hypothesis: whatever the annotators' accuracies, the first tier accepts only items
    whose consensus clears a threshold where — judged on reference items each scored by a
    calibration fitted without it — the calibrated probability of being right
    (``estimate``), or a lower 95 % bound on the accuracy above it (``lower-bound``),
    reaches the accuracy of what decides forwarded items plus the margin."""
    from labelquorum.calibration import ConfidenceCalibrator, cross_fitted, wilson_interval

    rng = np.random.default_rng(seed)
    k, n, ref = 3, 400, 150
    truth, answers = simulate(rng, n, k, [a1, a2, verifier])
    names = ["s1", "s2", "llm"]
    policy = VoteThenVerify(["s1", "s2"], ["llm"], margin=margin, min_reference=30,
                            gate_bound=bound)
    run = offline(policy, truth, answers, names, np.array([0.0, 0.0, 1.0]), ref, k)
    state = _state(truth, names, k, answers, ref)
    cal = state.calibration(names, 30)
    gate = policy._gates(state, cal, names, state.reference_positions())[0][0]
    conf = {a: np.ones(ref) for a in names}
    oof = cross_fitted({a: (answers[:ref, j], conf[a]) for j, a in enumerate(names)},
                       truth[:ref], k, [("s1", "s2"), tuple(names), ("llm",)])
    bar = max(oof[tuple(names)][1].mean(), oof[("llm",)][1].mean()) + margin
    assert gate.bar == pytest.approx(bar)
    accepted = np.flatnonzero(np.array([t == "specialists" for t in run.tier]))
    if not len(accepted):
        return
    c = state.calibrated_consensus(cal, ["s1", "s2"], accepted)
    assert (c.confidence >= gate.tau).all()
    tier_conf, tier_right = oof[("s1", "s2")]
    if bound == "lower-bound":
        above = tier_conf >= gate.tau
        lower = wilson_interval(tier_right[above].sum(), int(above.sum()), 1.6449)[0]
        assert lower >= bar - 1e-9
    else:
        fitted = ConfidenceCalibrator(n_labels=k).fit(tier_conf, tier_right)
        if fitted.method_ == "constant":
            assert fitted.accuracy_ >= bar - 1e-9
        else:
            assert (fitted.predict(c.confidence) >= bar - 1e-9).all()


def correlated(rng, n, k, shared, own, verifier):
    """Two specialists that share a blind spot (on ``shared`` of the items both give the
    same wrong label), each wrong on its own on ``own`` more; a verifier of accuracy
    ``verifier`` whose errors are its own."""
    truth = rng.integers(0, k, n)
    blind = rng.random(n) < shared
    wrong = (truth + rng.integers(1, k, n)) % k
    s1 = np.where(blind, wrong, noisy(truth, 1 - own, rng, k))
    s2 = np.where(blind, wrong, noisy(truth, 1 - own, rng, k))
    return truth, np.stack([s1, s2, noisy(truth, verifier, rng, k)], axis=1)


@pytest.mark.parametrize("seed", range(5))
def test_vote_then_verify_calibrated_beats_the_verifier_alone(seed):
    """Specialists with a shared blind spot, a verifier of 0.85: trusting unanimity is
    worse than the verifier alone; the calibrated gate is not (within sampling noise of
    its 200 reference items), and well above unanimity."""
    rng = np.random.default_rng(seed)
    k, n, ref = 4, 3000, 200
    truth, answers = correlated(rng, n, k, shared=0.12, own=0.15, verifier=0.85)
    names = ["tfidf", "embedding", "llm"]
    cost = np.array([0.0, 0.0, 0.002])
    test = slice(ref, None)
    alone = (answers[test, 2] == truth[test]).mean()
    calibrated = offline(VoteThenVerify(["tfidf", "embedding"], ["llm"]), truth, answers,
                         names, cost, ref, k, seed)
    unanimous = offline(VoteThenVerify(["tfidf", "embedding"], ["llm"], gate="unanimous"),
                        truth, answers, names, cost, ref, k, seed)
    acc = (calibrated.label[test] == truth[test]).mean()
    trusting = (unanimous.label[test] == truth[test]).mean()
    assert trusting < alone
    assert acc >= alone - 0.01
    assert acc > trusting


@pytest.mark.parametrize("seed", range(3))
def test_independent_specialists_add_to_the_verifier(seed):
    rng = np.random.default_rng(seed)
    k, n, ref = 4, 3000, 200
    truth, answers = simulate(rng, n, k, [0.82, 0.8, 0.85])
    names = ["tfidf", "embedding", "llm"]
    cost = np.array([0.0, 0.0, 0.002])
    test = slice(ref, None)
    alone = (answers[test, 2] == truth[test]).mean()
    run = offline(VoteThenVerify(["tfidf", "embedding"], ["llm"]), truth, answers, names,
                  cost, ref, k, seed)
    assert (run.label[test] == truth[test]).mean() > alone + 0.02
    assert run.asked[test, 2].mean() < 0.6


def test_calibrated_gate_falls_back_with_a_note_without_reference():
    rng = np.random.default_rng(3)
    truth, answers = simulate(rng, 100, 2, [0.8, 0.8, 0.9])
    names = ["a", "b", "llm"]
    run = offline(VoteThenVerify(["a", "b"], ["llm"]), truth, answers, names,
                  np.array([0.0, 0.0, 1.0]), 0, 2)
    unanimous = offline(VoteThenVerify(["a", "b"], ["llm"], gate="unanimous"), truth,
                        answers, names, np.array([0.0, 0.0, 1.0]), 0, 2)
    assert (run.label == unanimous.label).all()
    plan = VoteThenVerify(["a", "b"], ["llm"]).step(_state(truth, names, 2))
    assert any("no reference items" in note for note in plan.notes)


def _state(truth, names, k, answers=None, ref=0):
    from labelquorum.policies.base import OK, AnnotatorInfo
    from labelquorum.policies.board import Board

    n = len(truth)
    board = Board(np.array([f"i{i}" for i in range(n)], dtype=object),
                  tuple(f"l{i}" for i in range(k)), names)
    if answers is not None:
        for j, a in enumerate(names):
            board.put(a, np.arange(n), np.full(n, OK), answers[:, j], np.eye(k)[answers[:, j]])
        board.reference[:ref] = truth[:ref]
    return board.policy_state({a: AnnotatorInfo(a, "llm", 1.0, 1.0, False) for a in names},
                              None, "weighted")


def test_cascade_calibrated_probes_reference_items_before_deciding():
    rng = np.random.default_rng(4)
    truth, answers = simulate(rng, 300, 2, [0.8, 0.9])
    policy = Cascade([Tier(annotators=["cheap"]), Tier(annotators=["llm"])],
                     gate="calibrated", min_reference=20)
    names = ["cheap", "llm"]
    run = offline(policy, truth, answers, names, np.array([0.0, 1.0]), 50, 2)
    assert run.asked[:50].all()  # every annotator answered every reference item
    assert (run.label >= 0).all()


def test_closed_reference_items_never_asked_do_not_stall_the_gate():
    """A reviewed item is a reference item that the policy can no longer ask about: the
    gate calibrates on the answers it has instead of waiting for ever."""
    from labelquorum.policies.base import OK, AnnotatorInfo
    from labelquorum.policies.board import Board

    rng = np.random.default_rng(5)
    k, n, ref = 2, 200, 80
    truth, answers = simulate(rng, n, k, [0.85, 0.8, 0.9])
    names = ["a", "b", "llm"]
    board = Board(np.array([f"i{i}" for i in range(n)], dtype=object), ("l0", "l1"), names)
    for j, a in enumerate(names):
        board.put(a, np.arange(ref), np.full(ref, OK), answers[:ref, j],
                  np.eye(k)[answers[:ref, j]])
    board.reference[:ref] = truth[:ref]
    board.reference[ref:ref + 5] = truth[ref:ref + 5]  # reviewed: closed, never asked
    board.open[:ref + 5] = False
    info = {a: AnnotatorInfo(a, "llm", 1.0, 1.0, False) for a in names}
    plan = VoteThenVerify(["a", "b"], ["llm"]).step(board.policy_state(info, None, "weighted"))
    assert "a" in plan.asks and not plan.decisions  # the specialists are asked about the rest
    assert not any("reference" in note for note in plan.notes)
    for j, a in enumerate(["a", "b"]):
        rest = np.arange(ref + 5, n)
        board.put(a, rest, np.full(len(rest), OK), answers[rest, j], np.eye(k)[answers[rest, j]])
    plan = VoteThenVerify(["a", "b"], ["llm"]).step(board.policy_state(info, None, "weighted"))
    assert plan.decisions or "llm" in plan.asks  # it goes on: gates, then the verifier
