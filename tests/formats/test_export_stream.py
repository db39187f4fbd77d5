"""The export is written in chunks of items straight from SQL; it must equal, byte for
byte, what the whole-project pandas export wrote (tests/formats/export_reference.py), wherever the
chunk boundaries fall: random items (unicode, commas, quotes, missing gold, a field
missing on some items), random recorded answers and people's answers."""

from __future__ import annotations

import pandas as pd
import pytest
from export_reference import reference_frame, write_reference
from format_projects import classification_config
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import labelquorum as lq
from labelquorum import export

LABELS = ["negative", "positive"]
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"),
               min_size=1, max_size=12).filter(lambda s: s.strip())
item = st.tuples(text, st.one_of(st.just(""), st.sampled_from(LABELS)),
                 st.one_of(st.none(), text))
answer = st.tuples(st.sampled_from(["small", "gpt"]), st.sampled_from(LABELS),
                   st.floats(0.05, 1).map(lambda x: round(x, 3)))
person = st.tuples(st.sampled_from(["alice", "bob", "cy"]), st.sampled_from(LABELS))
people_answers = st.lists(person, max_size=2, unique_by=lambda p: p[0])


def build(root, items, answers, people, store_url=None):
    root.mkdir(parents=True)
    rows = [(f"i{n}", a, lab, c) for n, per in enumerate(answers[:len(items)])
            for a, lab, c in per]
    rows += [("none", "small", "negative", 0.5), ("none", "gpt", "negative", 0.5)]
    pd.DataFrame(rows,
                 columns=["item", "annotator", "label", "confidence"]) \
        .to_csv(root / "recorded.csv", index=False)
    project = lq.init_project(root, config_text=classification_config(store_url=store_url))
    frame = pd.DataFrame({"id": [f"i{n}" for n in range(len(items))],
                          "text": [t for t, _, _ in items],
                          "gold": [g for _, g, _ in items],
                          "note": [n for _, _, n in items]})
    project.import_dataframe(frame)
    project.run()
    answered = 0
    for n, per in enumerate(people[:len(items)]):
        for worker, label in per:
            try:  # people answer only the items the run asked them about
                answered += project.add_judgements([{"item": f"i{n}", "annotator": "people",
                                                     "worker": worker, "label": label}])
            except lq.LabelquorumError:
                pass
    if answered:
        project.run()
    return project


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Equal values; a missing value is missing whether pandas holds it as None or NaN
    (the old export typed a column with no value at all as null, ours as its type)."""
    def plain(df):
        return df.astype(object).where(df.notna(), None)

    pd.testing.assert_frame_equal(plain(ours), plain(theirs), check_dtype=False)


@settings(max_examples=25, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(item, min_size=1, max_size=9),
       st.lists(st.lists(answer, max_size=3), max_size=9),
       st.lists(people_answers, max_size=9),
       st.integers(1, 4), st.sampled_from(["all", "none", "note", "text"]))
def test_chunked_export_equals_the_whole_frame_export(tmp_path_factory, monkeypatch, items,
                                                      answers, people, chunk, fields):
    root = tmp_path_factory.mktemp("p")
    project = build(root / "p", items, answers, people)
    monkeypatch.setattr(export, "EXPORT_CHUNK", chunk)
    for suffix in ("csv", "jsonl"):
        ours, theirs = root / f"ours.{suffix}", root / f"theirs.{suffix}"
        project.export(ours, fields=fields)
        write_reference(project, theirs, fields)
        assert ours.read_bytes() == theirs.read_bytes(), suffix
    project.export(root / "ours.parquet", fields=fields)
    write_reference(project, root / "theirs.parquet", fields)
    assert_same(pd.read_parquet(root / "ours.parquet"), pd.read_parquet(root / "theirs.parquet"))
    assert_same(project.to_dataframe(fields), reference_frame(project, fields))
    project.close()


def test_an_unknown_field_is_refused_before_anything_is_written(tmp_path):
    project = build(tmp_path / "p", [("a film", "positive", None)], [], [])
    with pytest.raises(lq.LabelquorumError, match="no item field 'nope'"):
        project.export(tmp_path / "out.csv", fields="nope")
    assert not (tmp_path / "out.csv").exists()


def test_on_postgresql_the_chunked_export_equals_the_whole_frame_export(tmp_path, monkeypatch,
                                                                        postgres_db_url):
    items = [("Ünïcödé, \"quoted\"", "positive", None), ("a film", "", "a note"),
             ("日本語のテキスト", "negative", "n"), ("dull\nand long", "", None),
             ("fine; I guess", "positive", "x")]
    answers = [[("small", "positive", 0.9), ("gpt", "positive", 0.8)],
               [("small", "negative", 0.6), ("gpt", "positive", 0.7)],
               [("gpt", "negative", 0.5)], [], [("small", "positive", 0.3)]]
    people = [[], [("alice", "negative"), ("bob", "positive")], [("cy", "negative")], [], []]
    project = build(tmp_path / "p", items, answers, people, store_url=postgres_db_url)
    monkeypatch.setattr(export, "EXPORT_CHUNK", 2)
    for fields in ("all", "none", "note"):
        for suffix in ("csv", "jsonl"):
            ours, theirs = tmp_path / f"ours.{suffix}", tmp_path / f"theirs.{suffix}"
            project.export(ours, fields=fields)
            write_reference(project, theirs, fields)
            assert ours.read_bytes() == theirs.read_bytes(), (fields, suffix)
        project.export(tmp_path / "ours.parquet", fields=fields)
        write_reference(project, tmp_path / "theirs.parquet", fields)
        assert_same(pd.read_parquet(tmp_path / "ours.parquet"),
                    pd.read_parquet(tmp_path / "theirs.parquet"))
    project.close()
