"""The conformance kit for aggregators (see :mod:`labelquorum.testing`).

The same idea for truth inference: any estimator with ``fit(judgements) -> self``,
``labels_`` and ``probas_`` (a built-in or a third party's) can be checked with

    from labelquorum.testing import check_aggregator
    check_aggregator(lambda: MyAggregator(seed=0))

The kit makes its own small crowds (seeded), so it needs no data. Pass ``em=True`` for a
model whose unanimous items are only guaranteed their label when every annotator beats
chance (Dawid-Skene, GLAD, MACE): the unanimity check then runs on such a crowd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import LabelquorumError
from .base import ConformanceError

AggregatorFactory = Callable[[], Any]


def crowd_table(n_items: int = 60, accuracies: Sequence[float] = (0.9, 0.85, 0.8, 0.75, 0.7),
                per_item: int = 3, n_labels: int = 3, seed: int = 0):
    """A seeded long table (``item, annotator, label``) and its true labels: annotator j is
    right with probability ``accuracies[j]``, otherwise picks another label uniformly."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    acc = np.asarray(accuracies, dtype=float)
    truth = rng.integers(0, n_labels, n_items)
    rows = []
    for i in range(n_items):
        for w in rng.choice(len(acc), min(per_item, len(acc)), replace=False):
            label = truth[i] if rng.random() < acc[w] else (truth[i] + rng.integers(1, n_labels)) % n_labels
            rows.append((f"i{i:03d}", f"w{w}", f"L{label}"))
    table = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    return table, pd.Series([f"L{t}" for t in truth], index=[f"i{i:03d}" for i in range(n_items)])


def _fit(check: str, make: AggregatorFactory, table):
    try:
        est = make()
        out = est.fit(table)
    except ConformanceError:
        raise
    except Exception as exc:
        raise ConformanceError(check, f"fit raised {type(exc).__name__}: {exc}") from exc
    if out is not est:
        raise ConformanceError(check, f"fit returned {type(out).__name__}, not the estimator "
                               "itself")
    for attr in ("labels_", "probas_"):
        if not hasattr(est, attr):
            raise ConformanceError(check, f"no {attr} after fit")
    return est


def _decided(probas) -> np.ndarray:
    """Items whose top label is not tied (ties may go either way)."""
    values = np.sort(probas.to_numpy(dtype=float), axis=1)
    return values[:, -1] - values[:, -2] > 1e-9 if values.shape[1] > 1 else np.ones(len(values), bool)


def check_aggregator_probabilities(make: AggregatorFactory, table=None) -> None:
    """``probas_`` has one row per item and one column per label, each row in [0, 1] and
    summing to 1; ``labels_`` names the most probable label of every item."""
    check = "aggregator_probabilities"
    table = crowd_table()[0] if table is None else table
    est = _fit(check, make, table)
    probas, labels = est.probas_, est.labels_
    items = set(table["item"].astype(str))
    if set(map(str, probas.index)) != items or set(map(str, labels.index)) != items:
        raise ConformanceError(check, "probas_ and labels_ must have exactly one row per item")
    values = probas.to_numpy(dtype=float)
    if not (np.all(values >= -1e-12) and np.all(values <= 1 + 1e-12)):
        raise ConformanceError(check, "probabilities outside [0, 1]")
    sums = values.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        bad = int(np.argmax(np.abs(sums - 1)))
        raise ConformanceError(check, f"probabilities sum to {sums[bad]:.6g}",
                               str(probas.index[bad]))
    top = probas.columns.to_numpy()[values.argmax(axis=1)]
    chosen = labels.reindex(probas.index).to_numpy()
    wrong = np.flatnonzero(_decided(probas) & (top != chosen))
    if len(wrong):
        raise ConformanceError(check, f"labels_ is {chosen[wrong[0]]!r} but the most probable "
                               f"label is {top[wrong[0]]!r}", str(probas.index[wrong[0]]))


def check_aggregator_refit(make: AggregatorFactory, table=None) -> None:
    """Fitting twice, on one instance or on two built alike, gives the same result."""
    check = "aggregator_refit"
    table = crowd_table(seed=1)[0] if table is None else table
    est = _fit(check, make, table)
    first_labels, first_probas = est.labels_.copy(), est.probas_.copy()
    est.fit(table)
    other = _fit(check, make, table)
    for name, result in (("refit", est), ("a fresh instance", other)):
        if not result.labels_.equals(first_labels):
            raise ConformanceError(check, f"{name} gave other labels")
        if not np.allclose(result.probas_.to_numpy(dtype=float),
                           first_probas.to_numpy(dtype=float), atol=1e-9):
            raise ConformanceError(check, f"{name} gave other probabilities")


def check_aggregator_row_order(make: AggregatorFactory, table=None) -> None:
    """Shuffling the rows of the table changes no posterior and no untied label."""
    check = "aggregator_row_order"
    table = crowd_table(seed=2)[0] if table is None else table
    base = _fit(check, make, table)
    shuffled = _fit(check, make, table.sample(frac=1.0, random_state=7).reset_index(drop=True))
    _same_result(check, base, shuffled)


def check_aggregator_renaming(make: AggregatorFactory, table=None) -> None:
    """Renaming annotators and labels (a one-to-one map) renames the result and changes
    nothing else, ties aside."""
    check = "aggregator_renaming"
    table = crowd_table(seed=3)[0] if table is None else table
    base = _fit(check, make, table)
    labels = sorted(table["label"].unique())
    new_label = {lab: f"renamed-{len(labels) - j}" for j, lab in enumerate(labels)}
    workers = sorted(table["annotator"].unique())
    new_worker = {w: f"z{len(workers) - j:03d}" for j, w in enumerate(workers)}
    renamed = table.assign(label=table["label"].map(new_label),
                           annotator=table["annotator"].map(new_worker))
    other = _fit(check, make, renamed)
    back = {v: k for k, v in new_label.items()}
    other_probas = other.probas_.rename(columns=back)[base.probas_.columns]
    decided = _decided(base.probas_)
    if not np.allclose(other_probas.reindex(base.probas_.index).to_numpy(dtype=float),
                       base.probas_.to_numpy(dtype=float), atol=1e-6):
        raise ConformanceError(check, "renaming annotators and labels changed the posteriors")
    mapped = other.labels_.map(back).reindex(base.labels_.index)
    wrong = np.flatnonzero(decided & (mapped.to_numpy() != base.labels_.to_numpy()))
    if len(wrong):
        raise ConformanceError(check, "renaming changed a label", str(base.labels_.index[wrong[0]]))


def _same_result(check: str, first, then) -> None:
    probas = then.probas_.reindex(first.probas_.index)[first.probas_.columns]
    if not np.allclose(probas.to_numpy(dtype=float), first.probas_.to_numpy(dtype=float),
                       atol=1e-6):
        raise ConformanceError(check, "the posteriors changed")
    decided = _decided(first.probas_)
    labels = then.labels_.reindex(first.labels_.index).to_numpy()
    wrong = np.flatnonzero(decided & (labels != first.labels_.to_numpy()))
    if len(wrong):
        raise ConformanceError(check, "a label changed", str(first.labels_.index[wrong[0]]))


def check_aggregator_unanimous(make: AggregatorFactory, *, em: bool = False) -> None:
    """Items on which every annotator gave the same label get that label. For ``em``
    models the crowd is one where every annotator beats chance."""
    check = "aggregator_unanimous"
    accuracies = (0.9, 0.85, 0.8, 0.75, 0.7) if em else (0.9, 0.6, 0.4, 0.2, 0.1)
    table, _ = crowd_table(n_items=80, accuracies=accuracies, per_item=3, seed=4)
    est = _fit(check, make, table)
    groups = table.groupby("item")["label"]
    unanimous = groups.nunique() == 1
    expected = groups.first()[unanimous]
    got = est.labels_.reindex(expected.index)
    wrong = np.flatnonzero(got.to_numpy() != expected.to_numpy())
    if len(wrong):
        item = expected.index[wrong[0]]
        raise ConformanceError(check, f"every annotator said {expected[item]!r}, the aggregate "
                               f"is {got[item]!r}", str(item))


def check_aggregator_edge_cases(make: AggregatorFactory) -> None:
    """An item with one judgement, an annotator with one judgement, a label only one
    annotator used, crowd-kit's column names, and a repeated (item, annotator) row (the
    last one wins) all work."""
    import pandas as pd

    check = "aggregator_edge_cases"
    table, _ = crowd_table(n_items=40, seed=5)
    extra = pd.DataFrame([("solo-item", "w0", "L0"), ("i000", "solo-annotator", "L1"),
                          ("i001", "w1", "rare")], columns=["item", "annotator", "label"])
    est = _fit(check, make, pd.concat([table, extra], ignore_index=True))
    for item in ("solo-item", "i000", "i001"):
        if item not in est.labels_.index:
            raise ConformanceError(check, "no label for the item", item)
    if "rare" not in est.probas_.columns:
        raise ConformanceError(check, "a label used once has no column in probas_")
    crowdkit = _fit(check, make, table.rename(columns={"item": "task", "annotator": "worker"}))
    _same_result(check, _fit(check, make, table), crowdkit)
    repeated = pd.concat([table, table.iloc[[0]].assign(label="L-edited")], ignore_index=True)
    edited = _fit(check, make, repeated)
    expected = _fit(check, make, table.assign(label=np.where(np.arange(len(table)) == 0,
                                                             "L-edited", table["label"])))
    _same_result(check, expected, edited)


def check_aggregator_bad_input(make: AggregatorFactory) -> None:
    """An empty table, a missing column and a table with no labelled rows raise the
    library's error with a message, never a raw pandas KeyError."""
    import pandas as pd

    check = "aggregator_bad_input"
    cases = {"an empty table": pd.DataFrame(columns=["item", "annotator", "label"]),
             "a missing column": pd.DataFrame({"item": ["a"], "label": ["x"]}),
             "only missing labels": pd.DataFrame({"item": ["a", "b"], "annotator": ["u", "v"],
                                                  "label": [None, np.nan]})}
    for what, table in cases.items():
        try:
            make().fit(table)
        except LabelquorumError:
            continue
        except Exception as exc:
            raise ConformanceError(check, f"{what} raised {type(exc).__name__}: {exc}; expected "
                                   "a LabelquorumError") from exc
        raise ConformanceError(check, f"{what} was accepted")


def check_aggregator_types(make: AggregatorFactory, *, annotators: bool = True) -> None:
    """Integer item ids, labels and annotator ids come back as integers, as crowd-kit keeps
    them: ``labels_`` and ``probas_`` are indexed by the integer item ids (``labels_.loc[3]``
    works), ``labels_`` holds integer labels, ``probas_`` has integer label columns, and a
    ``skills_`` Series or DataFrame is indexed by the integer annotator ids.
    ``annotators=False`` keeps the annotator ids as they are (for estimators given
    per-annotator parameters)."""
    import pandas as pd

    check = "aggregator_types"
    table, _ = crowd_table(n_items=40, seed=6)
    numbers = {"item": table["item"].str.removeprefix("i").astype(np.int64) + 1,
               "label": table["label"].str.removeprefix("L").astype(np.int64)}
    if annotators:
        numbers["annotator"] = table["annotator"].str.removeprefix("w").astype(np.int64)
    table = table.assign(**numbers)
    est = _fit(check, make, table)
    labels, probas = est.labels_, est.probas_

    def integers(what: str, values) -> None:
        dtype = getattr(values, "dtype", None)
        if dtype is None or dtype.kind not in "iu":
            raise ConformanceError(check, f"{what} has dtype {dtype}, but the table's are "
                                   "int64: keep the caller's types (map codes back to the "
                                   "original values)")

    integers("labels_.index (item ids)", labels.index)
    integers("labels_ (labels)", labels)
    integers("probas_.index (item ids)", probas.index)
    integers("probas_.columns (labels)", probas.columns)
    if set(labels.index) != set(table["item"]):
        raise ConformanceError(check, "labels_ is not indexed by the table's item ids")
    item = int(table["item"].iloc[0])
    try:
        labels.loc[item], probas.loc[item]
    except KeyError:
        raise ConformanceError(check, f"labels_.loc[{item}] raised KeyError", str(item)) from None
    skills = getattr(est, "skills_", None)
    if annotators and isinstance(skills, (pd.Series, pd.DataFrame)):
        integers("skills_.index (annotator ids)", skills.index)


def _fitted_attributes(est) -> list[str]:
    return [name for name in vars(est) if name.endswith("_") and not name.startswith("_")]


def _same_value(a, b) -> bool:
    if a is b:
        return True
    if hasattr(a, "equals") and type(a) is type(b):
        return bool(a.equals(b))
    try:
        return bool(np.all(a == b)) and type(a) is type(b)
    except (TypeError, ValueError):  # values that do not compare
        return False


def check_aggregator_clone(make: AggregatorFactory, table=None) -> None:
    """A scikit-learn estimator: ``get_params``, ``set_params`` and ``repr`` work, ``__init__``
    stores its hyperparameters as given and nothing else (no fitted ``*_`` attribute), and
    ``sklearn.base.clone`` of an estimator, fitted or not, is an unfitted estimator with
    equal parameters that fits to the same result."""
    from sklearn.base import clone

    check = "aggregator_clone"
    table = crowd_table(seed=7)[0] if table is None else table
    est = make()
    name = type(est).__name__
    try:
        params = est.get_params(deep=False)
    except Exception as exc:
        raise ConformanceError(check, f"get_params() raised {type(exc).__name__}: {exc}; "
                               "inherit sklearn.base.BaseEstimator and store every __init__ "
                               "argument under its own name") from exc
    if _fitted_attributes(est):
        raise ConformanceError(check, f"__init__ sets {', '.join(_fitted_attributes(est))}; "
                               "learned attributes belong in fit")
    try:
        text = repr(est)
        if est.set_params(**params) is not est:
            raise ConformanceError(check, "set_params() must return the estimator itself")
        fitted = _fit(check, lambda: est, table)
        twin = clone(fitted)
    except ConformanceError:
        raise
    except Exception as exc:
        raise ConformanceError(check, f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(text, str) and text.startswith(name)):
        raise ConformanceError(check, f"repr() is {text!r}; expected it to start with {name}")
    if type(twin) is not type(est) or twin is est:
        raise ConformanceError(check, "clone() did not give a new estimator of the same class")
    other = twin.get_params(deep=False)
    for key, value in params.items():
        if key not in other or not _same_value(value, other[key]):
            raise ConformanceError(check, f"the clone's {key} is "
                                   f"{other.get(key, '(missing)')!r}, not {value!r}")
    if _fitted_attributes(twin):
        raise ConformanceError(check, f"the clone of a fitted estimator has "
                               f"{', '.join(_fitted_attributes(twin))}; it must be unfitted")
    _same_result(check, fitted, _fit(check, lambda: twin, table))


def check_aggregator_finite(make: AggregatorFactory) -> None:
    """Degenerate crowds give finite results: when every item is unanimous, when the whole
    table uses one label, and when one annotator labels everything, ``probas_`` (and a
    ``skills_`` Series) hold no NaN or infinity and every row of ``probas_`` sums to 1."""
    import pandas as pd

    check = "aggregator_finite"
    items = [f"i{i:02d}" for i in range(12)]
    crowds = {
        "every item unanimous": [(i, f"w{w}", f"L{k % 3}") for k, i in enumerate(items)
                                 for w in range(3)],
        "one label in the whole table": [(i, f"w{w}", "L0") for i in items for w in range(3)],
        "one annotator": [(i, "w0", f"L{k % 2}") for k, i in enumerate(items)],
    }
    for what, rows in crowds.items():
        est = _fit(check, make, pd.DataFrame(rows, columns=["item", "annotator", "label"]))
        values = est.probas_.to_numpy(dtype=float)
        bad = ~np.isfinite(values).all(axis=1) | ~np.isclose(values.sum(axis=1), 1.0, atol=1e-6)
        if bad.any():
            row = int(np.argmax(bad))
            raise ConformanceError(check, f"{what}: probabilities {values[row]} are not finite "
                                   "and summing to 1 (guard the divisions by zero counts)",
                                   str(est.probas_.index[row]))
        if est.labels_.isna().any():
            raise ConformanceError(check, f"{what}: labels_ has missing labels")
        skills = getattr(est, "skills_", None)
        if isinstance(skills, pd.Series) and not np.isfinite(skills.to_numpy(dtype=float)).all():
            raise ConformanceError(check, f"{what}: skills_ is not finite")


def check_aggregator(make: AggregatorFactory, *, em: bool = False,
                     rename_annotators: bool = True) -> None:
    """Run every aggregator check on estimators built by ``make``.

    ``em``: see :func:`check_aggregator_unanimous`. ``rename_annotators=False`` skips the
    renaming check and keeps the annotator ids in the types check, for estimators given
    per-annotator parameters (``WeightedVote``'s skills)."""
    check_aggregator_clone(make)
    check_aggregator_types(make, annotators=rename_annotators)
    check_aggregator_finite(make)
    check_aggregator_probabilities(make)
    check_aggregator_refit(make)
    check_aggregator_row_order(make)
    if rename_annotators:
        check_aggregator_renaming(make)
    check_aggregator_unanimous(make, em=em)
    check_aggregator_edge_cases(make)
    check_aggregator_bad_input(make)
