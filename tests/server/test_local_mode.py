"""Without a hub the server extension hosts the platform in-process (local user = admin)."""

from __future__ import annotations

import time
from typing import Any

import requests

from tests.server.conftest import LocalServer
from tests.support import tgz


def call(server: LocalServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**server.headers(), **kwargs.pop("headers", {})}
    return requests.request(method, server.api + path, headers=headers, timeout=30, **kwargs)


def wait_final(server: LocalServer, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = call(server, "GET", f"jobs/{job_id}").json()
        if job["status"] in ("Succeeded", "Failed", "Stopped", "TimedOut"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_info_says_local_user_is_admin(local_server: LocalServer) -> None:
    info = call(local_server, "GET", "info").json()
    assert info["user"]["admin"] is True
    assert [f["name"] for f in info["flavours"]] == ["cpu"]
    assert info["queues"][0]["name"] == "default"


def test_without_token_is_refused(local_server: LocalServer) -> None:
    r = requests.get(local_server.api + "jobs", timeout=10)
    assert r.status_code in (401, 403)


def test_submit_runs_a_job_from_a_code_package(local_server: LocalServer) -> None:
    r = call(
        local_server,
        "POST",
        "code-packages?name=demo",
        data=tgz({"train.py": "import os\nprint('hello', os.environ['WORLD_SIZE'])\n"}),
        headers={**local_server.headers(), "Content-Type": "application/gzip"},
    )
    assert r.status_code == 201, r.text
    package = r.json()
    assert package["files"] == 1
    r = call(
        local_server,
        "POST",
        "jobs",
        json={"name": "hello", "command": "python train.py", "code_package": package["id"]},
    )
    assert r.status_code == 201, r.text
    job = wait_final(local_server, r.json()["id"])
    assert job["status"] == "Succeeded", job
    log = call(local_server, "GET", f"jobs/{job['id']}/logs")
    assert "hello 1" in log.text
    assert int(log.headers["X-Log-Offset"]) == len(log.content)


def test_bad_input_is_problem_json_naming_the_field(local_server: LocalServer) -> None:
    r = call(local_server, "POST", "jobs", json={"name": "x", "command": ""})
    assert r.status_code == 400
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "command"


def test_code_package_from_a_lab_directory(local_server: LocalServer) -> None:
    project = local_server.root_dir / "project"
    project.mkdir()
    (project / "train.py").write_text("print('from the lab')\n")
    r = call(local_server, "POST", "code-packages/from-dir", json={"path": "project"})
    assert r.status_code == 201, r.text
    r = call(
        local_server,
        "POST",
        "jobs",
        json={"name": "lab", "command": "python train.py", "code_package": r.json()["id"]},
    )
    job = wait_final(local_server, r.json()["id"])
    assert job["status"] == "Succeeded"
    r = call(local_server, "POST", "code-packages/from-dir", json={"path": "../.."})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "path"


def test_search_covers_a_log_longer_than_one_read(local_server: LocalServer) -> None:
    # ~6 MB of output: more than the backend hands out in one read.
    command = "python -c \"[print('x' * 100) for _ in range(60000)]; print('needle at the end')\""
    r = call(local_server, "POST", "jobs", json={"name": "chatty", "command": command})
    job = wait_final(local_server, r.json()["id"])
    assert job["status"] == "Succeeded"
    found = call(local_server, "GET", f"jobs/{job['id']}/logs", params={"q": "needle"}).json()
    assert found["total"] == 1
    assert found["matches"] == [{"line": 60001, "text": "needle at the end"}]
