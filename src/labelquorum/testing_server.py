"""A local OpenAI-compatible chat server with scripted answers and injected faults.

For tests and benchmarks of LLM annotators: a real HTTP server on 127.0.0.1 (a random free
port), in a thread of the calling process or in a subprocess (for benchmarks, so the
server does not share the client's interpreter lock)::

    from labelquorum.testing_server import Rule, ScriptedLlmServer

    with ScriptedLlmServer([Rule("great film", "positive", confidence=0.95),
                            Rule("crash me", fault="500", times=2)],
                           latency=0.01) as server:
        ...  # point an llm annotator at server.base_url; server.count() requests arrived

A :class:`Rule` matches a request when its ``match`` text is in the item being labelled (the
last user message with ``<item>``, so re-asks match too); the first matching rule answers.
It answers ``answer`` (a label, or a list for multilabel tasks) as the JSON the annotator
asks for; a dict is served as the JSON object it is (a free-text answer ``{"value": ...}``,
a judge's verdict ``{"score": ..., "reason": ...}``). For the first ``times`` matching requests it serves instead its ``content``
verbatim (malformed JSON, labels outside the set, ...) or its ``fault`` — ``"429"`` (with
``Retry-After: retry_after``), ``"500"``, ``"401"``, ``"timeout"`` (answers after ``hang`` seconds),
or any other HTTP status (``"400"``, ``"422"``, ``"503"``...) with ``error`` as the error
message; after that it answers normally.
Unmatched requests get ``default`` (or the first label of the request's schema).
For rating tasks (the request asks for ``{"rating": ...}``) ``answer`` is served as the
rating: a point's name or a number.
For spans tasks (the request asks for ``{"entities": ...}``) a rule answers its
``entities`` — ``(text, type)`` pairs, or objects served as they are — and an unmatched
request gets an empty entity list.

Log-probabilities (``logprobs=True`` in the request) put the label on its own token with
probability ``confidence``, the other labels of the schema sharing the rest. ``usage`` is
reported unless ``usage=False``. ``dialect="llama.cpp"`` emulates llama-cpp-python's
server, which takes ``response_format: {"type": "json_object", "schema": ...}`` and refuses
``json_schema``; ``dialect="plain"`` refuses any ``response_format``; ``logprobs=False``
answers without log-probabilities, and ``refuse_logprobs=True`` refuses requests for
them. ``fault_rate`` answers that share of all requests with 429 (deterministically, every
1/fault_rate-th request). ``outage_after=n`` takes the server down after its ``n``-th
request: every request in the next ``outage_seconds`` is answered 503. ``usage_factor``
multiplies the reported token counts (a server that reports more than it was sent). Image parts are accepted and their URLs kept in ``images``.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from .errors import MissingExtraError


@dataclass
class Rule:
    match: str
    answer: Any = None
    entities: list[Any] | None = None  # spans tasks: [(text, type), ...] or dicts
    content: str | None = None
    confidence: float = 0.9
    fault: str | None = None  # "429" | "500" | "401" | "timeout" | any HTTP status
    times: int = 1_000_000_000
    retry_after: float | None = 0.05
    error: str | None = None  # the message of a fault answered with another status


@dataclass
class ServerScript:
    rules: list[Rule] = field(default_factory=list)
    default: Any = None
    latency: float = 0.0
    logprobs: bool = True
    refuse_logprobs: bool = False
    usage: bool = True
    dialect: str = "openai"  # openai | llama.cpp | plain
    fault_rate: float = 0.0
    hang: float = 5.0
    outage_after: int | None = None  # requests answered before the server goes down
    outage_seconds: float = 0.0  # how long it stays down (503)
    usage_factor: float = 1.0


def _error(status: int, message: str, headers: dict[str, str] | None = None):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": "invalid_request_error",
                                   "code": status}}, status_code=status, headers=headers)


class _App:
    """The server's state and its ASGI app (shared by thread and subprocess modes)."""

    def __init__(self, script: ServerScript):
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.images: list[str] = []
        self.hits: dict[int, int] = {}
        self.n = 0
        self.down_until: float | None = None

    def build(self):
        try:
            from starlette.applications import Starlette
            from starlette.responses import JSONResponse
            from starlette.routing import Route
        except ImportError:
            raise MissingExtraError("the test LLM server", "test", "starlette") from None

        async def chat(request):
            return await self.chat(await request.json())

        async def stats(request):
            return JSONResponse({"requests": self.n})

        async def models(request):
            return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

        return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                                 Route("/v1/models", models), Route("/stats", stats)])

    async def chat(self, body: dict[str, Any]):
        from starlette.responses import JSONResponse

        s = self.script
        self.n += 1
        self.requests.append(body)
        if s.outage_after is not None and self.down_until is None and self.n > s.outage_after:
            self.down_until = time.monotonic() + s.outage_seconds
        if self.down_until is not None and time.monotonic() < self.down_until:
            return _error(503, "the server is down (injected outage)")
        if s.latency:
            await asyncio.sleep(s.latency)
        fmt = body.get("response_format")
        if fmt is not None:
            kind = fmt.get("type")
            if s.dialect == "plain":
                return _error(400, "response_format is not supported by this server")
            if s.dialect == "llama.cpp" and kind == "json_schema":
                # llama-cpp-python 0.3.36 as measured: its route wrapper turns the request
                # validation error into a 500 "internal_server_error"
                return JSONResponse({"error": {
                    "message": "1 validation error:\n  {'type': 'literal_error', 'loc': "
                               "('body', 'response_format', 'type'), 'msg': \"Input should be "
                               f"'text' or 'json_object'\", 'input': '{kind}'}}",
                    "type": "internal_server_error", "param": None, "code": None}},
                    status_code=500)
        if body.get("logprobs") and s.refuse_logprobs:
            return _error(400, "logprobs are not supported by this server")
        if s.fault_rate and self.n % max(round(1 / s.fault_rate), 1) == 0:
            return _error(429, "rate limited (injected)", {"Retry-After": "0.05"})
        text, images = self._last_user(body)
        self.images += images
        rule, scripted = None, False
        for i, r in enumerate(s.rules):
            if r.match in text:
                rule = r
                self.hits[i] = self.hits.get(i, 0) + 1
                scripted = self.hits[i] <= r.times
                if scripted and r.fault == "429":
                    headers = {} if r.retry_after is None else {
                        "Retry-After": f"{r.retry_after:g}"}
                    return _error(429, "rate limited (injected)", headers)
                if scripted and r.fault == "500":
                    return _error(500, "internal error (injected)")
                if scripted and r.fault == "401":
                    return _error(401, "invalid API key (injected)")
                if scripted and r.fault == "timeout":
                    await asyncio.sleep(s.hang)
                elif scripted and r.fault is not None and r.fault.isdigit():
                    return _error(int(r.fault), r.error or f"error {r.fault} (injected)")
                break
        schema = self._schema(fmt)
        labels = self._labels(schema)
        answer = rule.answer if rule is not None and rule.answer is not None else s.default
        if answer is None:
            answer = labels[0] if labels else "unknown"
        confidence = rule.confidence if rule is not None else 0.9
        if rule is not None and rule.content is not None and scripted:
            content, value = rule.content, None
        elif self._wants_entities(schema, body):
            content, value = self._entities(rule.entities if rule is not None else None,
                                            schema, body, confidence), None
        else:
            content, value = self._content(answer, schema, body, confidence)
        message = {"role": "assistant", "content": content}
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": "stop",
                                  "logprobs": None}
        if body.get("logprobs") and s.logprobs:
            choice["logprobs"] = {"content": self._logprobs(content, value, labels, confidence)}
        out: dict[str, Any] = {"id": f"chatcmpl-{self.n}", "object": "chat.completion",
                               "created": int(time.time()), "model": body.get("model", ""),
                               "choices": [choice]}
        if s.usage:
            prompt = sum(len(json.dumps(m.get("content", ""))) for m in body.get("messages", []))
            tokens_in = round((prompt // 4 + 1) * s.usage_factor)
            tokens_out = round((len(content) // 4 + 1) * s.usage_factor)
            out["usage"] = {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                            "total_tokens": tokens_in + tokens_out}
        return JSONResponse(out)

    @staticmethod
    def _last_user(body: dict[str, Any]) -> tuple[str, list[str]]:
        """The item being labelled: the last user message (before any re-ask) and its
        images."""
        users = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
        parts = [(c, []) if isinstance(c, str) else (
            " ".join(p.get("text", "") for p in c if p.get("type") == "text"),
            [p["image_url"]["url"] for p in c if p.get("type") == "image_url"])
            for c in users if c is not None]
        for text, images in reversed(parts):
            if "<item>" in text:
                return text, images
        return parts[-1] if parts else ("", [])

    @staticmethod
    def _schema(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
        if not fmt:
            return None
        if fmt.get("type") == "json_schema":
            return fmt.get("json_schema", {}).get("schema")
        return fmt.get("schema")

    @staticmethod
    def _labels(schema: dict[str, Any] | None) -> list[str]:
        props = (schema or {}).get("properties", {})
        if "label" in props:
            return list(props["label"].get("enum", []))
        if "rating" in props:  # rating tasks: an ordinal scale's points (numeric: none)
            return list(props["rating"].get("enum", []))
        if "labels" in props:
            return list(props["labels"].get("items", {}).get("enum", []))
        return []

    @staticmethod
    def _system(body: dict[str, Any]) -> str:
        return str(next((m.get("content", "") for m in body.get("messages", [])
                         if m.get("role") == "system"), ""))

    def _wants_entities(self, schema, body) -> bool:
        return ("entities" in (schema or {}).get("properties", {})
                or (schema is None and '{"entities"' in self._system(body)))

    def _entities(self, entities, schema, body, confidence: float) -> str:
        """A spans answer: ``entities`` as ``{"text", "type"}`` objects (none when unset)."""
        out = [e if isinstance(e, dict) else {"text": e[0], "type": e[1]}
               for e in entities or []]
        data: dict[str, Any] = {"entities": out}
        if ("confidence" in (schema or {}).get("properties", {})
                or (schema is None and '"confidence"' in self._system(body))):
            data["confidence"] = confidence
        return json.dumps(data)

    @staticmethod
    def _content(answer: Any, schema, body, confidence: float) -> tuple[str, str | None]:
        system = next((m.get("content", "") for m in body.get("messages", [])
                       if m.get("role") == "system"), "")
        wants_conf = ("confidence" in (schema or {}).get("properties", {})
                      or (schema is None and '"confidence"' in str(system)))
        if isinstance(answer, dict):  # an answer of another shape, served as it is
            data: dict[str, Any] = dict(answer)
            value = None
        elif "rating" in (schema or {}).get("properties", {}) or (
                schema is None and '{"rating"' in str(system)):
            data = {"rating": answer, "reason": None}  # rating tasks
            value = str(answer)
        elif isinstance(answer, (list, tuple)):
            data = {"labels": list(answer)}
            value = None
        else:
            data = {"label": answer}
            value = str(answer)
        if wants_conf:
            data["confidence"] = confidence
        return json.dumps(data), value

    @staticmethod
    def _logprobs(content: str, value: str | None, labels: list[str],
                  confidence: float) -> list[dict[str, Any]]:
        pieces = [content]
        if value is not None:
            start = content.find(f'"{value}"') + 1
            if start > 0:
                pieces = [content[:start], value, content[start + len(value):]]
        out = []
        for piece in pieces:
            if not piece:
                continue
            if piece == value:
                others = [lab for lab in labels if lab != value]
                rest = (1.0 - confidence) / max(len(others), 1)
                top = [{"token": value, "logprob": math.log(confidence), "bytes": None}]
                top += [{"token": lab, "logprob": math.log(max(rest, 1e-9)), "bytes": None}
                        for lab in others[:4]]
                out.append({"token": piece, "logprob": math.log(confidence), "bytes": None,
                            "top_logprobs": top})
            else:
                out.append({"token": piece, "logprob": 0.0, "bytes": None,
                            "top_logprobs": [{"token": piece, "logprob": 0.0, "bytes": None}]})
        return out


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ScriptedLlmServer:
    """The scripted server, run in a background thread (see the module docstring)."""

    def __init__(self, rules: list[Rule] | None = None, **options: Any):
        self.script = ServerScript(rules=list(rules or []), **options)
        self.state = _App(self.script)
        self._server = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    @property
    def images(self) -> list[str]:
        return self.state.images

    def count(self) -> int:
        return self.state.n

    def start(self) -> ScriptedLlmServer:
        try:
            import uvicorn
        except ImportError:
            raise MissingExtraError("the test LLM server", "test", "uvicorn") from None
        sock = _free_socket()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.state.build(), log_level="error", lifespan="off",
                                access_log=False, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the scripted LLM server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SpawnedLlmServer:
    """The scripted server in a subprocess (benchmarks): ``count()`` asks it over HTTP."""

    def __init__(self, rules: list[Rule] | None = None, **options: Any):
        self.script = ServerScript(rules=list(rules or []), **options)
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> SpawnedLlmServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labelquorum.testing_server", json.dumps(asdict(self.script))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the scripted LLM server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def count(self) -> int:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as r:
            return int(json.loads(r.read())["requests"])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _main(argv: list[str]) -> None:
    data = json.loads(argv[0]) if argv else {}
    data["rules"] = [Rule(**r) for r in data.get("rules", [])]
    server = ScriptedLlmServer(**data).start()
    print(f"PORT {server.port}", flush=True)
    try:
        sys.stdin.read()  # until the parent closes it, or dies
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    _main(sys.argv[1:])
