"""The public surface is explicit: every package curates ``__all__``, every name in an
``__all__`` exists, and no module imports another module's ``_private`` names."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import labelquorum

SRC = Path(labelquorum.__file__).parent


def modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages([str(SRC)], "labelquorum."))


def packages() -> list[str]:
    return ["labelquorum"] + sorted(
        m.name for m in pkgutil.walk_packages([str(SRC)], "labelquorum.") if m.ispkg)


@pytest.mark.parametrize("name", packages())
def test_every_package_curates_all(name):
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__ list"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what {name} does not have: {missing}"
    assert len(set(module.__all__)) == len(module.__all__), f"{name}.__all__ repeats a name"


@pytest.mark.parametrize("name", modules())
def test_every_name_in_a_module_all_exists(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional extra that is not installed
        if (exc.name or "").startswith("labelquorum"):
            raise
        pytest.skip(f"{name} needs {exc.name}")
    names = getattr(module, "__all__", [])
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what {name} does not have: {missing}"


def _target(path: Path, node: ast.ImportFrom) -> str | None:
    """The labelquorum module an import reads from, or None for other libraries."""
    if node.level == 0:
        mod = node.module or ""
        return mod if mod == "labelquorum" or mod.startswith("labelquorum.") else None
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    base = parts[:-1]  # the package the module (or __init__) is in
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or _target(path, node) is None:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{path.relative_to(SRC.parent)}:{node.lineno} imports "
                                 f"{alias.name} from {_target(path, node)}")
    return found


def test_no_module_imports_another_modules_private_names():
    found = private_imports()
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_the_private_import_check_sees_relative_and_absolute_imports(tmp_path):
    """The check itself: it flags both spellings (a check that sees nothing passes)."""
    pkg = SRC / "sections"
    for source in ("from .base import _hidden\n", "from labelquorum.sections.base import _x\n",
                   "from ..errors import (\n    ConfigError,\n    _y,\n)\n"):
        node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom))
        assert _target(pkg / "task.py", node) is not None
        assert any(a.name.startswith("_") for a in node.names)
    node = ast.parse("from pandas import _libs\n").body[0]
    assert _target(pkg / "task.py", node) is None
