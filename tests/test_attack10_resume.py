"""Attack on issue #10: a run killed at other points of the learning loop than right after
a refit resumes to the uninterrupted run's export."""

from __future__ import annotations

import pytest
from test_learning import _labels, make

import labelquorum as lq
from labelquorum.engine import learning
from labelquorum.engine.learning import refits


class Killed(Exception):
    pass


def _kill_at(monkeypatch, target: str, n: int):
    real = getattr(learning, target) if target == "fit_one" else getattr(learning.Learner,
                                                                         target)
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise Killed(f"killed in call {n} of {target}")
        return real(*args, **kwargs)

    if target == "fit_one":
        monkeypatch.setattr(learning, "fit_one", dying)
    else:
        monkeypatch.setattr(learning.Learner, target, dying)
    return lambda: (monkeypatch.setattr(learning, "fit_one", real) if target == "fit_one"
                    else monkeypatch.setattr(learning.Learner, target, real))


# two specialists, refits every 20 verified labels: several refits, some kept back
KW = {"every": 20, "specialists": ("tfidf", "words")}


@pytest.mark.parametrize("target,n", [("fit_one", 3),
                                      ("_score", 4)])
def test_killed_inside_a_refit_resumes_to_the_same_export(tmp_path, monkeypatch, target, n):
    whole = make(tmp_path, "whole", **KW)
    whole.run()
    expected = _labels(whole)
    project = make(tmp_path, "killed", **KW)
    restore = _kill_at(monkeypatch, target, n)
    with pytest.raises(Killed):
        project.run()
    restore()
    report = lq.open_project(tmp_path / "killed").run()
    assert report.resumed
    got = _labels(project)
    differ = {k for k in expected if expected[k] != got.get(k)}
    assert not differ, f"{len(differ)} labels differ from the uninterrupted run"
    first = [(r["annotator"], r["version"], r["promoted"]) for r in refits(whole.store)]
    again = [(r["annotator"], r["version"], r["promoted"]) for r in refits(project.store)]
    assert again == first
