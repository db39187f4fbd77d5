"""Docs that can drift are tested: every config key and every command is in the README."""

import re
import typing
from pathlib import Path

from pydantic import BaseModel
from typer.main import get_command

from labelquorum import config
from labelquorum.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text()


def _keys(model: type[BaseModel], prefix: str) -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}"
        keys.add(key)
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            inner = typing.get_args(arg) or (arg,)
            for sub in inner:
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    keys |= _keys(sub, key)
    return keys


def all_keys() -> set[str]:
    keys = set()
    for section, model in [("project", config.ProjectSection), ("store", config.StoreConfig),
                           ("run", config.RunSection),
                           ("task", config.TaskConfig),
                           ("web", config.WebConfig), ("quality", config.QualityConfig)]:
        keys |= _keys(model, section)
    for model in config.annotator_models():
        if model.__module__.startswith("labelquorum."):  # a plugin documents its own
            keys |= _keys(model, "annotators.NAME")
    for model in config.policy_models():
        if model.__module__.startswith("labelquorum."):
            keys |= _keys(model, "policy")
    return keys


def test_every_config_key_is_in_the_readme_reference():
    documented = set(re.findall(r"`([a-z_]+(?:\.[A-Za-z_]+)+)`", README))
    missing = sorted(all_keys() - documented)
    assert not missing, f"undocumented config keys: {missing}"
    assert len(all_keys()) > 40


def test_every_command_is_in_the_readme():
    commands = get_command(app).commands
    assert {"init", "import", "run", "status", "export", "demo"} <= set(commands)
    for name in commands:
        assert f"labelquorum {name}" in README, f"command {name!r} is not in the README"
