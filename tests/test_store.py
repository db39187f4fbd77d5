"""The store: SQLite by default, PostgreSQL when configured; many projects per database."""

import sqlite3

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

import labelquorum as lq
from labelquorum.store.migrations import LATEST

CONFIG = """
[project]
name = "{name}"
[store]
{store}
[task]
labels = ["neg", "pos"]
[annotators.kw]
type = "rules"
rules = [{{ label = "pos", keywords = ["good"] }}, {{ label = "neg", keywords = ["bad"] }}]
[annotators.sim]
type = "simulated"
accuracy = 1.0
cost_per_call = 0.01
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["kw"]
[[policy.tiers]]
annotators = ["sim"]
"""

ITEMS = pd.DataFrame({
    "id": ["a", "b", "c", "d"],
    "text": ["good film", "bad film", "a film", "another film"],
    "gold": ["pos", "neg", "neg", "pos"],
})


def labelled(path, name, store=""):
    project = lq.init_project(path, ["neg", "pos"],
                              config_text=CONFIG.format(name=name, store=store))
    project.import_dataframe(ITEMS, id_column="id")
    project.run()
    return project


def check_pipeline(project):
    out = project.to_dataframe().set_index("id")
    assert out["label"].to_dict() == {"a": "pos", "b": "neg", "c": "neg", "d": "pos"}
    assert out.loc["a", "decided_by"] == "kw" and out.loc["c", "decided_by"] == "sim"
    assert bool(out.loc["c", "simulated"]) and not bool(out.loc["a", "simulated"])
    status = project.status()
    assert status.total_cost == pytest.approx(0.02)
    assert status.evaluation_accuracy == 1.0


def test_sqlite_default_is_a_wal_file_in_the_project(tmp_path):
    project = labelled(tmp_path / "p", "p")
    check_pipeline(project)
    db = tmp_path / "p" / "labelquorum.db"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == LATEST
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"items", "judgements", "requests", "model_calls", "decisions", "runs"} <= tables


def test_a_second_writer_can_work_while_a_project_is_open(tmp_path):
    project = labelled(tmp_path / "p", "p")
    other = lq.open_project(tmp_path / "p")
    other.import_dataframe(pd.DataFrame({"text": ["good again"]}))
    project.run()
    assert len(project.to_dataframe()) == 5
    assert project.to_dataframe()["label"].notna().all()


@pytest.mark.postgres
def test_postgres_store_runs_the_same_pipeline(tmp_path, postgres_db_url):
    project = labelled(tmp_path / "p", "p", store=f'url = "{postgres_db_url}"')
    check_pipeline(project)
    assert not (tmp_path / "p" / "labelquorum.db").exists()


@pytest.mark.postgres
def test_one_postgres_database_holds_many_projects(tmp_path, postgres_db_url):
    first = labelled(tmp_path / "one", "one", store=f'url = "{postgres_db_url}"')
    second = labelled(tmp_path / "two", "two", store=f'url = "{postgres_db_url}"')
    assert first.store.project_id != second.store.project_id
    assert len(first.to_dataframe()) == len(second.to_dataframe()) == 4
    engine = create_engine(postgres_db_url)
    with engine.connect() as conn:
        per_project = conn.execute(text(
            "SELECT project_id, count(*) FROM items GROUP BY project_id")).all()
    engine.dispose()
    assert sorted(n for _, n in per_project) == [4, 4]


def test_unreachable_database_gives_a_clear_error(tmp_path):
    with pytest.raises(lq.StoreError, match="cannot open the store"):
        lq.init_project(tmp_path / "p", ["neg", "pos"], config_text=CONFIG.format(
            name="p", store='url = "sqlite:////nonexistent-dir/x/y.db"'))
