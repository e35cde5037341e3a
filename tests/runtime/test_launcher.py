"""The job supervisor and the rank shim, apart from the backend that starts them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jupyter_sxwl
from jupyter_sxwl.backends.base import RunPhase
from jupyter_sxwl.runtime.attempt_files import AttemptFiles
from jupyter_sxwl.runtime.launcher import describe_duration, parse_nvidia_smi
from jupyter_sxwl.runtime.rankenv import exit_code_of, rank_environment

PACKAGE_ROOT = Path(jupyter_sxwl.__file__).resolve().parent.parent

NVIDIA_SMI = """\
0, GPU-aaaa, 80, 1000
1, GPU-bbbb, 20, 3000
2, GPU-cccc, [N/A], 500
"""


def test_supervisor_does_not_import_torch() -> None:
    code = "import sys, jupyter_sxwl.runtime.launcher; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PACKAGE_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_a_request_it_cannot_read_is_recorded_as_failed(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"job_id": "j"}))  # most fields missing

    result = subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.runtime.launcher", str(request)],
        cwd=PACKAGE_ROOT,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert "Traceback" in result.stderr
    status = AttemptFiles(tmp_path).read_status()
    assert status is not None
    assert status.phase is RunPhase.failed
    assert status.message.startswith("the job's supervisor failed: ")
    assert status.finished_at is not None


def test_describe_duration() -> None:
    assert describe_duration(60) == "1 minute"
    assert describe_duration(1800) == "30 minutes"
    assert describe_duration(90) == "90 seconds"
    assert describe_duration(1) == "1 second"


def test_parse_nvidia_smi_keeps_the_jobs_devices() -> None:
    assert parse_nvidia_smi(NVIDIA_SMI, set()) == (50.0, 4500.0)
    assert parse_nvidia_smi(NVIDIA_SMI, {"1"}) == (20.0, 3000.0)
    assert parse_nvidia_smi(NVIDIA_SMI, {"GPU-aaaa", "2"}) == (80.0, 1500.0)
    assert parse_nvidia_smi("", set()) == (None, None)


def test_rank_environment_maps_open_mpi_ranks_onto_simulated_nodes() -> None:
    environ = {"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "KEEP": "x"}
    device_env = [{"CUDA_VISIBLE_DEVICES": "0,1"}, {"CUDA_VISIBLE_DEVICES": "2,3"}]

    env = rank_environment(environ, procs_per_node=2, device_env=device_env)

    assert env["RANK"] == "3" and env["WORLD_SIZE"] == "4"
    assert env["LOCAL_RANK"] == "1" and env["NODE_RANK"] == "1"
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert env["KEEP"] == "x"


def test_rank_environment_leaves_torchrun_ranks_alone() -> None:
    environ = {"RANK": "2", "LOCAL_RANK": "0", "WORLD_SIZE": "4"}
    assert rank_environment(environ, procs_per_node=2, device_env=[]) == environ


def test_exit_code_of_a_signalled_process() -> None:
    assert exit_code_of(0) == (0, None)
    assert exit_code_of(7) == (7, None)
    assert exit_code_of(-9) == (137, "SIGKILL")
