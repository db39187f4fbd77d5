"""The registries behind the config schema: what Python and entry points add is what the
config takes, and whatever a plugin gets wrong comes back as a sentence naming it."""

import os
import subprocess
import sys
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_plugins import install

from labelquorum import plugins
from labelquorum.annotators import Annotator, Answers
from labelquorum.config import parse_config
from labelquorum.errors import ConfigError, PluginError
from labelquorum.plugins import AggregatorType, AnnotatorBase, AnnotatorType, Registry


class EchoConfig(AnnotatorBase):
    type: Literal["echo"]
    answer: str


class EchoAnnotator(Annotator):
    kind = "rules"

    def predict(self, items):
        return Answers([self.config.answer] * len(items))


ECHO = AnnotatorType(config=EchoConfig, factory=EchoAnnotator, value_types=("class",))


def config(**annotator) -> dict:
    return {"task": {"labels": ["a", "b"]}, "annotators": {"x": annotator},
            "policy": {"type": "cascade", "tiers": [{"annotators": ["x"]}]}}


@pytest.fixture
def echo():
    plugins.register(ECHO)
    yield ECHO
    plugins.annotators.unregister("echo")


def test_a_registered_annotator_type_is_taken_by_the_config_and_checked_strictly(echo):
    cfg = parse_config(config(type="echo", answer="a"))
    assert isinstance(cfg.annotators["x"], EchoConfig)
    with pytest.raises(ConfigError, match=r"annotators\.x\.anwser: is not a known setting"):
        parse_config(config(type="echo", answer="a", anwser="b"))
    with pytest.raises(ConfigError, match=r"annotators\.x\.answer: is required"):
        parse_config(config(type="echo"))


def test_an_unregistered_type_is_refused_again_with_the_valid_types():
    plugins.register(ECHO)
    parse_config(config(type="echo", answer="a"))
    plugins.annotators.unregister("echo")
    with pytest.raises(ConfigError, match="unknown type 'echo'; valid types: tfidf, embedding"):
        parse_config(config(type="echo", answer="a"))


def test_a_type_that_cannot_label_the_task_kind_is_refused(echo):
    cfg = config(type="echo", answer="a")
    cfg["task"]["kind"] = "spans"
    with pytest.raises(ConfigError, match="a echo annotator labels whole items, not spans"):
        parse_config(cfg)
    cfg["task"]["kind"] = "multilabel"
    with pytest.raises(ConfigError, match="cannot label a multilabel task; use one of: tfidf"):
        parse_config(cfg)


def test_a_name_is_registered_once(echo):
    with pytest.raises(PluginError, match="'echo' is already registered by python"):
        plugins.register(ECHO)
    with pytest.raises(PluginError, match="'tfidf' is already registered by built-in"):
        plugins.register(plugins.annotators.get("tfidf"))


def test_a_spec_without_a_strict_typed_config_is_refused_when_made():
    class Loose(AnnotatorBase):
        answer: str

    with pytest.raises(TypeError, match=r"needs a field 'type: Literal\[\"name\"\]'"):
        AnnotatorType(config=Loose, factory=EchoAnnotator)
    with pytest.raises(TypeError, match="must subclass labelquorum.plugins.AnnotatorBase"):
        AnnotatorType(config=dict, factory=EchoAnnotator)
    with pytest.raises(TypeError, match="value_types"):
        AnnotatorType(config=EchoConfig, factory=EchoAnnotator, value_types=("ratings",))


def test_an_aggregator_serves_only_the_kinds_it_names():
    plugins.register(AggregatorType("first", "builtins:max", task_kinds=("multilabel",)))
    try:
        cfg = config(type="rules", rules=[{"label": "a", "keywords": ["x"]}])
        cfg["policy"]["aggregator"] = "first"
        with pytest.raises(ConfigError, match="aggregator 'first' works on multilabel tasks; "
                                              "use 'majority' or 'weighted' for classification, "
                                              "spans, rating, free-text and pairwise"):
            parse_config(cfg)
        cfg["policy"]["aggregator"] = "firts"
        with pytest.raises(ConfigError, match="Did you mean 'first'"):
            parse_config(cfg)
    finally:
        plugins.aggregators.unregister("first")


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_any_unknown_type_gets_a_sentence_listing_every_registered_type(name):
    if name in plugins.annotators.names():
        return
    with pytest.raises(ConfigError) as err:
        parse_config(config(type=name))
    message = str(err.value)
    assert message.startswith("annotators.x.type: unknown type")
    assert all(t in message for t in plugins.annotators.names())


def test_entry_points_that_are_wrong_are_set_aside_with_their_package_named(
        tmp_path, monkeypatch):
    (tmp_path / "lq_wrong.py").write_text(
        "from labelquorum.plugins import annotators\n"
        "TFIDF = annotators.get('tfidf')\n"
        "NOT_A_SPEC = 'tfidf'\n"
        "from labelquorum.builtins import ANNOTATORS\n"
        "RULES = ANNOTATORS[3]\n")
    install(tmp_path, "lq-wrong", "2.0", {"labelquorum.annotators": {
        "tfidf": "lq_wrong:TFIDF", "thing": "lq_wrong:NOT_A_SPEC",
        "renamed": "lq_wrong:RULES", "missing": "lq_wrong:NOWHERE"}})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("annotator type", "types", "labelquorum.annotators", AnnotatorType,
                        "labelquorum.builtins:ANNOTATORS")
    assert registry.names() == plugins.annotators.builtin_names()  # none of them loaded
    failures = {str(f) for f in registry.failures()}
    assert len(failures) == 4
    assert all("the plugin lq-wrong (entry point" in f for f in failures)
    assert any("'tfidf' is already registered by built-in" in f for f in failures)
    assert any("names a str, not a labelquorum.plugins.AnnotatorType" in f for f in failures)
    assert any("names the annotator type 'rules'" in f for f in failures)
    assert any("AttributeError" in f and "pip uninstall lq-wrong" in f for f in failures)
    with pytest.raises(PluginError, match="missing = lq_wrong:NOWHERE"):
        registry.get("missing")


def test_importing_labelquorum_and_its_cli_reads_no_entry_point(tmp_path):
    install(tmp_path, "lq-broken", "1.0", {"labelquorum.annotators": {"x": "nowhere:X"}})
    code = ("import labelquorum, labelquorum.cli, labelquorum.annotators, labelquorum.policies\n"
            "from labelquorum import plugins\n"
            "print([name for name, r in plugins.REGISTRIES.items() if r.loaded])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(tmp_path), os.environ.get("PYTHONPATH", "")])}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_task_kind_whose_check_breaks_is_named_with_its_origin():
    def check(task):
        return task.labels[5]  # a plugin's bug: IndexError

    plugins.register(plugins.TaskKind("buggy", "class", check=check))
    try:
        cfg = config(type="rules", rules=[{"label": "a", "keywords": ["x"]}])
        cfg["task"]["kind"] = "buggy"
        with pytest.raises(PluginError, match="the check of task kind 'buggy' .from python. "
                                              "failed: IndexError"):
            parse_config(cfg)
    finally:
        plugins.task_kinds.unregister("buggy")
