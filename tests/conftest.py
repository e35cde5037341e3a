"""Session-wide fixtures: a real PostgreSQL server and a real JupyterHub with the platform.

The implementations live in tests/support.py (importable as ``tests.support``) so a module can
also start its own instance with different settings.

- ``postgres_server``: the session's :class:`~tests.support.PostgresServer`
- ``postgres_url``: SQLAlchemy URL (``postgresql+psycopg://…``) of a database made for the session
- ``fresh_postgres_url``: a new empty database for one test, dropped afterwards
- ``hub``: the session's JupyterHub (:class:`~tests.support.Hub`) with the ``sxwl`` service
- ``make_hub``: ``make_hub(platform_args=[...], platform_config_text=None)`` starts another hub,
  stopped after the test
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import pytest

from tests.support import Hub, PostgresServer, free_port, start_hub, start_postgres

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
