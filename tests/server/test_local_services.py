"""Services without a hub: the in-process platform deploys them, its gateway at
/sxwl/endpoints/ reaches them, and a restarted platform takes up the ones still running."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from tests.server.conftest import LocalServer, start_local_server

COMMAND = "python -m http.server $SXWL_PORT --bind 127.0.0.1"


def call(server: LocalServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, server.api + path, headers=server.headers(), timeout=30, **kwargs
    )


def wait_running(server: LocalServer, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        svc: dict[str, Any] = call(server, "GET", f"services/{name}").json()
        if svc["status"] == "running":
            return svc
        assert svc["status"] == "starting" and time.monotonic() < deadline, svc
        time.sleep(0.2)


def test_a_running_service_survives_a_platform_restart(tmp_path: Path) -> None:
    try:
        with start_local_server(tmp_path) as server:
            # The service takes every CPU of the machine's flavour (a replica on each node).
            (cpu,) = [
                f for f in call(server, "GET", "flavours").json()["items"] if f["name"] == "cpu"
            ]
            body = {
                "name": "files",
                "kind": "custom",
                "command": COMMAND,
                "resources": {
                    "cpu": cpu["cpu_per_node"],
                    "memory_gb": 0.5,
                    "replicas": cpu["nodes"],
                },
            }
            r = call(server, "POST", "services", json=body)
            assert r.status_code == 201, r.text
            svc = wait_running(server, "files")
            assert svc["address"] == "/sxwl/endpoints/files/"
            key = call(server, "POST", "services/files/keys", json={}).json()
            auth = {"Authorization": f"Bearer {key['bearer']}"}
            r = requests.get(server.url + "sxwl/endpoints/files/", headers=auth, timeout=30)
            assert r.status_code == 200 and "Directory listing" in r.text
        # The platform is gone, the service's process is not: the next platform takes it up.
        with start_local_server(tmp_path) as server:
            # What it holds is held from the first admission cycle on: a job waits for it.
            job = call(server, "POST", "jobs", json={"name": "after", "command": "true"}).json()
            assert call(server, "GET", "services/files").json()["status"] == "running"
            r = requests.get(server.url + "sxwl/endpoints/files/", headers=auth, timeout=30)
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 30
            while "CPU" not in (
                call(server, "GET", f"jobs/{job['id']}").json()["wait_reason"] or ""
            ):
                assert time.monotonic() < deadline, call(server, "GET", f"jobs/{job['id']}").json()
                time.sleep(0.2)
            assert call(server, "DELETE", "services/files").status_code == 204
            deadline = time.monotonic() + 60
            while call(server, "GET", f"jobs/{job['id']}").json()["status"] != "Succeeded":
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        stop_leftovers(tmp_path)


def stop_leftovers(base: Path) -> None:
    """Services outlive their platform by design; a test that failed halfway must not leave
    its replicas running on the machine."""
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(str(base) in part for part in p.info["cmdline"] or []):
                p.kill()
