"""A reviewer and a run decide the same items at once; the reviewer's label wins.

A reviewer adjudicates (``Review.adjudicate``) while a run is between loading its state
and writing its plan — injected from inside the run by a policy wrapper whose ``step``
adjudicates before it returns the plan, or by a ``progress`` callback — and in a thread
racing a whole run, or between a killed run and its resumption. On SQLite and on
PostgreSQL. What must hold: the run does not crash,
the reviewer's label and ``state == "review"`` reach the export, the item is not asked
(and charged) after the review, and a ``budget`` decision the reviewer replaced is not
written back by the run.
"""

from __future__ import annotations

import random
import threading

import pytest
from engine_fixtures import (
    KEYWORD,
    Killed,
    cascade,
    config,
    decisions,
    judged,
    make_project,
    requests,
    reviewer,
    rules_annotator,
    set_budget,
    simulated_annotator,
    spent,
)

from labelquorum.policies import Policy, build_policy
from labelquorum.web.review import Review

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
PRICE = 1.0


@pytest.fixture(params=BACKENDS)
def store_url(request):
    return request.getfixturevalue("postgres_db_url") if request.param == "postgresql" else None


def _project(root, store_url, n: int = 7, budget: float | None = None, **paid):
    """Keyword rules, then a paid tier that always says ``positive`` (the gold): a label
    ``negative`` in the export can only be the reviewer's."""
    rows = [("w1", f"a {KEYWORD} film", "positive")]
    rows += [(f"i{i}", f"a film #{i}", "positive") for i in range(n)]
    options = {"batch_size": 1, "accuracy": 1.0, **paid}
    annotators = rules_annotator() + simulated_annotator("paid", PRICE, **options)
    policy = cascade([("rules", ["kw"], 0.7), ("paid", ["paid"], 0.0)], budget=budget)
    return make_project(root, config(annotators, policy, store_url=store_url), rows)


class ReviewedWhilePlanning(Policy):
    """The project's policy, with ``act(state, plan)`` run after each plan is made and
    before the run writes it: a reviewer working in that window."""

    def __init__(self, inner: Policy, act):
        self.inner, self.act = inner, act

    def annotators(self) -> list[str]:
        return self.inner.annotators()

    def step(self, state):
        plan = self.inner.step(state)
        self.act(state, plan)
        return plan


def _reviewed(project, item: str, label: str) -> None:
    """What a user sees of a reviewed item: the reviewer's label, for good."""
    row = project.to_dataframe().set_index("id").loc[item]
    assert (row["label"], row["decided_by"], row["tier"]) == (label, "review:rev", "review")
    assert decisions(project).loc[item, "state"] == "review"


def test_a_review_made_while_the_run_plans_is_kept_and_not_charged(tmp_path, store_url):
    project = _project(tmp_path / "p", store_url)
    review, rev = Review(project), reviewer(project)
    done: dict[str, str] = {}

    def act(state, plan):
        if done or "paid" not in plan.asks:
            return
        asked = [state.item_ids[p] for p in plan.asks["paid"]]
        decided = [state.item_ids[p] for d in plan.decisions for p in d.positions]
        assert "i2" in asked and "w1" in decided  # the step that decides w1 and asks i2
        for item in ("i2", "w1"):
            review.adjudicate(rev, item, "negative", note="sarcasm")
            done[item] = "negative"

    report = project.run(policy=ReviewedWhilePlanning(build_policy(project.config.policy), act))
    assert done == {"i2": "negative", "w1": "negative"}
    for item in done:
        _reviewed(project, item, "negative")
    assert "i2" not in judged(project, "paid"), "the reviewed item was asked anyway"
    assert "i2" not in set(requests(project).query("annotator == 'paid'")["item_id"])
    assert spent(project) == pytest.approx(PRICE * 6)
    assert report.open == 0 and report.status == "done"
    others = decisions(project).drop(["i2", "w1"])
    assert (others["state"] == "final").all() and (others["label"] == "positive").all()
    project.close()


def test_a_review_of_a_budget_stopped_item_is_not_written_back_by_the_run(tmp_path,
                                                                          store_url):
    """Run 1 stops five items with the budget (state ``budget``). Run 2, with more budget,
    reopens them; a reviewer decides one while run 2 plans to ask about it, and another
    while the run's plan for it is stopped by the budget again."""
    project = _project(tmp_path / "p", store_url, budget=2.0)
    project.run()
    stopped = decisions(project).query("state == 'budget'").index.tolist()
    assert stopped == ["i2", "i3", "i4", "i5", "i6"]

    project = set_budget(project, 3.0)  # room for one more call
    review, rev = Review(project), reviewer(project)
    done: list[str] = []

    def act(state, plan):
        if done or "paid" not in plan.asks:
            return
        assert {"i2", "i6"} <= {state.item_ids[p] for p in plan.asks["paid"]}
        for item in ("i2", "i6"):  # i2 would be asked; i6 would be stopped again
            review.adjudicate(rev, item, "negative")
            done.append(item)

    report = project.run(policy=ReviewedWhilePlanning(build_policy(project.config.policy), act))
    assert done == ["i2", "i6"]
    for item in done:
        _reviewed(project, item, "negative")
    assert judged(project, "paid") == {"i0", "i1", "i3"}
    assert spent(project) <= 3.0
    dec = decisions(project)
    assert set(dec.query("state == 'budget'").index) == {"i4", "i5"}
    assert report.open == 2
    project.close()


@pytest.mark.parametrize("path", ["batched", "concurrent"])
def test_a_review_made_after_the_plan_was_written_stops_the_items_pending_call(
        tmp_path, store_url, path):
    """The plan asks the paid tier about i0..i6, one call at a time. After the first
    answer is stored, the reviewer decides i6, whose call has not gone out yet."""
    paid = {"latency": 0.0} if path == "batched" else {"latency": 0.01, "concurrency": 1}
    project = _project(tmp_path / "p", store_url, **paid)
    review, rev = Review(project), reviewer(project)
    done: list[str] = []

    def progress(decided, total, stage):
        if not done and stage.startswith("paid"):
            review.adjudicate(rev, "i6", "negative")
            done.append("i6")

    project.run(progress=progress)
    assert done == ["i6"]
    _reviewed(project, "i6", "negative")
    assert "i6" not in judged(project, "paid"), "a call was sent and charged after the review"
    assert spent(project) == pytest.approx(PRICE * 6)
    project.close()


def test_a_resumed_run_does_not_ask_about_an_item_reviewed_since_the_kill(tmp_path,
                                                                          store_url):
    """A run is killed after its plan asked the paid tier about i0..i6 and one answer was
    stored; a reviewer then decides i6; the resumed run asks the others, not i6."""
    project = _project(tmp_path / "p", store_url)

    def kill(decided, total, stage):
        if stage.startswith("paid"):
            raise Killed(stage)

    with pytest.raises(Killed):
        project.run(progress=kill)
    pending = requests(project).query("annotator == 'paid' and state == 'pending'")
    assert "i6" in set(pending["item_id"])
    Review(project).adjudicate(reviewer(project), "i6", "negative")

    report = project.run()
    assert report.resumed
    _reviewed(project, "i6", "negative")
    assert "i6" not in judged(project, "paid"), "the resumed run asked a reviewed item"
    assert spent(project) == pytest.approx(PRICE * 6)
    project.close()


def test_a_reviewer_racing_a_run_keeps_every_label_they_gave(tmp_path, store_url):
    """A run of 30 paid calls in one thread; a reviewer in another adjudicates random
    undecided items until the run ends. Every item the reviewer decided keeps the label
    the reviewer gave last."""
    project = _project(tmp_path / "p", store_url, n=30, latency=0.005, concurrency=2)
    review, rev = Review(project), reviewer(project)
    given: dict[str, str] = {}
    errors: list[BaseException] = []
    reviewing, run_over = threading.Event(), threading.Event()
    ids = ["w1"] + [f"i{i}" for i in range(30)]

    def progress(decided, total, stage):
        # once the paid tier is under way, hold the run until the reviewer has started
        if stage.startswith("paid") and not reviewing.is_set():
            reviewing.wait(timeout=60)

    def run():
        try:
            project.run(progress=progress)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            run_over.set()

    def adjudicate():
        rng = random.Random(11)
        try:
            while not run_over.is_set() or len(given) < 3:
                dec = decisions(project)
                closed = set(dec.index[dec["state"].isin(["final", "review"])]) - set(given)
                candidates = [i for i in ids if i not in closed] or ids
                item, label = rng.choice(candidates), rng.choice(["negative", "positive"])
                review.adjudicate(rev, item, label)
                given[item] = label
                if len(given) >= 3:
                    reviewing.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            reviewing.set()

    threads = [threading.Thread(target=run), threading.Thread(target=adjudicate)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "the run or the reviewer hung"
    assert not errors, errors
    out = project.to_dataframe().set_index("id")
    dec = decisions(project)
    for item, label in given.items():
        assert out.loc[item, "label"] == label, (item, out.loc[item].to_dict())
        assert out.loc[item, "decided_by"] == "review:rev"
        assert dec.loc[item, "state"] == "review"
    assert len(dec) == len(ids)
    assert (dec.drop(list(given))["state"] == "final").all()
    project.close()


# -- a reviewer's label trains the models ----------------------------------------------------
def test_a_reviewers_label_trains_the_models_and_control_gold_never_does(tmp_path):
    """Row 11: the pool trainable models learn from (and LLMs take examples from) holds
    seed gold and labels reviewers decided, even when a run had decided the item
    otherwise; control and evaluation gold never enter it, not even once reviewed."""
    from labelquorum.engine.training import verified

    rows = [(f"g{i}", f"a gold film #{i}", "positive" if i % 2 else "negative")
            for i in range(9)]  # 3 seed, 3 control, 3 evaluation
    rows += [(f"n{i}", f"a plain film #{i}", None) for i in range(4)]
    annotators = rules_annotator() + '\n[annotators.model]\ntype = "tfidf"\nmin_train = 2\n'
    project = make_project(tmp_path / "p", config(annotators, cascade(
        [("rules", ["kw"], 0.7), ("model", ["model"], 0.0)])), rows,
        split="seed=3,control=3")
    roles = project.gold_labels(["seed"]), project.gold_labels(["control"])
    seeds, control = set(roles[0]), set(roles[1])
    evaluation = {f"g{i}" for i in range(9)} - seeds - control
    project.run()  # the model labels n0..n3 (and the gold items it is not shown)
    before = decisions(project).loc["n0", "label"]
    review, rev = Review(project), reviewer(project)
    label = "positive" if before == "negative" else "negative"
    review.adjudicate(rev, "n0", label)
    for item in (min(control), min(evaluation)):
        review.adjudicate(rev, item, "positive")

    ids: list[str] = []
    _, labels = verified(project.store, project.task, before_run=None, ids=ids)
    pool = dict(zip(ids, labels))
    assert pool["n0"] == label, "the reviewer's label is not in the verified pool"
    assert seeds <= set(pool)
    assert not (control | evaluation) & set(pool), "control or evaluation gold in the pool"

    # the next run fits the model on it
    fitted: list[dict[str, object]] = []
    annotators = project.build_annotators()
    fit = annotators["model"].fit

    def spy(texts, labels):
        fitted.append(dict(zip(texts, labels)))
        return fit(texts, labels)

    annotators["model"].fit = spy
    project.run(annotators=annotators)
    assert fitted, "the model was not trained"
    seen = fitted[0]
    assert seen.get("a plain film #0") == label
    gold_texts = {text for item, text, _ in rows if item in control | evaluation}
    assert not gold_texts & set(seen)
    project.close()
