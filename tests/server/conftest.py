"""A real ``jupyter server`` without a hub: the extension hosts the platform in-process."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support import REPO_ROOT, free_port, tail, terminate


@dataclass
class LocalServer:
    url: str  # server base URL, ending in '/'
    token: str
    root_dir: Path
    data_dir: Path
    log_path: Path

    @property
    def api(self) -> str:
        return self.url + "sxwl/api/v1/"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


@contextlib.contextmanager
def start_local_server(
    base: Path, extra_env: dict[str, str] | None = None
) -> Iterator[LocalServer]:
    """``jupyter server`` with the platform in-process; state under ``base`` (reusable)."""
    root, data, runtime = base / "root", base / "platform", base / "runtime"
    for d in (root, data, runtime):
        d.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    log_path = base / f"server-{port}.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_CONFIG_DIR": str(base / "config"),
    }
    for name in ("JUPYTERHUB_API_TOKEN", "SXWL_PLATFORM_URL"):
        env.pop(name, None)
    env.update(extra_env or {})
    argv = [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--port={port}",
        "--ip=127.0.0.1",
        "--no-browser",
        "--allow-root",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.jpserver_extensions=jupyter_sxwl=True",
        f"--SxwlPlatform.data_dir={data}",
        "--SxwlPlatform.dispatch_interval=0.2",
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True
        )
    server = LocalServer(f"http://127.0.0.1:{port}/", token, root, data, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = requests.get(server.api + "info", headers=server.headers(), timeout=2)
                if r.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("jupyter server did not start:\n" + tail(log_path))
            time.sleep(0.3)
        yield server
    finally:
        # Only the server: jobs it started run in their own sessions and must outlive it.
        terminate(proc)


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with start_local_server(tmp_path_factory.mktemp("local-server")) as server:
        yield server
