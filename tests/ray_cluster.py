"""A real two-node Ray cluster on loopback, for the tests of the Ray executor.

A head node and one more node are started with ``ray start --block`` (each in its own
process group, so that teardown stops exactly the processes started here, never another
cluster on the machine), bound to 127.0.0.1, with one CPU each, a capped object store and
no dashboard or usage stats. Ray's token authentication stays on (``RAY_AUTH_MODE=token``;
the token is Ray's own, in ``~/.ray/auth_token``). ``LABELQUORUM_TEST_RAY_ADDRESS`` names an
existing cluster instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

ENV_ADDRESS = "LABELQUORUM_TEST_RAY_ADDRESS"
OBJECT_STORE = 80 * 1024 ** 2  # bytes per node


class RayUnavailable(RuntimeError):
    pass


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _ray_cli() -> str:
    cli = Path(sys.executable).with_name("ray")
    if not cli.exists():
        raise RayUnavailable("the 'ray' command is not installed next to this Python; "
                             "install it with: pip install 'labelquorum[ray]'")
    return str(cli)


class LocalRayCluster:
    """``with LocalRayCluster() as cluster: cluster.address``"""

    def __init__(self) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise RayUnavailable("ray is not installed (pip install 'labelquorum[ray]')") \
                from None
        self.cli = _ray_cli()
        self.temp = Path(tempfile.mkdtemp(prefix="lqray-"))  # short: unix socket paths
        self.nodes: list[subprocess.Popen] = []
        self.address = ""

    def _start(self, args: list[str], log: str) -> subprocess.Popen:
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}
        out = open(self.temp / log, "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([self.cli, "start", "--block", "--node-ip-address=127.0.0.1",
                                 "--num-cpus=1", f"--object-store-memory={OBJECT_STORE}",
                                 "--disable-usage-stats", *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        self.nodes.append(proc)
        return proc

    def _wait_for_port(self, port: int) -> None:
        deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.nodes[0].poll() is not None:
                    raise RayUnavailable("the Ray head did not start: " + (self.temp / "head.log").read_text()[-2000:]) \
                        from None
                time.sleep(0.2)

    def _wait_for_nodes(self, n: int) -> None:
        import ray

        deadline = time.monotonic() + 180  # a hang guard, not a timing assertion
        ray.init(address=self.address, _node_ip_address="127.0.0.1", include_dashboard=False,
                 log_to_driver=False, logging_level="ERROR")
        try:
            while sum(1 for node in ray.nodes() if node["Alive"]) < n:
                if time.monotonic() > deadline:
                    raise RayUnavailable(f"the Ray nodes did not start; see {self.temp}")
                for proc in self.nodes:
                    if proc.poll() is not None:
                        raise RayUnavailable(f"a Ray node exited ({proc.returncode}); see "
                                             f"{self.temp}")
                time.sleep(0.2)
        finally:
            ray.shutdown()

    def __enter__(self) -> Self:
        port, agent1, agent2 = _free_ports(3)
        self.address = f"127.0.0.1:{port}"
        try:
            self._start(["--head", f"--port={port}", f"--dashboard-agent-listen-port={agent1}",
                         "--include-dashboard=false",
                         f"--temp-dir={self.temp}"], "head.log")
            self._wait_for_port(port)  # the head's GCS is up: the second node may join
            self._start([f"--address={self.address}",
                         f"--dashboard-agent-listen-port={agent2}"], "node.log")
            self._wait_for_nodes(2)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in reversed(self.nodes):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in reversed(self.nodes):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:  # what is left of the node's processes (its group, nothing else)
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        shutil.rmtree(self.temp, ignore_errors=True)

    def __exit__(self, *exc) -> None:
        self.stop()
