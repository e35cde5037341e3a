"""A platform restart loses no job: running ones are re-attached, vanished ones say why."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import requests

from tests.server.conftest import LocalServer, start_local_server


def call(server: LocalServer, method: str, path: str, **kwargs: object) -> requests.Response:
    return requests.request(
        method, server.api + path, headers=server.headers(), timeout=30, **kwargs
    )  # type: ignore[arg-type]


def wait_status(server: LocalServer, job_id: str, *statuses: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = call(server, "GET", f"jobs/{job_id}").json()
        if job["status"] in statuses:
            return job  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_running_job_survives_a_platform_restart(tmp_path: Path) -> None:
    command = "echo before; sleep 4; echo after"
    with start_local_server(tmp_path) as server:
        job = call(server, "POST", "jobs", json={"name": "long", "command": command}).json()
        wait_status(server, job["id"], "Running")
    # the platform is gone; the job's processes are not
    with start_local_server(tmp_path) as server:
        assert call(server, "GET", f"jobs/{job['id']}").json()["status"] in ("Running", "Succeeded")
        done = wait_status(server, job["id"], "Succeeded", "Failed")
        assert done["status"] == "Succeeded", done
        log = call(server, "GET", f"jobs/{job['id']}/logs").text
        assert log.split() == ["before", "after"]


def test_job_whose_supervisor_vanished_says_what_happened(tmp_path: Path) -> None:
    with start_local_server(tmp_path) as server:
        job = call(server, "POST", "jobs", json={"name": "doomed", "command": "sleep 60"}).json()
        wait_status(server, job["id"], "Running")
    # While the platform is down the machine "reboots": every process of the job dies.
    run_dir = Path(server.data_dir) / "jobs" / job["id"]
    victims = [
        p
        for p in psutil.process_iter(["cmdline"])
        if any(str(run_dir) in part for part in (p.info["cmdline"] or []))
    ]
    assert victims, "the job's supervisor should be running"
    for p in victims:
        os.killpg(os.getpgid(p.pid), signal.SIGKILL)
        break
    with start_local_server(tmp_path) as server:
        done = wait_status(server, job["id"], "Failed", "Succeeded", "Stopped")
        assert done["status"] == "Failed"
        assert "supervisor" in done["message"] or "restart" in done["message"], done
