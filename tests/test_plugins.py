"""Extension points: a third-party package adds an annotator, a policy, an aggregator and a
task kind by entry point alone, and a project uses all four through the CLI.

The package (tests/plugin_pkg) is installed the way an installer lays it out (the package
next to a ``.dist-info`` with the entry points of its pyproject.toml) into a temporary
directory put on ``PYTHONPATH``: offline, and without the ``wheel`` package pip would need.
"""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

PLUGIN_SRC = Path(__file__).parent / "plugin_pkg"


def install(target: Path, name: str, version: str, entry_points: dict[str, dict[str, str]],
            package: Path | None = None) -> Path:
    """Lay out an installed distribution: its package and NAME-VERSION.dist-info."""
    target.mkdir(parents=True, exist_ok=True)
    if package is not None:
        shutil.copytree(package, target / package.name)
    info = target / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return target


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    meta = tomllib.loads((PLUGIN_SRC / "pyproject.toml").read_text())["project"]
    return install(tmp_path_factory.mktemp("site"), meta["name"], meta["version"],
                   meta["entry-points"], PLUGIN_SRC / "lq_example_plugin")


def lq(*args, path: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(path), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, "-m", "labelquorum.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"labelquorum {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


CONFIG = """
[project]
name = "plugged"

[task]
kind = "yes-no"
labels = ["flag", "ok"]

[annotators.length]
type = "length"
threshold = 12
short = "flag"
long = "ok"

[annotators.words]
type = "rules"
rules = [{ label = "flag", keywords = ["spam"] }, { label = "ok", keywords = ["fine"] }]

[policy]
type = "ask-all"
annotators = ["length", "words"]
aggregator = "veto"
"""

ITEMS = {"a": "short", "b": "a long and fine sentence", "c": "long text with spam in it",
         "d": "another long sentence", "e": "spam"}
# veto: "flag" as soon as one annotator says so; "length" flags texts under 12 characters,
# "words" flags texts that mention spam
EXPECTED = {"a": "flag", "b": "ok", "c": "flag", "d": "ok", "e": "flag"}


def make_project(tmp_path: Path, path: Path | None, config: str = CONFIG) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "labelquorum.toml").write_text(config)
    items = tmp_path / "items.csv"
    pd.DataFrame({"id": list(ITEMS), "text": list(ITEMS.values())}).to_csv(items, index=False)
    return proj, items


def test_a_plugin_package_adds_all_four_kinds_by_entry_point(tmp_path, plugin_path):
    proj, items = make_project(tmp_path, plugin_path)
    lq("import", items, "--project", proj, "--id-column", "id", path=plugin_path)
    plan = lq("plan", "--project", proj, path=plugin_path).stdout
    assert "length" in plan and "words" in plan, plan  # the plan shows whom it asks
    lq("run", "--project", proj, path=plugin_path)
    out = tmp_path / "labels.csv"
    lq("export", out, "--project", proj, path=plugin_path)
    labels = pd.read_csv(out).set_index("id")["label"].to_dict()
    assert labels == EXPECTED


def test_without_the_plugin_the_config_names_what_is_missing(tmp_path):
    proj, items = make_project(tmp_path, None)
    proc = lq("import", items, "--project", proj, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "task.kind: expected one of 'classification', 'multilabel', 'spans', 'rating', 'free-text' or 'pairwise'; found " \
        "'yes-no'" in proc.stderr


def test_a_plugin_config_refuses_unknown_keys(tmp_path, plugin_path):
    proj, items = make_project(tmp_path, plugin_path,
                               CONFIG.replace("threshold = 12", "threshold = 12\nthreshhold = 3"))
    proc = lq("import", items, "--project", proj, path=plugin_path, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "annotators.length.threshhold" in proc.stderr
    assert "not a known setting" in proc.stderr


def test_a_plugin_task_kind_check_runs_on_load(tmp_path, plugin_path):
    proj, items = make_project(tmp_path, plugin_path,
                               CONFIG.replace('labels = ["flag", "ok"]',
                                              'labels = ["flag", "ok", "maybe"]'))
    proc = lq("import", items, "--project", proj, path=plugin_path, check=False)
    assert proc.returncode == 1
    assert "a yes-no task has exactly two labels; found 3" in proc.stderr


def test_a_plugin_aggregator_is_offered_to_the_aggregate_command(tmp_path, plugin_path):
    answers = tmp_path / "answers.csv"
    pd.DataFrame({"item": ["x", "x", "y", "y"], "annotator": ["p", "q", "p", "q"],
                  "label": ["ok", "flag", "ok", "ok"]}).to_csv(answers, index=False)
    out = tmp_path / "agg.csv"
    lq("aggregate", answers, "--method", "veto", "-o", out, path=plugin_path)
    assert pd.read_csv(out).set_index("item")["label"].to_dict() == {"x": "flag", "y": "ok"}


def test_the_plugins_command_lists_what_each_package_adds(plugin_path):
    proc = lq("plugins", path=plugin_path)
    for group, name in [("annotators", "length"), ("policies", "ask-all"),
                        ("aggregators", "veto"), ("task_kinds", "yes-no")]:
        line = next((ln for ln in proc.stdout.splitlines() if f" {name} " in f" {ln} "), "")
        assert "lq-example-plugin" in line, proc.stdout
    assert "tfidf" in proc.stdout and "built-in" in proc.stdout


def test_a_broken_plugin_names_its_package_and_entry_point(tmp_path, plugin_path):
    site = tmp_path / "site"
    shutil.copytree(plugin_path, site)
    install(site, "lq-broken", "1.0", {"labelquorum.annotators": {
        "broken": "lq_does_not_exist:THING"}})
    proj, items = make_project(tmp_path, site, CONFIG.replace('type = "length"',
                                                              'type = "broken"'))
    proc = lq("import", items, "--project", proj, path=site, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "lq-broken" in proc.stderr and "broken = lq_does_not_exist:THING" in proc.stderr
    # a project that does not use it still works, and `import labelquorum` never fails
    proj2 = tmp_path / "fine"
    lq("init", proj2, "--labels", "a,b", path=site)
    lq("status", "--project", proj2, path=site)
