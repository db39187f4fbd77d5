"""An LLM or VLM annotator over any OpenAI-compatible chat endpoint.

OpenAI, vLLM, Ollama, llama.cpp's server and LM Studio all speak this API: the config
names the ``base_url``, the ``model`` and the environment variable holding the key
(``api_key_env``). For each item the annotator builds the prompt from the task
(:mod:`labelquorum.llm.prompt`) — with ``few_shot.k`` examples retrieved from the
verified pool (seed gold and accepted labels, never control or evaluation gold) and the
item's image when ``image_field`` is set — asks for a constrained JSON answer, validates
it against the label set and re-asks up to ``reask`` times; an answer still outside the
set is a failed call, never a label.

Spans tasks (``task.kind = "spans"``) ask for ``{"entities": [{"text", "type"}, ...]}``
instead (:mod:`labelquorum.llm.entities`) and align the entities to character offsets with
:func:`labelquorum.spans.align_typed_entities`; entities that do not align, or have a type
outside the labels, are rejected and counted (``rejected_entities`` in the call's logged
response, and a note at the end of the run), while an answer that is no entity list at
all is re-asked, then a failed call. Their confidence is verbalized, or the
self-consistency of the samples' token vote; log-probabilities are not used.

Confidence (recorded per judgement in ``confidence_method``):

* ``logprobs`` — the margin between the top two labels' probabilities at the label's
  first token (:mod:`labelquorum.llm.confidence`);
* ``self-consistency`` — ``samples`` answers at temperature ≥ 0.7; the share that agrees
  with the majority (per label for multilabel tasks);
* ``verbalized`` — the model's own ``confidence`` field;
* ``auto`` — log-probabilities when the server returns them, else the verbalized score.

Every HTTP call is logged (prompt, response, tokens, latency, cost), retries included;
identical requests are served from the call cache at zero cost
(:mod:`labelquorum.annotators.cache`). What an item may cost is bounded before it is asked
(:meth:`LlmAnnotator.reserve`, :mod:`labelquorum.llm.reservation`) and it never settles
above that bound.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AnnotatorError, LlmAnswerError, MediaError
from ..llm.client import Completion, EndpointClient
from ..llm.confidence import margin_from_logprobs
from ..llm.media import image_part, loggable
from ..llm.pricing import (
    TOKENS_PER_IMAGE,
    estimate_message_tokens,
    estimate_text_tokens,
    price_for,
)
from ..llm.prompt import (
    InvalidAnswer,
    answer_schema,
    build_messages,
    parse_answer_logged,
    reask_message,
)
from ..llm.reservation import REASON_BYTES, Reservation, clip_bytes
from .base import Annotator, Answers, Items
from .cache import CallCache, cache_key

OFF_LABEL_STOP = 15
OFF_LABEL_PROBE = 10  # once stopped, one item in this many is asked: an answer on the
# label set (a streak of hard items, not a broken model) resumes the calls
"""Items in a row whose every answer (re-asks included) was off the label set, after which
the annotator stops asking for the rest of the run: the model or the prompt is wrong."""


_IMAGE_PLACEHOLDER = {"type": "image_url", "image_url": {"url": ""}}  # counted, not sent


class LlmAnnotator(Annotator):
    kind = "llm"
    io_bound = True
    uses_cache = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = self.config
        key = None
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env)
            if not key:
                raise AnnotatorError(
                    f"annotator {self.name!r} reads its API key from the environment "
                    f"variable {cfg.api_key_env}, which is not set; export "
                    f"{cfg.api_key_env}=... before running, or change api_key_env")
        self.client = EndpointClient(
            base_url=cfg.base_url, model=cfg.model, api_key=key, api_key_env=cfg.api_key_env,
            timeout=cfg.timeout, max_retries=cfg.max_retries, rate_limit=cfg.rate_limit,
            structured_output=cfg.structured_output, breaker_failures=cfg.breaker_failures,
            breaker_cooldown=cfg.breaker_cooldown, seed=self.context.seed,
            max_outage=cfg.max_outage)
        self.price = price_for(cfg.model, cfg.price_input, cfg.price_output)
        self.price_note = self.pool_note = None
        if self.price.source == "unknown" and cfg.api_key_env:
            self.price_note = (f"no price known for model {cfg.model!r}; its calls are costed "
                               "at 0 (set price_input and price_output)")
        self._set_note()
        self.cache: CallCache | None = None
        self.retriever = None
        self.breaker_note: str | None = None
        self.rejected_entities = 0  # spans tasks: entities named but not placed
        self.off_label_streak = 0  # items in a row answered only off the label set
        self.off_label_stop: str | None = None  # why the annotator stopped asking
        self.off_label_seen = 0  # items met while stopped (one in OFF_LABEL_PROBE probes)
        self.off_label_skipped = 0  # items not asked since
        self._reserved: dict[str, float] = {}  # item id -> what reserve() returned
        self.media_root = Path(self.context.project_dir) / self.context.media_root

    @property
    def run_note(self) -> str | None:
        notes = [self.breaker_note] if self.breaker_note else []
        if self.off_label_stop:
            notes.append(f"{self.off_label_stop}; {self.off_label_skipped} items were left "
                         "unasked")
        outages = self.client.breaker.outages
        if outages:
            notes.append(f"the endpoint was down {len(outages)} time"
                         f"{'s' if len(outages) > 1 else ''} (the longest "
                         f"{max(outages):.1f} s); the calls waited for it and went on")
        if self.rejected_entities:
            notes.append(f"{self.rejected_entities} entities the model named were rejected "
                         "(not found in the item's text, or of a type outside the labels; "
                         "each call's are in its logged response under rejected_entities)")
        return "; ".join(notes) or None

    @run_note.setter
    def run_note(self, value: str | None) -> None:  # the base class sets it to None
        self.breaker_note = value

    # -- cost ---------------------------------------------------------------------------
    @property
    def calls_per_item(self) -> int:
        return self.config.samples if self.config.confidence == "self-consistency" else 1

    @functools.cached_property
    def bound(self) -> Reservation:
        """The cost bound of one item (:mod:`labelquorum.llm.reservation`)."""
        cfg = self.config
        schema = None if cfg.structured_output == "none" else answer_schema(
            self.task, self._verbalized)
        return Reservation.build(
            price=self.price, max_tokens=cfg.max_tokens, reask=cfg.reask,
            samples=self.calls_per_item, cost_per_call=cfg.cost_per_call, schema=schema,
            reask_template=reask_message(self.task, "")["content"])

    @functools.cached_property
    def max_cost(self) -> float:
        """The most any item can cost: its first prompt at ``max_prompt_tokens`` (an item
        whose prompt is larger is not sent), ``max_tokens`` out, every re-ask and sample."""
        return self.bound.item(self.config.max_prompt_tokens)

    def reserve(self, items: Items) -> np.ndarray:
        """Per item, the most asking it can cost: its real prompt (text, retrieved
        examples, system prompt, image allowance) counted as a bound of its tokens, with
        ``max_tokens`` out, for every call it can make (see
        :mod:`labelquorum.llm.reservation`). 0 for an item whose prompt is over
        ``max_prompt_tokens``: it fails without a call. An item never settles above it."""
        verbal, field = self._verbalized, self.config.image_field
        texts = [str(f.get(self.task.text_field, "")) for f in items.fields]
        shots = (self.retriever.select(texts, exclude_ids=list(items.ids))
                 if self.retriever is not None else [[] for _ in texts])
        out = np.zeros(len(texts))
        for i, (item_id, fields) in enumerate(zip(items.ids, items.fields)):
            image = (_IMAGE_PLACEHOLDER if field and fields.get(field) not in (None, "")
                     else None)
            prompt = self.bound.prompt(build_messages(self.task, texts[i], shots[i], image,
                                                      verbal))
            if prompt <= self.config.max_prompt_tokens:
                out[i] = self.bound.item(prompt)
            self._reserved[item_id] = float(out[i])
        return out

    def estimate(self, items: Items) -> list[tuple[int, int, float]]:
        """(input tokens, output tokens, cost) per item, from the real prompts; no calls."""
        out = []
        verbal = self._verbalized
        answer = self.task.strategy.llm_answer_guess(self.task)
        answer_tokens = estimate_text_tokens(answer) + (6 if verbal else 0)
        for item_id, fields in zip(items.ids, items.fields):
            text = str(fields.get(self.task.text_field, ""))
            messages = build_messages(self.task, text, self._select(text, item_id), None, verbal)
            tokens_in = estimate_message_tokens(messages)
            if self.config.image_field and fields.get(self.config.image_field):
                tokens_in += TOKENS_PER_IMAGE
            n = self.calls_per_item
            cost = n * (self.price.cost(tokens_in, answer_tokens) + float(self.config.cost_per_call))
            out.append((n * tokens_in, n * answer_tokens, cost))
        return out

    # -- few-shot examples --------------------------------------------------------------
    def fit_examples(self, ids: list[str], texts: list[str], labels: list[Any]) -> LlmAnnotator:
        """The verified pool examples are retrieved from (seed gold + accepted labels)."""
        shots = self.config.few_shot
        if shots.k == 0:
            return self
        try:
            from ..retrieval import Example, ExampleRetriever
        except ImportError:
            raise AnnotatorError("few_shot.k > 0 needs labelquorum.retrieval, which this "
                                 "installation lacks; set few_shot.k = 0") from None
        if not ids:  # no seed gold or accepted labels yet: zero-shot until there are
            self.retriever = None
            self.training_fingerprint = ""
            self.pool_note = (f"few_shot.k = {shots.k}, but the verified pool (seed gold and "
                              "accepted labels) is empty, so items are asked zero-shot; seed "
                              "some gold (import with a seed split) or accept labels, and "
                              "later runs show examples")
            self._set_note()
            return self
        self.pool_note = None
        self._set_note()
        fmt = self.task.format_label
        pool = [Example(i, t, fmt(tuple(lab) if isinstance(lab, list) else lab))
                for i, t, lab in zip(ids, texts, labels)]
        self.retriever = ExampleRetriever(k=shots.k, strategy=shots.strategy,
                                          mmr_lambda=shots.mmr_lambda, balance=shots.balance,
                                          seed=self.context.seed).fit(pool)
        digest = hashlib.sha1(json.dumps([ids, [str(x) for x in labels]]).encode())
        self.training_fingerprint = digest.hexdigest()[:16]
        return self

    def _set_note(self) -> None:
        self.note = "; ".join(n for n in (self.price_note, self.pool_note) if n) or None

    def _select(self, text: str, item_id: str | None = None) -> list[Any]:
        if self.retriever is None:
            return []
        exclude = [item_id] if item_id is not None else None
        return self.retriever.select([text], exclude_ids=exclude)[0]

    # -- asking -------------------------------------------------------------------------
    @property
    def _verbalized(self) -> bool:
        return self.config.confidence in ("auto", "verbalized")

    def messages(self, fields: dict[str, Any], examples: list[Any]) -> list[dict[str, Any]]:
        text = str(fields.get(self.task.text_field, ""))
        part = None
        if self.config.image_field:
            value = fields.get(self.config.image_field)
            if value in (None, ""):
                raise MediaError(f"the item has no {self.config.image_field!r} field "
                                 "(the annotator's image_field)")
            part = image_part(str(value), self.media_root)
        return build_messages(self.task, text, examples, part, self._verbalized)

    async def aclose(self) -> None:
        await self.client.aclose()

    def predict(self, items: Items) -> Answers:
        """Answer a batch from synchronous code (the Python API): concurrently, under the
        annotator's concurrency limit. A run uses :meth:`apredict_one` instead."""
        async def all_items() -> list[Answers]:
            limit = asyncio.Semaphore(self.concurrency)

            async def one(i: int) -> Answers:
                async with limit:
                    return self.finish(await self.apredict_one(items.take([i])), 1)
            try:
                return await asyncio.gather(*(one(i) for i in range(len(items))))
            finally:
                await self.aclose()

        parts = asyncio.run(all_items())
        return Answers.concat(parts, len(self.task.labels)) if parts else Answers(labels=[])

    async def apredict_one(self, items: Items) -> Answers:
        item_id, fields = items.ids[0], items.fields[0]
        calls: list[dict[str, Any]] = []
        method = self.config.confidence
        limit = self._reserved.pop(item_id, None)
        if self.off_label_stop:  # the model answers off the label set: stop paying for it
            self.off_label_seen += 1
            # the first item after the stop probes, then one in OFF_LABEL_PROBE: a streak of
            # hard items (which the next run asks first) never shadows the items after it
            if (self.off_label_seen - 1) % OFF_LABEL_PROBE:
                self.off_label_skipped += 1
                return Answers(labels=[None], errors=[self.off_label_stop], calls=[None],
                               cost=np.zeros(1), methods=[None])
        try:
            text = str(fields.get(self.task.text_field, ""))
            examples = (await asyncio.to_thread(self._select, text, item_id)
                        if self.retriever is not None else [])
            messages = self.messages(fields, examples)
            prompt = self.bound.prompt(messages)
            if prompt > self.config.max_prompt_tokens:
                raise AnnotatorError(
                    f"the prompt for this item may be up to {prompt:,} tokens (counted as a "
                    "bound: a token per UTF-8 byte, plus the messages' overheads and the "
                    "image allowance), more than max_prompt_tokens = "
                    f"{self.config.max_prompt_tokens:,}; it was not sent. Shorten the item, "
                    "lower few_shot.k, or raise max_prompt_tokens (it bounds what an item may "
                    "cost)")
            if limit is None:
                limit = self.bound.item(prompt)
            if method == "self-consistency":
                value, conf, probs, used = await self._consistency(messages, item_id, calls,
                                                                   text)
            else:
                value, conf, probs, used = await self._single(messages, item_id, calls, text)
        except AnnotatorError as exc:  # LlmError, MediaError, a prompt too long
            if isinstance(exc, LlmAnswerError):
                self._off_label(exc)
            if self.client.breaker.is_open:
                self.breaker_note = self.client.breaker.message(self.client.max_outage)
            cost = self.bound.settle(calls, limit)
            return Answers(labels=[None], errors=[str(exc)], calls=[calls or None],
                           cost=np.array([cost]), methods=[None])
        self.off_label_streak = 0
        self.off_label_stop = None  # a probe answered on the label set: ask again
        cost = self.bound.settle(calls, limit)
        return Answers(labels=[value], probs=None if probs is None else probs[None, :],
                       confidence=np.array([conf]), cost=np.array([cost]),
                       latency=np.array([sum(c["latency"] for c in calls)]),
                       calls=[calls], methods=[used])

    def _off_label(self, exc: LlmAnswerError) -> None:
        """Count an item whose every answer was off the label set; stop at
        :data:`OFF_LABEL_STOP` of them in a row."""
        self.off_label_streak += 1
        if self.off_label_streak < OFF_LABEL_STOP or self.off_label_stop:
            return
        what = self.task.strategy.off_label
        names = ", ".join(json.dumps(lab) for lab in self.task.labels)
        example = exc.answer if exc.answer is not None else str(exc)
        self.off_label_stop = (
            f"stopped asking {self.config.model}: it answered {what} on "
            f"{self.off_label_streak} items in a row (every answer and re-ask of each; one "
            f"answer was {example!r}). Check the label names ({names}) against what the model "
            "says, the prompt (guidelines and label descriptions; each request is in the "
            f"call log) and that model {self.config.model!r} is the one meant; the items left "
            "in this run were not asked (no call, no cost), but one in "
            f"{OFF_LABEL_PROBE}, and the next run asks them again")

    async def _single(self, messages, item_id, calls, text):
        value, vconf, completion, said = await self._ask(messages, item_id, calls, None,
                                                         self.config.temperature, text)
        kind = self.task.strategy
        if not kind.vector:  # no per-label probabilities; a verbalized score or none
            return (value, np.nan if vconf is None else vconf, None,
                    "none" if vconf is None else "verbalized")
        if (self.config.confidence in ("auto", "logprobs") and kind.label_logprobs
                and completion.logprobs):
            # llama.cpp's json_object dialect reports pre-grammar log-probabilities
            found = margin_from_logprobs(completion.content or "", said, completion.logprobs,
                                         self.task.labels,
                                         constrained=self.client.dialect == "json_object")
            if found is not None:
                return value, found[0], found[1], "logprobs"
        if vconf is not None:
            return value, vconf, kind.probs(self.task, [value], np.array([vconf]))[0], \
                "verbalized"
        return value, np.nan, np.full(len(self.task.labels), np.nan), "none"

    async def _consistency(self, messages, item_id, calls, text):
        temperature = max(self.config.temperature, 0.7)
        results = await asyncio.gather(
            *(self._ask(messages, item_id, calls, s, temperature, text)
              for s in range(self.config.samples)), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, LlmAnswerError):
                raise r
        values = [r[0] for r in results if not isinstance(r, BaseException)]
        if not values:
            raise next(r for r in results if isinstance(r, BaseException))
        value, confidence, probs = self.task.strategy.sample_consensus(self.task, values, text)
        return value, confidence, probs, "self-consistency"

    async def _ask(self, messages, item_id, calls, sample, temperature, text=""):
        """Ask, re-asking after invalid answers: (value, verbalized conf, completion, said)."""
        msgs = list(messages)
        last: InvalidAnswer | None = None
        for _ in range(self.config.reask + 1):
            completion, entry = await self._call(msgs, item_id, calls, sample, temperature)
            try:
                value, vconf, said, log = parse_answer_logged(self.task, completion.content,
                                                              text)
                entry["response"].update(log)
                self.rejected_entities += len(log.get("rejected_entities", ()))
                return value, vconf, completion, said
            except InvalidAnswer as bad:
                entry["response"]["invalid"] = bad.reason
                last = bad
                # both cut, so that the reservation bounds what a re-ask sends
                msgs = msgs + [{"role": "assistant",
                                "content": clip_bytes(completion.content or "",
                                                      self.config.max_tokens)},
                               reask_message(self.task, clip_bytes(bad.reason, REASON_BYTES))]
        raw = re.sub(r"\s+", " ", last.raw)[:200]
        what = self.task.strategy.answer_name
        raise LlmAnswerError(f"{self.config.model} gave no {what} after "
                             f"{self.config.reask} re-asks (last answer {raw!r}: {last.reason})",
                             answer=raw)

    async def _call(self, msgs, item_id, calls, sample, temperature
                    ) -> tuple[Completion, dict[str, Any]]:
        """One request (from the cache when it can be), logged into ``calls``."""
        cfg = self.config
        schema = None if cfg.structured_output == "none" else answer_schema(
            self.task, self._verbalized)
        want_lp = cfg.confidence in ("auto", "logprobs") and self.task.strategy.label_logprobs
        params = {"temperature": temperature, "max_tokens": cfg.max_tokens,
                  "structured_output": cfg.structured_output, "logprobs": want_lp,
                  "sample": sample}
        key = None
        use_cache = self.cache is not None and self.cache.usable(item_id)
        if use_cache:
            key = cache_key({"base_url": cfg.base_url, "model": cfg.model, "messages": msgs,
                             "schema": schema, **params})

        sent: dict[str, Any] = {}

        async def fresh() -> Completion:
            attempts: list[dict[str, Any]] = []
            try:
                completion, sent["body"] = await self.client.complete(
                    msgs, temperature=temperature, max_tokens=cfg.max_tokens, schema=schema,
                    logprobs=want_lp, seed=None if sample is None else self.context.seed + sample,
                    attempts=attempts)
            finally:  # every HTTP request that failed is a row of the call log
                for failed in attempts:
                    entry = self._log_entry(msgs, None, 0, 0, True, 0.0, None, failed["error"],
                                            failed["body"])
                    entry["response"] = {"status": failed["status"]}
                    entry["latency"] = failed["latency"]
                    calls.append(entry)
            return completion

        if use_cache:
            completion, cached = await self.cache.get_or_call(key, fresh, Completion.to_json,
                                                              Completion.from_json)
        else:
            completion, cached = await fresh(), False
        estimated = completion.tokens_in is None or completion.tokens_out is None
        tokens_in = (completion.tokens_in if completion.tokens_in is not None
                     else estimate_message_tokens(msgs))
        tokens_out = (completion.tokens_out if completion.tokens_out is not None
                      else estimate_text_tokens(completion.content or ""))
        cost = 0.0 if cached else self.price.cost(tokens_in, tokens_out) + float(cfg.cost_per_call)
        entry = self._log_entry(msgs, completion, tokens_in, tokens_out, estimated, cost,
                                key if use_cache else None, None, sent.get("body"))
        entry["response"]["cached"] = cached
        entry["response"]["retries"] = completion.retries if not cached else 0
        entry["latency"] = 0.0 if cached else completion.latency
        calls.append(entry)
        return completion, entry

    def _log_entry(self, msgs, completion, tokens_in, tokens_out, estimated, cost, key, error,
                   body=None):
        if body is None:  # served from the cache: the client's dialect now
            dialect, logprobs = self.client.dialect, self.client.logprobs_ok
        else:  # as sent
            dialect = (body.get("response_format") or {}).get("type", "none")
            logprobs = bool(body.get("logprobs"))
        request = {"messages": loggable(msgs), "dialect": dialect, "logprobs": logprobs}
        return {"model": self.config.model, "request": request,
                "response": completion.to_json() if completion is not None else {},
                "tokens_in": tokens_in, "tokens_out": tokens_out,
                "tokens_estimated": estimated, "cost": cost,
                "latency": completion.latency if completion is not None else 0.0,
                "cache_key": key, "error": error}
