"""Assignment invariants under concurrency, on a real SQLite file and a real PostgreSQL."""

import random
import threading
import time

import pytest
from helpers import add_users, make_project

from labelquorum.store import schema
from labelquorum.web.assign import Assigner
from labelquorum.web.auth import Accounts, User


def _hammer(project, people: int, rounds: int = 400) -> dict[int, list[str]]:
    """``people`` threads, each with its own Assigner (as separate server workers would
    have), take and answer items as fast as they can; some skip, some let leases lapse."""
    add_users(project, {f"p{i}": "annotator" for i in range(people)})
    acc = Accounts(project.store)
    users = [User(acc.user_id(f"p{i}"), f"p{i}", "annotator") for i in range(people)]
    seen: dict[int, list[str]] = {u.id: [] for u in users}
    errors: list[BaseException] = []
    barrier = threading.Barrier(people)
    Assigner(project).sync()  # the queue, from the run's pending requests

    def work(user: User, seed: int) -> None:
        rng = random.Random(seed)
        assigner = Assigner(project, rng=random.Random(seed))
        try:
            barrier.wait()
            empty = 0
            for _ in range(rounds):
                lease = assigner.next(user)
                if lease is None:  # nothing now; a client asks again a little later
                    empty += 1
                    if empty == 3:
                        return
                    time.sleep(0.05)
                    continue
                empty = 0
                seen[user.id].append(lease.item_id)
                roll = rng.random()
                if roll < 0.1:
                    assigner.skip(user, lease.public_id)
                else:
                    assigner.submit(user, lease.public_id, rng.choice(["pos", "neg"]), 1.0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(u, i)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return seen


def _check(project, overlap: int, seen: dict[int, list[str]], n: int) -> None:
    j = project.judgements()
    human = j[(j["annotator_kind"] == "human") & (j["status"] == "ok")]
    per_item = human.groupby("item").size()
    assert per_item.max() <= overlap
    assert len(per_item) == n and (per_item == overlap).all()  # every item completed
    for items in seen.values():
        assert len(items) == len(set(items)), "someone got the same item twice"
    # every task's request is done, and the next run decides everything
    rq = schema.requests
    with project.store.connect() as conn:
        states = set(conn.execute(rq.select().with_only_columns(rq.c.state)
                                  .where(rq.c.annotator == "people")).scalars())
    assert states == {"done"}
    assert project.run().open == 0


def test_concurrent_claims_on_a_sqlite_file(tmp_path):
    project = make_project(tmp_path / "p", n=60, overlap=3)
    seen = _hammer(project, people=8)
    _check(project, 3, seen, 60)
    project.close()


@pytest.mark.postgres
def test_concurrent_claims_on_postgresql(tmp_path, postgres_db_url):
    project = make_project(tmp_path / "p", n=60, overlap=3, url=postgres_db_url)
    seen = _hammer(project, people=8)
    _check(project, 3, seen, 60)
    project.close()


def test_nobody_gets_an_item_twice_even_after_skipping(tmp_path):
    project = make_project(tmp_path / "p", n=3, overlap=2)
    add_users(project, {"ann": "annotator"})
    acc = Accounts(project.store)
    ann = User(acc.user_id("ann"), "ann", "annotator")
    a = Assigner(project)
    a.sync()
    got = []
    while (lease := a.next(ann)) is not None:
        got.append(lease.item_id)
        a.skip(ann, lease.public_id)
    assert sorted(got) == ["i0000", "i0001", "i0002"]
    project.close()


def test_people_who_answer_the_same_items_are_separate_workers(tmp_path):
    """Three people answer each of ten items (overlap 3): thirty rows, one per person and
    item, and truth inference learns one confusion matrix per person."""
    from labelquorum.aggregation import make_aggregator

    project = make_project(tmp_path / "p", n=10, overlap=3)
    add_users(project, {"alice": "annotator", "bob": "annotator", "carol": "annotator"})
    acc = Accounts(project.store)
    assigner = Assigner(project)
    assigner.sync()
    for name in ("alice", "bob", "carol"):
        user = User(acc.user_id(name), name, "annotator")
        while (lease := assigner.next(user)) is not None:
            truth = "pos" if int(lease.item_id[1:]) % 2 else "neg"
            assigner.submit(user, lease.public_id, "pos" if name == "carol" else truth, 2.0)
    j = project.judgements()
    human = j[(j["annotator_kind"] == "human") & (j["status"] == "ok")]
    assert len(human) == 30
    assert sorted(human["worker"].unique()) == ["alice", "bob", "carol"]
    assert sorted(human["annotator"].unique()) == ["people:alice", "people:bob",
                                                   "people:carol"]
    assert (human["annotator_name"] == "people").all()
    assert (human.groupby("item")["worker"].nunique() == 3).all()
    skills = make_aggregator("dawid-skene", seed=0).fit(human).skills_
    assert sorted(skills.index) == ["people:alice", "people:bob", "people:carol"]
    assert skills["people:carol"] < min(skills["people:alice"], skills["people:bob"])
    # the run still pools the three answers under the people annotator and decides
    assert project.run().open == 0
    out = project.to_dataframe().set_index("id")
    assert (out["decided_by"] == "people").all()
    project.close()


def test_answers_given_through_add_judgements_count_towards_a_task(tmp_path):
    """Two of three answers came in through ``add_judgements``: the web app asks one more
    person for that item, not three."""
    project = make_project(tmp_path / "p", n=2, overlap=3)
    assert project.add_judgements([{"item": "i0000", "annotator": "people", "worker": w,
                                    "label": "neg"} for w in ("xavier", "yves")]) == 2
    add_users(project, {"alice": "annotator", "bob": "annotator", "carol": "annotator"})
    acc = Accounts(project.store)
    assigner = Assigner(project)
    assigner.sync()
    for name in ("alice", "bob", "carol"):
        user = User(acc.user_id(name), name, "annotator")
        while (lease := assigner.next(user)) is not None:
            assigner.submit(user, lease.public_id, "neg", 1.0)
    human = project.judgements().query("annotator_kind == 'human' and status == 'ok'")
    assert human.groupby("item").size().to_dict() == {"i0000": 3, "i0001": 3}
    assert project.run().open == 0
    project.close()
