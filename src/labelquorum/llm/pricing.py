"""Prices and token counts: what a call costs, measured or estimated offline.

Tokens come from the response's ``usage``. When a server reports none (and for
``labelquorum plan``, which sends nothing) they are estimated at **4 characters per
token** of message text (:data:`CHARS_PER_TOKEN`), plus :data:`TOKENS_PER_MESSAGE` per
message and :data:`TOKENS_PER_IMAGE` per image — a documented ratio, not a tokenizer, so
the estimate needs no download and is the same everywhere.

What is *reserved* against a budget is a bound instead (:func:`bound_message_tokens`): a
BPE token is at least one byte of text (special tokens aside), so a request's input is at
most its UTF-8 bytes, plus :data:`BOUND_PER_MESSAGE` per message and
:data:`BOUND_PER_REQUEST` for the chat template's special tokens and preamble, plus
:data:`IMAGE_TOKEN_ALLOWANCE` per image (OpenAI's high-detail ceiling for a gpt-4o image;
models that count images otherwise, such as gpt-4o-mini, can exceed it). Prices come from the versioned
table ``labelquorum/data/prices.toml`` (USD per million input and output tokens), unless
the annotator sets ``price_input`` / ``price_output``.
"""

from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
TOKENS_PER_IMAGE = 85
BOUND_PER_MESSAGE = 8  # role and the template's special tokens around one message
BOUND_PER_REQUEST = 32  # the template's preamble and the reply's primer
IMAGE_TOKEN_ALLOWANCE = 1536  # gpt-4o, high detail: at most 85 + 170 * 8 tiles = 1,445


@dataclass(frozen=True)
class Price:
    input: float  # USD per million input tokens
    output: float  # USD per million output tokens
    source: str  # "config", "prices.toml v1 (2026-11-01): gpt-4o-mini" or "unknown"

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1e6


@functools.cache
def price_table() -> dict[str, Any]:
    text = (resources.files("labelquorum") / "data" / "prices.toml").read_text("utf-8")
    return tomllib.loads(text)


def price_for(model: str, price_input: float | None = None,
              price_output: float | None = None) -> Price:
    """The price of ``model``: the override where given, else the table, else zero."""
    table = price_table()
    models = table.get("models", {})
    entry = models.get(model)
    name = model
    if entry is None:
        prefixes = [m for m in models if model.startswith(m)]
        if prefixes:
            name = max(prefixes, key=len)
            entry = models[name]
    source = (f"prices.toml v{table.get('version')} ({table.get('date')}): {name}"
              if entry else "unknown")
    if price_input is not None or price_output is not None:
        source = "config"
    base = entry or {"input": 0.0, "output": 0.0}
    return Price(float(base["input"] if price_input is None else price_input),
                 float(base["output"] if price_output is None else price_output), source)


def estimate_text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def estimate_message_tokens(messages: list[dict[str, Any]]) -> int:
    """Input tokens of a chat request, estimated offline (see the module docstring)."""
    total = 0
    for message in messages:
        total += TOKENS_PER_MESSAGE
        content = message.get("content")
        if isinstance(content, str):
            total += estimate_text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    total += estimate_text_tokens(part.get("text", ""))
                else:
                    total += TOKENS_PER_IMAGE
    return total


def bound_text_tokens(text: str) -> int:
    """At most this many tokens: one per UTF-8 byte."""
    return len(text.encode("utf-8", "surrogatepass"))


def bound_message_tokens(messages: list[dict[str, Any]]) -> int:
    """An upper bound of a chat request's input tokens (see the module docstring)."""
    total = BOUND_PER_REQUEST
    for message in messages:
        total += BOUND_PER_MESSAGE
        content = message.get("content")
        if isinstance(content, str):
            total += bound_text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    total += bound_text_tokens(part.get("text", ""))
                else:
                    total += IMAGE_TOKEN_ALLOWANCE
    return total
