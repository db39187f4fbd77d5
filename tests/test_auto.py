"""``policy.type = "auto"``: the search on calibration gold, the policy, ``labelquorum tune``."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
from engine_fixtures import Killed, decisions, kill_after
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.calibration import wilson_interval
from labelquorum.cli import app
from labelquorum.config import parse_config
from labelquorum.errors import ConfigError, PolicyError
from labelquorum.policies import Auto, build_policy, run_offline
from labelquorum.policies.search import Probe, choose, evaluate, make_policy, recipes, search

LABELS = ("l0", "l1", "l2")


def answers_of(truth, accuracies, rng, k=3):
    cols = []
    for acc in accuracies:
        wrong = rng.random(len(truth)) >= acc
        cols.append(np.where(wrong, (truth + rng.integers(1, k, len(truth))) % k, truth))
    return np.stack(cols, axis=1)


def probe(n, accuracies, prices, seed=0, k=3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    names = [f"a{j}" for j in range(len(accuracies))]
    return Probe(names, LABELS[:k], answers_of(truth, accuracies, rng, k), truth,
                 np.tile(np.asarray(prices, dtype=float), (n, 1)))


# -- the search --------------------------------------------------------------------
def test_search_picks_the_cheapest_candidate_that_meets_the_target():
    accs, prices = [0.72, 0.72, 0.8, 0.96], [0.0, 0.0, 0.01, 0.1]
    p = probe(200, accs, prices)
    result = search(p, target=0.85)
    chosen = result.chosen
    assert chosen.lower >= 0.85
    assert chosen.cost < 0.1  # cheaper than asking the most accurate model about everything
    cheaper = [s for s in result.scored if s.cost < chosen.cost]
    assert cheaper and all(s.lower < 0.85 for s in cheaper)
    # the user's check: on new items the chosen policy reaches the target
    rng = np.random.default_rng(99)
    n = 3000
    truth = rng.integers(0, 3, n)
    ans = answers_of(truth, accs, rng)
    reference = np.full(n, -1)
    reference[:200] = truth[:200]  # calibration gold, as in a run
    run = run_offline(make_policy(chosen.config), [f"i{i}" for i in range(n)], LABELS,
                      p.names, ans, np.tile(prices, (n, 1)), reference=reference)
    assert (run.label[200:] == truth[200:]).mean() >= 0.85


def test_search_refuses_clearly_when_no_candidate_meets_the_target():
    p = probe(60, [0.6, 0.7, 0.8], [0.0, 0.001, 0.01])
    with pytest.raises(PolicyError, match=r"no candidate policy reaches target_accuracy "
                                          r"0\.99.*60 calibration items.*add calibration gold"):
        search(p, target=0.99)
    with pytest.raises(PolicyError, match="needs at least 20 calibration gold items"):
        search(probe(12, [0.6, 0.7], [0.0, 0.1]), target=0.5)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.lists(st.floats(0.4, 0.97), min_size=2, max_size=3),
       st.floats(0.5, 0.95), st.integers(30, 70))
def test_never_picks_a_candidate_whose_lower_bound_is_below_the_target(seed, accs, target, n):
    """Hypothesis: whatever the annotators and the target, the chosen candidate's
    cross-validated accuracy (pooled out-of-fold hits) has a 95 % Wilson lower bound at
    the target or above, no cheaper candidate has, and when none has the search refuses."""
    prices = sorted(np.random.default_rng(seed).choice([0.0, 0.001, 0.01, 0.1], len(accs)))
    p = probe(n, accs, prices, seed)
    scored = evaluate(p, recipes(p))
    lows = [wilson_interval(s.hits.sum(), len(s.hits))[0] for s in scored]
    if max(lows) < target:
        with pytest.raises(PolicyError, match="no candidate policy reaches"):
            choose(scored, target=target)
        return
    chosen = choose(scored, target=target)
    assert wilson_interval(chosen.hits.sum(), len(chosen.hits))[0] >= target - 1e-12
    assert all(low < target for s, low in zip(scored, lows) if s.cost < chosen.cost - 1e-12)


def test_budget_picks_the_most_accurate_candidate_within_it():
    p = probe(120, [0.7, 0.72, 0.75, 0.9], [0.0, 0.0, 0.001, 0.01])
    result = search(p, budget=0.004)
    assert result.chosen.cost <= 0.004
    within = [s for s in result.scored if s.cost <= 0.004]
    assert result.chosen.accuracy == max(s.accuracy for s in within)
    with pytest.raises(PolicyError, match="no candidate policy costs at most"):
        search(probe(60, [0.7, 0.9], [0.01, 0.1]), budget=0.001)


def test_candidates_are_cross_validated_not_chosen_on_their_own_test_items():
    """'The most accurate annotator' is re-chosen on each fold's training items: among
    ten equally poor annotators one looks best on all items, but the recipe's
    out-of-fold accuracy is no better than theirs."""
    p = probe(60, [0.5] * 10, [0.0] * 10, seed=3)
    scored = evaluate(p, recipes(p))
    fixed = max(s.accuracy for s in scored if s.recipe.startswith("a"))
    chosen_per_fold = [s for s in scored if s.recipe.startswith("most accurate")]
    assert chosen_per_fold and chosen_per_fold[0].accuracy < fixed


# -- the policy ----------------------------------------------------------------------
def test_auto_probes_every_candidate_on_calibration_gold_then_follows_its_choice():
    rng = np.random.default_rng(5)
    n, ref = 600, 100
    truth = rng.integers(0, 3, n)
    prices = np.array([0.0, 0.0, 0.01, 0.1])
    ans = answers_of(truth, [0.72, 0.72, 0.8, 0.96], rng)
    reference = np.full(n, -1)
    reference[:ref] = truth[:ref]
    names = ["a0", "a1", "a2", "a3"]
    policy = Auto(names, target_accuracy=0.85)
    run = run_offline(policy, [f"i{i}" for i in range(n)], LABELS, names, ans,
                      np.tile(prices, (n, 1)), reference=reference)
    assert run.asked[:ref].all()  # the probes: every candidate, every calibration item
    assert (run.label >= 0).all()
    chosen = policy.last_choice.chosen
    again = run_offline(make_policy(chosen.config), [f"i{i}" for i in range(n)], LABELS,
                        names, ans, np.tile(prices, (n, 1)), reference=reference)
    assert (again.label == run.label).all() and np.allclose(again.cost[ref:], run.cost[ref:])
    assert run.cost[ref:].mean() < 0.1


def test_auto_without_calibration_gold_says_how_to_add_it():
    names = ["a0", "a1"]
    with pytest.raises(PolicyError, match="--split calibration=N"):
        run_offline(Auto(names, target_accuracy=0.8), ["x", "y"], LABELS, names,
                    np.zeros((2, 2), dtype=int), np.zeros((2, 2)))


# -- config --------------------------------------------------------------------------
def cfg(policy: str, extra: str = "") -> dict:
    return tomllib.loads(f"""
[task]
labels = ["l0", "l1", "l2"]
[annotators.cheap]
type = "simulated"
stands_for = "model"
accuracy = 0.7
[annotators.llm]
type = "simulated"
accuracy = 0.9
cost_per_call = 0.01
[annotators.people]
type = "human"
{extra}
[policy]
{policy}
""")


def test_auto_config_defaults_to_every_annotator_but_people():
    config = parse_config(cfg('type = "auto"\ntarget_accuracy = 0.9'))
    assert config.policy.annotators == ["cheap", "llm"]
    assert config.policy_annotators == ["cheap", "llm"]
    assert isinstance(build_policy(config.policy), Auto)


@pytest.mark.parametrize("policy, key, message", [
    ('type = "auto"', "policy", "needs a goal"),
    ('type = "auto"\ntarget_accuracy = 0.9\nbudget_per_item = 0.1', "policy", "not both"),
    ('type = "auto"\ntarget_accuracy = 0.9\nannotators = ["cheap", "people"]',
     "policy.annotators", "names people"),
    ('type = "auto"\nbudget = 5.0\nannotators = ["cheap", "nope"]', "policy.annotators",
     "not declared"),
    ('type = "auto"\ntarget_accuracy = 1.5', "policy.target_accuracy", "less than 1"),
])
def test_bad_auto_configs_name_the_key(policy, key, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(cfg(policy))
    assert key in str(info.value)


# -- a real project ------------------------------------------------------------------
CONFIG = """
[project]
name = "auto-test"
seed = 3

[task]
labels = ["l0", "l1", "l2"]

[annotators.cheap1]
type = "simulated"
stands_for = "model"
accuracy = 0.75

[annotators.cheap2]
type = "simulated"
stands_for = "model"
accuracy = 0.75

[annotators.llm]
type = "simulated"
accuracy = 0.88
cost_per_call = 0.01
batch_size = 16

[annotators.big]
type = "simulated"
accuracy = 0.97
cost_per_call = 0.1
batch_size = 16

[policy]
type = "auto"
target_accuracy = 0.85
"""


def make(root, config=CONFIG, n=400, calibration=120):
    rng = np.random.default_rng(11)
    rows = pd.DataFrame({"id": [f"t{i:03d}" for i in range(n)],
                         "text": [f"item {i}" for i in range(n)],
                         "gold": rng.choice(list(LABELS), n)})
    project = lq.init_project(root, config_text=config)
    project.import_dataframe(rows, id_column="id", gold_column="gold",
                             split=f"calibration={calibration}")
    return project


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    whole = make(tmp_path_factory.mktemp("whole") / "p")
    report = whole.run()
    yield whole, report
    whole.close()


def test_auto_end_to_end(uninterrupted):
    whole, report = uninterrupted
    notes = [n for n in report.notes if n.startswith("auto chose")]
    assert len(notes) == 1
    done = decisions(whole)
    assert len(done) == 400 and done["label"].notna().all()
    status = whole.status()
    assert status.evaluation_accuracy >= 0.85
    assert status.total_cost < 0.1 * 400  # cheaper than the best model on everything


@pytest.mark.parametrize("kill_at", [5, 25])  # in the probes; in the chosen policy's asks
def test_a_run_killed_and_resumed_chooses_and_decides_the_same(tmp_path, uninterrupted,
                                                               kill_at):
    whole, report = uninterrupted
    killed = make(tmp_path / "killed")
    with pytest.raises(Killed):
        killed.run(progress=kill_after(kill_at))
    if kill_at == 25:
        j = killed.judgements()
        calibration = set(killed.gold_labels(["calibration"]))
        for name in ("cheap1", "cheap2", "llm", "big"):  # the probes were in when it died
            assert calibration <= set(j[j["annotator"] == name]["item"])
    assert decisions(killed).shape[0] < 400
    resumed = killed.run()
    assert [n for n in resumed.notes if n.startswith("auto chose")] == [
        n for n in report.notes if n.startswith("auto chose")]
    pd.testing.assert_frame_equal(decisions(killed)[["label", "tier"]],
                                  decisions(whole)[["label", "tier"]])


def test_auto_refuses_an_unreachable_target_after_storing_the_probes(tmp_path):
    project = make(tmp_path / "p", CONFIG.replace("target_accuracy = 0.85",
                                                  "target_accuracy = 0.995"))
    with pytest.raises(PolicyError, match="no candidate policy reaches target_accuracy"):
        project.run()
    paid = project.judgements()
    with pytest.raises(PolicyError):
        project.run()
    assert len(project.judgements()) == len(paid)  # nothing asked or paid twice


# -- labelquorum tune ----------------------------------------------------------------
def test_tune_prints_the_frontier_draws_it_and_writes_a_policy_that_loads(tmp_path):
    project = make(tmp_path / "p")
    project.close()
    out = CliRunner().invoke(app, ["tune", "--project", str(tmp_path / "p"), "--plot",
                                   str(tmp_path / "frontier.svg"), "--write",
                                   str(tmp_path / "policy.toml")])
    assert out.exit_code == 0, out.output
    text = out.output
    flat = " ".join(text.split())
    assert "frontier" in flat and "95 % interval" in flat
    assert "Chosen for the target accuracy 0.85" in flat and "120 calibration items" in flat
    svg = (tmp_path / "frontier.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<circle") >= 4
    from xml.etree import ElementTree

    assert ElementTree.fromstring(svg).tag.endswith("svg")  # well-formed
    written = (tmp_path / "policy.toml").read_text()
    assert written.lstrip().startswith("#") and "[policy]" in written
    config = tomllib.loads(CONFIG.split("[policy]")[0] + written)
    chosen = parse_config(config)
    assert chosen.policy.type in ("cascade", "vote-then-verify", "chain")
    # the probes were stored through a run: tuning again pays nothing more
    with lq.open_project(tmp_path / "p") as p:
        before = len(p.judgements())
    again = CliRunner().invoke(app, ["tune", "--project", str(tmp_path / "p")])
    assert again.exit_code == 0, again.output
    with lq.open_project(tmp_path / "p") as p:
        assert len(p.judgements()) == before
        # a run of the auto policy afterwards chooses what tune chose
        report = p.run()
    chosen_line = next(n for n in report.notes if n.startswith("auto chose"))
    assert chosen_line.split(" for the ")[0].split(": ", 1)[1] in text


def test_tune_without_a_goal_or_gold_is_a_clean_error(tmp_path):
    project = make(tmp_path / "p", CONFIG.replace('type = "auto"\ntarget_accuracy = 0.85',
                                                  'type = "cascade"\n[[policy.tiers]]\n'
                                                  'annotators = ["cheap1"]'))
    project.close()
    out = CliRunner().invoke(app, ["tune", "--project", str(tmp_path / "p")])
    assert out.exit_code == 1 and "--target-accuracy" in out.output
    assert "Traceback" not in out.output


def test_plan_shows_the_chosen_policys_expected_cost(tmp_path):
    project = make(tmp_path / "p")
    before = project.plan()
    assert any("probes" in str(t) for t in before.rows["tier"])
    from labelquorum.tuning import tune

    tune(project)
    after = project.plan()
    assert any(n.startswith("auto would choose") for n in after.notes)
    assert after.expected_cost is not None and after.expected_cost < 0.1 * 280
