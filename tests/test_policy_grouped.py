"""policy.group_by (labelquorum.policies.grouped): each group of items is run as if it
were alone, through the offline driver (the project run is covered by
tests/test_celeba_flow.py)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelquorum.config import parse_config
from labelquorum.errors import ConfigError, PolicyError
from labelquorum.policies import Chain, Grouped, build_policy, run_offline

LABELS = ("no", "yes")
NAMES = ["small", "big"]


def chain():
    return Chain(["small", "big"])


def answers_of(draw_conf: list[float], truth: list[int]):
    """``small`` answers with the drawn confidence (right where it is above 0.6), ``big``
    always answers the truth; both as probabilities."""
    n = len(truth)
    ans = np.zeros((n, 2), dtype=np.int64)
    probs = np.zeros((n, 2, 2))
    for i, (c, t) in enumerate(zip(draw_conf, truth)):
        small = t if c > 0.6 else 1 - t
        ans[i] = (small, t)
        probs[i, 0, small], probs[i, 0, 1 - small] = c, 1 - c
        probs[i, 1, t] = 1.0
    return ans, probs


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.5, 1.0), st.integers(0, 1), st.sampled_from("abc")),
                min_size=2, max_size=40))
def test_each_group_is_decided_as_if_it_were_alone(rows):
    """The chain keeps each link's most confident share: grouped, the share is taken
    within each group, exactly as a run over that group's items alone would."""
    conf, truth, group = map(list, zip(*rows))
    ids = [f"i{i}" for i in range(len(rows))]
    ans, probs = answers_of(conf, truth)
    cost = np.ones_like(ans, dtype=float)
    run = run_offline(Grouped("g", chain), ids, LABELS, NAMES, ans, cost, probs=probs,
                      fields={"g": group}, aggregator="majority")
    for value in set(group):
        at = np.flatnonzero(np.array(group) == value)
        alone = run_offline(chain(), [ids[i] for i in at], LABELS, NAMES, ans[at], cost[at],
                            probs=probs[at], aggregator="majority")
        assert run.label[at].tolist() == alone.label.tolist()
        assert [run.tier[i] for i in at] == alone.tier
        assert run.asked[at].tolist() == alone.asked.tolist()


def test_grouping_changes_what_a_rank_based_policy_keeps():
    # group a: small is sure of everything; group b: unsure. Ungrouped, the first link
    # keeps the surer half of all items (all of a); grouped, half of each group
    conf = [0.99] * 4 + [0.7] * 4
    ans, probs = answers_of(conf, [1] * 8)
    cost = np.ones_like(ans, dtype=float)
    ids = [f"i{i}" for i in range(8)]
    pooled = run_offline(chain(), ids, LABELS, NAMES, ans, cost, probs=probs)
    grouped = run_offline(Grouped("g", chain), ids, LABELS, NAMES, ans, cost, probs=probs,
                          fields={"g": list("aaaabbbb")})
    assert pooled.asked[:, 1].tolist() == [False] * 4 + [True] * 4
    assert grouped.asked[:, 1].sum() == 4
    assert grouped.asked[:4, 1].sum() == 2 and grouped.asked[4:, 1].sum() == 2


def test_a_missing_field_is_a_clear_error():
    ans, _ = answers_of([0.9, 0.9], [0, 1])
    cost = np.ones_like(ans, dtype=float)
    with pytest.raises(PolicyError, match="reads item field"):
        run_offline(Grouped("attribute", chain), ["a", "b"], LABELS, NAMES, ans, cost)
    with pytest.raises(PolicyError, match="no item has a field 'attribute'"):
        run_offline(Grouped("attribute", chain), ["a", "b"], LABELS, NAMES, ans, cost,
                    fields={"attribute": ["", None]})


def test_group_by_in_the_config():
    base = {"task": {"labels": ["no", "yes"]},
            "annotators": {"small": {"type": "replay", "path": "r.csv"},
                           "big": {"type": "replay", "path": "r.csv"}}}
    cfg = parse_config({**base, "policy": {"type": "chain", "links": ["small", "big"],
                                           "group_by": "attribute"}})
    policy = build_policy(cfg.policy)
    assert isinstance(policy, Grouped) and policy.item_fields() == ["attribute"]
    assert policy.annotators() == ["small", "big"]
    assert not isinstance(build_policy(parse_config(
        {**base, "policy": {"type": "chain", "links": ["small", "big"]}}).policy), Grouped)
    with pytest.raises(ConfigError, match="policy.group_by"):
        parse_config({**base, "policy": {"type": "chain", "links": ["small", "big"],
                                         "group_by": ""}})
    with pytest.raises(ConfigError, match="policy.target_accuracy"):
        parse_config({**base, "policy": {"type": "cascade", "target_accuracy": 1.5,
                                         "gate": "calibrated",
                                         "tiers": [{"annotators": ["small"]}]}})
    with pytest.raises(ConfigError, match='policy.target_accuracy: is the calibrated gate.s bar; set policy.gate = "calibrated"'):
        parse_config({**base, "policy": {"type": "cascade", "target_accuracy": 0.9,
                                         "tiers": [{"annotators": ["small"]}]}})


def test_with_a_target_the_last_tier_is_not_overruled_by_the_combination():
    """Reference items where ``a`` says yes wrongly 14 times in 20 and ``b`` 8 in 20, and
    "yes" is rare (12 of 60): a calibrated combination that takes them for independent
    witnesses reads their agreeing "yes" as "no". With ``target_accuracy`` the last tier
    is the reference, so its own answer stands on the items that reach it."""
    from labelquorum.config import Tier
    from labelquorum.policies import Cascade

    #            truth, a, b, count
    design = [(1, 1, 1, 6), (0, 1, 0, 14), (1, 0, 1, 6), (0, 0, 1, 8), (0, 0, 0, 26)]
    rows = [(t, a, b) for t, a, b, k in design for _ in range(k)] + [(-1, 1, 1)] * 10
    truth = np.array([r[0] for r in rows])
    ans = np.array([[r[1], r[2]] for r in rows], dtype=np.int64)
    cost = np.ones_like(ans, dtype=float)
    ids = [f"i{i:02d}" for i in range(len(rows))]

    def run(target):
        policy = Cascade([Tier(annotators=["a"]), Tier(annotators=["b"])], gate="calibrated",
                         min_reference=10, target_accuracy=target)
        return run_offline(policy, ids, LABELS, ["a", "b"], ans, cost, reference=truth,
                           kind="model")

    assert run(0.99).label[60:].tolist() == [1] * 10
    assert run(None).label[60:].tolist() == [0] * 10  # the combination overrules both
