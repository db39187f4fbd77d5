"""The PostgreSQL fixtures give a working server and a private database per test."""

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select


@pytest.mark.postgres
def test_postgres_db_url_round_trips_a_row(postgres_db_url):
    metadata = MetaData()
    judgements = Table(
        "judgements",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("label", String, nullable=False),
    )
    engine = create_engine(postgres_db_url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(judgements), [{"id": 1, "label": "positive"}])
        with engine.connect() as conn:
            rows = conn.execute(select(judgements.c.id, judgements.c.label)).all()
    finally:
        engine.dispose()

    assert engine.dialect.name == "postgresql"
    assert [tuple(row) for row in rows] == [(1, "positive")]
