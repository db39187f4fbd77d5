"""Attack on issue #10: annotator names that ``decided_by`` cannot tell apart.

``decided_by`` joins annotator names with commas and says ``gold`` for seed gold; the
learning loop reads it back to tell the trainable models' own guesses from verified
labels. A name with a comma, or the name ``gold``, would be read as someone else."""

from __future__ import annotations

import pytest

import labelquorum as lq
from labelquorum.errors import ConfigError

CONFIG = """
[project]
name = "names"

[task]
labels = ["a", "b"]

[annotators.{name}]
type = "tfidf"

[annotators.llm]
type = "simulated"
accuracy = 0.9

[policy]
type = "vote-then-verify"
specialists = [{quoted}]
verifiers = ["llm"]
"""


@pytest.mark.parametrize("name", ['"tf, idf"', '"tfidf,llm"', "gold", "none"])
def test_an_annotator_name_decided_by_cannot_hold_is_refused(tmp_path, name):
    quoted = name if name.startswith('"') else f'"{name}"'
    with pytest.raises(ConfigError) as err:
        lq.init_project(tmp_path / "p", labels=[],
                        config_text=CONFIG.format(name=name, quoted=quoted))
    assert "annotator name" in str(err.value)
