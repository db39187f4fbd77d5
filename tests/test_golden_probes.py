"""Golden probes: control gold is never real work; it is mixed into every annotator's stream.

What a user sees: the export (control items decided by their gold), the stored judgements
and requests (every answer on a control item is a probe, none repeated), the call log (no
cache key on a probe), what trainable models were fitted on and what the LLM's prompts
held, the budget, the monitor's alerts in the run's notes and in ``labelquorum status``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from engine_fixtures import (
    Killed,
    cascade,
    config,
    decisions,
    kill_after,
    make_project,
    requests,
    rules_annotator,
    simulated_annotator,
    spent,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llm_fixtures import llm_project
from sqlalchemy import func, select

from labelquorum.project import open_project
from labelquorum.store import schema
from labelquorum.testing_server import Rule, ScriptedLlmServer

GOOD, BAD = ["wonderful", "great", "lovely", "fine"], ["dreadful", "awful", "poor", "dull"]


def reviews(n: int, prefix: str = "i") -> list[tuple]:
    """(id, text, gold) rows: the text gives the sentiment away to the models that learn."""
    rows = []
    for i in range(n):
        good = i % 2 == 1
        word = (GOOD if good else BAD)[(i // 2) % 4]
        rows.append((f"{prefix}{i:03d}", f"film {prefix}{i}: a {word} story, {word} acting",
                     "positive" if good else "negative"))
    return rows


def quality(rate: float, extra: str = "") -> str:
    return f"\n[quality]\ncontrol_rate = {rate!r}\n{extra}\n"


def control_ids(project) -> set[str]:
    return set(project.gold_labels(["control"]))


def probes_of(project) -> pd.DataFrame:
    """Requests on control items: annotator, item, state."""
    rq = requests(project)
    return rq[rq["item_id"].isin(control_ids(project))]


# -- control items are decided by their gold and probed, never routed --------------------
def test_control_items_are_closed_by_their_gold_and_asked_only_as_probes(tmp_path):
    cfg = config(rules_annotator() + simulated_annotator("sim", 0.01, accuracy=0.8),
                 cascade([("kw", ["kw"], 0.7), ("sim", ["sim"], 0.0)])) + quality(0.1)
    project = make_project(tmp_path / "p", cfg, reviews(120), split="control=30")
    report = project.run()
    control = control_ids(project)
    d = decisions(project)
    gold = project.gold_labels(["control"])
    assert (d.loc[sorted(control), "decided_by"] == "gold").all()
    assert (d.loc[sorted(control), "label"] == pd.Series(gold)[sorted(control)]).all()
    assert (d.loc[sorted(control), "state"] == "final").all()
    # each annotator asked about n real items got ceil(0.1 n) probes, never one item twice
    probes = probes_of(project)
    assert not probes.duplicated(["annotator", "item_id"]).any()
    real = requests(project)
    real = real[~real["item_id"].isin(control)]
    for name in ("kw", "sim"):
        n_real = int((real["annotator"] == name).sum())
        n_probe = int((probes["annotator"] == name).sum())
        assert n_real > 0 and n_probe >= 1
        assert n_probe <= min(len(control), -(-n_real // 10) + 2)  # about 10 %, per step
        assert report.probes[name] == n_probe
    # the probes were paid like real work (the budget counts them)
    j = project.judgements()
    assert j[j["item"].isin(control) & (j["annotator"] == "sim")]["cost"].sum() == \
        pytest.approx(0.01 * int((probes["annotator"] == "sim").sum()))


def test_items_below_min_certainty_never_serve_and_certainty_is_imported(tmp_path):
    cfg = config(rules_annotator() + simulated_annotator("sim", 0.0),
                 cascade([("sim", ["sim"], 0.0)])) + quality(1.0)
    project = make_project(tmp_path / "p", cfg, reviews(40)[:20])
    rows = reviews(20, prefix="c")
    df = pd.DataFrame(rows, columns=["id", "text", "gold"])
    df["certainty"] = [0.5 if i % 2 else 0.95 for i in range(20)]  # half too uncertain
    project.import_dataframe(df, id_column="id", gold_role="control")
    item = schema.items
    with project.store.connect() as conn:
        stored = dict(conn.execute(select(item.c.id, item.c.gold_certainty)
                                   .where(item.c.gold_role == "control")).all())
    assert stored["c000"] == 0.95 and stored["c001"] == 0.5
    assert "certainty" not in json.dumps(project.to_dataframe().columns.tolist())
    project.run()
    asked = set(probes_of(project)["item_id"])
    assert asked and asked <= {f"c{i:03d}" for i in range(0, 20, 2)}


def test_a_bad_certainty_is_refused_with_the_row_named(tmp_path):
    from labelquorum.errors import ImportDataError

    cfg = config(rules_annotator(), cascade([("kw", ["kw"], 0.0)]))
    project = make_project(tmp_path / "p", cfg, reviews(4))
    df = pd.DataFrame(reviews(3, prefix="c"), columns=["id", "text", "gold"])
    df["certainty"] = ["0.9", "high", "1"]
    with pytest.raises(ImportDataError, match="row 2.*certainty|certainty.*row 2"):
        project.import_dataframe(df, id_column="id", gold_role="control")
    df["certainty"] = [0.9, 1.0, 1.0]
    df.loc[2, "gold"] = None
    with pytest.raises(ImportDataError, match="no gold label"):
        project.import_dataframe(df, id_column="id", gold_role="control")
    assert len(project.to_dataframe()) == 4  # nothing stored


# -- every annotator kind ---------------------------------------------------------------
def test_every_annotator_kind_answers_control_gold_as_probes_only(tmp_path):
    """tfidf, embedding, vader, rules, replay, simulated and an llm with retrieved examples,
    all in one tier: each answers control items as probes; no probe is served from or
    written to the call cache, none is in a training set, none is a few-shot example."""
    rows = reviews(70)
    recorded = pd.DataFrame({"item": [r[0] for r in rows], "annotator": "rec",
                             "label": [r[2] for r in rows]})
    (tmp_path / "rec.csv").parent.mkdir(parents=True, exist_ok=True)
    annotators = """
[annotators.model]
type = "tfidf"
min_train = 4
[annotators.emb]
type = "embedding"
min_train = 4
[annotators.lex]
type = "vader"
[annotators.rec]
type = "replay"
path = "REC"
[annotators.sim]
type = "simulated"
accuracy = 0.9
""".replace("REC", str(tmp_path / "rec.csv"))
    recorded.to_csv(tmp_path / "rec.csv", index=False)
    policy = ('[policy]\ntype = "cascade"\n[[policy.tiers]]\nannotators = '
              '["kw", "model", "emb", "lex", "rec", "sim", "llm"]\n')
    with ScriptedLlmServer([Rule("wonderful", "positive"), Rule("dreadful", "negative")],
                           default="negative") as server:
        project = llm_project(tmp_path, server.base_url, rows, split="seed=20,control=20",
                              llm="few_shot = { k = 4 }\nconcurrency = 2",
                              extra=annotators + quality(1.0), policy=policy)
        control = control_ids(project)
        texts = {r[0]: r[1] for r in rows}
        fitted: dict[str, list] = {}
        anns = project.build_annotators()
        for name in ("model", "emb"):
            fit = anns[name].fit

            def spy(xs, ys, fit=fit, name=name):
                fitted.setdefault(name, []).append(list(xs))
                return fit(xs, ys)

            anns[name].fit = spy
        project.run(annotators=anns)
        prompts = [r["messages"] for r in server.requests]
    probes = probes_of(project)
    j = project.judgements()
    for name in ("kw", "model", "emb", "lex", "rec", "sim", "llm"):
        mine = probes[probes["annotator"] == name]
        assert len(mine) == len(control), name  # 30 real items asked: every control item
        assert set(mine["state"]) <= {"done", "abstained"}, (name, set(mine["state"]))
        on_control = j[(j["annotator"] == name) & j["item"].isin(control)]
        assert len(on_control) == len(control), name
    for name in ("model", "emb"):
        assert fitted.get(name), f"{name} was not trained"
        assert not {texts[i] for i in control} & set(fitted[name][0]), name
    # the call log: no probe has a cache key (never written to, never served from it)
    mc = schema.model_calls
    with project.store.connect() as conn:
        log = pd.read_sql(select(mc.c.request_key, mc.c.cache_key)
                          .where(mc.c.annotator == "llm"), conn)
    keys = dict(zip(j["request_key"], j["item"]))
    log["item"] = log["request_key"].map(keys)
    assert log[log["item"].isin(control)]["cache_key"].isna().all()
    assert log[~log["item"].isin(control)]["cache_key"].notna().all()
    # no control text in any prompt but its own probe's last message
    control_texts = {texts[i] for i in control}
    for messages in prompts:
        shown = [m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
                 for m in messages[:-1]]
        assert not any(t in s for t in control_texts for s in shown)
    project.close()


def test_a_spacy_recogniser_answers_control_spans_as_probes(tmp_path):
    pytest.importorskip("spacy")
    from labelquorum.project import init_project

    text = """
[project]
name = "spans-probes"
[task]
kind = "spans"
labels = ["PER", "ORG", "LOC", "MISC"]
[annotators.ner]
type = "spacy"
[annotators.sim]
type = "simulated"
accuracy = 0.9
[policy]
type = "cascade"
aggregator = "majority"
[[policy.tiers]]
annotators = ["ner", "sim"]
[quality]
control_rate = 1.0
"""
    project = init_project(tmp_path / "p", config_text=text)
    names = ["Alice Smith", "Bob Jones", "Carol White", "Dan Brown"]
    rows = []
    for i in range(16):
        sentence = f"{names[i % 4]} visited Paris on day {i}."
        end = len(names[i % 4])
        rows.append((f"s{i:02d}", sentence, json.dumps([[0, end, "PER"]])))
    project.import_dataframe(pd.DataFrame(rows, columns=["id", "text", "entities"]),
                             id_column="id", split="control=6", gold_column="entities")
    project.run()
    probes = probes_of(project)
    for name in ("ner", "sim"):
        assert len(probes[probes["annotator"] == name]) == 6, name
    assert (decisions(project).loc[sorted(control_ids(project)), "decided_by"] == "gold").all()


def test_people_are_never_given_control_items_as_real_tasks(tmp_path):
    people = '\n[annotators.people]\ntype = "human"\n'
    cfg = config(rules_annotator() + people,
                 cascade([("kw", ["kw"], 0.99), ("people", ["people"], 0.0)])) + quality(0.5)
    project = make_project(tmp_path / "p", cfg, reviews(30), split="control=10")
    project.run()
    rq = requests(project)
    assert not ((rq["annotator"] == "people") & rq["item_id"].isin(control_ids(project))).any()
    assert (rq["annotator"] == "people").sum() == 20  # every real item that reached them
    ht = schema.human_tasks
    with project.store.connect() as conn:
        queued = set(conn.execute(select(ht.c.item_id)).scalars())
    assert not queued & control_ids(project)


# -- kills, budget ----------------------------------------------------------------------
PAID = config(rules_annotator() + simulated_annotator("sim", 0.01, batch_size=3)
              + simulated_annotator("io", 0.02, latency=0.001, concurrency=2),
              cascade([("kw", ["kw"], 0.7), ("sim", ["sim"], 0.95), ("io", ["io"], 0.0)])
              ) + quality(0.25)


def export_of(project) -> pd.DataFrame:
    return project.to_dataframe().set_index("id").sort_index()


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kill_at=st.integers(min_value=2, max_value=40))
def test_a_run_killed_mid_probe_resumes_without_paying_a_probe_twice(tmp_path_factory, kill_at):
    rows = reviews(60)
    whole = make_project(tmp_path_factory.mktemp("whole"), PAID, rows, split="control=16")
    whole.run()
    killed = make_project(tmp_path_factory.mktemp("killed"), PAID, rows, split="control=16")
    try:
        killed.run(progress=kill_after(kill_at))
    except Killed:
        pass
    killed.close()
    killed = open_project(killed.path)
    killed.run()
    j = killed.judgements()
    assert not j.duplicated(["request_key"]).any()  # no answer stored twice
    control = control_ids(killed)
    for project in (whole, killed):
        p = probes_of(project)
        assert not p.duplicated(["annotator", "item_id"]).any()
    # the same probes, paid once each: the same spend, on control items and in all
    pairs = [set(map(tuple, probes_of(p)[["annotator", "item_id"]].to_numpy()))
             for p in (whole, killed)]
    assert pairs[0] == pairs[1]
    whole_j = whole.judgements()
    assert j[j["item"].isin(control)]["cost"].sum() == pytest.approx(
        whole_j[whole_j["item"].isin(control)]["cost"].sum())
    assert spent(killed) == pytest.approx(spent(whole))
    pd.testing.assert_frame_equal(export_of(killed), export_of(whole))
    whole.close()
    killed.close()


def test_the_budget_is_a_hard_cap_with_probes(tmp_path):
    cfg = config(rules_annotator() + simulated_annotator("sim", 0.01, batch_size=2),
                 cascade([("kw", ["kw"], 0.7), ("sim", ["sim"], 0.0)], budget=0.25)
                 ) + quality(0.5)
    project = make_project(tmp_path / "p", cfg, reviews(80), split="control=20")
    report = project.run()
    assert spent(project) <= 0.25 + 1e-9
    assert report.budget_stopped > 0
    assert report.probes.get("sim", 0) >= 1
    probes = probes_of(project)
    paid = probes[(probes["annotator"] == "sim") & (probes["state"] == "done")]
    assert len(paid) >= 1


# -- the monitor ------------------------------------------------------------------------
def drift_config(accuracy: float, extra: str = "", weight_by_theta: bool = False) -> str:
    sims = (simulated_annotator("steady", 0.0, accuracy=0.95)
            + simulated_annotator("drifty", 0.0, accuracy=accuracy)
            + simulated_annotator("other", 0.0, accuracy=accuracy))
    flag = "true" if weight_by_theta else "false"
    return config(sims, '\n[policy]\ntype = "cascade"\naggregator = "weighted"\n'
                        '[[policy.tiers]]\nannotators = ["steady", "drifty", "other"]\n'
                  ) + quality(0.25, f"weight_by_theta = {flag}\n{extra}")


def set_accuracy(project, accuracy: float):
    """A provider update: the drifting annotators answer with another accuracy."""
    (project.path / "labelquorum.toml").write_text(drift_config(accuracy))
    project.close()
    return open_project(project.path)


def lq(*args):
    return subprocess.run([sys.executable, "-m", "labelquorum.cli", *map(str, args)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "COLUMNS": "200"})


def test_a_drifting_annotator_raises_an_alert_that_the_run_and_status_show(tmp_path):
    """Half-way through the project (a provider update: the same annotator, a new
    version), an annotator's accuracy drops from 0.95 to 0.1: the monitor notices on its
    golden probes, the run's notes and ``labelquorum status`` say so."""
    project = make_project(tmp_path / "p", drift_config(0.95), reviews(80), split="control=40")
    first = project.run()
    assert not first.alerts
    project = set_accuracy(project, 0.1)
    project.import_dataframe(pd.DataFrame(reviews(80, prefix="n"), columns=["id", "text", "gold"]),
                             id_column="id")
    second = project.run()
    drops = [a for a in second.alerts if "looks worse" in a]
    assert any("'drifty'" in a for a in drops) and not any("'steady'" in a for a in drops)
    assert any("'drifty'" in n and "looks worse" in n for n in second.notes)
    status = project.status()
    row = status.golden.set_index("annotator")
    assert row.loc["drifty", "drops"] >= 1 and row.loc["steady", "drops"] == 0
    assert row.loc["drifty", "theta"] < 0.5 < row.loc["steady", "theta"]
    assert not row.loc["drifty", "passes"] and row.loc["steady", "passes"]
    assert set(status.alerts["kind"]) >= {"quality_drop", "version_change"}
    out = lq("status", "-p", project.path).stdout
    assert "Golden probes" in out and "drifty" in out and "looks worse" in out
    # a third run replays the same history: no alert is stored twice
    third = project.run()
    assert not third.alerts
    qa = schema.quality_alerts
    with project.store.connect() as conn:
        n = conn.execute(select(func.count()).select_from(qa)).scalar()
    assert n == len(status.alerts)
    project.close()


def replay_config(files: dict[str, str], weight_by_theta: bool) -> str:
    replays = "".join(f'\n[annotators.{name}]\ntype = "replay"\npath = "{path}"\n'
                      f'annotator = "{name}"\n' for name, path in files.items())
    return config(replays, '\n[policy]\ntype = "cascade"\naggregator = "weighted"\n'
                           '[[policy.tiers]]\nannotators = ["steady", "drifty", "other"]\n'
                  ) + quality(0.25, f"weight_by_theta = {str(weight_by_theta).lower()}")


def test_with_weight_by_theta_a_drifted_annotator_loses_its_vote(tmp_path):
    """Three recorded annotators agree with the truth; after a provider update two of them
    answer wrong 90 % of the time, with the same confidence, and outvote the steady one.
    Weighed by their golden θ̂ (on their new version) they lose their weight and the
    steady annotator decides."""
    first, second = reviews(60), reviews(80, prefix="n")
    flip = {"positive": "negative", "negative": "positive"}
    records = []
    for n, (item, _, gold) in enumerate(first + second):
        for name in ("steady", "drifty", "other"):
            records.append((item, name, gold, "before"))
            wrong = name != "steady" and n % 10 != 0
            records.append((item, name, flip[gold] if wrong else gold, "after"))
    recorded = pd.DataFrame(records, columns=["item", "annotator", "label", "when"])
    for when in ("before", "after"):
        part = recorded[recorded["when"] == when].drop(columns="when")
        part.to_csv(tmp_path / f"{when}.csv", index=False)
    accuracy, weights = {}, {}
    for weigh in (False, True):
        before = {n: str(tmp_path / "before.csv") for n in ("steady", "drifty", "other")}
        project = make_project(tmp_path / f"p{weigh}", replay_config(before, weigh),
                               first, split="control=20")
        project.run()
        after = {**before, "drifty": str(tmp_path / "after.csv"),
                 "other": str(tmp_path / "after.csv")}
        (project.path / "labelquorum.toml").write_text(replay_config(after, weigh))
        project.close()
        project = open_project(project.path)
        project.import_dataframe(pd.DataFrame(second, columns=["id", "text", "gold"]),
                                 id_column="id", split="control=30")
        project.run()
        out = project.to_dataframe().set_index("id")
        new = out.loc[[r[0] for r in second]]
        new = new[new["gold_role"] != "control"]
        accuracy[weigh] = float((new["label"] == new["gold"]).mean())
        weights[weigh] = project.status().golden.set_index("annotator")["weight"]
        project.close()
    assert accuracy[False] < 0.3 and accuracy[True] > 0.9, accuracy
    assert weights[True]["drifty"] < 0.1 * weights[True]["steady"]


def test_a_store_from_before_migration_8_is_upgraded_and_keeps_its_items(tmp_path):
    """A project written before golden probes (no items.gold_certainty, no quality_alerts)
    opens, is migrated, and runs its control gold as probes."""
    import sqlite3

    cfg = config(rules_annotator() + simulated_annotator("sim", 0.0),
                 cascade([("sim", ["sim"], 0.0)])) + quality(1.0)
    project = make_project(tmp_path / "p", cfg, reviews(20), split="control=5")
    project.close()
    con = sqlite3.connect(tmp_path / "p" / "labelquorum.db")
    con.execute("DROP TABLE quality_alerts")
    con.execute("ALTER TABLE items DROP COLUMN gold_certainty")
    con.execute("DELETE FROM schema_migrations WHERE version = 8")
    con.commit()
    con.close()
    project = open_project(tmp_path / "p")
    project.run()
    assert len(probes_of(project)) == 5
    con = sqlite3.connect(tmp_path / "p" / "labelquorum.db")
    columns = {r[1] for r in con.execute("PRAGMA table_info(items)")}
    assert "gold_certainty" in columns
    assert 8 in {r[0] for r in con.execute("SELECT version FROM schema_migrations")}
    con.close()
    project.close()


def test_an_item_is_never_probed_twice_per_annotator_version(tmp_path):
    """The bank never gives a version of an annotator the same golden item twice, across
    runs; a new version (reconfigured, or a model retrained) is a new annotator to probe."""
    def cfg(accuracy):
        return config(simulated_annotator("sim", 0.0, accuracy=accuracy),
                      cascade([("sim", ["sim"], 0.0)])) + quality(1.0)

    project = make_project(tmp_path / "p", cfg(0.9), reviews(14), split="control=4")
    project.run()
    assert len(probes_of(project)) == 4
    new = pd.DataFrame(reviews(6, prefix="a"), columns=["id", "text", "gold"])
    project.import_dataframe(new, id_column="id")
    assert project.run().probes == {}  # the bank is spent for this version
    assert len(probes_of(project)) == 4
    (project.path / "labelquorum.toml").write_text(cfg(0.8))
    project.close()
    project = open_project(project.path)
    new = pd.DataFrame(reviews(6, prefix="b"), columns=["id", "text", "gold"])
    project.import_dataframe(new, id_column="id")
    assert project.run().probes == {"sim": 4}
    rq = probes_of(project)
    assert len(rq) == 8 and rq["annotator_version"].nunique() == 2
    assert not rq.duplicated(["annotator", "annotator_version", "item_id"]).any()
    project.close()
