"""Extension points: one registry per kind of extension, filled by entry points.

Four kinds of things can be added without touching labelquorum, each by an object a
package names in an entry-point group of its ``pyproject.toml``::

    [project.entry-points."labelquorum.annotators"]
    length = "my_plugin:LENGTH"            # an AnnotatorType
    [project.entry-points."labelquorum.policies"]
    ask-all = "my_plugin:ASK_ALL"          # a PolicyType
    [project.entry-points."labelquorum.aggregators"]
    veto = "my_plugin:VETO"                # an AggregatorType
    [project.entry-points."labelquorum.task_kinds"]
    yes-no = "my_plugin:YES_NO"            # a TaskKind

The built-ins are registered the same way (from :mod:`labelquorum.builtins`). Entry points
are loaded when a registry is first read, never when labelquorum is imported; one that
fails to load is set aside with a message naming its package and entry point, shown when
a config asks for its name. The config schema (the ``type`` of ``[annotators.NAME]`` and
``[policy]``, ``task.kind``, ``policy.aggregator``) and every list of valid names are read
from these registries. :func:`register` adds an extension from Python (e.g. in a test).
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .errors import ConfigError, PluginError
from .kinds.base import VALUE_TYPES, TaskKind
from .sections.annotators import AnnotatorBase
from .sections.base import did_you_mean
from .sections.policies import PolicyBase

BUILTIN = "built-in"


def _resolve(target: Any) -> Any:
    """An object, or the object a ``"module:attribute"`` path names (imported on use)."""
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    return target


def _type_name(config: type[BaseModel], what: str) -> str:
    """The one value of a config model's ``type: Literal[...]`` discriminator."""
    ann = config.model_fields.get("type")
    args = typing.get_args(ann.annotation) if ann is not None else ()
    if typing.get_origin(ann.annotation if ann else None) is not typing.Literal or \
            len(args) != 1 or not isinstance(args[0], str):
        raise TypeError(f"{what} config {config.__name__} needs a field "
                        "'type: Literal[\"name\"]' naming its type (one string)")
    return args[0]


def _check_strict(config: type[BaseModel], base: type[BaseModel], what: str) -> None:
    if not (isinstance(config, type) and issubclass(config, base)):
        raise TypeError(f"{what} config {getattr(config, '__name__', config)!r} must subclass "
                        f"labelquorum.plugins.{base.__name__} (so that unknown keys are "
                        "refused and the shared settings exist)")


@dataclass(frozen=True)
class AnnotatorType:
    """An annotator backend: its ``[annotators.NAME]`` config model and its factory.

    ``factory(name, config, task, context)`` returns an
    :class:`~labelquorum.annotators.Annotator` (a subclass is a factory); a
    ``"module:Class"`` path is imported only when a project uses the backend.
    ``value_types`` are the task values it can produce (``class``, ``labelset``,
    ``spans``, ``rating``, ``text``; all of them by default); ``needs_gold`` passes the project's gold to the factory as ``gold=``.
    """

    config: type[AnnotatorBase]
    factory: Callable[..., Any] | str
    value_types: tuple[str, ...] | None = None
    needs_gold: bool = False

    def __post_init__(self) -> None:
        _check_strict(self.config, AnnotatorBase, "an annotator")
        _type_name(self.config, "an annotator")
        if self.value_types is None:
            return
        if not set(self.value_types) <= set(VALUE_TYPES) or not self.value_types:
            raise TypeError(f"value_types {self.value_types!r} must name some of "
                            f"{', '.join(VALUE_TYPES)}")

    @property
    def name(self) -> str:
        return _type_name(self.config, "an annotator")

    def serves(self, value_type: str) -> bool:
        """Whether it can label tasks whose values are of this type."""
        return self.value_types is None or value_type in self.value_types

    def build(self, name: str, config: Any, task: Any, context: Any,
              gold: dict[str, Any] | None = None) -> Any:
        factory = _resolve(self.factory)
        if self.needs_gold:
            return factory(name, config, task, context, gold=gold)
        return factory(name, config, task, context)


@dataclass(frozen=True)
class PolicyType:
    """A policy: its ``[policy]`` config model and its class (``from_config(cfg)``)."""

    config: type[PolicyBase]
    policy: type | str

    def __post_init__(self) -> None:
        _check_strict(self.config, PolicyBase, "a policy")
        _type_name(self.config, "a policy")

    @property
    def name(self) -> str:
        return _type_name(self.config, "a policy")

    def build(self, config: Any) -> Any:
        return _resolve(self.policy).from_config(config)


@dataclass(frozen=True)
class AggregatorType:
    """A truth-inference method: an estimator class whose ``fit(judgements)`` (a long
    table with ``item, annotator, label``) returns ``self`` with ``labels_`` and
    ``probas_``. It serves the task kinds named in ``task_kinds`` and every kind whose
    values are of one of ``value_types``."""

    name: str
    estimator: type | str
    task_kinds: tuple[str, ...] = ()
    value_types: tuple[str, ...] = ()

    def supports(self, kind: TaskKind) -> bool:
        return kind.name in self.task_kinds or kind.value_type in self.value_types

    @property
    def estimator_class(self) -> type:
        return _resolve(self.estimator)


T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    item: T
    origin: str  # "built-in", "python", or "PACKAGE (entry point NAME = VALUE ...)"
    package: str  # "built-in", "python" or the distribution's name


@dataclass
class Registry(Generic[T]):
    """Extensions of one kind by name: the built-ins, then the group's entry points."""

    kind: str  # "annotator type", ...
    choices: str  # what the valid names are called in messages: "types", ...
    group: str  # the entry-point group
    spec: type  # what an entry point must name
    builtins: str  # "module:NAME" of the built-ins' list
    _entries: dict[str, _Entry[T]] | None = None
    _broken: dict[str, PluginError] = field(default_factory=dict)
    version: int = 0

    def _load(self) -> dict[str, _Entry[T]]:
        if self._entries is None:
            entries: dict[str, _Entry[T]] = {}
            for item in _resolve(self.builtins):
                entries[item.name] = _Entry(item, BUILTIN, BUILTIN)
            self._entries = entries
            for ep in entry_points(group=self.group):
                self._load_entry_point(ep)
            self.version += 1
        return self._entries

    def _load_entry_point(self, ep: EntryPoint) -> None:
        dist = ep.dist.name if ep.dist is not None else "an unknown package"
        where = f"{dist} (entry point {ep.name} = {ep.value} in group {self.group})"
        try:
            item = ep.load()
            if not isinstance(item, self.spec):
                raise TypeError(f"it names a {type(item).__name__}, not a "
                                f"labelquorum.plugins.{self.spec.__name__}")
            if item.name != ep.name:
                raise TypeError(f"it names the {self.kind} {item.name!r}; the entry point "
                                "must be called by the same name")
            if item.name in self._entries:
                raise TypeError(f"the {self.kind} {item.name!r} is already registered by "
                                f"{self._entries[item.name].origin}")
        except Exception as exc:  # noqa: BLE001 - any failure of a third party's code
            self._broken[ep.name] = PluginError(
                f"the {self.kind} {ep.name!r} comes from the plugin {where}, which could not "
                f"be loaded: {type(exc).__name__}: {exc}. Fix or uninstall that package "
                f"(pip uninstall {dist}).")
            return
        self._entries[item.name] = _Entry(item, where, dist)

    @property
    def loaded(self) -> bool:
        """Whether the group's entry points have been read (on first use, never on import)."""
        return self._entries is not None

    def names(self) -> tuple[str, ...]:
        return tuple(self._load())

    def items(self) -> list[T]:
        return [e.item for e in self._load().values()]

    def origin(self, name: str) -> str:
        return self._load()[name].origin

    def package(self, name: str) -> str:
        """Where the name comes from: ``built-in``, ``python`` (:func:`register`) or the
        name of the package whose entry point added it."""
        return self._load()[name].package

    def failures(self) -> list[PluginError]:
        """The entry points of this group that could not be loaded."""
        self._load()
        return list(self._broken.values())

    def builtin_names(self) -> tuple[str, ...]:
        """The built-ins' names, without loading any plugin (for help texts)."""
        return tuple(item.name for item in _resolve(self.builtins))

    def broken(self, name: str) -> PluginError | None:
        self._load()
        return self._broken.get(name)

    def get(self, name: str) -> T:
        entries = self._load()
        if name in entries:
            return entries[name].item
        if name in self._broken:
            raise self._broken[name]
        raise ConfigError(f"unknown {self.kind} {name!r}; valid {self.choices}: "
                          f"{', '.join(entries)}."
                          f"{did_you_mean(str(name), list(entries))}")

    def register(self, item: T, *, replace: bool = False) -> None:
        """Add an extension from Python (a package's entry point does the same on load)."""
        if not isinstance(item, self.spec):
            raise TypeError(f"register a labelquorum.plugins.{self.spec.__name__}, not a "
                            f"{type(item).__name__}")
        entries = self._load()
        if item.name in entries and not replace:
            raise PluginError(f"the {self.kind} {item.name!r} is already registered by "
                              f"{entries[item.name].origin}; pass replace=True to replace it")
        entries[item.name] = _Entry(item, "python", "python")
        self._broken.pop(item.name, None)
        self.version += 1

    def unregister(self, name: str) -> None:
        if self._load().pop(name, None) is not None:
            self.version += 1


annotators: Registry[AnnotatorType] = Registry(
    "annotator type", "types", "labelquorum.annotators", AnnotatorType,
    "labelquorum.builtins:ANNOTATORS")
policies: Registry[PolicyType] = Registry(
    "policy type", "types", "labelquorum.policies", PolicyType, "labelquorum.builtins:POLICIES")
aggregators: Registry[AggregatorType] = Registry(
    "aggregation method", "methods", "labelquorum.aggregators", AggregatorType,
    "labelquorum.builtins:AGGREGATORS")
task_kinds: Registry[TaskKind] = Registry(
    "task kind", "kinds", "labelquorum.task_kinds", TaskKind, "labelquorum.builtins:TASK_KINDS")

REGISTRIES = {"annotators": annotators, "policies": policies, "aggregators": aggregators,
              "task_kinds": task_kinds}

SPECS = {AnnotatorType: annotators, PolicyType: policies, AggregatorType: aggregators,
         TaskKind: task_kinds}


def register(item: AnnotatorType | PolicyType | AggregatorType | TaskKind, *,
             replace: bool = False) -> None:
    """Add an extension from Python; its registry is chosen by its type."""
    registry = next((r for spec, r in SPECS.items() if isinstance(item, spec)), None)
    if registry is None:
        raise TypeError(f"register an AnnotatorType, PolicyType, AggregatorType or TaskKind, "
                        f"not a {type(item).__name__}")
    registry.register(item, replace=replace)


def task_kind(name: str) -> TaskKind:
    return task_kinds.get(name)


__all__ = [
    "REGISTRIES",
    "VALUE_TYPES",
    "AggregatorType",
    "AnnotatorBase",
    "AnnotatorType",
    "PolicyBase",
    "PolicyType",
    "Registry",
    "TaskKind",
    "aggregators",
    "annotators",
    "policies",
    "register",
    "task_kind",
    "task_kinds",
]
