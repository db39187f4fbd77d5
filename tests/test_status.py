"""``labelquorum status``: decided means labelled for good; items stopped by the budget,
failed (asked again by the next run) and closed without a label are counted apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llm_fixtures import llm_project
from typer.testing import CliRunner

import labelquorum as lq
from labelquorum.cli import app
from labelquorum.store import schema
from labelquorum.testing_server import Rule, ScriptedLlmServer

ROWS = [(f"u{n}", f"an uneven film, take {n}") for n in range(6)]


def status_text(project) -> str:
    result = CliRunner().invoke(app, ["status", "-p", str(project.path)])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_items_nothing_could_label_are_not_counted_as_decided(tmp_path):
    with ScriptedLlmServer([Rule("film", fault="500")]) as server:
        project = llm_project(tmp_path, server.base_url, ROWS,
                              llm="max_retries = 0\nmax_outage = 0")  # fail at once
        project.run()
    status = project.status()
    assert status.items == 6 and status.decided == 0
    assert status.unlabelled + status.failed_items == 6
    shown = status_text(project)
    assert "0 of 6 items decided (0.0 %)" in shown
    assert "100" not in shown.split("decided")[1].split(")")[0]


def _decide(project, rows: list[tuple[str, str | None, str]]) -> None:
    """Decisions as a run leaves them: (item, label, state)."""
    now = datetime.now(UTC)
    with project.store.begin() as conn:
        conn.execute(schema.decisions.insert(), [
            {"project_id": project.store.project_id, "item_id": item, "label": label,
             "confidence": 0.5, "decided_by": "llm", "tier": "llm", "flags": "",
             "state": state, "created": now} for item, label, state in rows])


def test_status_counts_each_decision_state_apart(tmp_path):
    project = lq.init_project(tmp_path / "p", ["negative", "positive"])
    ids = [f"i{n}" for n in range(10)]
    project.import_dataframe(pd.DataFrame({"id": ids, "text": ids}), id_column="id")
    _decide(project, [("i0", "positive", "final"), ("i1", "negative", "final"),
                      ("i2", "positive", "review"),
                      ("i3", "positive", "budget"), ("i4", None, "budget"),
                      ("i5", None, "failed"), ("i6", "negative", "failed"),
                      ("i7", None, "final")])
    status = project.status()
    assert status.decided == 3  # labelled, final or reviewed
    assert status.budget_stopped == 2 and status.failed_items == 2
    assert status.unlabelled == 1  # closed without a label
    assert status.open == 6  # 2 never decided, 2 budget, 2 failed: a later run works on them
    assert project.plan(sample=2).open_items == 6  # and the plan prices them
    shown = status_text(project)
    assert "3 of 10 items decided (30.0 %)" in shown
    assert "2 stopped by the budget" in shown and "2 failed" in shown
    assert "1 unlabelled" in shown
    # the people's dashboard counts the same way
    from labelquorum.web.dashboard import stats

    assert stats(project)["decided"] == 3


QUALITY_CONFIG = """
[project]
name = "quality"
seed = 3

[task]
labels = ["negative", "positive"]

[annotators.steady]
type = "simulated"
accuracy = 0.7

[annotators.boastful]
type = "rules"
confidence = 0.99
rules = [{ label = "positive", keywords = ["a"] }]

[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["boastful", "steady"]
"""


def test_status_shows_each_annotators_accuracy_on_gold_with_interval_and_ece(tmp_path):
    """A simulated annotator right 70 % of the time that says so, and keyword rules that
    claim 0.99: status gives each its accuracy on gold with a 95 % interval, and the
    overconfident one a large expected calibration error."""
    project = lq.init_project(tmp_path / "q", labels=[], config_text=QUALITY_CONFIG)
    rows = [(f"i{n}", f"text {n} {'a' if n % 2 else 'b'}", "positive" if n % 3 else "negative")
            for n in range(400)]
    project.import_dataframe(pd.DataFrame(rows, columns=["id", "text", "label"]),
                             id_column="id", gold_column="label", gold_role="evaluation")
    project.run()
    quality = project.status().quality.set_index("annotator")
    steady, boastful = quality.loc["steady"], quality.loc["boastful"]
    assert steady["answers"] == 400
    assert steady["low"] < 0.7 < steady["high"]
    assert steady["ece"] < 0.08
    assert boastful["answers"] == 200  # the rules answer only items with the keyword
    assert boastful["ece"] > 0.2
    shown = status_text(project)
    assert "Annotators on gold" in shown and "boastful" in shown


# -- status counts in SQL what it once read row by row (a million items in pandas took
# about 800 MB): the counts must be those of the rows themselves ----------------------


DECISION = st.tuples(st.sampled_from(["positive", "negative", None]),
                     st.sampled_from(["final", "review", "budget", "failed"]),
                     st.sampled_from(["gold", "pair", "llm", None]),
                     st.sampled_from(["", "disagreement", "low_confidence"]),
                     st.integers(0, 5))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(decisions=st.lists(DECISION, max_size=14), gold_every=st.integers(1, 4))
def test_status_counts_are_those_of_the_decision_rows(tmp_path_factory, decisions, gold_every):
    project = lq.init_project(tmp_path_factory.mktemp("p") / "p", ["negative", "positive"])
    ids = [f"i{n}" for n in range(15)]
    gold = ["positive" if n % gold_every == 0 else "" for n in range(15)]
    project.import_dataframe(pd.DataFrame({"id": ids, "text": ids, "gold": gold}),
                             id_column="id")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with project.store.begin() as conn:
        for item, (label, state, tier, flags, minute) in zip(ids, decisions):
            conn.execute(schema.decisions.insert().values(
                project_id=project.store.project_id, item_id=item, label=label,
                confidence=0.5, decided_by=tier or "none", tier=tier, flags=flags,
                state=state, created=start + timedelta(minutes=minute)))
    status = project.status()
    rows = list(zip(ids, decisions))
    closed = [(i, d) for i, d in rows if d[1] in ("final", "review")]
    decided = [(i, d) for i, d in closed if d[0] is not None]
    assert status.decided == len(decided)
    assert status.unlabelled == len(closed) - len(decided)
    assert status.open == 15 - len(closed)
    assert status.budget_stopped == sum(d[1] == "budget" for _, d in rows)
    assert status.failed_items == sum(d[1] == "failed" for _, d in rows)
    tiers: dict[str, list] = {}
    for _, (_, _, tier, _, minute) in decided:
        if tier is not None:
            tiers.setdefault(tier, []).append(minute)
    got = dict(zip(status.tiers["tier"], status.tiers["items"]))
    assert got == {t: len(m) for t, m in tiers.items()}
    firsts = [min(tiers[t]) for t in status.tiers["tier"]]
    assert firsts == sorted(firsts)  # in the order each tier first decided something
    flags: dict[str, int] = {}
    for _, d in rows:
        if d[3]:
            flags[d[3]] = flags.get(d[3], 0) + 1
    assert status.flags == flags
    evaluated = [(i, d) for i, d in rows if gold[ids.index(i)]]
    assert status.evaluation_items == len(evaluated)
    if evaluated:
        right = sum(d[0] == "positive" for _, d in evaluated)
        assert status.evaluation_accuracy == right / len(evaluated)
