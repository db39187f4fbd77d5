"""The project configuration: one TOML file, validated once on load.

``labelquorum.toml`` declares the task, the annotators and the policy. Every key is
documented in the README's config reference (a test keeps the two in step). Errors name
the key, what was expected and what was found, and list the valid choices for an unknown
name; a policy that names a missing annotator fails here, before any work starts.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, ValidationError, create_model, model_validator

from . import plugins
from .errors import ConfigError
from .sections.annotators import (
    ANNOTATOR_KINDS,
    SPACY_TYPE_MAP,
    AnnotatorBase,
    EmbeddingConfig,
    FewShotConfig,
    HumanConfig,
    LlmConfig,
    ReplayConfig,
    Rule,
    RulesConfig,
    SimulatedConfig,
    SpacyConfig,
    TfidfConfig,
    VaderConfig,
)
from .sections.base import Strict, did_you_mean
from .sections.policies import (
    AutoConfig,
    CascadeConfig,
    ChainConfig,
    GateBase,
    PolicyBase,
    Tier,
    VoteThenVerifyConfig,
    aggregator_names,
)
from .sections.project import ProjectSection, RunSection, StoreConfig
from .sections.quality import MonitorConfig, QualityConfig
from .sections.task import RESERVED_KEYS, LabelConfig, TaskConfig
from .sections.web import WebConfig

CONFIG_NAME = "labelquorum.toml"


# the section models are re-exported here: ``from labelquorum.config import TfidfConfig``
__all__ = [
    "ANNOTATOR_KINDS",
    "CONFIG_NAME",
    "RESERVED_KEYS",
    "RESERVED_NAMES",
    "SPACY_TYPE_MAP",
    "AnnotatorBase",
    "AutoConfig",
    "CascadeConfig",
    "ChainConfig",
    "Config",
    "EmbeddingConfig",
    "FewShotConfig",
    "GateBase",
    "HumanConfig",
    "LabelConfig",
    "LlmConfig",
    "MonitorConfig",
    "PolicyBase",
    "ProjectSection",
    "QualityConfig",
    "ReplayConfig",
    "Rule",
    "RulesConfig",
    "RunSection",
    "SimulatedConfig",
    "SpacyConfig",
    "StoreConfig",
    "Strict",
    "TaskConfig",
    "TfidfConfig",
    "Tier",
    "VaderConfig",
    "VoteThenVerifyConfig",
    "WebConfig",
    "aggregator_names",
    "annotator_models",
    "config_model",
    "did_you_mean",
    "load_config",
    "parse_config",
    "policy_models",
]


RESERVED_NAMES = ("gold", "none")  # what decided_by says when no annotator decided


class Config(Strict):
    project: ProjectSection = Field(default_factory=ProjectSection)
    store: StoreConfig = Field(default_factory=StoreConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    run: RunSection = Field(default_factory=RunSection)
    task: TaskConfig
    annotators: dict[str, AnnotatorBase] = Field(min_length=1)
    """Each a registered annotator type's model (see :func:`config_model`)."""
    policy: PolicyBase
    """A registered policy type's model."""

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
        for key, names in self.policy.references():
            for name in names:
                if name not in known:
                    raise ConfigError(
                        f"names annotator {name!r}, which is not declared under [annotators]. "
                        f"Declared annotators: {', '.join(sorted(known))}."
                        f"{did_you_mean(name, known)}",
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
                if self.task.value_type != "class":
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
        value_type = self.task.value_type
        spans = value_type == "spans"
        for name, ann in self.annotators.items():
            key = f"annotators.{name}.type"
            ann_type = plugins.annotators.get(ann.type)
            if spans and not ann_type.serves("spans"):
                usable = [t.name for t in plugins.annotators.items() if t.serves("spans")]
                raise ConfigError(f"a {ann.type} annotator labels whole items, not spans; for "
                                  f"a spans task use one of: {', '.join(usable)}", key=key)
            if not spans and ann_type.value_types == ("spans",):
                raise ConfigError(f"a {ann.type} annotator labels spans; set task.kind = "
                                  f"\"spans\" or use another annotator type", key=key)
            if not ann_type.serves(value_type):
                usable = [t.name for t in plugins.annotators.items() if t.serves(value_type)]
                raise ConfigError(f"a {ann.type} annotator cannot label a {self.task.kind} task; "
                                  f"use one of: {', '.join(usable)}", key=key)
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
                              f"{did_you_mean(name, llms)}", key=f"web.{key}")
        return self

    @model_validator(mode="after")
    def _auto_fits_task(self) -> Config:
        if isinstance(self.policy, AutoConfig):
            if not plugins.task_kind(self.task.kind).one_label:
                others = [n for n in plugins.policies.names() if n != "auto"]
                raise ConfigError("an auto policy is chosen on calibration gold of a "
                                  f"classification task; the task kind is {self.task.kind!r}. "
                                  f"Use a {', '.join(others[:-1])} or {others[-1]} policy",
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
        from .aggregation.voting import METHODS as VOTES

        name = self.policy.aggregator
        if name in VOTES:  # the per-item votes take every kind
            return self
        method = plugins.aggregators.get(name)
        kind = plugins.task_kinds.get(self.task.kind)
        if not method.supports(kind):
            kinds = plugins.task_kinds.items()
            serves = [k.name for k in kinds if method.supports(k)]
            others = [k.name for k in kinds if not method.supports(k)]
            raise ConfigError(f"aggregator {name!r} works on {' and '.join(serves) or 'no'} "
                              f"tasks; use 'majority' or 'weighted' for "
                              f"{', '.join(others[:-1])}{' and ' if len(others) > 1 else ''}"
                              f"{others[-1]}", key="policy.aggregator")
        return self

    @property
    def policy_annotators(self) -> list[str]:
        seen: list[str] = []
        for _, names in self.policy.references():
            seen += [n for n in names if n not in seen]
        return seen


def annotator_models() -> list[type[AnnotatorBase]]:
    """The ``[annotators.NAME]`` models of every registered annotator type."""
    return [t.config for t in plugins.annotators.items()]


def policy_models() -> list[type[PolicyBase]]:
    """The ``[policy]`` models of every registered policy type."""
    return [t.config for t in plugins.policies.items()]


def config_model() -> type[Config]:
    """The :class:`Config` model whose ``annotators`` and ``policy`` take exactly the
    registered types (built-ins and plugins), each under its own strict model."""
    return _config_model(plugins.annotators.names(), plugins.policies.names(),
                         plugins.annotators.version, plugins.policies.version)


@cache
def _config_model(annotator_types: tuple[str, ...], policy_types: tuple[str, ...],
                  *versions: int) -> type[Config]:
    def tagged(models: list) -> Any:
        if len(models) == 1:  # a union of one is that model
            return models[0]
        return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007

    return create_model("Config", __base__=Config, __module__=__name__,
                        annotators=(dict[str, tagged(annotator_models())], Field(min_length=1)),
                        policy=(tagged(policy_models()), ...))


def _unknown_label(label: str, labels: set[str]) -> str:
    return (f"label {label!r} is not in the task's label set "
            f"({', '.join(sorted(labels))}).{did_you_mean(label, labels)}")


def _format_error(err: dict[str, Any], data: dict[str, Any]) -> ConfigError:
    loc = list(err["loc"])
    # drop the discriminator tags pydantic puts in the path of tagged unions
    if len(loc) > 1 and loc[0] == "policy" and loc[1] in plugins.policies.names():
        del loc[1]
    if len(loc) > 2 and loc[0] == "annotators" and loc[2] in plugins.annotators.names():
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
        registry = plugins.policies if loc and loc[0] == "policy" else plugins.annotators
        broken = registry.broken(str(tag))
        if broken is not None:
            return type(broken)(str(broken), key=f"{key}.type")
        choices = registry.names()
        return ConfigError(f"unknown type {tag!r}; valid types: {', '.join(choices)}."
                           f"{did_you_mean(str(tag), list(choices))}", key=f"{key}.type")
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
        return config_model().model_validate(data)
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
