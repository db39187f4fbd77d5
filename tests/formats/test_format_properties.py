"""Attacking the formats with generated input (Hypothesis): IOB2 tags survive CoNLL
import and tagging back; any Label Studio answers come back as the same judgements; any
field names survive export next to the usual columns."""

import json
import string

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labelquorum as lq
from labelquorum.export import COLUMNS, FIELD_PREFIX
from labelquorum.formats import conll
from labelquorum.spans import spans_to_tags
from labelquorum.task import Task

TYPES = ("PER", "ORG", "LOC")
TASK = Task("spans", TYPES, ("",) * 3, "", ("text",), "text")
token = st.text(string.ascii_letters + string.digits + ".,;:()-'&$%", min_size=1, max_size=8)


@st.composite
def iob2_sentence(draw):
    tokens = draw(st.lists(token, min_size=1, max_size=15))
    tags, previous = [], "O"
    for _ in tokens:
        choice = draw(st.sampled_from(["O", "B", "I"] if previous != "O" else ["O", "B"]))
        tags.append("O" if choice == "O" else f"B-{draw(st.sampled_from(TYPES))}"
                    if choice == "B" else "I-" + previous[2:])
        previous = tags[-1]
    return tokens, tags


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(iob2_sentence(), min_size=1, max_size=6))
def test_iob2_tags_survive_conll_import_and_tagging_back(tmp_path_factory, sentences):
    path = tmp_path_factory.mktemp("c") / "s.conll"
    path.write_text("".join("".join(f"{t} {g}\n" for t, g in zip(toks, tags)) + "\n"
                            for toks, tags in sentences))
    rows = conll.read(path, TASK)
    assert len(rows) == len(sentences)
    for row, (toks, tags) in zip(rows.to_dict("records"), sentences):
        assert row["tokens"] == toks
        words, offsets = conll.token_offsets(row, row["text"])
        assert words == toks
        spans = TASK.parse_label(row["entities"], text=row["text"])
        assert spans_to_tags(offsets, spans) == tags


LABELS = ["negative", "positive"]
answer = st.tuples(st.sampled_from(["human", "model"]),
                   st.sampled_from(["ann", "bo", "7", "cy@example.org", "m1", "m2"]),
                   st.sampled_from(LABELS),
                   st.one_of(st.none(), st.floats(0, 1).map(lambda x: round(x, 6))))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(answer, max_size=5), min_size=1, max_size=5))
def test_label_studio_answers_come_back_as_the_same_judgements(tmp_path_factory, per_task):
    tmp = tmp_path_factory.mktemp("ls")
    tasks = []
    for n, answers in enumerate(per_task):
        anns = [{"completed_by": who, "result": [{"type": "choices", "value": {"choices": [lab]}}],
                 **({} if score is None else {"score": score})}
                for kind, who, lab, score in answers if kind == "human"]
        preds = [{"model_version": who, "result": [{"type": "choices",
                                                    "value": {"choices": [lab]}}],
                  **({} if score is None else {"score": score})}
                 for kind, who, lab, score in answers if kind == "model"]
        tasks.append({"id": n, "data": {"text": f"item {n}"}, "annotations": anns,
                      "predictions": preds})
    (tmp / "in.json").write_text(json.dumps(tasks))
    first = lq.init_project(tmp / "a", labels=LABELS)
    first.import_file(tmp / "in.json")
    first.export(tmp / "out.json")
    second = lq.init_project(tmp / "b", labels=LABELS)
    second.import_file(tmp / "out.json")

    def table(p):
        j = p.judgements()[["item", "annotator", "annotator_kind", "label", "confidence"]]
        return sorted(tuple(-1.0 if pd.isna(v) else v for v in r)  # -1: no confidence
                      for r in j.itertuples(index=False))

    expected = sorted((str(n), f"people:{who}" if kind == "human" else who,
                       "human" if kind == "human" else "model", lab,
                       -1.0 if score is None else score)
                      for n, answers in enumerate(per_task)
                      for kind, who, lab, score in answers)
    assert table(first) == expected
    assert table(second) == expected


field_name = st.one_of(st.sampled_from(COLUMNS),
                       st.text(string.ascii_lowercase + "_", min_size=1, max_size=6))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(field_name, min_size=1, max_size=6, unique=True))
def test_any_field_names_are_exported_next_to_the_usual_columns(tmp_path_factory, names):
    names = [n for n in names if n not in ("text", "id", "gold", "label")]
    tmp = tmp_path_factory.mktemp("f")
    p = lq.init_project(tmp / "p", labels=LABELS)
    row = {"text": "a film", **{n: f"value of {n}" for n in names}}
    p.import_dataframe(pd.DataFrame([row]))
    p.export(tmp / "out.jsonl")
    out = json.loads((tmp / "out.jsonl").read_text())
    assert list(out)[:len(COLUMNS)] == COLUMNS
    for n in names:
        key = FIELD_PREFIX + n if n in COLUMNS else n
        assert out[key] == f"value of {n}"
