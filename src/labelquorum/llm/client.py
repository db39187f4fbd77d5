"""One OpenAI-compatible chat endpoint, called reliably.

:class:`EndpointClient` wraps the official ``openai`` SDK's ``AsyncOpenAI`` (its own
retries switched off) with:

* a **rate limit** (requests per minute, evenly spaced) — the concurrency limit is the
  run's, per annotator;
* **retries** with exponential backoff and full jitter on 429, 5xx, timeouts and
  connection errors, honouring ``Retry-After`` / ``retry-after-ms`` when the server sends
  one (capped at :data:`MAX_RETRY_AFTER` seconds);
* a **circuit breaker**: after ``breaker_failures`` calls in a row fail (after every
  retry, or refused outright: a wrong model fails every call), or at once on a refused key,
  calls stop for ``breaker_cooldown`` seconds; then one call probes the server, retrying
  as usual without consulting the breaker: its success closes the breaker, its failure
  re-opens it for another cooldown. During an outage (server errors, timeouts, 429s) the
  calls that meet the open breaker, and those whose retries ran out, wait for the probe
  and go on when it succeeds — for ``max_outage`` seconds after the breaker opened at
  most, then they fail with :class:`LlmUnavailableError` saying how long the endpoint was
  down. A refused key or request opens it too, but calls meeting it fail fast;
* **structured-output dialects**: with ``structured_output = "auto"`` it sends
  ``response_format: json_schema`` (OpenAI, vLLM); a server that refuses it (400, 422, or
  the 500 that llama-cpp-python answers to a request failing its validation) is tried with
  ``json_object`` plus ``schema`` (the llama.cpp dialect), then with no
  ``response_format``; a refused ``logprobs`` is dropped the same way, and a refused
  ``max_tokens`` is sent as ``max_completion_tokens`` (OpenAI's reasoning models). What
  worked is kept for the next calls. Only a refusal whose message or ``param`` names the
  parameter steps down (:func:`refused_feature`): any other refusal (the context length
  exceeded, a content filter) fails that one request and changes nothing;
* the SDK's exceptions translated into :mod:`labelquorum.errors`.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import (
    LlmAuthError,
    LlmError,
    LlmRateLimitError,
    LlmRequestError,
    LlmServerError,
    LlmUnavailableError,
    MissingExtraError,
)

BACKOFF_BASE, BACKOFF_CAP, MAX_RETRY_AFTER = 0.5, 30.0, 120.0
DIALECTS = ("json_schema", "json_object", "none")


@dataclass
class Completion:
    """One chat completion, in the compact form that is logged and cached."""

    content: str | None
    logprobs: list[list[Any]] | None  # [[token, logprob, [[alternative, logprob], ...]], ...]
    tokens_in: int | None
    tokens_out: int | None
    latency: float = 0.0
    retries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"content": self.content, "logprobs": self.logprobs,
                "usage": {"prompt_tokens": self.tokens_in, "completion_tokens": self.tokens_out}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completion:
        usage = data.get("usage") or {}
        return cls(data.get("content"), data.get("logprobs"), usage.get("prompt_tokens"),
                   usage.get("completion_tokens"))


class RateLimiter:
    """At most ``per_minute`` requests a minute, evenly spaced."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute
        self.next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self.next)
        self.next = slot + self.interval
        if slot > now:
            await _sleep(slot - now)


class CircuitBreaker:
    """Opens after ``failures`` failed calls in a row; probes again after ``cooldown`` s.

    Closed, calls go through. Open, calls wait for the cooldown to end (:meth:`acquire`,
    as long as the client's ``max_outage`` allows) or fail fast with
    :class:`LlmUnavailableError`; then one call, the *probe*, goes through (half-open) while
    the others keep waiting. The probe's own retries do not consult the breaker; it closes
    it when it succeeds and re-opens it for a fresh cooldown when it fails, so ``probing``
    never outlives the probe (:meth:`release` clears it for a probe that ended otherwise,
    cancelled say). Only an outage is waited out — server errors, timeouts, 429s; a refused
    key or request fails fast. Plain state behind a lock: web worker threads, each with its
    own event loop, share one breaker.
    """

    def __init__(self, failures: int, cooldown: float, where: str):
        self.failures, self.cooldown, self.where = failures, cooldown, where
        self.count = 0
        self.open_until: float | None = None
        self.down_since: float | None = None  # when it opened (first, this outage)
        self.last: LlmError | None = None
        self.probing = False
        self.outages: list[float] = []  # seconds down, of each outage that ended
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:  # sent to a Ray worker: a fresh lock there
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    async def acquire(self, max_outage: float = 0.0) -> bool:
        """Let a call through: False for an ordinary call, True for the probe. While the
        breaker is open the call waits, until ``max_outage`` seconds after it opened at
        most; past that, or when it opened on a refusal, raises
        :class:`LlmUnavailableError`."""
        while True:
            go, pause = self.poll(max_outage)
            if go is not None:
                return go
            await _sleep(pause)

    def poll(self, max_outage: float = 0.0) -> tuple[bool | None, float]:
        """:meth:`acquire` without the wait: ``(False, 0)`` for an ordinary call, ``(True,
        0)`` for the probe, ``(None, seconds)`` to wait that long and poll again; raises
        :class:`LlmUnavailableError` as :meth:`acquire` does."""
        with self._lock:
            if self.open_until is None:
                return False, 0.0
            now = time.monotonic()
            if now >= self.open_until and not self.probing:
                self.probing = True  # half-open: this call probes the server
                return True, 0.0
            if not self._may_wait(now, max_outage):
                raise LlmUnavailableError(self.message(max_outage))
            deadline = self.down_since + max_outage
            wake = now + min(max(self.cooldown, 0.05), 1.0) if self.probing \
                else self.open_until
            return None, max(min(wake, deadline) - now, 0.001)

    def may_wait(self, max_outage: float) -> bool:
        """Whether a call that just failed should wait for the breaker and try again."""
        with self._lock:
            return self.open_until is not None and self._may_wait(time.monotonic(),
                                                                  max_outage)

    def _may_wait(self, now: float, max_outage: float) -> bool:
        if not isinstance(self.last, RETRYABLE) or self.down_since is None:
            return False  # a refusal: waiting changes nothing
        deadline = self.down_since + max_outage
        return now < deadline and (self.probing or self.open_until < deadline)

    def message(self, max_outage: float = 0.0) -> str:
        text = (f"calls to {self.where} are stopped: it failed {self.count} times in a row "
                f"(last error: {self.last})")
        if isinstance(self.last, RETRYABLE) and self.down_since is not None:
            text += f"; it has been down for {_seconds(time.monotonic() - self.down_since)}"
            if max_outage > 0:
                text += f", longer than a call waits for it (max_outage = {max_outage:g} s)"
        return (text + ". Check that the server is up and reachable at base_url and the "
                "settings are right, then run again (raise max_outage to wait out longer "
                "outages); failed items are asked again by the next run")

    def success(self, probe: bool = False) -> None:
        with self._lock:
            if self.down_since is not None:
                self.outages.append(time.monotonic() - self.down_since)
            self.count, self.open_until, self.probing, self.down_since = 0, None, False, None

    def failure(self, exc: LlmError, trip: bool = False, probe: bool = False) -> None:
        """A call failed (after its retries); ``probe``: it was the half-open probe."""
        with self._lock:
            self.count += 1
            self.last = exc
            now = time.monotonic()
            if probe and self.probing:  # the probe failed: open for a fresh cooldown
                self.probing = False
                self.open_until = now + self.cooldown
            elif self.open_until is None:
                if trip or self.count >= self.failures:
                    self.open_until = now + self.cooldown
                    self.down_since = now
            elif trip:
                self.open_until = max(self.open_until, now + self.cooldown)

    def release(self) -> None:
        """The probe ended without success or failure (cancelled): another call may probe."""
        with self._lock:
            self.probing = False

    @property
    def is_open(self) -> bool:
        return self.open_until is not None


ITEM_REFUSALS = (400, 413, 422)  # refusals of one request, not of every call


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:,.0f} s"


class _Probe:
    """Whether the call in progress holds the breaker's half-open probe, and whether it
    waited for the breaker."""

    __slots__ = ("held", "waited")

    def __init__(self) -> None:
        self.held = self.waited = False


def retry_after(exc: Any) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return min(float(ms) / 1000.0, MAX_RETRY_AFTER)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)
        except (TypeError, ValueError):
            return None


def backoff(attempt: int, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt))


def translate(exc: Exception, where: str, key_env: str | None, model: str) -> LlmError:
    """An SDK exception as one of ours, with a message that says how to fix it."""
    import openai

    status = getattr(exc, "status_code", None)
    detail = _detail(exc)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        hint = (f"check the key in the environment variable {key_env} (the annotator's "
                "api_key_env)" if key_env else
                "set api_key_env to the name of the environment variable holding the key")
        return LlmAuthError(f"{where} refused the API key ({status}: {detail}); {hint}", status)
    if isinstance(exc, openai.RateLimitError):
        return LlmRateLimitError(f"{where} is rate limiting (429: {detail}); lower the "
                                 "annotator's concurrency or set rate_limit", status)
    if isinstance(exc, openai.APITimeoutError):
        return LlmServerError(f"{where} did not answer in time; raise the annotator's timeout "
                              "if the model is slow", None)
    if isinstance(exc, openai.APIConnectionError):
        return LlmServerError(f"cannot connect to {where} ({exc.__cause__ or exc}); check "
                              "base_url and that the server is running", None)
    if isinstance(exc, openai.NotFoundError):
        return LlmRequestError(f"{where} answered 404 ({detail}); check base_url (it usually "
                               f"ends in /v1) and that model {model!r} exists there", status,
                               detail=detail, param=_param(exc))
    if isinstance(exc, openai.APIStatusError):
        refused = LlmRequestError(f"{where} refused the request ({status}: {detail})", status,
                                  detail=detail, param=_param(exc))
        if status is not None and status >= 500 and "validation error" in detail \
                and "'body'" in detail:
            # llama-cpp-python answers a request that fails its validation (an unknown
            # response_format type, say) with 500: a refusal, not worth retrying
            return refused
        if status is not None and status >= 500:
            return LlmServerError(f"{where} failed with a server error ({status}: {detail})",
                                  status)
        return refused
    return LlmError(f"calling {where} failed: {type(exc).__name__}: {exc}")


def _detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
        if isinstance(inner, str):
            return inner[:300]
    return str(getattr(exc, "message", exc))[:300]


def _param(exc: Exception) -> str | None:
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    param = inner.get("param") if isinstance(inner, dict) else None
    return str(param) if param else None


FORMAT_WORDS = ("response_format", "response format", "json_schema", "json schema",
                "json_object", "schema", "structured output", "guided", "grammar")


def refused_feature(exc: LlmRequestError, body: dict[str, Any]) -> str | None:
    """What of ``body`` a refusal is about: ``"logprobs"``, ``"response_format"``,
    ``"max_tokens"`` or None (something else: the prompt too long, a content filter...).

    Read from the server's message and the ``param`` it names, never from our own text."""
    if exc.status not in (400, 422, 500):  # 500: llama-cpp-python's validation errors
        return None
    param = (exc.param or "").lower()
    text = f"{param} {exc.detail}".lower()
    if "logprobs" in body and "logprob" in text:
        return "logprobs"
    if "response_format" in body and (param.startswith("response_format")
                                      or any(w in text for w in FORMAT_WORDS)):
        return "response_format"
    if "max_tokens" in body and "max_completion_tokens" in text:
        return "max_tokens"
    return None


RETRYABLE = (LlmRateLimitError, LlmServerError)
_sleep = asyncio.sleep  # the retry wait (a module attribute, so tests can record it)


class EndpointClient:
    """Chat completions from one endpoint for one annotator (see the module docstring)."""

    def __init__(self, *, base_url: str, model: str, api_key: str | None,
                 api_key_env: str | None, timeout: float, max_retries: int,
                 rate_limit: float | None, structured_output: str, breaker_failures: int,
                 breaker_cooldown: float, seed: int = 0, max_outage: float = 0.0):
        self.base_url, self.model = base_url, model
        self.api_key, self.api_key_env = api_key, api_key_env
        self.timeout, self.max_retries = timeout, max_retries
        self.max_outage = max_outage  # seconds a call waits out an open breaker; 0: none
        self.limiter = RateLimiter(rate_limit) if rate_limit else None
        self.where = f"the LLM endpoint {base_url} (model {model})"
        self.breaker = CircuitBreaker(breaker_failures, breaker_cooldown, self.where)
        self.structured = structured_output
        self.dialect = "json_schema" if structured_output == "auto" else structured_output
        self.logprobs_ok = True
        self.tokens_key = "max_tokens"  # "max_completion_tokens" where that is refused
        self.rng = random.Random(seed)
        self.http_calls = 0
        self._client = None
        self._loop = None

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process (a Ray worker): the SDK client, which belongs to this
        process's event loop, stays behind; the worker makes its own."""
        return {**self.__dict__, "_client": None, "_loop": None}

    def _sdk(self):
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            try:
                import openai
            except ImportError:
                raise MissingExtraError("the llm annotator", "llm", "openai") from None
            # one client per event loop: its connection pool belongs to the loop
            self._client = openai.AsyncOpenAI(base_url=self.base_url,
                                              api_key=self.api_key or "not-needed",
                                              timeout=self.timeout, max_retries=0)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the SDK client of the running loop (its connections die with the loop)."""
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = self._loop = None

    def body(self, messages: list[dict[str, Any]], *, temperature: float, max_tokens: int,
             schema: dict[str, Any] | None, logprobs: bool) -> dict[str, Any]:
        """The request body as it is sent now (dialect and logprobs as last detected)."""
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "temperature": temperature, self.tokens_key: max_tokens}
        if schema is not None and self.dialect == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": schema, "strict": True}}
        elif schema is not None and self.dialect == "json_object":
            body["response_format"] = {"type": "json_object", "schema": schema}
        if logprobs and self.logprobs_ok:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body

    async def complete(self, messages: list[dict[str, Any]], *, temperature: float,
                       max_tokens: int, schema: dict[str, Any] | None,
                       logprobs: bool, seed: int | None = None,
                       attempts: list[dict[str, Any]] | None = None
                       ) -> tuple[Completion, dict[str, Any]]:
        """One completion and the body that produced it; raises an :class:`LlmError`.

        ``attempts``, when given, gets one dict per HTTP request that failed on the way
        (retried, refused and sent again in another dialect, or the last one): the
        ``body`` sent, the ``error`` (its message), the HTTP ``status`` and the
        ``latency`` in seconds."""
        probe = _Probe()
        try:
            while True:
                body = self.body(messages, temperature=temperature, max_tokens=max_tokens,
                                 schema=schema, logprobs=logprobs)
                if seed is not None:
                    body["seed"] = seed  # distinct samples on servers that seed their sampler
                try:
                    return await self._send(body, probe, attempts), body
                except LlmRequestError as exc:
                    if not self._downgrade(body, exc):
                        if (exc.status in ITEM_REFUSALS
                                and refused_feature(exc, body) is None):
                            # this item's request (its length, a content filter), not a
                            # setting every call sends: the endpoint is up; this item fails
                            self.breaker.success(probe=probe.held)
                        else:
                            # refused outright (a wrong model, route): every call fails
                            self.breaker.failure(exc, probe=probe.held)
                        probe.held = False
                        raise
        finally:
            if probe.held:
                self.breaker.release()

    def _downgrade(self, body: dict[str, Any], exc: LlmRequestError) -> bool:
        """After a refused request: drop what the server refused, if the refusal names a
        feature this client can do without (see :func:`refused_feature`)."""
        feature = refused_feature(exc, body)
        if feature == "logprobs":
            self.logprobs_ok = False
            return True
        if feature == "max_tokens":
            self.tokens_key = "max_completion_tokens"
            return True
        if feature == "response_format" and self.structured == "auto":
            sent = body["response_format"]["type"]
            if sent == self.dialect:  # not already stepped down by a concurrent call
                self.dialect = DIALECTS[DIALECTS.index(sent) + 1]
            return True
        return False

    async def _send(self, body: dict[str, Any], probe: _Probe,
                    attempts: list[dict[str, Any]] | None) -> Completion:
        import openai

        client = self._sdk()
        attempt = 0
        while True:
            # an open breaker: wait for it (an outage, up to max_outage) or fail fast; the
            # probe's own retries do not consult it
            if not probe.held and self.breaker.is_open:
                probe.waited = True
                probe.held = await self.breaker.acquire(self.max_outage)
            if self.limiter is not None:
                await self.limiter.wait()
            t0 = time.perf_counter()
            try:
                self.http_calls += 1
                # the SDK's generic POST: the same errors, retries off, but the body is sent
                # as built and the JSON comes back as parsed (chat.completions.create re-walks
                # both against its types, which costs more CPU than the rest of the call)
                response = await client.post("/chat/completions", cast_to=object, body=body)
            except (openai.APIError, openai.OpenAIError) as exc:
                err = translate(exc, self.where, self.api_key_env, self.model)
                if attempts is not None:
                    attempts.append({"body": body, "error": str(err), "status": err.status,
                                     "latency": time.perf_counter() - t0})
                if isinstance(err, LlmAuthError):
                    self.breaker.failure(err, trip=True, probe=probe.held)
                    probe.held = False
                    raise err from None
                if not isinstance(err, RETRYABLE):
                    raise err from None
                if attempt < self.max_retries:
                    delay = retry_after(exc)
                    await _sleep(backoff(attempt, self.rng) if delay is None else delay)
                    attempt += 1
                    continue
                self.breaker.failure(err, probe=probe.held)
                probe.held = False
                if self.breaker.may_wait(self.max_outage):
                    attempt = 0  # an outage: wait for the breaker with the other calls
                    continue
                if probe.waited and self.breaker.is_open:
                    raise LlmUnavailableError(self.breaker.message(self.max_outage)) from None
                raise err from None
            self.breaker.success(probe=probe.held)
            probe.held = False
            out = _compact(response)
            out.latency = time.perf_counter() - t0
            out.retries = attempt
            return out


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _compact(response: Any) -> Completion:
    """The completion's content, per-token log-probabilities and usage (from the JSON)."""
    if not isinstance(response, dict) and hasattr(response, "model_dump"):
        response = response.model_dump()
    if not isinstance(response, dict):
        raise LlmError(f"the endpoint answered {type(response).__name__}, not a chat "
                       "completion (JSON object)")
    choices = response.get("choices") or []
    choice = choices[0] if choices else {}
    message = _get(choice, "message") or {}
    content = _get(message, "content")
    tokens = None
    lp = _get(choice, "logprobs")
    if lp and _get(lp, "content"):
        tokens = [[_get(t, "token"), _get(t, "logprob"),
                   [[_get(a, "token"), _get(a, "logprob")] for a in (_get(t, "top_logprobs") or [])]]
                  for t in _get(lp, "content")]
    usage = response.get("usage") or {}
    return Completion(content if isinstance(content, str) else None, tokens,
                      _get(usage, "prompt_tokens"), _get(usage, "completion_tokens"))
