"""Attack on issue #10: the verified pool must never hold a trainable annotator's own
guesses, whatever else sat in the tier that accepted them."""

from __future__ import annotations

import importlib.resources

import pandas as pd
from sqlalchemy import select

import labelquorum as lq
from labelquorum.engine.training import pool, trainable_names
from labelquorum.store import schema

SAMPLE = importlib.resources.files("labelquorum") / "data" / "sst2_sample.csv"

MIXED = """
[project]
name = "mixed"
seed = 3

[task]
labels = ["negative", "positive"]

[annotators.kw]
type = "rules"
rules = [{label = "positive", keywords = ["zzzzqqq"]}]

[annotators.tfidf]
type = "tfidf"
min_train = 20

[annotators.llm]
type = "simulated"
stands_for = "llm"
accuracy = 0.9
cost_per_call = 0.002

[policy]
type = "cascade"
tiers = [{annotators = ["kw", "tfidf"], min_confidence = 0.0},
         {annotators = ["llm"]}]
"""


def test_a_rules_annotator_that_abstained_does_not_verify_the_models_guess(tmp_path):
    # the rule never matches: every label the first tier accepts is tfidf's own guess,
    # though ``decided_by`` reads "kw,tfidf" (an abstention counts as answering)
    project = lq.init_project(tmp_path / "p", labels=[], config_text=MIXED)
    df = pd.read_csv(SAMPLE).head(200)
    project.import_dataframe(df, id_column="id", gold_column="label", split="seed=60")
    project.run()
    d = schema.decisions
    with project.store.connect() as conn:
        first_tier = set(conn.execute(select(d.c.item_id).where(
            d.c.decided_by.like("%tfidf%") & ~d.c.decided_by.like("%llm%")
            & (d.c.flags == ""))).scalars())
    assert first_tier, "the first tier accepted nothing: the attack needs some"
    names = trainable_names(project.build_annotators())
    found = pool(project.store, project.task, None, names)
    leaked = first_tier & set(found.ids)
    assert not leaked, f"{len(leaked)} of tfidf's own guesses are in its training pool"
