"""The Ray executor: annotators run on a Ray cluster, the ledger stays in the run.

``[run] executor = "ray"`` (or ``labelquorum run --executor ray [--address HOST:PORT]``)
keeps everything :class:`~labelquorum.engine.executor.Executor` guarantees, because only
*where an annotator answers* changes:

- the run's process writes every request before its work is handed out, admits each
  call's reservation against the budget before it is dispatched, and stores every answer
  through its single writer when it comes back (the ledger never moves, so ``kill -9`` of
  the run resumes exactly as with the local executor);
- batched local models (``kind = "model"``: TF-IDF, embedding, VADER, spaCy) run in a
  pool of ``[run] actors`` :class:`~.ray_actors.ModelWorker` actors per annotator version,
  each holding the loaded model (weights load once per actor; ``gpus`` requested per
  actor as the annotator's config says), a chunk split across the pool;
- I/O-bound annotators (LLM endpoints, simulated annotators with a latency) run in a pool
  of :class:`~.ray_actors.IoWorker` actors, each with its own HTTP client and event loop,
  sharing one rate limit and circuit breaker (:class:`~.ray_actors.EndpointGuard`), so
  calls/s grow with processes rather than with the one core of the run's event loop;
- rules, replays and batched simulated annotators answer in the run's process (a function
  call is cheaper than a trip to a worker).

A worker that dies (its process killed, its node lost) is restarted by Ray and its
unfinished calls are sent again (``max_task_retries``): the run finishes with the same
answers; an LLM call that was in flight when its worker died is paid again, as a call in
flight when the run itself is killed is. A call that still fails after Ray's retries is a
failed call (asked again by the next run); a batch of a local model that does is a
:class:`~labelquorum.errors.ClusterError`.

LLM calls on Ray are not served from the call cache (the cache reads the project's store,
which workers do not open); identical prompts are paid for each time they are asked.
"""

from __future__ import annotations

import copy
import math
import os
import uuid
from urllib.parse import urlsplit

import numpy as np

from ..annotators import Annotator, Answers
from ..errors import ClusterError, MissingExtraError
from ..llm.client import EndpointClient
from .executor import Executor

OBJECT_STORE = 100 * 1024 ** 2  # bytes, for a cluster the run starts itself
TASK_RETRIES = 3  # a call is sent again this often when its worker dies
RESTARTS = 8  # a worker is restarted this often

_joined: dict[str, str | None] = {}  # the address this process joined


def connect(address: str | None):
    """Join the Ray cluster at ``address`` (or start a private one on loopback); return
    the ``ray`` module."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError('[run] executor = "ray"', "ray", "ray") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing reaches the network
    if ray.is_initialized():
        if _joined.get("address") == address:
            return ray
        ray.shutdown()
    options: dict = {"include_dashboard": False, "log_to_driver": False,
                     "logging_level": "WARNING", "namespace": "labelquorum"}
    try:
        if address is None:
            ray.init(num_cpus=os.cpu_count() or 1, object_store_memory=OBJECT_STORE,
                     _node_ip_address="127.0.0.1", **options)
        else:
            host = urlsplit(f"//{address}").hostname if "://" not in address else \
                urlsplit(address).hostname
            if host in {"127.0.0.1", "localhost"}:
                options["_node_ip_address"] = "127.0.0.1"
            _token_auth()
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"could not join the Ray cluster at {address!r} ({exc}). Start one with "
            "'ray start --head --node-ip-address=127.0.0.1 --port=6379' and give its "
            "address (HOST:PORT) as [run] address or --address, or leave the address unset "
            "for a private cluster on this machine.") from None
    _joined["address"] = address
    return ray


def _token_auth() -> None:
    """A cluster started with ``ray start`` authenticates with the token in
    ``~/.ray/auth_token`` (Ray's default since 2.5x); a driver joining it must say so
    (``RAY_AUTH_MODE=token``), or it waits on refusals. Unless the user set the mode, use
    the token when there is one, as ``ray start`` does."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


class RayExecutor(Executor):
    """:class:`~labelquorum.engine.executor.Executor` with annotators on Ray workers."""

    def __init__(self, *args, address: str | None = None, actors: int = 2):
        super().__init__(*args)
        self.ray = connect(address)
        self.size = actors
        self.token = uuid.uuid4().hex[:8]
        self.pools: dict[tuple[str, str], list] = {}  # (annotator, version) -> actors
        self.guards: dict[str, object] = {}  # annotator -> its EndpointGuard
        self.here: set[str] = set()  # annotators that could not be sent to workers
        self.turn = 0

    # -- where annotators answer -------------------------------------------------------
    def annotate(self, ann: Annotator, items) -> Answers:
        pool = self._pool(ann, "model") if type(ann).kind == "model" else None
        if pool is None:
            return super().annotate(ann, items)
        ray = self.ray
        parts = min(len(pool), max(1, math.ceil(len(items) / ann.batch_size)))
        slices = [s for s in np.array_split(np.arange(len(items)), parts) if len(s)]
        refs = [pool[i].annotate.remote(items.take(s.tolist())) for i, s in enumerate(slices)]
        try:
            answers = ray.get(refs)
        except ray.exceptions.RayError as exc:
            raise ClusterError(
                f"annotator {ann.name!r} failed on its Ray workers after {TASK_RETRIES} "
                f"retries ({str(exc).splitlines()[0][:300]}); nothing of that batch was "
                "stored, so the next run asks it again. Check the workers' logs (ray logs) "
                "and that every node can import labelquorum and its models.") from None
        return Answers.concat(answers, len(self.state.task.labels))

    async def aannotate_one(self, ann: Annotator, items, reserve: float) -> Answers:
        pool = self._pool(ann, "io")
        if pool is None:
            return await super().aannotate_one(ann, items, reserve)
        # the run's copy made the reservation; the worker settles within it
        getattr(ann, "_reserved", {}).pop(items.ids[0], None)
        worker = pool[self.turn % len(pool)]
        self.turn += 1
        try:
            return await worker.ask.remote(items, reserve)
        except self.ray.exceptions.RayError as exc:
            error = (f"its Ray worker failed after {TASK_RETRIES} retries: "
                     f"{str(exc).splitlines()[0][:300]}")
            return ann.finish(Answers(labels=[None], errors=[error]), 1)

    def run(self, asks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = super().run(asks)
        for name, guard in self.guards.items():  # what the shared breaker saw, for the
            ann = self.annotators[name]  # run's report (as the local breaker tells it)
            client = getattr(ann, "client", None)
            if isinstance(client, EndpointClient):
                client.breaker.outages = self.ray.get(guard.outages.remote())
                is_open, _ = self.ray.get(guard.state.remote())
                if is_open:
                    ann.run_note = self.ray.get(guard.message.remote(client.max_outage))
        return out

    def close(self) -> None:
        for actor in [a for pool in self.pools.values() for a in pool] + list(
                self.guards.values()):
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001, S110 - already gone with its node
                pass
        self.pools.clear()
        self.guards.clear()

    def pids(self) -> dict[str, list[int]]:
        """The process ids of each annotator's workers (for operators and tests)."""
        return {f"{name}@{version}": self.ray.get([a.pid.remote() for a in pool])
                for (name, version), pool in self.pools.items()}

    # -- pools -------------------------------------------------------------------------
    def _pool(self, ann: Annotator, kind: str) -> list | None:
        key = (ann.name, ann.version)
        if key in self.pools:
            return self.pools[key]
        if ann.name in self.here:
            return None
        ray = self.ray
        from .ray_actors import EndpointGuard, IoWorker, ModelWorker

        shipped = copy.copy(ann)
        shipped.cache = None  # the call cache reads the store, which workers do not open
        try:  # serialized once for every worker of the pool; a restarted worker reads it again
            blob = ray.cloudpickle.dumps(shipped)
        except Exception as exc:  # noqa: BLE001 - whatever cannot be pickled
            self.here.add(ann.name)
            self.report.notes.append(
                f"{ann.name}: could not be sent to Ray workers ({type(exc).__name__}: "
                f"{str(exc)[:200]}); it answered in the run's own process")
            return None
        for old in [k for k in self.pools if k[0] == ann.name]:  # a refit's older version
            for actor in self.pools.pop(old):
                ray.kill(actor)

        guard = None
        client = getattr(ann, "client", None)
        if kind == "io" and isinstance(client, EndpointClient):
            guard = self.guards.get(ann.name)
            if guard is None:
                interval = client.limiter.interval if client.limiter else None
                guard = self.guards[ann.name] = ray.remote(EndpointGuard).options(
                    num_cpus=0, max_restarts=RESTARTS,
                    name=f"lq-{self.token}-{ann.name}-guard").remote(
                    interval, client.breaker.failures, client.breaker.cooldown,
                    client.where)
        cls = IoWorker if kind == "io" else ModelWorker
        options: dict = {"num_cpus": 0, "num_gpus": float(getattr(ann.config, "gpus", 0.0)),
                         "max_restarts": RESTARTS, "max_task_retries": TASK_RETRIES,
                         "scheduling_strategy": "SPREAD"}
        if kind == "io":
            options["max_concurrency"] = max(ann.concurrency, 1)
        self.pools[key] = [
            ray.remote(cls).options(name=f"lq-{self.token}-{ann.name}-{kind}-{i}",
                                    **options).remote(blob, guard)
            for i in range(self.size)]
        return self.pools[key]
