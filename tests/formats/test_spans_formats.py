"""CoNLL-2003 / IOB2 and spaCy DocBin for spans tasks: the CoNLL export of the bundled
sample equals its source, and a DocBin read back by spaCy holds the same entities."""

from pathlib import Path

import pytest

import labelquorum as lq
from labelquorum.errors import ExportError, ImportDataError

FIXTURES = Path(__file__).parent.parent / "fixtures"
CONLL = FIXTURES / "conll_small.conll"
TYPES = ["PER", "ORG", "LOC", "MISC"]


def spans_project(root: Path, accuracy: float = 1.0) -> lq.Project:
    labels = "\n".join(f'[[task.labels]]\nname = "{t}"\n' for t in TYPES)
    return lq.init_project(root, config_text=f"""
[project]
name = "ner"
[task]
kind = "spans"
{labels}
[annotators.oracle]
type = "simulated"
accuracy = {accuracy}
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["oracle"]
""")


def test_conll_import_reads_sentences_tokens_and_gold_spans(tmp_path):
    project = spans_project(tmp_path / "p")
    result = project.import_file(CONLL)
    assert (result.items, result.with_gold) == (6, 6)  # a repeated sentence is kept
    df = project.to_dataframe(fields="all").set_index("id")
    first = df.loc["conll_small:2"]
    assert first["text"] == "Maria Okafor scored twice in Lisbon on Sunday ."
    assert first["gold"] == '[[0,12,"PER"],[29,35,"LOC"]]'
    # adjacent entities of one type stay two (IOB2 B- B-)
    assert df.loc["conll_small:4", "gold"] == '[[0,6,"PER"],[7,13,"PER"],[16,20,"LOC"]]'


def test_conll_export_of_the_sample_equals_its_source(tmp_path):
    project = spans_project(tmp_path / "p")
    project.import_file(CONLL)
    project.run()
    out = tmp_path / "out.conll"
    assert project.export(out) == 6
    assert out.read_text(encoding="utf-8") == CONLL.read_text(encoding="utf-8")


def test_conll_export_tags_the_final_labels(tmp_path):
    project = spans_project(tmp_path / "p", accuracy=0.01)  # gets nearly every entity wrong
    project.import_file(CONLL)
    project.run()
    project.export(tmp_path / "out.conll")
    assert (tmp_path / "out.conll").read_text() != CONLL.read_text()
    again = spans_project(tmp_path / "q")
    again.import_file(tmp_path / "out.conll")  # its gold is what the tags say
    assert again.to_dataframe()["gold"].tolist() == project.to_dataframe()["label"].tolist()


def test_conll_of_plain_text_items_tokenizes_them(tmp_path):
    project = spans_project(tmp_path / "p")
    project.import_file(FIXTURES / "ner_small.jsonl")
    project.run()
    project.export(tmp_path / "out.conll")
    lines = (tmp_path / "out.conll").read_text().split("\n\n")[0].splitlines()
    assert lines[:3] == ["Angela B-PER", "Merkel I-PER", "met O"]


@pytest.mark.parametrize("content, message", [
    ("EU NNP B-NP B-ORG\nrejects VBZ B-VP X-ORG\n", "line 2.*tag 'X-ORG'"),
    ("EU NNP B-NP B-DATE\n", "line 1.*'DATE' is not in the task's label set"),
])
def test_bad_conll_names_the_line(tmp_path, content, message):
    project = spans_project(tmp_path / "p")
    path = tmp_path / "bad.conll"
    path.write_text(content)
    with pytest.raises(ImportDataError, match=message):
        project.import_file(path)
    assert len(project.to_dataframe()) == 0


def test_conll_needs_a_spans_task(tmp_path):
    project = lq.init_project(tmp_path / "c", labels=["a", "b"])
    with pytest.raises(ImportDataError, match="spans task"):
        project.import_file(CONLL)
    with pytest.raises(ExportError, match="spans task"):
        project.export(tmp_path / "x.conll")


def test_docbin_round_trip_through_spacy_gives_the_same_entities(tmp_path):
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import DocBin

    project = spans_project(tmp_path / "p")
    project.import_file(FIXTURES / "ner_small.jsonl")
    project.import_file(CONLL)
    project.run()
    out = tmp_path / "out.spacy"
    assert project.export(out) == 14
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    labels = dict(zip(project.to_dataframe()["id"], project.to_dataframe()["label"]))
    for doc in docs:
        got = [[e.start_char, e.end_char, e.label_] for e in doc.ents]
        assert got == [list(s) for s in project.task.parse_label(labels[doc.user_data["id"]])]
    assert docs[8].text == "RIVERTON BEAT HOLLOWAY IN LEAGUE OPENER ."
    again = spans_project(tmp_path / "q")
    again.import_file(out)
    assert again.gold_labels() == {i: project.task.parse_label(v) for i, v in labels.items()}
