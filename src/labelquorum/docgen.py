"""The reference pages of the docs, generated from the code (config models and the CLI).

Used by the MkDocs hook ``docs/hooks/reference.py`` and by the docs test; also handy as
``python -m labelquorum.docgen config|cli`` to print a page.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

__all__ = ["cli_commands", "cli_options", "cli_reference", "config_keys", "config_reference"]


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (unions, lists, dicts, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models(arg)
    return out


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`"
                          for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, set):
        args = typing.get_args(annotation)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "table"
    if annotation is type(None):
        return "none"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        return {"str": "string", "int": "integer", "float": "number",
                "bool": "boolean"}.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _default(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "none"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value!r}`"


def _prose(text: str | None) -> str:
    """A docstring as one Markdown line: Sphinx roles (``:mod:`x` ``) become code spans."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text or "")
    return " ".join(text.split())


def _rows(model: type[BaseModel], prefix: str, seen: set[str]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}"
        if key in seen:
            continue
        seen.add(key)
        meaning = _prose(field.description)
        if not meaning and name == "type" and typing.get_origin(field.annotation) is Literal:
            meaning = (f'Chooses this type: `type = "{typing.get_args(field.annotation)[0]}"` '
                       "selects the keys of this table.")
        rows.append((key, _type_name(field.annotation), _default(field), meaning))
        for sub in _models(field.annotation):
            rows += _rows(sub, key, seen)
    return rows


def _sections() -> list[tuple[str, str, list[type[BaseModel]]]]:
    """(heading, key prefix, models) for every part of labelquorum.toml."""
    from . import config

    out = []
    for name, field in config.config_model().model_fields.items():
        models = [m for m in _models(field.annotation)
                  if m.__module__.startswith("labelquorum.")]  # a plugin documents its own
        prefix = "annotators.NAME" if name == "annotators" else name
        out.append((name, prefix, models))
    return out


def config_keys() -> set[str]:
    """Every documented config key, as ``section.key`` (annotators as ``annotators.NAME.key``)."""
    keys: set[str] = set()
    for _, prefix, models in _sections():
        for model in models:
            keys |= {row[0] for row in _rows(model, prefix, set())}
    return keys


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def config_reference() -> str:
    lines = ["# Config reference", "",
             "Generated from the config models in the code (`labelquorum.config`): every key a",
             "`labelquorum.toml` may hold, its type, its default and what it does. The config is",
             "validated on load: an unknown key, a wrong type or an unknown name is an error",
             "that names the key and the valid choices.", ""]
    for section, prefix, models in _sections():
        lines += [f"## `[{prefix}]`", ""]
        for model in models:
            if len(models) > 1:
                tag = _discriminator(model)
                lines += [f"### {tag}" if tag else f"### {model.__name__}", ""]
            doc = _prose(model.__doc__)
            if doc and not doc.startswith(("A base class", "!!! abstract")):
                lines += [doc, ""]
            lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
            for key, kind, default, meaning in _rows(model, prefix, set()):
                lines.append(f"| `{key}` | {_escape(kind)} | {_escape(default)} | "
                             f"{_escape(meaning)} |")
            lines.append("")
    return "\n".join(lines)


def _discriminator(model: type[BaseModel]) -> str | None:
    for name in ("type", "backend"):
        field = model.model_fields.get(name)
        if field is not None and typing.get_origin(field.annotation) is Literal:
            values = typing.get_args(field.annotation)
            return f'`{name} = "{values[0]}"`'
    return None


def cli_commands() -> dict[str, Any]:
    """Every command of ``labelquorum`` by its full name (``user add`` included), in order:
    a group comes before its subcommands."""
    from typer.main import get_command

    from .cli import app

    out: dict[str, Any] = {}

    def walk(group, path: str) -> None:
        ctx = group.context_class(group, info_name=path)
        for name in sorted(group.list_commands(ctx)):
            cmd = group.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            full = f"{path} {name}"
            out[full] = cmd
            if hasattr(cmd, "list_commands"):  # a group: its subcommands follow it
                walk(cmd, full)

    walk(get_command(app), "labelquorum")
    return out


def cli_options(cmd) -> list[str]:
    """The names a command's arguments and options are written as on its reference."""
    names = []
    for p in cmd.params:
        if p.name == "help" or getattr(p, "hidden", False):
            continue
        if p.param_type_name == "argument":
            names.append(p.name)
        else:
            names += [*p.opts, *p.secondary_opts]
    return names


def cli_reference() -> str:
    lines = ["# Command-line reference", "",
             "Generated from the `labelquorum` command itself: every command, its arguments",
             "and its options, with the same help text as `labelquorum COMMAND --help`.",
             "Every command that works on a project takes `--project DIR` (`-p`), or works in",
             "the current directory.", ""]
    for full, cmd in cli_commands().items():
        depth = full.count(" ")
        lines += [f"{'#' * (depth + 1)} `{full}`", ""]
        help_text = (cmd.help or "").strip()
        if help_text:
            lines += [help_text.replace("\b\n", ""), ""]
        params = [p for p in cmd.params
                  if p.name != "help" and not getattr(p, "hidden", False)]
        if params:
            lines += ["| argument or option | default | help |", "| --- | --- | --- |"]
            for p in params:
                if p.param_type_name == "argument":
                    label = f"`{p.name}`"
                else:
                    label = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
                default = p.default if not callable(p.default) else None
                shown = "" if default in (None, (), []) or p.required else f"`{default}`"
                if p.required:
                    shown = "required"
                help_ = " ".join((getattr(p, "help", "") or "").split())
                lines.append(f"| {label} | {_escape(shown)} | {_escape(help_)} |")
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    which = sys.argv[1] if len(sys.argv) > 1 else "config"
    print(config_reference() if which == "config" else cli_reference())
