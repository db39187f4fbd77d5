"""``labelquorum user`` commands, and the optional assistant and judge hooks."""

from helpers import Session, add_users, make_project
from typer.testing import CliRunner

from labelquorum.cli import app as cli
from labelquorum.web import create_app
from labelquorum.web.assist import Advice, Verdict
from labelquorum.web.auth import Accounts


def test_user_add_list_and_token(tmp_path):
    p = make_project(tmp_path / "p", n=2, run=False)
    path = str(p.path)
    runner = CliRunner()
    r = runner.invoke(cli, ["user", "add", "alice", "--role", "reviewer", "--password-stdin",
                            "-p", path], input="a good long password\n")
    assert r.exit_code == 0, r.output
    assert Accounts(p.store).authenticate("alice", "a good long password").role == "reviewer"
    r = runner.invoke(cli, ["user", "add", "alice", "--password-stdin", "-p", path],
                      input="another password\n")
    assert r.exit_code == 1 and "exists already" in r.output
    r = runner.invoke(cli, ["user", "add", "bob", "--role", "boss", "--password-stdin",
                            "-p", path], input="a good long password\n")
    assert r.exit_code == 1 and "annotator, reviewer, admin" in r.output
    r = runner.invoke(cli, ["user", "add", "carl", "--password-stdin", "-p", path],
                      input="short\n")
    assert r.exit_code == 1 and "too short" in r.output
    r = runner.invoke(cli, ["user", "add", "dora", "--invite", "-p", path,
                            "--url", "https://label.example.org/"])
    assert r.exit_code == 0 and "https://label.example.org/invite?token=" in r.output
    r = runner.invoke(cli, ["user", "list", "-p", path])
    rows = [line.split() for line in r.output.splitlines()]
    assert ["alice", "reviewer", "active"] in rows and ["dora", "annotator", "active"] in rows
    r = runner.invoke(cli, ["user", "token", "alice", "-p", path])
    token = r.output.strip()
    assert token.startswith("lq_") and Accounts(p.store).token_user(token).name == "alice"
    r = runner.invoke(cli, ["user", "token", "nobody", "-p", path])
    assert r.exit_code == 1 and "no user named 'nobody'" in r.output
    p.close()


def test_assistant_and_judge_hooks(tmp_path):
    p = make_project(tmp_path / "p", n=2, overlap=1)
    add_users(p, {"ann": "annotator", "rev": "reviewer"})
    seen = []

    def assistant(fields, task):
        seen.append(fields["text"])
        return Advice(label=task.labels[1], rationale="it says bad", cost=0.001)

    def judge(fields, task, label):
        return Verdict(score=0.25, note=f"{label!r} misses the rubric", cost=0.002)

    app = create_app(p, assistant=assistant, judge=judge)
    s = Session(app, "ann")
    assert 'id="assist"' in s.get("/annotate").text
    item = s.next()
    r = s.post("/api/assist", json={"id": item["id"]})
    assert r.json() == {"label": "neg", "rationale": "it says bad"}
    assert seen == [item["fields"]["text"]]
    s.post("/api/submit", json={"id": item["id"], "label": "pos"})
    rev = Session(app, "rev")
    item_id = p.judgements().query("annotator_name == 'people'")["item"].iloc[0]
    people = rev.get(f"/api/items/{item_id}").json()["people"]
    assert people[0]["judge_score"] == 0.25 and "misses the rubric" in people[0]["judge_note"]
    # both calls are logged with their cost, like every model call
    from labelquorum.store import schema

    with p.store.connect() as conn:
        calls = conn.execute(schema.model_calls.select()).all()
    assert sorted((c.annotator, c.cost) for c in calls) == [("web:assistant", 0.001),
                                                            ("web:judge", 0.002)]
    kinds = {c["annotator"]: c for c in rev.get("/api/stats").json()["cost"]}
    assert kinds["web:assistant"]["cost"] == 0.001 and kinds["web:judge"]["kind"] == "llm"
    # without them: the assistant is off, and the page says why
    bare = Session(create_app(p), "ann")
    page = bare.get("/annotate").text
    assert 'id="assist"' not in page and "No LLM annotator is configured" in page
    item = bare.next()
    r = bare.post("/api/assist", json={"id": item["id"]})
    assert r.status_code == 503 and r.json()["error"]["code"] == "assistant_unavailable"
    p.close()


def test_serve_command_runs_the_app(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    p = make_project(tmp_path / "p", n=2, overlap=1)
    p.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    server = subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "serve", "-p",
                               str(tmp_path / "p"), "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        assert r.status_code == 200 and 'id="login-form"' in r.text
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        r = httpx.get(f"http://127.0.0.1:{port}/api/next")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    finally:
        server.terminate()
        server.wait(timeout=30)
