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
