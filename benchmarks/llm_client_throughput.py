"""Throughput of the llm annotator inside a run, against the scripted server.

The scripted OpenAI-compatible server (``labelquorum.testing_server``) runs in a
subprocess with 200 ms latency per call; a project with one ``llm`` tier runs over N
items with ``Project.run()``, so every figure includes the run's work: the request ledger,
the judgement and the call log written per answer (SQLite), prompts, parsing and
log-probability confidence. Scenarios:

* concurrency 8 and 32: calls/s against the ideal concurrency ÷ latency (target ≥ 90 %);
* concurrency 128: calls/s and CPU milliseconds per call of the client process (user +
  system time of the whole run divided by the calls), logging included (the ``openai``
  package is imported before timing; building its client, once per run, is included);
* concurrency 32 with 10 % of requests answered 429 (``Retry-After: 0.05``): calls/s
  counted in items, and the HTTP requests that took.

Run by hand from the repository root::

    python benchmarks/llm_client_throughput.py [--latency 0.2] [--seconds 8]

It writes only to a temporary directory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import openai  # imported before timing: a one-time 0.8 s of CPU, not per call
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from labelquorum.project import init_project
from labelquorum.testing_server import SpawnedLlmServer

CONFIG = """
[project]
name = "llm-throughput"
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


def scenario(concurrency: int, items: int, latency: float, fault_rate: float) -> dict:
    with SpawnedLlmServer(latency=latency, fault_rate=fault_rate) as server, \
            tempfile.TemporaryDirectory() as tmp:
        project = init_project(Path(tmp) / "p", config_text=CONFIG.format(
            url=server.base_url, concurrency=concurrency))
        texts = [f"review number {i}: a film with a cast and a plot" for i in range(items)]
        project.import_dataframe(pd.DataFrame({"id": [f"i{i}" for i in range(items)],
                                               "text": texts}), id_column="id")
        requests_before = server.count()
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        report = project.run()
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        requests = server.count() - requests_before
        calls = int(project.judgements()["status"].eq("ok").sum())
        logged = len(project.judgements())
        project.close()
    ideal = concurrency / latency
    return {"concurrency": concurrency, "fault_rate": fault_rate, "items": items,
            "ok": calls, "judgements": logged, "requests": requests, "wall_s": wall,
            "calls_per_s": calls / wall, "ideal_per_s": ideal,
            "share_of_ideal": calls / wall / ideal, "cpu_ms_per_call": 1000 * cpu / max(calls, 1),
            "failed": sum(report.failed.values())}


def sdk_baseline(concurrency: int, calls: int, latency: float) -> dict:
    """The bare ``openai`` SDK posting the same request: the floor of the client's CPU."""
    import asyncio

    async def go(url: str) -> tuple[float, float]:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        limit = asyncio.Semaphore(concurrency)
        body = {"model": "m", "messages": [{"role": "user", "content": "<item>\nx\n</item>"}],
                "logprobs": True, "top_logprobs": 5}

        async def one() -> None:
            async with limit:
                await client.post("/chat/completions", cast_to=object, body=body)

        cpu0, t0 = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(one() for _ in range(calls)))
        out = time.perf_counter() - t0, cpu_seconds() - cpu0
        await client.close()
        return out

    with SpawnedLlmServer(latency=latency) as server:
        wall, cpu = asyncio.run(go(server.base_url))
    return {"concurrency": concurrency, "calls_per_s": calls / wall,
            "cpu_ms_per_call": 1000 * cpu / calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="Target length of each scenario at the ideal rate.")
    args = parser.parse_args()
    rows = []
    for concurrency, fault in [(8, 0.0), (32, 0.0), (128, 0.0), (32, 0.1)]:
        items = int(args.seconds * concurrency / args.latency)
        rows.append(scenario(concurrency, items, args.latency, fault))
        r = rows[-1]
        print(f"concurrency {concurrency:>3}, {100 * fault:.0f} % 429s: {r['calls_per_s']:.1f} "
              f"calls/s ({100 * r['share_of_ideal']:.1f} % of {r['ideal_per_s']:.0f}), "
              f"{r['cpu_ms_per_call']:.2f} CPU ms/call, {r['requests']} requests for "
              f"{r['ok']} answers, {r['failed']} failed", flush=True)
    df = pd.DataFrame(rows)
    cols = ["concurrency", "fault_rate", "items", "ok", "requests", "wall_s", "calls_per_s",
            "ideal_per_s", "share_of_ideal", "cpu_ms_per_call", "failed"]
    print()
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    base = sdk_baseline(32, int(args.seconds * 32 / args.latency), args.latency)
    print(f"\nbare openai SDK at concurrency 32 (no run, no store): {base['calls_per_s']:.1f} "
          f"calls/s, {base['cpu_ms_per_call']:.2f} CPU ms/call")


if __name__ == "__main__":
    main()
