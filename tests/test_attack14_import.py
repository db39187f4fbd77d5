"""Attacks on the bulk import (issue #14): what a CSV or a DataFrame may hold that the
COPY path of PostgreSQL must carry as SQLite does, or refuse with a clear error."""

from __future__ import annotations

import os

import pandas as pd
import pytest

import labelquorum as lq

CONFIG = """
[project]
name = "bulk-attack"
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


@pytest.fixture
def pg_url(postgres_url):
    import pg_server

    name = f"lq_a14_{os.getpid()}_{id(object()) % 10**6}"
    yield pg_server.create_database(postgres_url, name)
    pg_server.drop_database(postgres_url, name)


def _project(root, url=None):
    store = f'[store]\nurl = "{url}"' if url else ""
    return lq.init_project(root, config_text=CONFIG.format(store=store))


ODD = ["a\rb", "tab\there", "back\\slash", "new\nline", "a\r\nb", "\\N", "\\u0000 as text"]


@pytest.mark.parametrize("where", ["ids", "text"])
def test_postgresql_stores_odd_characters_as_sqlite_does(tmp_path, pg_url, where):
    """Ids and texts with carriage returns, tabs, backslashes and COPY's null marker:
    PostgreSQL (COPY) stores what SQLite stores."""
    df = pd.DataFrame({"id": [f"i{n}" for n in range(len(ODD))], "text": list(ODD)})
    if where == "ids":
        df = pd.DataFrame({"id": ODD, "text": [f"text {n}" for n in range(len(ODD))]})
    got = []
    for name, url in (("lite", None), ("pg", pg_url)):
        p = _project(tmp_path / name, url)
        try:
            p.import_dataframe(df, id_column="id")
            got.append(p.to_dataframe("all")[["id", "text"]])
        finally:
            p.close()
    pd.testing.assert_frame_equal(got[0], got[1])
    assert got[1][where[:-1] if where == "ids" else "text"].tolist() == ODD


@pytest.mark.parametrize("where", ["id", "text", "note"])
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_nul_character_is_refused_clearly_and_the_project_still_exports(
        tmp_path, request, where, store):
    """PostgreSQL cannot hold a NUL character: in an id, COPY failed with a raw driver
    error; in a field, the import succeeded (JSON escapes it) and then every export of
    the project failed in the database (``json_object_keys``). Both stores now refuse it
    at import, naming the row and the field, and the project exports."""
    url = request.getfixturevalue("pg_url") if store == "postgres" else None
    df = pd.DataFrame({"id": ["a", "b"], "text": ["fine", "also fine"], "note": ["x", "y"]})
    df.loc[1, where] = "bad\x00value"
    p = _project(tmp_path / "p", url)
    try:
        with pytest.raises(lq.ImportDataError, match="NUL") as info:
            p.import_dataframe(df, id_column="id")
        assert "row 2" in str(info.value) and where in str(info.value)
        assert p.status().items == 0
        p.import_dataframe(df.drop(index=1), id_column="id")
        assert p.to_dataframe("all")["text"].tolist() == ["fine"]
    finally:
        p.close()
