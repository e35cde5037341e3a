"""The hub fixtures: custom platform settings reach the platform; nothing outlives a hub."""

from __future__ import annotations

from collections.abc import Callable

import psutil
import pytest
import requests

from tests.support import Hub, start_hub

pytestmark = pytest.mark.e2e

TINY_CATALOGUE = """
import os
c.SxwlPlatform.data_dir = os.path.join(os.environ["SXWL_STATE_DIR"], "platform")
c.SxwlPlatform.flavours = [
    {"name": "tiny", "resource_name": None, "accelerators_per_node": 0, "cpu_per_node": 1.0,
     "memory_gb_per_node": 1.0, "nodes": 2, "node_labels": {}, "tolerations": [],
     "device_env": None, "distributed_backend": "gloo", "price_per_card_hour": 0.0,
     "description": "one core"},
]
c.SxwlPlatform.queues = [{"name": "default", "quotas": {}, "users": None,
                          "strategy": "BestEffortFIFO", "description": ""}]
"""


def info(hub: Hub, user: str = "alice") -> dict:
    r = requests.get(
        f"{hub.platform_url}info",
        headers={"Authorization": f"token {hub.token_for(user)}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    result: dict = r.json()
    return result


@pytest.mark.postgres
def test_second_hub_with_postgres_and_its_own_catalogue(
    make_hub: Callable[..., Hub], fresh_postgres_url: str
) -> None:
    hub = make_hub(
        platform_args=[f"--SxwlPlatform.db_url={fresh_postgres_url}"],
        platform_config_text=TINY_CATALOGUE,
    )
    assert [f["name"] for f in info(hub)["flavours"]] == ["tiny"]
    # The platform created its tables in the PostgreSQL database, not in a SQLite file.
    import sqlalchemy as sa

    engine = sa.create_engine(fresh_postgres_url)
    tables = sa.inspect(engine).get_table_names()
    engine.dispose()
    assert tables, "the platform's schema is in PostgreSQL"


def test_stopping_a_hub_leaves_no_process_behind() -> None:
    with start_hub(name="leak-check") as hub:
        info(hub)
        started = psutil.Process(hub.process.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "jupyterhub" in names and "configurable-http-proxy" in names
        assert "jupyter_sxwl.platform" in names
    alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert "killed processes left behind" not in hub.hub_log()
