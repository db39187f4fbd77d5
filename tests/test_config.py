"""The config is validated on load; errors name the key, the expectation and the choices."""

import copy

import pytest

from labelquorum.config import load_config, parse_config
from labelquorum.errors import ConfigError

BASE = {
    "task": {"kind": "classification", "labels": ["negative", "positive"]},
    "annotators": {"tfidf": {"type": "tfidf"}, "vader": {"type": "vader"}},
    "policy": {"type": "cascade", "tiers": [{"annotators": ["tfidf", "vader"]}]},
}


def with_(path, value):
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def test_valid_config_loads_with_defaults():
    cfg = parse_config(BASE)
    assert cfg.task.label_names == ["negative", "positive"]
    assert cfg.policy.aggregator == "weighted"
    assert cfg.policy_annotators == ["tfidf", "vader"]


def test_missing_annotator_fails_at_load_naming_key_and_choices():
    data = with_(["policy", "tiers"], [{"annotators": ["tfidf", "vadr"]}])
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    msg = str(exc.value)
    assert "policy.tiers[0].annotators" in msg
    assert "'vadr'" in msg and "tfidf, vader" in msg and "Did you mean 'vader'" in msg


def test_unknown_annotator_type_lists_valid_types():
    data = with_(["annotators", "tfidf"], {"type": "tfdif"})
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    msg = str(exc.value)
    assert "annotators.tfidf.type" in msg and "'tfdif'" in msg
    assert "tfidf, embedding, vader, rules, replay, simulated, human" in msg


def test_unknown_policy_type_lists_valid_types():
    with pytest.raises(ConfigError, match="valid types: cascade, vote-then-verify, chain"):
        parse_config(with_(["policy"], {"type": "waterfall", "tiers": []}))


def test_wrong_value_type_names_key_expected_and_found():
    with pytest.raises(ConfigError) as exc:
        parse_config(with_(["policy", "tiers"], [{"annotators": ["tfidf"], "min_confidence": 2}]))
    msg = str(exc.value)
    assert "policy.tiers[0].min_confidence" in msg and "found 2" in msg and "1" in msg


def test_unknown_setting_is_refused():
    with pytest.raises(ConfigError, match="annotators.tfidf.max_feature: is not a known setting"):
        parse_config(with_(["annotators", "tfidf"], {"type": "tfidf", "max_feature": 10}))


def test_task_kind_choices_are_listed():
    # every registered kind is named (free-text among them; the other new kinds may follow)
    with pytest.raises(ConfigError, match="task.kind: expected one of 'classification', "
                       "'multilabel', 'spans'.* or '[a-z-]+'; found 'regression'") as err:
        parse_config(with_(["task", "kind"], "regression"))
    assert "'free-text'" in str(err.value)


def test_label_references_are_checked():
    data = with_(["annotators", "vader"], {"type": "vader", "ranges": {"postive": [0.05, 1.0]}})
    with pytest.raises(ConfigError, match=r"annotators.vader.ranges.postive.*Did you mean 'positive'"):
        parse_config(data)
    data = with_(["annotators", "rules"], {"type": "rules", "rules": [{"label": "neutral",
                                                                       "keywords": ["ok"]}]})
    with pytest.raises(ConfigError, match=r"annotators.rules.rules\[0\].label"):
        parse_config(data)


def test_bad_regex_and_noise_model_are_explained():
    data = with_(["annotators", "r"], {"type": "rules", "rules": [{"label": "positive",
                                                                   "pattern": "(unclosed"}]})
    with pytest.raises(ConfigError, match="not a valid regex"):
        parse_config(data)
    data = with_(["annotators", "s"], {"type": "simulated"})
    with pytest.raises(ConfigError, match="exactly one noise model"):
        parse_config(data)


def test_duplicate_labels_and_too_few_labels():
    with pytest.raises(ConfigError, match="repeated: a"):
        parse_config(with_(["task", "labels"], ["a", "a", "b"]))
    with pytest.raises(ConfigError, match="task.labels"):
        parse_config(with_(["task", "labels"], ["only"]))


def test_vader_refuses_multilabel_tasks():
    with pytest.raises(ConfigError, match="vader labels classification tasks only"):
        parse_config(with_(["task", "kind"], "multilabel"))


def test_load_config_reports_toml_syntax_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="labelquorum init"):
        load_config(tmp_path / "labelquorum.toml")
    bad = tmp_path / "labelquorum.toml"
    bad.write_text("[task\nkind = 'x'")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
