"""The ``sxwl`` command against the real platform behind a real JupyterHub (the ``hub`` fixture).

Every command runs as a separate process, the way a user types it, with the user's hub token
in SXWL_URL/SXWL_TOKEN.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import Hub, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

DDP_SCRIPT = """\
import json, os, sys

keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "WORKER_CNT", "GPUS_PER_NODE", "MASTER_ADDR",
        "MASTER_PORT", "SXWL_RESUME"]
print("env", json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
if os.environ["RANK"] == "0":
    out = os.environ["SXWL_MODEL_DIR"]
    os.makedirs(os.path.join(out, "sub"), exist_ok=True)
    with open(os.path.join(out, "model.txt"), "w") as f:
        f.write("weights " + " ".join(sys.argv[1:]))
    with open(os.path.join(out, "sub", "config.json"), "w") as f:
        f.write('{"layers": 2}')
"""

# Writes a step counter as its checkpoint; a resumed attempt starts from it and ends soon.
CHECKPOINT_SCRIPT = """\
import os, pathlib, time

ckpt = pathlib.Path(os.environ["SXWL_CHECKPOINT_DIR"]) / "step.txt"
start = int(ckpt.read_text()) if ckpt.exists() else 0
print(f"resume={os.environ['SXWL_RESUME']} start={start}", flush=True)
step = start
while True:
    step += 1
    ckpt.write_text(str(step))
    print(f"checkpoint {step}", flush=True)
    if os.environ["SXWL_RESUME"] == "1" and step >= start + 2:
        break
    time.sleep(0.2)
print("done", flush=True)
"""


def clean_env() -> dict[str, str]:
    """This process's environment without any platform connection, and able to import
    jupyter_sxwl from a source checkout as well as from an installed wheel."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SXWL_", "JUPYTERHUB_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


class Sxwl:
    """Runs ``sxwl`` as a user would: a new process, the token in the environment."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd

    @classmethod
    def for_hub(cls, hub: Hub, token: str, cwd: Path) -> Sxwl:
        """``sxwl`` for the user of ``token`` on ``hub``, with its own config folder."""
        return cls(
            {**clean_env(), "SXWL_URL": hub.platform_url, "SXWL_TOKEN": token,
             "XDG_CONFIG_HOME": str(cwd / ".config")},
            cwd,
        )  # fmt: skip

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``sxwl ARGS`` and return the finished process, whatever its exit status."""
        return subprocess.run(
            [sys.executable, "-m", "jupyter_sxwl.cli", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def __call__(self, *args: str, expect: int = 0, timeout: float = 120) -> str:
        """Run ``sxwl ARGS``, check the exit status; stdout on success, else stderr."""
        proc = self.run(*args, timeout=timeout)
        assert proc.returncode == expect, (
            f"sxwl {' '.join(args)} exited {proc.returncode}, expected {expect}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
        if expect == 0:
            assert proc.stderr == "", proc.stderr
        else:
            assert "Traceback" not in proc.stderr, proc.stderr
            return proc.stderr
        return proc.stdout

    def sh(self, line: str, expect: int = 0) -> str:
        """``sxwl`` with a command line written as in a shell."""
        return self(*shlex.split(line), expect=expect)

    def job(self, job_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self("job", job_id, "--json"))
        return data

    def wait_for(self, job_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, f"{job_id} still {job['status']}: {job}"
            time.sleep(0.3)


def submitted_id(output: str) -> str:
    match = re.search(r"submitted (job-[0-9a-z]+)", output)
    assert match, output
    return match.group(1)


@pytest.fixture
def alice(hub: Hub, tmp_path: Path) -> Sxwl:
    return Sxwl.for_hub(hub, hub.token_for("alice"), tmp_path)


def test_ddp_job_from_submit_to_download(alice: Sxwl, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(DDP_SCRIPT)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "big").write_bytes(b"x" * 1000)
    out = alice.sh(
        "submit pytorch --nodes 2 --procs-per-node 2 --name cli-ddp -- python train.py --lr 0.1"
    )
    job_id = submitted_id(out)

    log = alice("logs", "-f", job_id)
    envs = [json.loads(line.split("env ", 1)[1]) for line in log.splitlines() if "env {" in line]
    assert sorted(int(e["RANK"]) for e in envs) == [0, 1, 2, 3]
    for e in envs:
        assert (e["WORLD_SIZE"], e["WORKER_CNT"], e["GPUS_PER_NODE"]) == ("4", "2", "2")
        assert e["LOCAL_RANK"] in ("0", "1") and e["MASTER_ADDR"] and e["MASTER_PORT"]
        assert e["SXWL_RESUME"] == "0"

    job = alice.wait_for(job_id, {"Succeeded", "Failed"})
    assert job["status"] == "Succeeded", job
    assert (job["job_type"], job["nodes"], job["procs_per_node"]) == ("pytorch", 2, 2)
    assert job["command"] == "python train.py --lr 0.1"

    table = alice("jobs")
    assert table.splitlines()[0].split()[:3] == ["ID", "NAME", "STATUS"]
    row = next(line for line in table.splitlines() if line.startswith(job_id))
    assert "cli-ddp" in row and "Succeeded" in row

    assert "status:" in alice("job", job_id) and "2 node(s) x 2 process(es)" in alice("job", job_id)
    found = alice("logs", "--search", "WORLD_SIZE", job_id)
    assert len(found.splitlines()) == 4

    listing = alice("artifacts", job_id)
    assert "model.txt" in listing and "sub/config.json" in listing
    assert {a["path"] for a in json.loads(alice("artifacts", job_id, "--json"))} == {
        "model.txt",
        "sub/config.json",
    }

    alice("download", job_id, "-o", "all")
    assert (tmp_path / "all" / "model.txt").read_text() == "weights --lr 0.1"
    assert json.loads((tmp_path / "all" / "sub" / "config.json").read_text()) == {"layers": 2}
    alice("download", job_id, "model.txt", "-o", "one")
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["model.txt"]
    err = alice("download", job_id, "missing.bin", "-o", "none", expect=2)
    assert err.startswith("error: ")


def test_stop_then_restart_with_resume_continues_from_the_checkpoint(
    alice: Sxwl, tmp_path: Path
) -> None:
    (tmp_path / "steps.py").write_text(CHECKPOINT_SCRIPT)
    job_id = submitted_id(alice("submit", "single", "--name", "resumable", "--", "python steps.py"))
    deadline = time.monotonic() + 60
    while "checkpoint 3" not in alice("logs", job_id):
        assert time.monotonic() < deadline, alice("job", job_id)
        time.sleep(0.3)

    assert "Stop" in alice("stop", job_id)
    stopped = alice.wait_for(job_id, {"Stopped"})
    assert stopped["attempt"] == 1

    assert "restarted (resuming)" in alice("restart", "--resume", job_id)
    log = alice("logs", "-f", job_id)
    match = re.search(r"resume=1 start=(\d+)", log)
    assert match and int(match.group(1)) >= 3, log
    assert "done" in log
    job = alice.wait_for(job_id, {"Succeeded", "Failed"})
    assert (job["status"], job["attempt"]) == ("Succeeded", 2)
    assert "resume=0 start=0" in alice("logs", "--attempt", "1", job_id)

    # A plain restart starts from scratch: the checkpoint folder is emptied.
    alice("restart", job_id)
    alice.wait_for(job_id, {"Running", "Succeeded", "Failed", "Stopped"})
    deadline = time.monotonic() + 60
    while "resume=" not in (log := alice("logs", job_id)):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert "resume=0 start=0" in log
    alice("delete", job_id)
    assert "404" in alice("job", job_id, expect=2) or "not" in alice("job", job_id, expect=2)


def test_wait_and_follow_report_the_outcome_in_the_exit_status(alice: Sxwl) -> None:
    proc = alice.run("submit", "single", "--no-code", "--follow", "--", "echo from-the-job; exit 3")
    assert proc.returncode == 1, proc
    out = proc.stdout
    assert "from-the-job" in out and "Failed" in out and "exit code 3" in out
    out = alice("submit", "single", "--no-code", "--wait", "--", "true")
    assert "Succeeded" in out.splitlines()[-1]


def test_bad_input_prints_the_platforms_message_and_exits_2(
    alice: Sxwl, hub: Hub, tmp_path: Path
) -> None:
    err = alice("submit", "single", "--no-code", "--flavour", "no-such-gpu", "--", "true", expect=2)
    assert err.startswith("error: ") and "flavour" in err
    err = alice("submit", "single", "--no-code", "--", "   ", expect=2)
    assert "command" in err
    err = alice.sh("submit pytorch --no-code --procs-per-node 999 --cpu 64 -- true", expect=2)
    assert err.startswith("error: ")
    err = alice.sh("submit single --no-code --checkpoint-path ../../etc -- true", expect=2)
    assert "checkpoint_path" in err

    bob = Sxwl.for_hub(hub, hub.token_for("bob"), tmp_path)
    job_id = submitted_id(alice("submit", "single", "--no-code", "--", "true"))
    for command in (["job", job_id], ["stop", job_id], ["delete", job_id], ["logs", job_id]):
        assert bob(*command, expect=2).startswith("error: ")
    alice.wait_for(job_id, {"Succeeded"})

    stranger = Sxwl.for_hub(hub, "not-a-token", tmp_path)
    err = stranger("jobs", expect=2)
    assert err.startswith("error: ") and "token" in err


def test_login_saves_the_connection_for_later_commands(hub: Hub, tmp_path: Path) -> None:
    token = hub.token_for("carol")
    bare = Sxwl.for_hub(hub, token, tmp_path)
    for key in ("SXWL_URL", "SXWL_TOKEN"):
        bare.env.pop(key)
    bare.env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    assert "no sxwl platform found" in bare("jobs", expect=1)
    platform = hub.platform_url.removesuffix("api/v1/")
    out = bare("login", "--url", platform, "--token", token)
    assert "as carol" in out
    config = tmp_path / ".config" / "sxwl" / "config.json"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert bare("info").splitlines()[1].split()[1] == "carol"
    assert "cpu" in bare("flavours") and "default" in bare("queues")


def test_admin_changes_the_priority_of_a_queued_job(hub: Hub, alice: Sxwl, tmp_path: Path) -> None:
    flavours = json.loads(alice("flavours", "--json"))
    cpu = next(f for f in flavours if f["name"] == "cpu")
    # Two full nodes: all of alice's CPU allowance (4 by default), so her next job has to wait.
    blocker = submitted_id(
        alice.sh(
            f"submit pytorch --no-code --nodes 2 --procs-per-node 1 --cpu {cpu['cpu_per_node']} "
            "--name blocker -- 'sleep 60'"
        )
    )
    try:
        alice.wait_for(blocker, {"Running"})
        waiting = submitted_id(alice.sh("submit single --no-code --name waits -- true"))
        job = alice.wait_for(waiting, {"Queued"})
        time.sleep(1.5)  # an admission cycle runs and says why it waits
        job = alice.job(waiting)
        assert job["status"] == "Queued" and job["wait_reason"], job
        row = next(line for line in alice("jobs").splitlines() if line.startswith(waiting))
        assert "Queued" in row and job["wait_reason"][:20] in row

        assert alice("priority", waiting, "high", expect=2).startswith("error: ")
        admin = Sxwl.for_hub(hub, hub.token_for("admin", admin=True), tmp_path)
        assert waiting in admin("jobs", "--all")
        admin("priority", waiting, "high")
        assert alice.job(waiting)["priority"] == "high"
    finally:
        alice("delete", blocker)
    alice.wait_for(waiting, {"Succeeded"})


def test_without_a_hub_the_cli_finds_the_local_jupyter_server(tmp_path: Path) -> None:
    """Plain ``jupyter server`` with the extension hosts the platform; its runtime file is
    what the CLI (and SDK) find when nothing else is configured."""
    runtime = tmp_path / "runtime"
    env = {
        **clean_env(),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / ".config"),
    }
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root"),
                f"--port={free_port()}",
                f"--ServerApp.root_dir={tmp_path}",
                '--ServerApp.jpserver_extensions={"jupyter_sxwl": True}',
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not list(runtime.glob("jupyter_sxwl-*.json")):
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        local = Sxwl(env, tmp_path)
        info = local("info")
        assert "/sxwl/api/v1/" in info and "(admin)" in info
        out = local("submit", "single", "--no-code", "--wait", "--", "echo local")
        assert "Succeeded" in out.splitlines()[-1]
    finally:
        server.terminate()
        server.wait(timeout=30)
