"""People are workers inside a run too: with ``policy.aggregator = "dawid-skene"`` the run's
own decisions weigh each person by their estimated skill, instead of pooling the people
of an overlap into one voter (issue 9, row 8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from engine_fixtures import cascade, config, make_project


def test_the_run_weighs_each_person_by_their_skill(tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    gold = rng.choice(["negative", "positive"], n)
    rows = [(f"i{i}", f"a film #{i}") for i in range(n)]
    people = '\n[annotators.people]\ntype = "human"\noverlap = 5\n'
    text = config(people, cascade([("people", ["people"], 0.0)]))
    text = text.replace('type = "cascade"', 'type = "cascade"\naggregator = "dawid-skene"')
    project = make_project(tmp_path / "p", text, rows)
    assert project.run().waiting_human == n
    flip = {"negative": "positive", "positive": "negative"}
    answers = []
    # two careful people, three who answer at random: a vote of the five is often wrong
    for i in range(n):
        for who, accuracy in (("alice", 0.95), ("bob", 0.95), ("carol", 0.5), ("dave", 0.5),
                              ("erin", 0.5)):
            label = gold[i] if rng.random() < accuracy else flip[gold[i]]
            answers.append({"item": f"i{i}", "annotator": "people", "worker": who,
                            "label": label})
    project.add_judgements(answers)
    project.run()
    out = project.to_dataframe().set_index("id")
    truth = pd.Series(gold, index=[f"i{i}" for i in range(n)])
    pooled = pd.DataFrame(answers).groupby("item")["label"].agg(
        lambda s: s.value_counts().idxmax())
    vote_accuracy = (pooled.reindex(truth.index) == truth).mean()
    run_accuracy = (out["label"].reindex(truth.index) == truth).mean()
    assert run_accuracy >= 0.93  # the careful two carry it
    assert run_accuracy > vote_accuracy + 0.03
    project.close()
