"""An annotator who tries every channel cannot tell golden questions from real work.

The attacker answers about 300 items while a colleague works beside them and runs come
and go, and records what they can observe: what undo and skip-then-undo answer in each
situation, where each item falls in the sequence (the item's text gives its import
position away, the worst case), the JSON, the headers and the HTML. Deterministic
channels must be equal for golden and real items; for the others a classifier that
predicts "golden" from the feature must stay within a binomial bound of chance
(balanced accuracy 0.5). Timings are measured in ``benchmarks/gold_timing.py``, not here.
"""

import hashlib
import math
import random
import re
from collections import defaultdict

from helpers import Session, add_users, make_project
from sqlalchemy import select

from labelquorum.quality import mark_gold
from labelquorum.store import schema
from labelquorum.web import create_app

N_ITEMS, CONTROL_SHARE, ANSWERS = 420, 0.15, 300


def _project(root, **kwargs):
    """Items whose text gives their import position; a random 15 % of them control gold
    (as ``--split control=...`` draws them), then a run sends everything to people."""
    p = make_project(root, n=N_ITEMS, overlap=1, gold_rate=CONTROL_SHARE, run=False, **kwargs)
    for i in range(N_ITEMS):
        if hashlib.sha1(f"c{i}".encode()).digest()[0] < 256 * CONTROL_SHARE:
            mark_gold(p, f"i{i:04d}", "pos" if i % 2 else "neg")
    p.run()
    return p


def _control(p, public_id):
    a = schema.assignments
    with p.store.connect() as conn:
        return bool(conn.execute(select(a.c.control).where(a.c.public_id == public_id))
                    .scalar())


def _strip(html):
    """The annotate page without what belongs to this item (its text, opaque id and
    suggestion) and without the person's running counts."""
    html = re.sub(r'[0-9a-f]{32}', '', html)
    html = re.sub(r'(<div class="field-text" data-testid="item-text">)[^<]*(</div>)', r"\1\2",
                  html)
    html = re.sub(r'data-suggestion="[^"]*" data-confidence="[^"]*"', '', html)
    return re.sub(r'(data-testid="progress-[a-z]+"[^>]*>)[^<]*', r"\1", html)


def _balanced_accuracy(golden, real):
    """Of the rule 'golden iff the feature is true'."""
    tpr = sum(golden) / len(golden)
    tnr = 1 - sum(real) / len(real)
    return (tpr + tnr) / 2


def _chance_bound(n_golden, n_real, sigmas=4.0):
    # the balanced accuracy of a feature independent of the class has variance at most
    # (1/n_golden + 1/n_real) / 16
    return sigmas * math.sqrt((1 / n_golden + 1 / n_real) / 16)


def test_an_annotator_trying_every_channel_cannot_tell_golden_from_real(tmp_path):
    p = _project(tmp_path / "p")
    add_users(p, {"ann": "annotator", "bob": "annotator"})
    app = create_app(p)
    ann, bob = Session(app, "ann"), Session(app, "bob")
    rng = random.Random(11)
    codes = defaultdict(lambda: {True: set(), False: set()})
    features = defaultdict(lambda: {True: [], False: []})
    shapes = {True: set(), False: set()}
    pages = {True: set(), False: set()}
    numbers = []

    def colleague_works():
        item = bob.next()
        if item is not None:
            bob.post("/api/submit", json={"id": item["id"], "label": "pos"})

    def undo_code():
        r = ann.post("/api/undo")
        return r.status_code, (r.json().get("error") or {}).get("code")

    answered = 0
    while answered < ANSWERS:
        r = ann.get("/api/next")
        item = r.json()["item"]
        if item is None:
            break
        gold = _control(p, item["id"])
        shapes[gold].add((tuple(sorted(k for k in r.headers if k != "content-length")),
                          tuple(sorted(item)), tuple(sorted(item["suggestion"] or {}))))
        if answered % 7 == 0:
            pages[gold].add(_strip(ann.get("/annotate").text))
        number = int(re.search(r"number (\d+)", item["fields"]["text"]).group(1))
        # real work in import order comes in a run of neighbours; is this one far off?
        recent = sorted(numbers[-5:])
        features["far from the last five"][gold].append(
            bool(recent) and abs(number - recent[len(recent) // 2]) > 20)
        features["below the median so far"][gold].append(
            bool(numbers) and number < sorted(numbers)[len(numbers) // 2])
        features["has a suggestion"][gold].append(item["suggestion"] is not None)
        numbers.append(number)

        scenario = rng.choices(["answer", "answer, undo", "answer, colleague, undo",
                                "answer, run, undo", "skip, undo", "skip, colleague, undo",
                                "skip, run, undo"],
                               weights=[30, 15, 15, 5, 15, 15, 5])[0]
        first, *rest = scenario.split(", ")
        if first == "answer":
            ann.post("/api/submit", json={"id": item["id"], "label": "neg"})
        else:
            ann.post("/api/skip", json={"id": item["id"]})
        if "colleague" in rest:
            colleague_works()
        if "run" in rest:
            p.run()
        if "undo" in rest:
            code = undo_code()
            codes[scenario][gold].add(code)
            if code[0] == 200:  # the item is back: answer it this time
                ann.post("/api/submit", json={"id": item["id"], "label": "neg"})
        answered += 1

    assert answered == ANSWERS
    n_golden = len(features["has a suggestion"][True])
    n_real = len(features["has a suggestion"][False])
    assert n_golden >= 25 and n_real >= 150, (n_golden, n_real)

    problems = []  # every channel that gives golden questions away, reported together
    # undo and skip-then-undo: the same answer in the same situation
    for scenario, by_kind in sorted(codes.items()):
        if by_kind[True] and by_kind[False] and by_kind[True] != by_kind[False]:
            problems.append(f"{scenario}: golden {by_kind[True]}, real {by_kind[False]}")
    assert {s for s, k in codes.items() if k[True] and k[False]} >= {
        "answer, undo", "answer, colleague, undo", "skip, undo", "skip, colleague, undo"}
    assert codes["answer, undo"][False] == {(200, None)}  # undo itself still works

    # the same JSON and headers, the same page
    if shapes[True] != shapes[False]:
        problems.append(f"responses: golden {shapes[True]}, real {shapes[False]}")
    if not pages[True] or pages[True] != pages[False]:
        problems.append("the annotate page differs")

    # ordering and suggestions: no better than chance
    bound = _chance_bound(n_golden, n_real)
    for name, by_kind in features.items():
        accuracy = _balanced_accuracy(by_kind[True], by_kind[False])
        if abs(accuracy - 0.5) > bound:
            problems.append(f"{name}: balanced accuracy {accuracy:.2f}, chance 0.5 ± {bound:.2f}")
    assert not problems, "\n".join(problems)
    p.close()


SIMULATED = """
[annotators.oracle]
type = "simulated"
stands_for = "model"
accuracy = 1.0
"""


def test_golden_questions_never_suggest_the_gold(tmp_path):
    """A simulated annotator answers from the gold: its answer on a golden question is the
    gold itself. Suggestions come from annotators that never saw the gold, for golden
    questions and real work alike."""
    p = make_project(tmp_path / "p", n=20, overlap=1, control=10, gold_rate=0.9, run=False,
                     extra=SIMULATED)
    text = (p.path / "labelquorum.toml").read_text().replace(
        'annotators = ["rules"]\nmin_confidence = 0.99\nmin_votes = 2',
        'annotators = ["rules", "oracle"]\nmin_confidence = 0.99\nmin_votes = 3')
    (p.path / "labelquorum.toml").write_text(text)
    p.close()
    from labelquorum import open_project

    p = open_project(p.path)
    p.run()
    sims = p.judgements().query("annotator_name == 'oracle' and status == 'ok'")
    assert len(sims) == 10  # the oracle answered every golden question, with its gold
    gold = p.gold_labels()
    add_users(p, {"ann": "annotator"})
    s = Session(create_app(p), "ann")
    a = schema.assignments
    seen_golden = 0
    while (item := s.next()) is not None:
        with p.store.connect() as conn:
            item_id, control = conn.execute(select(a.c.item_id, a.c.control)
                                            .where(a.c.public_id == item["id"])).one()
        suggestion = item["suggestion"]
        if control:
            seen_golden += 1
            assert suggestion is None or suggestion["label"] != gold[item_id], item_id
        # the rules annotator's answer, or none: never the oracle's
        expected = "pos" if int(item_id[1:]) % 2 else None
        assert (suggestion or {}).get("label") == expected, (item_id, suggestion)
        s.post("/api/submit", json={"id": item["id"], "label": "pos"})
    assert seen_golden >= 3
    p.close()
