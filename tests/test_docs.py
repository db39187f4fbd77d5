"""Docs that can drift are tested: the generated reference holds every config key with its
meaning (the attribute docstring under the key in the code) and every command and option;
the tutorials and how-to guides name only real commands and options; the README's links
into the docs site lead somewhere, and the README keeps its two commands.

The key and command lists here are walked from the code independently of
``labelquorum.docgen``, so a reference page that drops something fails.
"""

from __future__ import annotations

import re
import shlex
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.main import get_command

from labelquorum import config
from labelquorum.cli import app
from labelquorum.docgen import cli_reference, config_reference

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
TWO_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[ml]' && labelquorum demo",
    "bash .ci/run",
)


# ---------------------------------------------------------------- config keys

def _models(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _keys(model: type[BaseModel], prefix: str) -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        keys.add(f"{prefix}.{name}")
        for sub in _models(field.annotation):
            keys |= _keys(sub, f"{prefix}.{name}")
    return keys


def all_keys() -> set[str]:
    """Every key a labelquorum.toml may hold (built-ins only: a plugin documents its own)."""
    keys = set()
    for section, field in config.config_model().model_fields.items():
        prefix = "annotators.NAME" if section == "annotators" else section
        for model in _models(field.annotation):
            if model.__module__.startswith("labelquorum."):
                keys |= _keys(model, prefix)
    return keys


def reference_rows() -> list[tuple[str, str]]:
    """(key, meaning) for every row of the generated config reference's tables."""
    rows = []
    for line in config_reference().splitlines():
        m = re.match(r"^\| `([A-Za-z_.]+)` \|(.*)\|$", line)
        if m:
            cells = re.split(r"(?<!\\)\|", m.group(2))
            rows.append((m.group(1), cells[-1].strip()))
    return rows


def test_every_config_key_is_in_the_generated_reference_with_its_meaning():
    keys = all_keys()
    assert len(keys) > 100
    assert {"task.kind", "annotators.NAME.base_url", "policy.budget", "web.gold_rate",
            "quality.monitor.window", "policy.tiers.min_confidence"} <= keys
    rows = reference_rows()
    missing = sorted(keys - {key for key, _ in rows})
    assert not missing, f"keys missing from the config reference: {missing}"
    undocumented = sorted({key for key, meaning in rows if not meaning})
    assert not undocumented, (
        f"config keys without a meaning: {undocumented}; write an attribute docstring (a "
        "string literal on the line after the field) in its sections/*.py model")


def test_a_key_that_loses_its_docstring_fails_the_reference_check(monkeypatch):
    """The check above reads the docstrings: a field without one shows an empty meaning."""
    from labelquorum.sections.web import WebConfig

    field = WebConfig.model_fields["gold_rate"]
    monkeypatch.setattr(field, "description", None)
    assert ("web.gold_rate", "") in reference_rows()


# ---------------------------------------------------------------- commands

def _walk(group, path: str, out: dict) -> dict:
    ctx = group.context_class(group, info_name=path)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        out[f"{path} {name}"] = cmd
        if hasattr(cmd, "list_commands"):
            _walk(cmd, f"{path} {name}", out)
    return out


COMMANDS = _walk(get_command(app), "labelquorum", {})


def _options(cmd) -> set[str]:
    return {o for p in cmd.params if not getattr(p, "hidden", False)
            for o in [*p.opts, *getattr(p, "secondary_opts", [])] if o.startswith("-")}


def test_every_command_and_option_is_in_the_generated_cli_reference():
    assert {"labelquorum init", "labelquorum import", "labelquorum run", "labelquorum status",
            "labelquorum export", "labelquorum demo", "labelquorum user add"} <= set(COMMANDS)
    page = cli_reference()
    sections = dict(re.findall(r"^#+ `(labelquorum[^`]*)`\n(.*?)(?=^#+ `labelquorum|\Z)",
                               page, re.DOTALL | re.MULTILINE))
    for name, cmd in COMMANDS.items():
        assert name in sections, f"{name!r} is not in the CLI reference"
        for option in _options(cmd) - {"--help"}:
            assert f"`{option}`" in sections[name], f"{name} {option} is not in its reference"
        for p in cmd.params:
            if p.param_type_name == "argument":
                assert f"`{p.name}`" in sections[name], f"{name} {p.name} is not documented"


# ---------------------------------------------------------------- commands in the guides

SHELLS = {"bash", "sh", "shell", "console"}

def _command_lines(text: str) -> list[str]:
    """Every `labelquorum ...` invocation inside the page's shell code blocks."""
    out, fence, shell, lines = [], None, False, []
    for raw in text.splitlines():
        stripped = raw.strip()
        if fence is None and stripped.startswith("```"):
            fence, shell, lines = stripped[:3], stripped[3:].strip() in SHELLS, []
        elif fence is not None and stripped == fence:
            if shell:
                for line in "\n".join(lines).replace("\\\n", " ").splitlines():
                    line = line.split(" #")[0].strip().removeprefix("$ ")
                    out += [part.strip() for part in re.split(r"&&|\|\||[|;]", line)
                            if part.strip().startswith("labelquorum ")]
            fence = None
        elif fence is not None:
            lines.append(stripped)
    return out


def _check_invocation(line: str) -> str | None:
    words = shlex.split(line)
    name, i = "labelquorum", 1
    while i < len(words) and f"{name} {words[i]}" in COMMANDS:
        name, i = f"{name} {words[i]}", i + 1
    if name == "labelquorum":
        return f"{line!r}: {words[1]!r} is not a labelquorum command"
    cmd = COMMANDS[name]
    if hasattr(cmd, "list_commands"):
        return f"{line!r}: {name} needs a subcommand"
    options = _options(cmd)
    for word in words[i:]:
        option = word.split("=")[0]
        if option.startswith("-") and option not in options | {"--help"}:
            return f"{line!r}: {name} has no option {option!r}"
    return None


GUIDES = sorted([*DOCS.glob("tutorials/**/*.md"), *DOCS.glob("how-to/**/*.md"),
                 DOCS / "index.md", ROOT / "README.md"])


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_in_tutorials_and_how_to_guides_are_real(page):
    errors = [e for line in _command_lines(page.read_text())
              if (e := _check_invocation(line)) is not None]
    assert not errors


def test_the_guides_check_finds_a_wrong_command_and_a_wrong_option():
    assert _check_invocation("labelquorum frobnicate") is not None
    assert _check_invocation("labelquorum run --no-such-flag") is not None
    assert _check_invocation("labelquorum user add bob --role reviewer") is None
    assert _command_lines("```bash\npip install x && labelquorum demo  # go\n```\n") == [
        "labelquorum demo"]
    assert sum(len(_command_lines(p.read_text())) for p in GUIDES) > 20


# ---------------------------------------------------------------- the README

def _slug(heading: str) -> str:
    text = re.sub(r"[`*]", "", heading).strip().lower()
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", text))


def test_the_readme_links_into_the_docs_site_and_none_is_dead():
    links = re.findall(r"\]\((docs/[^)\s]+)\)", README)
    assert len(links) >= 20
    assert "docs/reference/config.md" in {link.split("#")[0] for link in links}
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.is_file(), f"README links to {path}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.MULTILINE)
            assert anchor in {_slug(h) for h in headings}, f"no #{anchor} in {path}"


def test_the_readme_keeps_its_two_commands_and_stays_short():
    for command in TWO_COMMANDS:
        assert command in README
    assert len(README.splitlines()) < 200
