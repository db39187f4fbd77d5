"""The docs site builds with ``mkdocs build --strict`` and its reference pages hold every
config key and every command, generated from the code."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labelquorum.docgen import cli_reference, config_keys, config_reference

ROOT = Path(__file__).parent.parent


def test_the_config_reference_lists_every_key_the_config_accepts():
    page = config_reference()
    keys = config_keys()
    assert {"task.kind", "annotators.NAME.type", "policy.budget", "web.gold_rate"} <= keys
    missing = sorted(k for k in keys if f"`{k}`" not in page)
    assert not missing


def test_the_cli_reference_lists_every_command_and_option():
    page = cli_reference()
    for command in ("init", "import", "run", "status", "export", "report", "serve", "tune"):
        assert f"## `labelquorum {command}`" in page
    assert "`--budget`" in page or "`--project`" in page


def test_mkdocs_builds_strict(tmp_path):
    mkdocs = shutil.which("mkdocs", path=os.path.dirname(sys.executable)) or shutil.which("mkdocs")
    if mkdocs is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed: install the docs extra "
                        "(pip install -e '.[docs]').")
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    out = subprocess.run([mkdocs, "build", "--strict", "-d", str(tmp_path / "site")],
                         check=False, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    config_page = (tmp_path / "site" / "reference" / "config" / "index.html").read_text()
    assert "annotators.NAME.type" in config_page
    cli_page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "labelquorum run" in cli_page
