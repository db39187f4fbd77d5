"""Agreement statistics: textbook examples, reference implementations, bootstrap, errors."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

from labelquorum.agreement import (
    LEVELS,
    Interval,
    annotator_agreement,
    bootstrap_ci,
    cohen_kappa_matrix,
    fleiss_kappa,
    from_wide,
    item_agreement,
    krippendorff_alpha,
    light_kappa,
    percent_agreement,
    summary,
    to_wide,
)
from labelquorum.errors import AgreementError, LabelquorumError

NAN = np.nan

# Fleiss' kappa example from Wikipedia ("Fleiss' kappa", worked example): 10 subjects,
# 14 raters each, 5 categories; counts of raters per category. P_bar = 0.378,
# P_e = 0.213, kappa = 0.210.
FLEISS_COUNTS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers
# x 12 units, values 1-5, missing values. alpha: nominal 0.743, ordinal 0.815,
# interval 0.849, ratio 0.797.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
KRIPPENDORFF_2011_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849,
                           "ratio": 0.797}

# Wikipedia's "Krippendorff's alpha" example: 3 coders x 15 units; nominal 0.691,
# interval 0.811.
WIKIPEDIA_ALPHA = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]


def reliability(data) -> pd.DataFrame:
    """Krippendorff's coders x units layout as the long table."""
    return from_wide(np.asarray(data, dtype=float).T)


def fleiss_table() -> pd.DataFrame:
    rows = []
    for item, counts in enumerate(FLEISS_COUNTS):
        rater = 0
        for category, count in enumerate(counts):
            for _ in range(count):
                rows.append((f"s{item}", f"r{rater}", f"c{category}"))
                rater += 1
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


def noisy_table(n_items: int, seed: int = 0, n_annotators: int = 8, per_item: int = 4,
                n_labels: int = 3, accuracy: float = 0.7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, n_items)
    item = np.repeat(np.arange(n_items), per_item)
    annotator = np.concatenate([rng.choice(n_annotators, per_item, replace=False)
                                for _ in range(n_items)])
    right = rng.random(len(item)) < accuracy
    label = np.where(right, truth[item], rng.integers(0, n_labels, len(item)))
    return pd.DataFrame({"item": item, "annotator": [f"a{a}" for a in annotator],
                         "label": label})


def random_reliability(rng: np.random.Generator, level: str) -> np.ndarray:
    n, m, v = rng.integers(3, 40), rng.integers(2, 7), rng.integers(2, 7)
    domain = (rng.choice(np.arange(-3, 12), v, replace=False).astype(float)
              if level in ("nominal", "ordinal") else rng.uniform(0, 50, v).round(3))
    data = rng.choice(domain, size=(m, n))
    data[rng.random((m, n)) < 0.35] = np.nan
    return data


# --- textbook examples --------------------------------------------------------------------

def test_fleiss_wikipedia_example():
    table = fleiss_table()
    assert round(percent_agreement(table), 3) == 0.378  # P_bar
    assert round(fleiss_kappa(table), 3) == 0.210
    # by hand: P_e from the column totals 20, 28, 39, 21, 32 of 140 judgements
    p_e = sum(t * t for t in (20, 28, 39, 21, 32)) / 140 ** 2
    p_bar = np.mean([sum(c * (c - 1) for c in row) / (14 * 13) for row in FLEISS_COUNTS])
    assert fleiss_kappa(table) == pytest.approx((p_bar - p_e) / (1 - p_e), abs=1e-12)


def test_fleiss_equals_nominal_alpha_shape_with_varying_raters():
    # varying raters: kappa is defined, within [-1, 1], and ignores single-judgement items
    table = noisy_table(300, seed=3)
    table = table.drop(index=table.index[::7])
    extra = pd.DataFrame({"item": [10_000], "annotator": ["a0"], "label": [1]})
    assert fleiss_kappa(table) == pytest.approx(fleiss_kappa(pd.concat([table, extra])))
    assert -1 <= fleiss_kappa(table) <= 1


@pytest.mark.parametrize("level", LEVELS)
def test_krippendorff_2011_example(level):
    alpha = krippendorff_alpha(reliability(KRIPPENDORFF_2011), level)
    assert round(alpha, 3) == KRIPPENDORFF_2011_ALPHA[level]


def test_krippendorff_wikipedia_example():
    table = reliability(WIKIPEDIA_ALPHA)
    assert round(krippendorff_alpha(table, "nominal"), 3) == 0.691
    assert round(krippendorff_alpha(table, "interval"), 3) == 0.811


def test_ordinal_text_labels_with_order_match_numeric_codes():
    names = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    table = reliability(KRIPPENDORFF_2011)
    text = table.assign(label=table["label"].map(names))
    order = list(names.values())
    assert krippendorff_alpha(text, "ordinal", order=order) == pytest.approx(
        krippendorff_alpha(table, "ordinal"), abs=1e-12)
    assert krippendorff_alpha(text, "nominal") == pytest.approx(
        krippendorff_alpha(table, "nominal"), abs=1e-12)


def test_percent_agreement_by_hand():
    table = pd.DataFrame({"item": [1, 1, 1, 2, 2, 3],
                          "annotator": ["a", "b", "c", "a", "b", "a"],
                          "label": ["x", "x", "y", "y", "y", "x"]})
    # item 1: one agreeing pair of three -> 1/3; item 2: 1; item 3 has one judgement
    assert percent_agreement(table) == pytest.approx((1 / 3 + 1) / 2)


# --- reference implementations ------------------------------------------------------------

def test_cohen_matrix_equals_sklearn_on_each_pair():
    from sklearn.metrics import cohen_kappa_score

    table = noisy_table(120, seed=1, n_annotators=6, per_item=3)
    matrix = cohen_kappa_matrix(table)
    wide = to_wide(table)
    assert list(matrix.index) == list(matrix.columns) == list(wide.columns)
    compared = 0
    for i, a in enumerate(wide.columns):
        for b in wide.columns[i + 1:]:
            both = wide[[a, b]].dropna()
            if len(both) < 2:
                assert np.isnan(matrix.loc[a, b])
                continue
            expected = cohen_kappa_score(both[a].astype(int), both[b].astype(int))
            assert matrix.loc[a, b] == pytest.approx(expected, abs=1e-12)
            compared += 1
    assert compared >= 10
    assert np.allclose(np.diag(matrix), 1.0)
    assert np.allclose(matrix, matrix.T, equal_nan=True)
    upper = matrix.to_numpy()[np.triu_indices(len(matrix), 1)]
    assert light_kappa(table) == pytest.approx(np.nanmean(upper))


def test_cohen_pair_with_too_few_shared_items_is_nan():
    table = pd.DataFrame({"item": [1, 1, 2, 2, 3, 3],
                          "annotator": ["a", "b", "a", "b", "a", "c"],
                          "label": ["x", "x", "y", "x", "x", "y"]})
    matrix = cohen_kappa_matrix(table)
    assert np.isnan(matrix.loc["a", "c"]) and np.isnan(matrix.loc["b", "c"])
    assert np.isfinite(matrix.loc["a", "b"])


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_equals_krippendorff_package(level):
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(LEVELS.index(level))
    compared = 0
    for _ in range(30):
        data = random_reliability(rng, level)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                theirs = float(krippendorff.alpha(reliability_data=data,
                                                  level_of_measurement=level))
            except ValueError:
                theirs = np.nan
        if np.isnan(theirs):
            with pytest.raises(AgreementError):
                krippendorff_alpha(reliability(data), level)
            continue
        assert krippendorff_alpha(reliability(data), level) == pytest.approx(theirs, abs=1e-9)
        compared += 1
    assert compared >= 22


# --- invariances --------------------------------------------------------------------------

def test_row_order_and_crowdkit_columns_do_not_matter():
    table = noisy_table(150, seed=2)
    shuffled = table.sample(frac=1, random_state=0)
    crowdkit = table.rename(columns={"item": "task", "annotator": "worker"})
    for metric in (percent_agreement, fleiss_kappa, light_kappa,
                   functools.partial(krippendorff_alpha, level="ordinal")):
        expected = metric(table)
        assert metric(shuffled) == pytest.approx(expected, abs=1e-12)
        assert metric(crowdkit) == pytest.approx(expected, abs=1e-12)


def test_renaming_labels_keeps_nominal_statistics():
    table = noisy_table(150, seed=4)
    renamed = table.assign(label=table["label"].map({0: "zebra", 1: "apple", 2: "mango"}))
    for metric in (percent_agreement, fleiss_kappa, light_kappa, krippendorff_alpha):
        assert metric(renamed) == pytest.approx(metric(table), abs=1e-12)


def test_duplicate_rows_last_wins():
    table = pd.DataFrame({"item": [1, 1, 2, 2, 1], "annotator": ["a", "b", "a", "b", "b"],
                          "label": ["x", "y", "y", "y", "x"]})
    assert percent_agreement(table) == 1.0


# --- bootstrap ----------------------------------------------------------------------------

@pytest.mark.parametrize("metric", [percent_agreement, fleiss_kappa, light_kappa,
                                    krippendorff_alpha,
                                    functools.partial(krippendorff_alpha, level="interval")])
def test_bootstrap_contains_estimate_and_narrows(metric):
    small = bootstrap_ci(metric, noisy_table(100, seed=5), n_boot=300, seed=1)
    large = bootstrap_ci(metric, noisy_table(1600, seed=5), n_boot=300, seed=1)
    for est, low, high in (small, large):
        assert low <= est <= high
    assert (large.high - large.low) < 0.5 * (small.high - small.low)


def test_bootstrap_is_seeded_and_accepts_names_and_options():
    table = noisy_table(200, seed=6)
    first = bootstrap_ci("krippendorff_alpha", table, n_boot=200, seed=3,
                         options={"level": "ordinal"})
    again = bootstrap_ci(functools.partial(krippendorff_alpha, level="ordinal"), table,
                         n_boot=200, seed=3)
    assert isinstance(first, Interval) and first == again
    assert first.estimate == pytest.approx(krippendorff_alpha(table, "ordinal"))
    narrow = bootstrap_ci(fleiss_kappa, table, n_boot=200, level=0.5)
    wide = bootstrap_ci(fleiss_kappa, table, n_boot=200, level=0.99)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_bootstrap_matches_resampling_the_table():
    # the weighted kernels must equal the metric on physically resampled tables
    table = noisy_table(60, seed=7)
    for metric in (fleiss_kappa, light_kappa, functools.partial(krippendorff_alpha,
                                                                level="ordinal")):
        fast = bootstrap_ci(metric, table, n_boot=20, seed=2)
        slow = bootstrap_ci(lambda j, m=metric: m(j), table, n_boot=20, seed=2)
        assert tuple(fast) == pytest.approx(tuple(slow), abs=1e-12)


def test_bootstrap_of_the_cohen_matrix():
    table = noisy_table(200, seed=8, n_annotators=4, per_item=3)
    est, low, high = bootstrap_ci(cohen_kappa_matrix, table, n_boot=200)
    assert est.shape == low.shape == high.shape == (4, 4)
    assert ((low <= est) & (est <= high)).to_numpy().all()


def test_bootstrap_bad_arguments():
    table = noisy_table(20)
    with pytest.raises(AgreementError, match="unknown agreement metric"):
        bootstrap_ci("kappa", table)
    with pytest.raises(AgreementError, match="confidence level"):
        bootstrap_ci(fleiss_kappa, table, level=95)
    with pytest.raises(AgreementError, match="n_boot"):
        bootstrap_ci(fleiss_kappa, table, n_boot=0)


# --- per item, per annotator, summary -----------------------------------------------------

def test_item_and_annotator_agreement():
    table = pd.DataFrame({"task": ["q1", "q1", "q1", "q2", "q2", "q3", "q3"],
                          "worker": ["a", "b", "c", "a", "b", "c", "d"],
                          "label": [1, 1, 2, 2, 1, 2, 2]})
    per_item = item_agreement(table)
    assert per_item.to_dict() == pytest.approx({"q1": 2 / 3, "q2": 0.5, "q3": 1.0})
    consensus = pd.Series({"q1": "1", "q2": 2, "q9": 1})
    per_annotator = annotator_agreement(table, consensus)
    assert per_annotator["a"] == 1.0 and per_annotator["b"] == 0.5
    assert per_annotator["c"] == 0.0
    assert np.isnan(per_annotator["d"])  # judged only q3, which the consensus lacks
    with pytest.raises(AgreementError, match="shares no item"):
        annotator_agreement(table, pd.Series({"zz": 1}))
    with pytest.raises(AgreementError, match="Series"):
        annotator_agreement(table, {"q1": 1})


def test_summary_reports_undefined_metrics_with_a_reason():
    same = pd.DataFrame({"item": [1, 1, 2, 2], "annotator": ["a", "b", "a", "b"],
                         "label": ["x"] * 4})
    out = summary(same)
    assert out.loc["percent_agreement", "estimate"] == 1.0
    assert np.isnan(out.loc["fleiss_kappa", "estimate"])
    assert "same label" in out.loc["krippendorff_alpha", "note"]
    with_ci = summary(noisy_table(100), n_boot=100)
    assert (with_ci["low"] <= with_ci["estimate"]).all()


# --- errors -------------------------------------------------------------------------------

ALL = [percent_agreement, fleiss_kappa, cohen_kappa_matrix, light_kappa, krippendorff_alpha]


@pytest.mark.parametrize("metric", ALL)
def test_empty_and_one_annotator_tables_are_refused(metric):
    with pytest.raises(AgreementError, match="empty"):
        metric(pd.DataFrame(columns=["item", "annotator", "label"]))
    one = pd.DataFrame({"item": [1, 2, 3], "annotator": ["a"] * 3, "label": ["x", "y", "x"]})
    with pytest.raises(AgreementError, match="at least two annotators"):
        metric(one)
    apart = pd.DataFrame({"item": [1, 2], "annotator": ["a", "b"], "label": ["x", "y"]})
    with pytest.raises(AgreementError, match="two or more annotators"):
        metric(apart)


@pytest.mark.parametrize("metric", [fleiss_kappa, cohen_kappa_matrix, light_kappa,
                                    *(functools.partial(krippendorff_alpha, level=lv)
                                      for lv in LEVELS)])
def test_a_single_label_everywhere_is_refused(metric):
    same = pd.DataFrame({"item": [1, 1, 2, 2], "annotator": ["a", "b", "a", "b"],
                         "label": [3, 3, 3, 3]})
    with pytest.raises(AgreementError, match="undefined"):
        metric(same)
    assert percent_agreement(same) == 1.0


def test_level_and_value_errors():
    text = noisy_table(30).assign(label=lambda d: d["label"].map({0: "a", 1: "b", 2: "c"}))
    for level in ("interval", "ratio"):
        with pytest.raises(AgreementError, match="numeric"):
            krippendorff_alpha(text, level)
    with pytest.raises(AgreementError, match="order"):
        krippendorff_alpha(text, "ordinal")
    with pytest.raises(AgreementError, match="not in order"):
        krippendorff_alpha(text, "ordinal", order=["a", "b"])
    with pytest.raises(AgreementError, match="valid: nominal, ordinal, interval, ratio"):
        krippendorff_alpha(text, "categorical")
    negative = noisy_table(30).assign(label=lambda d: d["label"] - 1)
    with pytest.raises(AgreementError, match="ratio"):
        krippendorff_alpha(negative, "ratio")
    assert np.isfinite(krippendorff_alpha(negative, "interval"))


def test_bad_tables_give_our_errors_not_pandas_tracebacks():
    with pytest.raises(LabelquorumError, match="columns"):
        fleiss_kappa(pd.DataFrame({"x": [1], "y": [2]}))
    with pytest.raises(AgreementError, match="DataFrame"):
        krippendorff_alpha([[1, 2], [1, 2]])
    with pytest.raises(LabelquorumError, match="no labelled rows"):
        percent_agreement(pd.DataFrame({"item": [1], "annotator": ["a"], "label": [None]}))


def test_min_shared_leaves_out_thin_pairs():
    table = noisy_table(40, seed=9, n_annotators=6, per_item=3)
    shared = to_wide(table).notna().astype(int)
    counts = shared.T @ shared
    threshold = int(np.median(counts.to_numpy()[np.triu_indices(6, 1)])) + 1
    matrix = cohen_kappa_matrix(table, min_shared=threshold)
    assert (matrix.isna() == (counts < threshold)).to_numpy().all()
    interval = bootstrap_ci(light_kappa, table, n_boot=100, options={"min_shared": threshold})
    assert interval.low <= interval.estimate <= interval.high
    assert interval.estimate == pytest.approx(light_kappa(table, min_shared=threshold))
    with pytest.raises(AgreementError, match="min_shared"):
        light_kappa(table, min_shared=1)
