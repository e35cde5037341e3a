"""Services without a hub: the in-process platform deploys them, its gateway at
/sxwl/endpoints/ reaches them, and a restarted platform takes up the ones still running."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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
    with start_local_server(tmp_path) as server:
        body = {"name": "files", "kind": "custom", "command": COMMAND}
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
        assert call(server, "GET", "services/files").json()["status"] == "running"
        r = requests.get(server.url + "sxwl/endpoints/files/", headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        assert call(server, "DELETE", "services/files").status_code == 204
