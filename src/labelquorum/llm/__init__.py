"""The LLM layer under the ``llm`` annotator: prompts, the endpoint client, prices, media.

* :mod:`.prompt` — messages built from the task, answers parsed back into labels;
* :mod:`.client` — one OpenAI-compatible endpoint: retries, rate limit, circuit breaker,
  structured-output dialects, SDK errors translated into :mod:`labelquorum.errors`;
* :mod:`.confidence` — the log-probability margin between the top two labels;
* :mod:`.pricing` — the versioned price table, offline token estimates and bounds;
* :mod:`.reservation` — the most one item can cost, reserved before it is asked;
* :mod:`.media` — image fields turned into content parts, confined to the media root.
"""

from .client import Completion, EndpointClient
from .confidence import margin_from_logprobs
from .pricing import Price, estimate_message_tokens, estimate_text_tokens
from .prompt import InvalidAnswer, defuse, item_content, json_object, parse_answer
from .reservation import Reservation

__all__ = [
    "Completion",
    "EndpointClient",
    "InvalidAnswer",
    "Price",
    "Reservation",
    "defuse",
    "estimate_message_tokens",
    "estimate_text_tokens",
    "item_content",
    "json_object",
    "margin_from_logprobs",
    "parse_answer",
]
