"""What asking the ``llm`` annotator about one item may cost, at most: its reservation.

An item's reservation is a bound, not an estimate. Each request's input is counted with
:func:`~labelquorum.llm.pricing.bound_message_tokens` (a token per UTF-8 byte of the
messages, the chat template's overheads, the image allowance) plus the JSON schema sent
with it; its output is ``max_tokens``, which every request sends. An item makes at most
``samples`` (self-consistency) × (1 + ``reask``) requests, and each re-ask sends the
conversation so far again: the previous answer (cut to ``max_tokens`` bytes) and the
re-ask message (its reason cut to :data:`REASON_BYTES`). Each request costs its tokens at
the model's price plus ``cost_per_call``.

A server that bills more than the bound (a chat template with a long preamble, an image
counted above the allowance) cannot make an item settle above its reservation:
:meth:`Reservation.settle` records the excess calls at what was left of it, and says so
in the call's logged response (``cost_clamped``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .pricing import BOUND_PER_MESSAGE, Price, bound_message_tokens, bound_text_tokens

REASON_BYTES = 200  # a re-ask's reason (it quotes the invalid answer) is cut to this


def clip_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, at a character boundary."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", "ignore")


@dataclass(frozen=True)
class Reservation:
    """The cost bound of one item for one configured ``llm`` annotator."""

    price: Price
    max_tokens: int
    attempts: int  # 1 + reask
    samples: int  # requests asked in parallel per item (self-consistency), 1 otherwise
    cost_per_call: float
    schema_tokens: int  # the response_format sent with every request (0: none)
    reask_tokens: int  # what each re-ask adds to the input

    @classmethod
    def build(cls, *, price: Price, max_tokens: int, reask: int, samples: int,
              cost_per_call: float, schema: dict[str, Any] | None,
              reask_template: str) -> Reservation:
        """``reask_template``: the re-ask message with an empty reason."""
        # the schema as compact JSON: servers that show it to the model (OpenAI renders
        # response formats into the prompt) bill it as input
        schema_tokens = 0 if schema is None else bound_text_tokens(json.dumps(
            {"name": "answer", "schema": schema}, separators=(",", ":")))
        reask_tokens = (max_tokens + BOUND_PER_MESSAGE  # the answer, sent back
                        + bound_text_tokens(reask_template) + REASON_BYTES + BOUND_PER_MESSAGE)
        return cls(price, max_tokens, 1 + reask, samples, float(cost_per_call), schema_tokens,
                   reask_tokens)

    def prompt(self, messages: list[dict[str, Any]]) -> int:
        """The input-token bound of the first request for an item."""
        return bound_message_tokens(messages) + self.schema_tokens

    def item(self, prompt: int) -> float:
        """The most an item whose first request is bounded by ``prompt`` tokens can cost."""
        per_sample = sum(self.price.cost(prompt + a * self.reask_tokens, self.max_tokens)
                         + self.cost_per_call for a in range(self.attempts))
        return per_sample * self.samples

    @staticmethod
    def settle(calls: list[dict[str, Any]], limit: float | None) -> float:
        """The item's cost: its calls' costs, the calls past ``limit`` (its reservation)
        recorded at what was left of it, with a ``cost_clamped`` note in their response."""
        total = 0.0
        for call in calls:
            cost = float(call.get("cost") or 0.0)
            if limit is not None and total + cost > limit:
                charged = max(limit - total, 0.0)
                call.setdefault("response", {})["cost_clamped"] = (
                    f"the server billed {call.get('tokens_in')} input and "
                    f"{call.get('tokens_out')} output tokens ({cost:.6g} USD), more than the "
                    f"reservation of this item allows (a token per byte of the prompt, "
                    f"max_tokens out); recorded at {charged:.6g} USD, what was left of its "
                    f"reservation of {limit:.6g} USD")
                call["cost"] = charged
                total = limit  # not total + charged, which may round a hair above it
                continue
            total += cost
        return total
