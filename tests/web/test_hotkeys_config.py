"""Label hotkeys are checked when the config loads: a label whose key the page keeps for
itself, or shares with another label, could never be chosen by keyboard."""

import pytest

from labelquorum.config import parse_config
from labelquorum.errors import ConfigError


def _config(*labels):
    return {"task": {"labels": list(labels)},
            "annotators": {"people": {"type": "human"}},
            "policy": {"type": "cascade", "tiers": [{"annotators": ["people"]}]}}


@pytest.mark.parametrize(("labels", "words"), [
    ([{"name": "urgent", "hotkey": "u"}, "other"], ["'urgent'", "'u'", "undo"]),
    ([{"name": "spam", "hotkey": "S"}, "ham"], ["'spam'", "'S'", "skip"]),
    ([{"name": "yes", "hotkey": "Enter"}, "no"], ["'yes'", "'Enter'", "one printable"]),
    ([{"name": "yes", "hotkey": " "}, "no"], ["'yes'", "one printable"]),
    ([{"name": "a", "hotkey": "x"}, {"name": "b", "hotkey": "X"}], ["'a'", "'b'", "'x'"]),
    # label 3 has no hotkey, so it takes 3; 'first' asks for 3 too
    ([{"name": "first", "hotkey": "3"}, "second", "third"], ["'first'", "'third'", "'3'"]),
])
def test_a_hotkey_that_cannot_work_is_refused_naming_the_key_and_labels(labels, words):
    with pytest.raises(ConfigError) as info:
        parse_config(_config(*labels))
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert "Traceback" not in message


def test_hotkeys_that_work_are_accepted():
    cfg = parse_config(_config({"name": "pos", "hotkey": "p"}, {"name": "neg", "hotkey": "n"},
                               {"name": "mixed", "hotkey": "3"}, "unsure"))
    assert [lab.hotkey for lab in cfg.task.labels] == ["p", "n", "3", None]  # unsure: 4
    # more than nine labels: the tenth and later have no key but are buttons the keyboard
    # reaches with Tab (test_annotate_page.py)
    parse_config(_config(*[f"l{i}" for i in range(12)]))
