"""The server under abuse and load, with real servers and real processes: big bodies
refused before they are read, a locked store, huge labels, bad ports, many writers."""

import os
import re
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from helpers import PASSWORD, Session, add_users, make_project
from liveserver import LiveServer
from sqlalchemy import event

from labelquorum.web import create_app
from labelquorum.web.auth import Accounts

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
HUNDRED_MB = 100 * 2**20


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "labelquorum.cli", *args], env=ENV, check=False,
                          capture_output=True, text=True, timeout=120, **kw)


def post_until_answered(port: int, head: str, total: int, chunked: bool = False):
    """Send ``head`` and then up to ``total`` body bytes, as fast as the server takes
    them, until it answers. Returns (status code, body bytes sent before the answer)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head.encode())
    block = b"x" * 65536
    if chunked:
        block = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    sent, answer = 0, b""
    sock.setblocking(False)
    try:
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 60)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(block if chunked else block[:total - sent])
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:  # the server closed the connection: read its answer
                    break
        sock.setblocking(True)
        sock.settimeout(60)
        while b"\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
    return status, sent


@pytest.fixture
def live(tmp_path):
    p = make_project(tmp_path / "p", n=4, overlap=1)
    add_users(p, {"ann": "annotator", "rev": "reviewer"})
    acc = Accounts(p.store)
    token = acc.create_token(acc.user_id("ann"), "big")
    with LiveServer(create_app(p)) as server:
        yield server.port, token
    p.close()


def _head(path: str, length: int | None, auth: str = "", kind="application/json") -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {kind}"]
    lines.append(f"Content-Length: {length}" if length is not None
                 else "Transfer-Encoding: chunked")
    if auth:
        lines.append(f"Authorization: Bearer {auth}")
    return "\r\n".join(lines) + "\r\n\r\n"


def test_a_100_mb_post_is_refused_before_it_is_sent(live):
    port, token = live
    status, sent = post_until_answered(port, _head("/api/submit", HUNDRED_MB), HUNDRED_MB)
    assert status in (401, 413) and sent < HUNDRED_MB // 2
    status, sent = post_until_answered(port, _head("/api/submit", HUNDRED_MB, token),
                                       HUNDRED_MB)
    assert status == 413 and sent < HUNDRED_MB // 2
    # the same without a length (chunked): refused once the limit is passed
    status, sent = post_until_answered(port, _head("/api/submit", None, token), HUNDRED_MB,
                                       chunked=True)
    assert status == 413 and sent < HUNDRED_MB // 2
    status, sent = post_until_answered(
        port, _head("/login", HUNDRED_MB, kind="application/x-www-form-urlencoded"),
        HUNDRED_MB)
    assert status == 413 and sent < HUNDRED_MB // 2


def test_authentication_is_checked_before_the_body_is_read(live):
    port, _ = live
    length = 900_000  # under the limit; the server answers before half of it has come
    status, sent = post_until_answered(port, _head("/api/submit", length), length // 2)
    assert status == 401 and sent <= length // 2  # it did not wait for the rest
    status, sent = post_until_answered(
        port, _head("/admin/users", length, kind="application/x-www-form-urlencoded"),
        length // 2)
    assert status == 303 and sent <= length // 2  # pages: to the login form


def test_huge_invalid_labels_are_not_echoed_back(session):
    s = session("ann")
    item = s.next()
    r = s.post("/api/submit", json={"id": item["id"], "label": "z" * 5_000_000})
    assert r.status_code == 413 and len(r.content) < 2000
    r = s.post("/api/submit", json={"id": item["id"], "label": "z" * 500_000})
    assert r.status_code == 422 and len(r.content) < 2000
    assert "500000 characters" in r.json()["error"]["message"]


def test_a_locked_store_answers_503_with_retry_after(tmp_path):
    p = make_project(tmp_path / "p", n=4, overlap=1)
    add_users(p, {"ann": "annotator"})
    app = create_app(p)
    ann = Session(app, "ann")
    item = ann.next()

    @event.listens_for(p.store.engine, "connect")
    def short_wait(dbapi_conn, _record):  # the app waits 0.2 s instead of 30 for the lock
        dbapi_conn.execute("PRAGMA busy_timeout=200")

    p.store.engine.dispose()
    import sqlite3

    holder = sqlite3.connect(p.path / "labelquorum.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        r = ann.post("/api/submit", json={"id": item["id"], "label": "pos"})
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json()["error"]["code"] == "busy"
        page = ann.post("/tokens", data={"name": "x", "csrf_token": ann.csrf})
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "try again in a few seconds" in page.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ann.post("/api/submit", json={"id": item["id"], "label": "pos"}).status_code == 200
    p.close()


def test_serve_port_errors_are_one_clear_line_and_port_0_prints_the_real_port(tmp_path):
    p = make_project(tmp_path / "p", n=2, run=False)
    p.close()
    path = str(tmp_path / "p")
    r = cli("serve", "-p", path, "--port", "99999")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "not a TCP port" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = cli("serve", "-p", path, "--port", str(taken.getsockname()[1]))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "cannot listen on 127.0.0.1:" in r.stderr
    server = subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "serve", "-p", path,
                               "--host", "0.0.0.0", "--port", "0"], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        port = int(re.search(r"http://0\.0\.0\.0:(\d+)/", line).group(1))
        assert port != 0
        # open to others without web.public_url: it says invite links cannot be made
        assert "web.public_url is not set" in server.stdout.readline()
        for _ in range(300):
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/login").status_code == 200
                break
            except httpx.ConnectError:
                assert server.poll() is None
                threading.Event().wait(0.1)
        else:
            raise AssertionError("the server did not answer on the port it printed")
    finally:
        server.terminate()
        server.wait(timeout=30)


CHILD = """
import os, sys, time
from labelquorum.cli import app
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.001)
sys.argv = ["labelquorum", "user", "add", sys.argv[3], "--password-stdin", "-p", sys.argv[4]]
app()
"""


def test_seven_user_adds_at_once_all_succeed(tmp_path):
    """Seven processes, released at the same instant, each add an account."""
    p = make_project(tmp_path / "p", n=2, run=False)
    p.close()
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(go), str(tmp_path / f"r{i}"),
                               f"user{i}", str(tmp_path / "p")], env=ENV, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for i in range(7)]
    for proc in procs:
        proc.stdin.write(PASSWORD + "\n")
        proc.stdin.flush()
    while not all((tmp_path / f"r{i}").exists() for i in range(7)):
        assert all(proc.poll() is None for proc in procs)
        threading.Event().wait(0.01)
    go.touch()
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 7, outputs
    from labelquorum import open_project

    p = open_project(tmp_path / "p")
    assert sorted(u["name"] for u in Accounts(p.store).users()) == [f"user{i}"
                                                                    for i in range(7)]
    p.close()


def test_runs_beside_a_busy_server_never_meet_a_lock(tmp_path):
    """Four people answer as fast as they can while ``labelquorum run`` runs three times
    beside the server: no request fails, no run reports a lock."""
    p = make_project(tmp_path / "p", n=80, overlap=1)
    add_users(p, {f"a{i}": "annotator" for i in range(4)})
    p.close()
    path = str(tmp_path / "p")
    server = subprocess.Popen([sys.executable, "-m", "labelquorum.cli", "serve", "-p", path,
                               "--port", "0"], env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    statuses, errors = [], []
    try:
        port = int(re.search(r":(\d+)/", server.stdout.readline()).group(1))
        base = f"http://127.0.0.1:{port}"

        def annotate(name):
            with httpx.Client(base_url=base, timeout=120) as c:
                for _ in range(300):
                    try:
                        c.get("/login")
                        break
                    except httpx.ConnectError:
                        threading.Event().wait(0.1)
                form = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
                c.post("/login", data={"name": name, "password": PASSWORD,
                                       "csrf_token": form.group(1)})
                csrf = c.get("/api/me").json()["csrf"]
                while True:
                    r = c.get("/api/next")
                    statuses.append(r.status_code)
                    item = r.json().get("item") if r.status_code == 200 else None
                    if item is None:
                        return
                    r = c.post("/api/submit", json={"id": item["id"], "label": "pos"},
                               headers={"X-CSRF-Token": csrf})
                    statuses.append(r.status_code)

        people = [threading.Thread(target=annotate, args=(f"a{i}",)) for i in range(4)]
        for t in people:
            t.start()
        for _ in range(3):
            r = cli("run", "-p", path)
            if r.returncode not in (0, 3) or "locked" in r.stdout + r.stderr:
                errors.append(r.stdout + r.stderr)
        for t in people:
            t.join(timeout=300)
    finally:
        server.terminate()
        out = server.communicate(timeout=30)[0]
    assert not errors, errors
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    assert "locked" not in out and "Traceback" not in out
