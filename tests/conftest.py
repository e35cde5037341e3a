"""Session-wide fixtures: a real PostgreSQL server and a real JupyterHub with the platform.

The implementations live in tests/support.py (importable as ``tests.support``) so a module can
also start its own instance with different settings.

- ``postgres_server``: the session's :class:`~tests.support.PostgresServer`
- ``postgres_url``: SQLAlchemy URL (``postgresql+psycopg://…``) of a database made for the session
- ``fresh_postgres_url``: a new empty database for one test, dropped afterwards
- ``hub``: the session's JupyterHub (:class:`~tests.support.Hub`) with the ``sxwl`` service
- ``make_hub``: ``make_hub(platform_args=[...], platform_config_text=None)`` starts another hub,
  stopped after the test
- ``s3_server``: the session's SeaweedFS (:class:`~tests.support.SeaweedFS`: ``endpoint_url``,
  ``access_key``, ``secret_key``, ``client()``)
- ``s3_bucket``: the name of a new, empty bucket on ``s3_server`` for one test
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import pytest

from tests.support import (
    Hub,
    PostgresServer,
    SeaweedFS,
    free_port,
    start_hub,
    start_postgres,
    start_seaweedfs,
)

__all__ = ["free_port"]  # `from tests.conftest import free_port` keeps working


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, started on first use."""
    with start_postgres("session") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of a database created for the session (tests sharing it must clean up after them)."""
    return postgres_server.create_database("sxwl_test")


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a new, empty database for this test only."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def hub() -> Iterator[Hub]:
    """The session's JupyterHub with the platform on its default (SQLite) configuration."""
    with start_hub(name="session") as h:
        yield h


@pytest.fixture
def make_hub(request: pytest.FixtureRequest) -> Iterator[Callable[..., Hub]]:
    """Factory for extra hubs: ``make_hub(platform_args=[...], platform_config_text=None)``.

    Each hub started through it is stopped when the test ends.
    """
    with ExitStack() as stack:

        def factory(
            platform_args: Sequence[str] = (),
            platform_config_text: str | None = None,
            **kwargs: Any,
        ) -> Hub:
            kwargs.setdefault("name", request.node.name[:60])
            return stack.enter_context(
                start_hub(
                    platform_args=platform_args,
                    platform_config_text=platform_config_text,
                    **kwargs,
                )
            )

        yield factory


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedFS]:
    """One SeaweedFS S3 server for the whole session, started on first use."""
    with start_seaweedfs("session") as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: SeaweedFS) -> Iterator[str]:
    """A new, empty bucket for this test; emptied and removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    client = s3_server.client()
    client.create_bucket(Bucket=name)
    yield name
    with contextlib.suppress(Exception):  # best effort: the server is thrown away anyway
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=name)
