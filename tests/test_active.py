"""Active learning for the people's tier: a short budget buys the tasks whose answers would
change most (labelquorum.active), not the first ones in import order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_fixtures import config
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from labelquorum.active import SELECTORS, UncertaintySampling
from labelquorum.project import init_project
from labelquorum.store import schema

# a model that is sure of some items and unsure of others: its confidence is the item's
# stated ``sure`` field, so the test knows which items are uncertain
MODEL = """
[annotators.model]
type = "simulated"
accuracy = 0.9
accuracy_hard = 0.5
difficulty_field = "hard"

[annotators.people]
type = "human"
cost_per_hour = 36.0
max_seconds = 100.0
"""


def policy(order: str, budget: float) -> str:
    return f"""
[policy]
type = "cascade"
budget = {budget}
people_order = "{order}"

[[policy.tiers]]
name = "model"
annotators = ["model"]
min_confidence = 0.95

[[policy.tiers]]
name = "people"
annotators = ["people"]
"""


def project_with(tmp_path, order: str):
    rng = np.random.default_rng(0)
    hard = rng.uniform(0.0, 1.0, 200)
    rows = pd.DataFrame({"id": [f"i{i}" for i in range(200)],
                         "text": [f"a film #{i}" for i in range(200)],
                         "gold": rng.choice(["negative", "positive"], 200), "hard": hard})
    # 100 s a task at 36 USD/h is 1 USD: a budget of 20 USD pays for 20 tasks
    project = init_project(tmp_path / order, config_text=config(MODEL, policy(order, 20.0)))
    project.import_dataframe(rows, id_column="id", gold_column="gold")
    project.run()
    rq = schema.requests
    with project.store.connect() as conn:
        asked = set(conn.execute(select(rq.c.item_id).where(
            (rq.c.annotator == "people") & rq.c.state.in_(("pending", "sent")))).scalars())
    return project, dict(zip(rows["id"], hard)), asked


def test_short_budget_buys_the_most_uncertain_items(tmp_path):
    _project, hard, asked = project_with(tmp_path, "least-confident")
    assert len(asked) == 20
    forwarded = {i for i, h in hard.items() if 0.9 - 0.4 * h < 0.95}
    assert asked <= forwarded
    # the 20 hardest of the forwarded items (the model is least sure of them)
    hardest = sorted(forwarded, key=lambda i: -hard[i])[:20]
    assert asked == set(hardest)


def test_import_order_is_what_it_says(tmp_path):
    _project, hard, asked = project_with(tmp_path, "import")
    forwarded = sorted((i for i, h in hard.items() if 0.9 - 0.4 * h < 0.95),
                       key=lambda i: int(i[1:]))
    assert asked == set(forwarded[:20])


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 6), st.integers(1, 30), st.sampled_from(SELECTORS[:3]),
       st.integers(0, 1000))
def test_a_more_certain_item_never_scores_above_a_less_certain_one(k, n, strategy, seed):
    """Hypothesis: sharpening an item's posterior towards its top label never raises its
    score, whatever the strategy."""
    rng = np.random.default_rng(seed)
    post = rng.dirichlet(np.ones(k), n)
    top = post.argmax(axis=1)
    sharper = post * 0.5
    sharper[np.arange(n), top] += 0.5
    sel = UncertaintySampling(strategy)
    assert (sel.score(sharper) <= sel.score(post) + 1e-12).all()


def test_unknown_selector_is_refused():
    with pytest.raises(ValueError, match="valid: least-confident"):
        UncertaintySampling("clever").score(np.ones((2, 2)))
