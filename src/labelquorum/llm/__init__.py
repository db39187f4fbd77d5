"""The LLM layer under the ``llm`` annotator: prompts, the endpoint client, prices, media.

* :mod:`.prompt` — messages built from the task, answers parsed back into labels;
* :mod:`.client` — one OpenAI-compatible endpoint: retries, rate limit, circuit breaker,
  structured-output dialects, SDK errors translated into :mod:`labelquorum.errors`;
* :mod:`.confidence` — the log-probability margin between the top two labels;
* :mod:`.pricing` — the versioned price table, offline token estimates and bounds;
* :mod:`.reservation` — the most one item can cost, reserved before it is asked;
* :mod:`.media` — image fields turned into content parts, confined to the media root.
"""
