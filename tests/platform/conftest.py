"""A hub whose platform has a GPU catalogue and quotas, once on SQLite and once on PostgreSQL.

The GPU flavour is configuration only: the local backend runs the jobs as processes on this
machine with CUDA_VISIBLE_DEVICES set to the cards the scheduler gave them, which is exactly
what it does on a GPU host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.support import Hub, PostgresServer, SeaweedFS, start_hub

PLATFORM_CONFIG = """
import os
c = get_config()
c.SxwlPlatform.data_dir = os.path.join(os.environ["SXWL_STATE_DIR"], "platform")
c.SxwlPlatform.dispatch_interval = 0.3
c.SxwlPlatform.stop_grace_seconds = 3
c.SxwlPlatform.flavours = [
    {"name": "cpu", "cpu_per_node": 8, "memory_gb_per_node": 16, "nodes": 4},
    {"name": "gpu-a100", "resource_name": "nvidia.com/gpu", "accelerators_per_node": 8,
     "cpu_per_node": 64, "memory_gb_per_node": 512, "nodes": 2,
     "device_env": "CUDA_VISIBLE_DEVICES", "distributed_backend": "nccl",
     "price_per_card_hour": 12.5},
]
c.SxwlPlatform.queues = [
    {"name": "default"},
    {"name": "gpu", "quotas": {"gpu-a100": {"accelerators": 8, "cpu": 64}}},
    {"name": "team-x", "users": ["carol"]},
]
c.SxwlPlatform.default_user_limit = {"max_accelerators": 4, "max_cpu": 16}
"""


@dataclass
class Api:
    """Calls to the platform as one user."""

    hub: Hub
    token: str
    user: str

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(
            method, self.hub.platform_url + path, headers=headers, timeout=60, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> Any:
        r = self.call("GET", path, **kwargs)
        assert r.status_code == 200, r.text
        return r.json()

    def submit(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("name", "job")
        r = self.call("POST", "jobs", json=fields)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def wait(self, job_id: str, *statuses: str, timeout: float = 90) -> dict[str, Any]:
        wanted = statuses or ("Succeeded", "Failed", "Stopped", "TimedOut")
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.get(f"jobs/{job_id}")
            if job["status"] in wanted:
                return job
            assert time.monotonic() < deadline, f"still {job['status']}: {job}"
            time.sleep(0.3)


def catalogue_store_args(request: pytest.FixtureRequest, bucket_prefix: str) -> list[str]:
    """Platform flags for the catalogue tests' two set-ups: SQLite + the local object store
    ("sqlite-local"), or PostgreSQL + a new bucket on the session's SeaweedFS ("postgres-s3")."""
    if request.param != "postgres-s3":
        return []
    server: PostgresServer = request.getfixturevalue("postgres_server")
    s3: SeaweedFS = request.getfixturevalue("s3_server")
    bucket = f"{bucket_prefix}-{int(time.time() * 1000) % 10**9}"
    s3.client().create_bucket(Bucket=bucket)
    return [
        "--SxwlPlatform.db_url=" + server.create_database(),
        "--SxwlPlatform.object_store=s3",
        f"--S3ObjectStore.endpoint_url={s3.endpoint_url}",
        f"--S3ObjectStore.bucket={bucket}",
        f"--S3ObjectStore.access_key_id={s3.access_key}",
        f"--S3ObjectStore.secret_access_key={s3.secret_key}",
        "--S3ObjectStore.path_style=True",
    ]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api_hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    args: list[str] = []
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        args.append("--SxwlPlatform.db_url=" + server.create_database())
    with start_hub(
        name=f"api-{request.module.__name__.rsplit('.', 1)[-1]}-{request.param}",
        platform_config_text=PLATFORM_CONFIG,
        platform_args=args,
    ) as hub:
        yield hub


@pytest.fixture(scope="module")
def alice(api_hub: Hub) -> Api:
    return Api(api_hub, api_hub.token_for("alice"), "alice")


@pytest.fixture(scope="module")
def bob(api_hub: Hub) -> Api:
    return Api(api_hub, api_hub.token_for("bob"), "bob")


@pytest.fixture(scope="module")
def admin(api_hub: Hub) -> Api:
    return Api(api_hub, api_hub.token_for("admin", admin=True), "admin")
