"""Shared builders of the run-engine attack tests (budget, races, kills, failures).

A project here is a cascade (or chain) whose first tier is free keyword rules and whose
later tiers are paid: ``simulated`` annotators standing for LLMs (``cost_per_call``; with a
``latency`` they are asked concurrently like an endpoint, without one in paid batches) or
the ``llm`` annotator against the scripted server of :mod:`labelquorum.testing_server`.
What the tests read is what a user sees: the export, ``decisions.state``, the stored
judgements and their cost, the run report and ``labelquorum status``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from labelquorum.project import Project, init_project, open_project
from labelquorum.store import schema

KEYWORD = "wonderful"  # the rules tier labels items with it ``positive``, and only those


def rules_annotator(name: str = "kw") -> str:
    return f"""
[annotators.{name}]
type = "rules"
confidence = 0.8
rules = [{{ label = "positive", keywords = ["{KEYWORD}"] }}]
"""


def simulated_annotator(name: str, price: float, *, latency: float = 0.0,
                        concurrency: int = 2, batch_size: int = 4,
                        accuracy: float = 0.9) -> str:
    """A paid LLM-like tier: ``cost_per_call`` a call; with ``latency`` it is I/O-bound."""
    return f"""
[annotators.{name}]
type = "simulated"
stands_for = "llm"
accuracy = {accuracy!r}
cost_per_call = {price!r}
latency = {latency!r}
concurrency = {concurrency}
batch_size = {batch_size}
"""


def llm_annotator(name: str, base_url: str, *, price_input: float = 100.0,
                  price_output: float = 200.0, concurrency: int = 2, max_retries: int = 2,
                  extra: str = "") -> str:
    return f"""
[annotators.{name}]
type = "llm"
base_url = "{base_url}"
model = "scripted-model"
price_input = {price_input!r}
price_output = {price_output!r}
concurrency = {concurrency}
max_retries = {max_retries}
breaker_failures = 1000
{extra}
"""


def budget_line(budget: float | None) -> str:
    return "# no budget" if budget is None else f"budget = {float(budget)!r}"


def cascade(tiers: list[tuple[str, list[str], float]], budget: float | None = None) -> str:
    """``[(name, annotators, min_confidence), ...]``"""
    out = f'\n[policy]\ntype = "cascade"\n{budget_line(budget)}\n'
    for name, members, conf in tiers:
        out += (f'\n[[policy.tiers]]\nname = "{name}"\n'
                f"annotators = {members!r}\nmin_confidence = {conf!r}\n").replace("'", '"')
    return out


def run_section(executor: tuple[str, str | None] | None) -> str:
    """The ``[run]`` section for the ``executor`` fixture's ``(name, address)``."""
    if executor is None:
        return ""
    name, address = executor
    return f'\n[run]\nexecutor = "{name}"\n' + (f'address = "{address}"\n' if address else "")


def config(annotators: str, policy: str, *, name: str = "engine-attack", seed: int = 5,
           store_url: str | None = None, executor: tuple[str, str | None] | None = None) -> str:
    store = f'\n[store]\nurl = "{store_url}"\n' if store_url else ""
    return f"""
[project]
name = "{name}"
seed = {seed}
{store}{run_section(executor)}
[task]
kind = "classification"
guidelines = "Is the film review positive or negative?"
labels = ["negative", "positive"]
{annotators}
{policy}
"""


def make_project(root: Path, config_text: str, rows: list[tuple], **options) -> Project:
    """A project with ``rows`` of ``(id, text[, gold])``; gold is evaluation gold unless
    ``split`` or ``gold_role`` say otherwise (simulated annotators answer from it)."""
    project = init_project(root, config_text=config_text)
    columns = ["id", "text", "gold"][:len(rows[0])]
    df = pd.DataFrame(rows, columns=columns)
    project.import_dataframe(df, id_column="id",
                             gold_column="gold" if "gold" in columns else None, **options)
    return project


def set_budget(project: Project, budget: float | None) -> Project:
    """Change the project's budget in its config file; returns the project reopened."""
    path = project.path / "labelquorum.toml"
    text = path.read_text(encoding="utf-8")
    text, n = re.subn(r"^(budget = .*|# no budget)$", budget_line(budget), text,
                      flags=re.MULTILINE)
    assert n == 1, "the config has no budget line to change"
    path.write_text(text, encoding="utf-8")
    project.close()
    return open_project(project.path)


def decisions(project: Project) -> pd.DataFrame:
    """The decisions table, indexed by item: label, state, flags, decided_by, tier."""
    d = schema.decisions
    with project.store.connect() as conn:
        df = pd.read_sql(select(d.c.item_id, d.c.label, d.c.state, d.c.flags, d.c.decided_by,
                                d.c.tier).where(d.c.project_id == project.store.project_id),
                         conn)
    return df.set_index("item_id").sort_index()


def spent(project: Project) -> float:
    """Committed spend: the cost of every stored judgement."""
    j = schema.judgements
    with project.store.connect() as conn:
        return float(conn.execute(select(func.sum(j.c.cost)).where(
            j.c.project_id == project.store.project_id)).scalar() or 0.0)


def requests(project: Project) -> pd.DataFrame:
    rq = schema.requests
    with project.store.connect() as conn:
        return pd.read_sql(select(rq).where(rq.c.project_id == project.store.project_id),
                           conn)


def judged(project: Project, annotator: str, status: str | None = None) -> set[str]:
    """Items the annotator has a stored judgement on (of the given status)."""
    j = project.judgements()
    j = j[j["annotator"] == annotator]
    if status is not None:
        j = j[j["status"] == status]
    return set(j["item"])


class Killed(Exception):
    """Raised from a progress callback: the run stops where a kill would stop it."""


def kill_after(calls: int):
    """A ``progress`` callback that raises :class:`Killed` on its ``calls``-th call."""
    seen = {"n": 0}

    def progress(done: int, total: int, stage: str) -> None:
        seen["n"] += 1
        if seen["n"] >= calls:
            raise Killed(f"killed at progress call {seen['n']} ({stage})")

    return progress


def reviewer(project: Project, name: str = "rev"):
    """A reviewer account of the project, as :class:`labelquorum.web.auth.User`."""
    from labelquorum.errors import WebError
    from labelquorum.web.auth import Accounts, User

    accounts = Accounts(project.store)
    try:
        uid = accounts.user_id(name)
    except WebError:  # no such user yet
        accounts.add_user(name, "reviewer")
        uid = accounts.user_id(name)
    return User(uid, name, "reviewer")
