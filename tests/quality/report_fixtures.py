"""Projects for the report's tests, built through the real flow: import, run, people's answers,
run again. No mocks: a real SQLite store and, for the LLM, the scripted OpenAI-compatible
server over HTTP."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

import labelquorum as lq
from labelquorum.store import schema

POSITIVE = ["wonderful", "moving", "superb", "charming"]
NEGATIVE = ["dreadful", "boring", "clumsy", "tedious"]
PEOPLE = {"alice": 1.0, "bob": 0.85, "carol": 0.7}  # how often each person is right


def rows(n: int = 40) -> pd.DataFrame:
    out = []
    for i in range(n):
        label = "positive" if i % 2 == 0 else "negative"
        adj = (POSITIVE if label == "positive" else NEGATIVE)[(i // 2) % 4]
        out.append((f"i{i:02d}", f"A {adj} film, scene {i} of the story.", label))
    return pd.DataFrame(out, columns=["id", "text", "gold"])


def classification_config(base_url: str) -> str:
    return f"""
[project]
name = "report-test"
seed = 3

[task]
kind = "classification"
guidelines = "Is the film review positive or negative?"

[[task.labels]]
name = "negative"
description = "The reviewer dislikes the film."

[[task.labels]]
name = "positive"
description = "The reviewer likes the film."

[annotators.kw]
type = "rules"
rules = [{{ label = "positive", keywords = ["superb"] }},
         {{ label = "negative", keywords = ["tedious"] }}]

[annotators.tfidf]
type = "tfidf"
min_train = 4

[annotators.sim]
type = "simulated"
stands_for = "model"
accuracy = 0.8

[annotators.llm]
type = "llm"
base_url = "{base_url}"
model = "gpt-4o-mini"
max_retries = 1
few_shot = {{ k = 2, strategy = "fixed" }}

[annotators.people]
type = "human"
overlap = 3
cost_per_call = 0.05

[policy]
type = "cascade"

[[policy.tiers]]
name = "small models"
annotators = ["kw", "tfidf", "sim"]
min_confidence = 0.99
min_votes = 3

[[policy.tiers]]
name = "llm"
annotators = ["llm"]
min_confidence = 0.97

[[policy.tiers]]
name = "people"
annotators = ["people"]
"""


def llm_rules():
    from labelquorum.testing_server import Rule

    # right on every adjective but "clumsy", which it calls positive
    return ([Rule(adj, "positive", confidence=0.9) for adj in POSITIVE + ["clumsy"]]
            + [Rule(adj, "negative", confidence=0.9) for adj in NEGATIVE if adj != "clumsy"])


def people_answer(project, seed: int = 0) -> int:
    """Every open people's task answered by alice, bob and carol (right as often as
    PEOPLE says)."""
    rng = random.Random(seed)
    rq = schema.requests
    gold = dict(zip(rows()["id"], rows()["gold"]))
    with project.store.connect() as conn:
        open_items = [r.item_id for r in conn.execute(
            rq.select().where((rq.c.project_id == project.store.project_id)
                              & (rq.c.annotator == "people")
                              & rq.c.state.in_(("pending", "sent"))))]
    answers = []
    for item in sorted(open_items):
        for who, p in PEOPLE.items():
            right = rng.random() < p
            label = gold[item] if right else ("negative" if gold[item] == "positive"
                                              else "positive")
            answers.append({"item": item, "annotator": "people", "worker": who,
                            "label": label, "latency": 20.0})
    return project.add_judgements(answers)


def classification_project(root: Path, base_url: str):
    """40 items (16 seed, 8 control, 16 evaluation gold) through rules, tfidf, a simulated
    model, the scripted LLM and three people; run, answered, run again."""
    project = lq.init_project(root, config_text=classification_config(base_url))
    project.import_dataframe(rows(), id_column="id", gold_column="gold",
                             split="seed=16,control=8", gold_role="evaluation")
    project.run()
    assert people_answer(project) > 0
    project.run()
    return project


def add_web_records(project) -> None:
    """Two reviewers' reviews, a person's golden question and an LLM judge's score, as the
    web app writes them (users, reviews, assignments)."""
    now = datetime.now(UTC)
    pid = project.store.project_id
    control = [i for i, r in project.gold_labels(["control"]).items()][:1]
    with project.store.begin() as conn:
        ids = {}
        for name, role in (("rev1", "reviewer"), ("rev2", "reviewer"), ("dora", "annotator")):
            ids[name] = conn.execute(schema.users.insert().values(
                project_id=pid, name=name, role=role, created=now)).inserted_primary_key[0]
        for n, (who, item) in enumerate((("rev1", "i16"), ("rev2", "i17"), ("rev2", "i18"))):
            conn.execute(schema.reviews.insert().values(
                project_id=pid, item_id=item, user_id=ids[who], label="positive", created=now))
        conn.execute(schema.assignments.insert().values(
            project_id=pid, public_id="g1", item_id=control[0], user_id=ids["dora"],
            request_key=None, control=True, state="done", leased=now, lease_expires=now,
            submitted=now, label="positive", correct=True, judge_score=4.0))


SPANS_CONFIG = """
[project]
name = "ner-report"

[task]
kind = "spans"
guidelines = "Mark people, organisations, places and other names."
[[task.labels]]
name = "PER"
[[task.labels]]
name = "ORG"
[[task.labels]]
name = "LOC"
[[task.labels]]
name = "MISC"

[annotators.good]
type = "simulated"
accuracy = 0.9
[annotators.fair]
type = "simulated"
accuracy = 0.6
[annotators.expert]
type = "simulated"
stands_for = "human"
accuracy = 1.0
cost_per_call = 0.5

[policy]
type = "vote-then-verify"
specialists = ["good", "fair"]
verifiers = ["expert"]
"""

NER = Path(__file__).parent.parent / "fixtures" / "ner_small.jsonl"


def spans_project(root: Path, url: str | None = None):
    """The eight NER sentences (evaluation gold) through two simulated span annotators and a
    simulated expert; on PostgreSQL when ``url`` names a database."""
    store = f'\n[store]\nurl = "{url}"\n' if url else ""
    project = lq.init_project(root, config_text=SPANS_CONFIG + store)
    project.import_file(NER, id_column="id", gold_role="evaluation")
    project.run()
    return project
