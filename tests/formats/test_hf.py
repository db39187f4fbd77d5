"""Hugging Face ``datasets`` in and out: ``save_to_disk`` directories and Dataset objects,
ClassLabel features as label names, types kept both ways. Never touches the hub."""

import os

import pytest
from format_projects import classification_config

import labelquorum as lq
from labelquorum.errors import ImportDataError

os.environ["HF_DATASETS_OFFLINE"] = "1"
datasets = pytest.importorskip("datasets")
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

LABELS = ["negative", "positive"]
FEATURES = Features({"text": Value("string"), "stars": Value("int64"),
                     "weight": Value("float64"), "verified": Value("bool"),
                     "gold": ClassLabel(names=LABELS)})
ROWS = {"text": ["great", "poor", "okay", "superb"], "stars": [5, 1, 3, 5],
        "weight": [0.25, 1.5, -2.0, 1e-3], "verified": [True, False, True, False],
        "gold": [1, 0, None, 1]}


def project(root, kind="classification", labels=LABELS):
    root.mkdir(parents=True)
    (root / "recorded.csv").write_text("item,annotator,label\n")
    return lq.init_project(root, config_text=classification_config(labels, kind))


def test_a_dataset_object_imports_with_class_names_as_gold(tmp_path):
    p = project(tmp_path / "p")
    result = p.import_items(Dataset.from_dict(ROWS, features=FEATURES))
    assert (result.items, result.with_gold) == (4, 3)
    df = p.to_dataframe(fields="all")
    assert df["gold"].tolist()[:2] == ["positive", "negative"]
    assert df["stars"].tolist() == [5, 1, 3, 5] and df["verified"].tolist()[0] is True


def test_a_dataset_dict_keeps_each_rows_split(tmp_path):
    p = project(tmp_path / "p")
    ds = Dataset.from_dict(ROWS, features=FEATURES)
    p.import_items(DatasetDict({"train": ds.select([0, 1]), "test": ds.select([2, 3])}))
    assert p.to_dataframe(fields="all")["split"].tolist() == ["train", "train", "test", "test"]


def test_round_trip_through_save_to_disk_keeps_types_and_class_labels(tmp_path):
    p = project(tmp_path / "p")
    Dataset.from_dict(ROWS, features=FEATURES).save_to_disk(str(tmp_path / "src"))
    assert p.import_file(tmp_path / "src").items == 4  # a directory is a dataset
    assert p.export(tmp_path / "out", format="hf") == 4
    back = datasets.load_from_disk(str(tmp_path / "out"))
    for name in ("text", "stars", "weight", "verified"):
        assert back.features[name] == FEATURES[name], name
        assert back[name] == ROWS[name]
    assert back.features["gold"] == ClassLabel(names=LABELS)
    assert back.features["label"] == ClassLabel(names=LABELS)
    assert back["gold"] == ROWS["gold"]
    assert back["label"] == [None] * 4  # nothing decided yet
    again = project(tmp_path / "q")
    again.import_file(tmp_path / "out")
    assert again.gold_labels() == p.gold_labels()
    a, b = (x.to_dataframe(fields="all") for x in (p, again))
    for name in ("text", "stars", "weight", "verified"):
        assert a[name].tolist() == b[name].tolist()
        assert [type(v) for v in a[name]] == [type(v) for v in b[name]]


def test_multilabel_is_a_sequence_of_class_labels(tmp_path):
    p = project(tmp_path / "p", kind="multilabel", labels=["a", "b", "c"])
    feats = Features({"text": Value("string"), "gold": Sequence(ClassLabel(names=["a", "b", "c"]))})
    p.import_items(Dataset.from_dict({"text": ["x", "y"], "gold": [[0, 2], []]}, features=feats))
    assert p.gold_labels() == {p.to_dataframe()["id"][0]: ("a", "c"),
                               p.to_dataframe()["id"][1]: ()}
    p.export(tmp_path / "out", format="hf")
    back = datasets.load_from_disk(str(tmp_path / "out"))
    assert back.features["gold"] == Sequence(ClassLabel(names=["a", "b", "c"]))
    assert back["gold"] == [[0, 2], []]


def test_a_directory_that_is_no_dataset_is_refused(tmp_path):
    p = project(tmp_path / "p")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportDataError, match="save_to_disk"):
        p.import_file(tmp_path / "empty")
