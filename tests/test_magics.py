"""``%load_ext jupyter_sxwl`` and the ``%sxwl`` magics in a real IPython shell, against the
real platform (the ``hub`` fixture). The notebook test (tests/notebooks/) covers a real kernel.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from IPython.core.interactiveshell import InteractiveShell
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_sxwl import magics
from jupyter_sxwl.client import Client
from tests.support import Hub, magics_shell

LIGHT_IMPORT = (
    "import sys, jupyter_sxwl, jupyter_sxwl.magics; from jupyter_sxwl import Client; "
    "assert 'torch' not in sys.modules and 'kubernetes' not in sys.modules, "
    "sorted(m for m in sys.modules if m.startswith(('torch', 'kubernetes')))"
)


def test_loading_the_extension_imports_no_torch_or_kubernetes() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_IMPORT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_load_ext_in_a_shell_stays_light() -> None:
    code = (
        "import sys; from IPython.core.interactiveshell import InteractiveShell; "
        "sh = InteractiveShell.instance(); sh.run_line_magic('load_ext', 'jupyter_sxwl'); "
        "assert 'sxwl' in sh.magics_manager.magics['line']; "
        "assert 'sxwl' in sh.magics_manager.magics['cell']; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'kubernetes', 'tornado', 'sqlalchemy', 'jupyter_server')]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def shell(hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[InteractiveShell]:
    """A real IPython shell with the extension loaded, connected as ``dora`` through the env."""
    with magics_shell(hub, "dora", monkeypatch, tmp_path) as sh:
        yield sh


def wait_done(job_id: str, timeout: float = 60) -> dict[str, Any]:
    return Client().wait(job_id, timeout=timeout, poll=0.3)


# Tests that need the hub; the light-import checks above run without it.
pytestmark_e2e = pytest.mark.slow


@pytestmark_e2e
def test_line_and_cell_submit_then_jobs_and_logs_as_text(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "hello.py").write_text("import os\nprint('hello from rank', os.environ['RANK'])\n")
    job_id = shell.run_line_magic(
        "sxwl", "submit pytorch --procs-per-node 2 --name magic-ddp -- python hello.py"
    )
    assert job_id.startswith("job-")
    assert f"submitted {job_id} (magic-ddp)" in capsys.readouterr().out

    shell.run_line_magic("sxwl", f"logs -f {job_id}")
    log = capsys.readouterr().out
    assert "hello from rank 0" in log and "hello from rank 1" in log
    assert wait_done(job_id)["status"] == "Succeeded"

    cell_id = shell.run_cell_magic(
        "sxwl", "submit single --no-code --name magic-cell", "echo one\necho two && echo three\n"
    )
    assert Client().job(cell_id)["command"] == "echo one\necho two && echo three"
    capsys.readouterr()
    shell.run_line_magic("sxwl", f"logs -f {cell_id}")
    assert capsys.readouterr().out.split() == ["one", "two", "three"]

    shell.run_line_magic("sxwl", "jobs")
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["ID", "NAME", "STATUS"]
    assert job_id in table and cell_id in table

    shell.run_line_magic("sxwl", f"artifacts {job_id}")
    assert "no artifacts" in capsys.readouterr().out
    shell.run_line_magic("sxwl", f"delete {cell_id}")
    assert f"deleted {cell_id}" in capsys.readouterr().out


@pytestmark_e2e
def test_mistakes_print_messages_not_tracebacks(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shell.run_line_magic("sxwl", "submit pytorch --nodes x -- true") is None
    assert "usage: %sxwl submit pytorch" in capsys.readouterr().err
    assert shell.run_line_magic("sxwl", "submit single --no-code --flavour nope -- true") is None
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "flavour" in err and "Traceback" not in err
    shell.run_line_magic("sxwl", "job job-0000000000")
    assert capsys.readouterr().err.startswith("error: ")
    shell.run_cell_magic("sxwl", "jobs", "body")
    assert "only %%sxwl submit takes a cell" in capsys.readouterr().err
    shell.run_line_magic("sxwl", "submit single --no-code")
    assert "command: nothing to run" in capsys.readouterr().err
    shell.run_line_magic("sxwl", "submit pytorch --help")
    assert "GPUS_PER_NODE" in capsys.readouterr().out


@pytestmark_e2e
def test_in_a_kernel_the_magics_show_live_widgets(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from jupyter_sxwl.widgets import JobsTable, JobStatus, LogView

    shown: list[Any] = []
    monkeypatch.setattr(magics, "widgets_available", lambda ip: True)
    monkeypatch.setattr(magics, "_display", shown.append)

    job_id = shell.run_line_magic(
        "sxwl",
        "submit single --no-code --name widget-job -- "
        "'for i in 1 2 3; do echo tick $i; sleep 0.3; done'",
    )
    status = shown.pop()
    assert isinstance(status, JobStatus) and status.job_id == job_id
    assert status.wait(timeout=60)["status"] == "Succeeded"
    assert "Succeeded" in status.title.value and status.progress.bar_style == "success"

    shell.run_line_magic("sxwl", f"logs -f {job_id}")
    view = shown.pop()
    assert isinstance(view, LogView)
    assert view.wait(timeout=30).split() == ["tick", "1", "tick", "2", "tick", "3"]

    shell.run_line_magic("sxwl", "jobs")
    table = shown.pop()
    assert isinstance(table, JobsTable) and job_id in table.table.value
    assert "widget-job" in table.table.value

    shell.run_line_magic("sxwl", f"restart {job_id}")
    again = shown.pop()
    assert isinstance(again, JobStatus) and again.wait(timeout=60)["attempt"] == 2

    # Following a job from its submission: status and log side by side, until it ends.
    start = time.monotonic()
    shell.run_line_magic("sxwl", "submit single --no-code --follow -- 'echo followed'")
    status, view = shown
    assert time.monotonic() - start < 60
    assert status.job["status"] == "Succeeded"
    assert view.wait(timeout=10).strip() == "followed"
    assert capsys.readouterr().err == ""


def test_without_a_kernel_widgets_are_not_used() -> None:
    assert not magics.widgets_available(InteractiveShell.instance())
    InteractiveShell.clear_instance()


def run_in_kernel(base_url: str, token: str, code: str, timeout: float = 120) -> dict[str, Any]:
    """Start a kernel on a Jupyter server, run ``code`` through its websocket, stop it.

    Returns ``{"stdout", "stderr", "error", "mime"}`` collected from the kernel's iopub messages.
    """
    headers = {"Authorization": f"token {token}"}
    r = requests.post(
        f"{base_url}api/kernels", json={"name": "python3"}, headers=headers, timeout=60
    )
    r.raise_for_status()
    kernel_id = r.json()["id"]
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "date": datetime.now(UTC).isoformat(),
            "version": "5.3",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        "channel": "shell",
        "buffers": [],
    }  # fmt: skip
    got: dict[str, Any] = {"stdout": "", "stderr": "", "error": None, "mime": []}

    async def talk() -> None:
        ws_url = base_url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
        ws = await websocket_connect(HTTPRequest(ws_url, headers=headers))
        try:
            await ws.write_message(json.dumps(request))
            while True:
                raw = await ws.read_message()
                assert raw is not None, "the kernel's websocket closed"
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    got[content["name"]] += content["text"]
                elif kind == "error":
                    got["error"] = "\n".join(content["traceback"])
                elif kind in ("display_data", "execute_result"):
                    got["mime"].append(sorted(content["data"]))
                elif kind == "status" and content["execution_state"] == "idle":
                    return
        finally:
            ws.close()

    try:
        asyncio.run(asyncio.wait_for(talk(), timeout))
    finally:
        requests.delete(f"{base_url}api/kernels/{kernel_id}", headers=headers, timeout=60)
    return got


LAB_CODE = """\
%load_ext jupyter_sxwl
import sys
from jupyter_sxwl import Client
client = Client()
print("SOURCE", client.connection.source)
print("USER", client.info()["user"]["name"])
job_id = %sxwl submit single --no-code --name lab-job -- echo from-the-lab
print("STATUS", client.wait(job_id, timeout=60)["status"])
print("LOG", client.logs(job_id)[0].strip())
print("HEAVY", [m for m in sys.modules if m.split(".")[0] in ("torch", "kubernetes")])
"""


@pytestmark_e2e
def test_in_a_hub_lab_kernel_the_sdk_and_magics_find_the_platform(hub: Hub) -> None:
    user = "lab-user"
    token = hub.token_for(user)
    headers = {"Authorization": f"token {token}"}
    started = requests.post(f"{hub.api_url}/users/{user}/server", headers=headers, timeout=60)
    assert started.status_code in (201, 202), started.text
    try:
        deadline = time.monotonic() + 60
        while (
            not requests.get(f"{hub.api_url}/users/{user}", headers=headers, timeout=30)
            .json()["servers"]
            .get("", {})
            .get("ready")
        ):
            assert time.monotonic() < deadline, f"lab not ready:\n{hub.hub_log()[-3000:]}"
            time.sleep(0.5)
        got = run_in_kernel(f"{hub.url}/user/{user}/", token, LAB_CODE)
    finally:
        requests.delete(f"{hub.api_url}/users/{user}/server", headers=headers, timeout=60)
    assert got["error"] is None, got["error"]
    lines = dict(line.split(" ", 1) for line in got["stdout"].splitlines() if " " in line)
    assert lines["SOURCE"] == "SXWL_PLATFORM_URL/JUPYTERHUB_API_TOKEN"
    assert lines["USER"] == user
    assert lines["STATUS"] == "Succeeded" and lines["LOG"].endswith("from-the-lab")
    assert lines["HEAVY"] == "[]"
    # In a kernel, the submit magic shows the live status widget.
    assert ["application/vnd.jupyter.widget-view+json", "text/plain"] in got["mime"]
