"""A Sign is accepted once: the window of accepted Signs lives in the database, so neither a
platform restart nor a second platform process on the same database lets a replay through."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from jupyter_sxwl.platform.gateway import WINDOW_SECONDS, ReplayGuard
from jupyter_sxwl.store.database import open_database
from jupyter_sxwl.store.models import GatewaySign


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'platform.sqlite'}"
    return request.getfixturevalue("fresh_postgres_url")  # type: ignore[no-any-return]


def test_a_sign_is_accepted_once_across_restarts_and_processes(db_url: str) -> None:
    now = 1_800_000_000.0
    db = open_database(db_url)
    guard = ReplayGuard(db)
    assert guard.check_and_remember("a" * 40, now)
    assert not guard.check_and_remember("a" * 40, now + 1)  # from memory
    db.dispose()

    # After a restart (a new guard, nothing in memory) the database still refuses it, and a
    # second platform process on the same database refuses it too.
    restarted, other = ReplayGuard(open_database(db_url)), ReplayGuard(open_database(db_url))
    assert not restarted.check_and_remember("a" * 40, now + 2)
    assert other.check_and_remember("b" * 40, now + 3)
    assert not restarted.check_and_remember("b" * 40, now + 4)

    # Signs that can no longer pass the Timestamp check are pruned from both places.
    later = now + 2 * WINDOW_SECONDS + 10
    restarted.prune(later)
    with restarted.db.session() as session:
        assert session.scalar(select(func.count()).select_from(GatewaySign)) == 0
    assert restarted.check_and_remember("c" * 40, later)
    restarted.db.dispose()
    other.db.dispose()


def test_the_platform_key_file_is_owner_only_and_kept(tmp_path: Path) -> None:
    from jupyter_sxwl.platform.gateway import KeyRing

    path = tmp_path / "data" / "gateway.key"
    leftover = path.with_suffix(".tmp")
    leftover.parent.mkdir()
    leftover.write_bytes(b"half-written")
    leftover.chmod(0o644)  # left by a crash, with a wider mode
    key = KeyRing.load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and not leftover.exists()
    assert KeyRing.load_or_create_key(path) == key  # made once, then read
