"""The bulk import path: chunked inserts on SQLite, COPY on PostgreSQL. Whatever the
store, the same file gives the same items; a duplicate id is refused wherever the chunk
boundaries fall and nothing is stored; a process killed between two chunks leaves
nothing behind, and the same import then succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import labelquorum as lq
from labelquorum import importing

CONFIG = """
[project]
name = "bulk"
{store}
[task]
labels = ["negative", "positive"]
[annotators.rules]
type = "rules"
rules = [{{ label = "positive", keywords = ["good"] }}]
[policy]
type = "cascade"
[[policy.tiers]]
annotators = ["rules"]
"""
# what a COPY text stream must escape: tabs, newlines, backslashes, and any unicode
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
               min_size=1, max_size=10).filter(lambda s: s.strip())
row = st.tuples(text, st.sampled_from(["", "negative", "positive"]),
                st.one_of(st.none(), text))


def project(root, url=None):
    store = f'[store]\nurl = "{url}"' if url else ""
    return lq.init_project(root, config_text=CONFIG.format(store=store))


def frame(rows):
    return pd.DataFrame({"id": [f"i{n}" for n in range(len(rows))],
                         "text": [t for t, _, _ in rows], "gold": [g for _, g, _ in rows],
                         "note": [n for _, _, n in rows]})


@pytest.fixture(scope="module")
def pg_urls(postgres_url):
    import pg_server

    made = []

    def new():
        name = f"lq_bulk_{len(made)}_{os.getpid()}"
        made.append(name)
        return pg_server.create_database(postgres_url, name)
    yield new
    for name in made:
        pg_server.drop_database(postgres_url, name)


@settings(max_examples=12, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=8), st.integers(1, 3))
def test_copy_into_postgresql_stores_what_sqlite_stores(tmp_path_factory, monkeypatch, pg_urls,
                                                         rows, chunk):
    monkeypatch.setattr(importing, "INSERT_CHUNK", chunk)
    root = tmp_path_factory.mktemp("b")
    exports = []
    for name, url in (("lite", None), ("pg", pg_urls())):
        p = project(root / name, url)
        result = p.import_dataframe(frame(rows))
        assert result.items == len(rows)
        exports.append(p.to_dataframe("all"))
        p.close()
    pd.testing.assert_frame_equal(exports[0], exports[1])
    assert exports[1]["text"].tolist() == [t for t, _, _ in rows]


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_duplicate_id_across_a_chunk_boundary_is_refused_and_nothing_stored(
        tmp_path, monkeypatch, store, request):
    monkeypatch.setattr(importing, "INSERT_CHUNK", 2)
    url = request.getfixturevalue("pg_urls")() if store == "postgres" else None
    p = project(tmp_path / "p", url)
    rows = frame([("one", "", None), ("two", "", None), ("three", "", None)])
    rows.loc[2, "id"] = "i1"  # the third row (second chunk) repeats the second's id
    with pytest.raises(lq.ImportDataError, match="duplicate id 'i1'"):
        p.import_dataframe(rows)
    assert p.status().items == 0
    p.import_dataframe(frame([("one", "", None), ("two", "", None)]))
    again = frame([("x", "", None), ("y", "", None), ("z", "", None)])
    again["id"] = ["new", "newer", "i1"]  # i1 is in the project already (third row)
    with pytest.raises(lq.ImportDataError, match="'i1' is already in the project"):
        p.import_dataframe(again)
    assert p.status().items == 2
    p.close()


KILLER = """
import os, signal, sys
import pandas as pd
import labelquorum as lq
from labelquorum import importing

importing.INSERT_CHUNK = 3
real, calls = importing.copy_rows, []

def copy_then_die(*args, **kwargs):
    real(*args, **kwargs)
    calls.append(1)
    if len(calls) == 2:  # two chunks written, the transaction still open
        os.kill(os.getpid(), signal.SIGKILL)

importing.copy_rows = copy_then_die
p = lq.open_project(sys.argv[1])
p.import_dataframe(pd.DataFrame({"text": [f"item {n}" for n in range(10)]}))
"""


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_an_import_killed_between_chunks_leaves_nothing_and_can_be_run_again(
        tmp_path, store, request):
    url = request.getfixturevalue("pg_urls")() if store == "postgres" else None
    project(tmp_path / "p", url).close()
    script = tmp_path / "killer.py"
    script.write_text(textwrap.dedent(KILLER))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "p")],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    p = lq.open_project(tmp_path / "p")
    assert p.status().items == 0
    result = p.import_dataframe(pd.DataFrame({"text": [f"item {n}" for n in range(10)]}))
    assert result.items == 10 and p.status().items == 10
    p.close()
