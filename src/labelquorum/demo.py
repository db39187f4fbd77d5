"""The offline demo: 2,000 SST-2 sentences through a three-tier cascade.

Small models (TF-IDF, MiniLM embeddings when the ``ml`` extra is installed, VADER)
trained on a 200-item gold seed label what they agree on confidently; a simulated LLM
takes the rest; simulated people take what the LLM is unsure of. The LLM and people are
simulated from gold with a stated noise model and are marked so in every output.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

from rich.console import Console

from .errors import ProjectError
from .importing import read_table
from .project import init_project

SEED_SIZE = 200
LOCAL_ITEMS = 300  # with --llm local: the 200 seed + 100 held out
LLM_COST, HUMAN_COST = 0.002, 0.10


def _embedding_available() -> bool:
    try:
        from .annotators.embedder import get_embedder

        get_embedder("auto")
        return True
    except Exception:  # noqa: BLE001 - any failure means: run without it
        return False


def llm_section(url: str, model: str, key_env: str | None, *, concurrency: int = 8,
                timeout: float | None = None) -> str:
    """The demo's LLM tier as a real OpenAI-compatible endpoint (``demo --llm URL``)."""
    key = f"\napi_key_env = {json.dumps(key_env)}" if key_env else ""
    wait = f"\ntimeout = {timeout}" if timeout else ""
    return f"""# A real OpenAI-compatible endpoint (labelquorum demo --llm URL).
[annotators.llm]
type = "llm"
base_url = {json.dumps(url)}
model = {json.dumps(model)}{key}
concurrency = {concurrency}{wait}
"""


SIMULATED_LLM = f"""# Simulated from gold: right with probability 0.97 on easy items falling to
# 0.85 on the hardest, and it states that probability as its confidence; every judgement
# is marked simulated.
[annotators.llm]
type = "simulated"
stands_for = "llm"
accuracy = 0.97
accuracy_hard = 0.85
cost_per_call = {LLM_COST}
latency = 0.005
concurrency = 16
"""


def demo_config(embedding: bool, llm: str | None = None) -> str:
    small = ["tfidf", "embedding", "vader"] if embedding else ["tfidf", "vader"]
    emb = '\n[annotators.embedding]\ntype = "embedding"\n' if embedding else ""
    names = ", ".join(f'"{a}"' for a in small)
    return f"""# The labelquorum demo project: every key is described in docs/reference/config.md.
[project]
name = "labelquorum-demo"
seed = 0

[task]
kind = "classification"
guidelines = "Is the sentence, a snippet of a film review, positive or negative?"
fields = ["text"]

[[task.labels]]
name = "negative"
description = "The reviewer dislikes the film."

[[task.labels]]
name = "positive"
description = "The reviewer likes the film."

[annotators.tfidf]
type = "tfidf"
{emb}
[annotators.vader]
type = "vader"
ranges = {{ negative = [-1.0, -0.05], positive = [0.05, 1.0] }}

{llm or SIMULATED_LLM}
[annotators.people]
type = "simulated"
stands_for = "human"
accuracy = 0.98
cost_per_call = {HUMAN_COST}

[policy]
type = "cascade"
aggregator = "weighted"
# budget = 25.0   # USD: escalation stops before a call would exceed it

[[policy.tiers]]
name = "small models"
annotators = [{names}]
min_confidence = 0.6
min_agreement = 1.0
min_votes = {len(small)}

[[policy.tiers]]
name = "llm"
annotators = ["llm"]
min_confidence = 0.9

[[policy.tiers]]
name = "people"
annotators = ["people"]
"""


def run_demo(directory: Path, *, fresh: bool, console: Console, progress_runner,
             print_status, llm_url: str | None = None, llm_model: str = "gpt-4o-mini",
             llm_key_env: str | None = None) -> None:
    """Run the demo; with ``llm_url`` its LLM tier is that real endpoint, not a simulation.

    ``llm_url = "local"`` starts SmolLM2-135M-Instruct on llama.cpp's server (the
    ``llm-local`` extra, :mod:`labelquorum.llm_local`) for the run and stops it after; the
    demo then labels the first :data:`LOCAL_ITEMS` sentences only, as a small model on a CPU
    answers one call at a time.
    """
    kwargs = {"fresh": fresh, "console": console, "progress_runner": progress_runner,
              "print_status": print_status}
    if llm_url != "local":
        return _run_demo(directory, llm_url=llm_url, llm_model=llm_model,
                         llm_key_env=llm_key_env, **kwargs)
    from .llm_local import LocalLLMServer

    console.print("Starting SmolLM2-135M-Instruct on llama.cpp's OpenAI-compatible server "
                  "(the llm-local extra) ...")
    with LocalLLMServer() as server:
        console.print(f"Serving {server.model} at {server.base_url}; it stops when the demo "
                      "ends.")
        return _run_demo(directory, llm_url=server.base_url, llm_model=server.model,
                         llm_key_env=None, local=True, **kwargs)


def _run_demo(directory: Path, *, fresh: bool, console: Console, progress_runner,
              print_status, llm_url: str | None, llm_model: str, llm_key_env: str | None,
              local: bool = False) -> None:
    directory = Path(directory)
    if directory.exists():
        if not fresh:
            raise ProjectError(f"{directory} exists; remove it, or leave out --no-fresh to "
                               "replace an earlier demo project")
        config = directory / "labelquorum.toml"
        is_demo = config.exists() and 'name = "labelquorum-demo"' in config.read_text()
        if not is_demo:
            raise ProjectError(f"{directory} exists and is not an earlier demo project; "
                               "choose another --dir")
        shutil.rmtree(directory)
    embedding = _embedding_available()
    if not embedding:
        console.print("[dim]The ml extra is not installed: running without the embedding "
                      "annotator (pip install 'labelquorum\\[ml]').[/]")
    # llama.cpp answers one request at a time: queued calls would only wait out the timeout
    # and short answers (no verbalized score) keep a CPU-bound model's calls short
    llm = (llm_section(llm_url, llm_model, llm_key_env, concurrency=1, timeout=300.0)
           + 'confidence = "logprobs"\nmax_tokens = 24\n' if local
           else llm_section(llm_url, llm_model, llm_key_env) if llm_url else None)
    project = init_project(directory, ["negative", "positive"],
                           config_text=demo_config(embedding, llm))
    with resources.as_file(resources.files("labelquorum") / "data" / "sst2_sample.csv") as data:
        if local:
            result = project.import_dataframe(read_table(data).head(LOCAL_ITEMS),
                                              source=str(data), id_column="id",
                                              split=f"seed={SEED_SIZE}")
        else:
            result = project.import_file(data, id_column="id", split=f"seed={SEED_SIZE}")
    console.print(f"Imported {result.items:,} SST-2 sentences: {result.roles.get('seed', 0)} "
                  f"gold seed for training, {result.roles.get('evaluation', 0):,} held out "
                  "for evaluation.")
    report = progress_runner(project)
    status = project.status()
    print_status(status, project.config.project.name)
    n = status.evaluation_items
    which = (f"The LLM tier was {llm_model} at {llm_url}; people are [bold]simulated[/] from "
             "gold" if llm_url else "The LLM and people tiers are [bold]simulated[/] from gold")
    if local:
        which = (f"The LLM tier was {llm_model}, a 135M-parameter model run locally by "
                 "llama.cpp: weak and slow, it shows the real path (structured output, "
                 "log-probability confidence, latency, failed calls), not accuracy; people "
                 "are [bold]simulated[/] from gold")
    llm_cost = "" if llm_url else f"the simulated LLM on every item would cost ${LLM_COST * n:,.2f}, "
    console.print(
        f"\nFor comparison: {llm_cost}people on every item ${HUMAN_COST * n:,.2f}.\n"
        f"{which} (see labelquorum.toml).\n"
        f"Project left in {project.path}: try 'labelquorum status -p {directory}' and "
        f"'labelquorum export labels.csv -p {directory}'.")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    project.close()
