"""LLM calls/s of a run on Ray against the local executor, on the scripted server.

The scripted OpenAI-compatible server (``labelquorum.testing_server``) runs in a
subprocess with 200 ms latency per call; a project with one ``llm`` tier runs over N items
with ``Project.run()`` (the ledger, the judgements and the call log written per answer in
SQLite by the run's process), at concurrency 32 and 128:

* with the local executor (one process: the client shares its core with the writer);
* with the Ray executor and 1, 2 and 4 actor processes (``[run] actors``), on a private
  single-node cluster this script's first Ray run starts (127.0.0.1, 100 MB object store).

CPU per call: of the run's process (the driver: ledger, writer, dispatch) and of the LLM
workers together (their whole life, start included), which is what a larger machine
divides among its cores. Two rates per scenario: *whole run* (items over the run's wall time, Ray's worker start
included) and *steady* (the answers stored between 10 % and 90 % of the items, over the
time between them: the rate once the workers are up). The ideal is
concurrency ÷ latency. The load average is printed before and after.

Run by hand from the repository root (needs the ``ray`` extra)::

    python benchmarks/ray_throughput.py [--latency 0.2] [--seconds 8] [--actors 1,2,4]

It writes only to a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import openai  # noqa: F401 - imported before timing, as in llm_client_throughput.py
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from labelquorum.project import init_project
from labelquorum.testing_server import SpawnedLlmServer

CONFIG = """
[project]
name = "ray-throughput"
[run]
executor = "{executor}"
actors = {actors}
[task]
labels = ["negative", "positive"]
guidelines = "Is the film review positive or negative?"
[annotators.llm]
type = "llm"
base_url = "{url}"
model = "gpt-4o-mini"
concurrency = {concurrency}
max_retries = 8
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["llm"]
"""


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each live LLM worker process of the run, from
    /proc (the workers run on this machine)."""
    import ray

    out = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["namespace"] != "labelquorum" or "-llm-io-" not in entry["name"]:
            continue
        pid = ray.get(ray.get_actor(entry["name"], namespace="labelquorum").pid.remote())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[entry["name"]] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def scenario(server, executor: str, actors: int, concurrency: int, items: int,
             latency: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        project = init_project(Path(tmp) / "p", config_text=CONFIG.format(
            executor=executor, actors=actors, url=server.base_url, concurrency=concurrency))
        texts = [f"review number {i}: a film with a cast and a plot" for i in range(items)]
        project.import_dataframe(pd.DataFrame({"id": [f"i{i}" for i in range(items)],
                                               "text": texts}), id_column="id")
        stamps: list[tuple[float, int]] = []  # (time, answers stored)
        workers: dict[str, float] = {}

        def progress(done: int, total: int, stage: str) -> None:
            if stage.startswith("llm "):
                answered = int(stage.split()[1].split("/")[0].replace(",", ""))
                stamps.append((time.perf_counter(), answered))
                if executor == "ray" and answered == items:  # the last answer
                    workers.update(worker_cpu())

        cpu0, t0 = cpu_seconds(), time.perf_counter()
        report = project.run(progress=progress)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        ok = int(project.judgements()["status"].eq("ok").sum())
        project.close()
    lo = next(st for st in stamps if st[1] >= 0.1 * items)
    hi = next(st for st in stamps if st[1] >= 0.9 * items)
    steady = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else float("nan")
    ideal = concurrency / latency
    return {"executor": executor, "actors": actors if executor == "ray" else 1,
            "concurrency": concurrency, "items": items, "ok": ok,
            "failed": sum(report.failed.values()), "wall_s": wall, "run_per_s": ok / wall,
            "steady_per_s": steady, "ideal_per_s": ideal, "run_share": ok / wall / ideal,
            "steady_share": steady / ideal,
            "run_cpu_ms_per_call": 1000 * cpu / max(ok, 1),
            "worker_cpu_ms_per_call": 1000 * sum(workers.values()) / max(ok, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="Target length of each scenario at the ideal rate.")
    parser.add_argument("--actors", default="1,2,4")
    parser.add_argument("--concurrency", default="32,128")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    rows = []
    with SpawnedLlmServer(latency=args.latency) as server:
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            items = int(args.seconds * concurrency / args.latency)
            plan = [("local", 1)] + [("ray", int(a)) for a in args.actors.split(",")]
            for executor, actors in plan:
                r = scenario(server, executor, actors, concurrency, items, args.latency)
                rows.append(r)
                print(f"{executor:>5} actors {r['actors']}, concurrency {concurrency:>3}: "
                      f"steady {r['steady_per_s']:.1f} calls/s ({100 * r['steady_share']:.1f} "
                      f"% of {r['ideal_per_s']:.0f}), whole run {r['run_per_s']:.1f} "
                      f"({100 * r['run_share']:.1f} %), {r['ok']} answers, {r['failed']} "
                      f"failed; CPU ms/call: run {r['run_cpu_ms_per_call']:.2f}, workers "
                      f"{r['worker_cpu_ms_per_call']:.2f}; load {os.getloadavg()[0]:.2f}",
                      flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
