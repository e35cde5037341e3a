"""The PostgreSQL fixtures give a real server and isolated databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres


def test_session_database_is_a_real_postgres(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    engine.dispose()
    assert int(str(version).split(".")[0]) >= 13


@pytest.mark.parametrize("round_", [1, 2])
def test_fresh_database_starts_empty(fresh_postgres_url: str, round_: int) -> None:
    # The same table created in each round: it would collide if the database were shared.
    engine = sa.create_engine(fresh_postgres_url)
    with engine.begin() as conn:
        tables = conn.execute(
            sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
        ).scalar_one()
        assert tables == 0
        conn.execute(sa.text("CREATE TABLE marker (n int)"))
        conn.execute(sa.text("INSERT INTO marker VALUES (:n)"), {"n": round_})
    engine.dispose()


def test_fresh_databases_differ_from_session_database(
    postgres_url: str, fresh_postgres_url: str
) -> None:
    assert postgres_url.rsplit("/", 1)[1] != fresh_postgres_url.rsplit("/", 1)[1]
