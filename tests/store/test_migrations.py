"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from jupyter_sxwl.store.database import open_database
from jupyter_sxwl.store.models import Base, Job, Queue


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'platform.sqlite'}"
    return request.getfixturevalue("fresh_postgres_url")  # type: ignore[no-any-return]


def test_migrations_match_the_models(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        assert {"jobs", "queues", "user_limits", "code_packages", "alembic_version"} <= set(
            inspect(db.engine).get_table_names()
        )
    finally:
        db.dispose()


def test_upgrade_is_idempotent_and_keeps_data(db_url: str) -> None:
    db = open_database(db_url)
    with db.session() as session:
        session.add(Queue(name="default", quotas={"cpu": {"cpu": 4}}))
    db.dispose()
    db = open_database(db_url)  # a second start migrates nothing and loses nothing
    try:
        with db.session() as session:
            queue = session.scalar(select(Queue))
            assert queue is not None and queue.quotas == {"cpu": {"cpu": 4}}
            assert session.scalar(select(Job)) is None
    finally:
        db.dispose()


def test_a_failed_transaction_leaves_nothing_behind(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with pytest.raises(RuntimeError), db.session() as session:
            session.add(Queue(name="half-written"))
            session.flush()
            raise RuntimeError("crash in the middle")
        with db.session() as session:
            assert session.get(Queue, "half-written") is None
    finally:
        db.dispose()
