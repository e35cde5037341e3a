"""LocalBackend with real processes: bash, torchrun with gloo on CPU, and Open MPI."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import time
from pathlib import Path

import psutil
import pytest

from jupyter_sxwl.backends.base import JobType, RunPhase
from jupyter_sxwl.backends.local import LOST_MESSAGE, LocalBackend
from jupyter_sxwl.runtime.attempt_files import AttemptFiles

from .conftest import JobWatch, MakeRequest

DUMP_ENV = """\
import json, os, pathlib
out = pathlib.Path(os.environ["OUT_DIR"]) / (os.environ["RANK"] + ".json")
out.write_text(json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}))
"""

DDP_TRAIN = """\
import json, os
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

dist.init_process_group(os.environ["SXWL_DISTRIBUTED_BACKEND"])
rank, world = dist.get_rank(), dist.get_world_size()
total = torch.tensor([float(rank + 1)])
dist.all_reduce(total)

torch.manual_seed(0)  # same initial weights everywhere; DDP keeps them in step
model = DistributedDataParallel(torch.nn.Linear(4, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
torch.manual_seed(rank)  # but different data on every rank
for step in range(3):
    loss = model(torch.randn(8, 4)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"rank {rank} of {world}: all_reduce sum {total.item():g}", flush=True)

checkpoints = os.environ["SXWL_CHECKPOINT_DIR"]
torch.save(model.module.state_dict(), os.path.join(checkpoints, f"rank-{rank}.pt"))
if rank == 0:
    torch.save(model.module.state_dict(), os.path.join(os.environ["SXWL_MODEL_DIR"], "model.pt"))
    with open(os.environ["SXWL_METRICS_FILE"], "a") as f:
        f.write(json.dumps({"step": 3, "loss": loss.item()}) + "\\n")
dist.barrier()
dist.destroy_process_group()
"""

# Leaves processes in every corner: a child in the job's group, one in a session of its own
# and a daemon re-parented away from its shell.
LINGER = "setsid sleep 300 & (sleep 300 &) ; sleep 300 & touch ready-$RANK; wait"

needs_mpirun = pytest.mark.skipif(shutil.which("mpirun") is None, reason="Open MPI not installed")


def read_envs(folder: Path) -> dict[int, dict]:
    return {int(p.stem): json.loads(p.read_text()) for p in folder.glob("*.json")}


@pytest.mark.asyncio
async def test_single_job_succeeds_with_its_output_in_the_log(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request("echo hello from $SXWL_JOB_ID; echo to stderr >&2")

    await backend.launch(request)
    state = await watch.finished(request)

    assert state.phase is RunPhase.succeeded, state
    assert state.exit_code == 0
    assert state.started_at is not None and state.finished_at is not None
    assert state.started_at <= state.finished_at
    log = await watch.log(request)
    assert f"hello from {request.job_id}\n" in log  # single output is not prefixed
    assert "to stderr\n" in log


@pytest.mark.asyncio
async def test_single_job_failure_reports_the_exit_code(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request("echo about to fail; exit 3")

    await backend.launch(request)
    state = await watch.finished(request)

    assert state.phase is RunPhase.failed
    assert state.exit_code == 3
    assert state.message == "the command exited with code 3; see the log"
    assert "about to fail" in await watch.log(request)


@pytest.mark.asyncio
async def test_single_job_environment(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request(
        "python dump_env.py",
        files={"code/dump_env.py": DUMP_ENV},
        working_dir="code",
        resume=True,
        device_env=[{"SXWL_TEST_DEVICE": "card-0"}],
    )
    request.env["OUT_DIR"] = str(request.run_dir / "envs")
    (request.run_dir / "envs").mkdir()

    await backend.launch(request)
    assert (await watch.finished(request)).phase is RunPhase.succeeded

    [dump] = read_envs(request.run_dir / "envs").values()
    env = dump["env"]
    assert Path(dump["cwd"]) == (request.run_dir / "work" / "code").resolve()
    run_dir = request.run_dir
    assert {k: env[k] for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE")} == {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "NODE_RANK": "0",
        "WORLD_SIZE": "1",
    }
    assert env["WORKER_CNT"] == "1" and env["GPUS_PER_NODE"] == "1"
    assert env["MASTER_ADDR"] == "127.0.0.1" and int(env["MASTER_PORT"]) > 0
    assert env["SXWL_JOB_ID"] == request.job_id
    assert env["SXWL_ATTEMPT"] == "1"
    assert env["SXWL_CHECKPOINT_DIR"] == str(run_dir / "volumes" / "checkpoint")
    assert env["SXWL_MODEL_DIR"] == str(run_dir / "volumes" / "model")
    assert env["SXWL_METRICS_FILE"] == str(run_dir / "metrics.jsonl")
    assert env["SXWL_RESUME"] == "1"
    assert env["SXWL_TEST_DEVICE"] == "card-0"


@pytest.mark.asyncio
async def test_pytorch_job_environment_of_every_rank(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request(
        "python dump_env.py",
        files={"dump_env.py": DUMP_ENV},
        job_type=JobType.pytorch,
        nodes=2,
        procs_per_node=2,
        device_env=[{"SXWL_TEST_DEVICE": "node-0-cards"}, {"SXWL_TEST_DEVICE": "node-1-cards"}],
    )
    request.env["OUT_DIR"] = str(request.run_dir / "envs")
    (request.run_dir / "envs").mkdir()

    await backend.launch(request)
    assert (await watch.finished(request)).phase is RunPhase.succeeded

    envs = {rank: dump["env"] for rank, dump in read_envs(request.run_dir / "envs").items()}
    assert sorted(envs) == [0, 1, 2, 3]
    assert len({env["MASTER_PORT"] for env in envs.values()}) == 1
    for rank, env in envs.items():
        node = rank // 2
        assert env["WORLD_SIZE"] == "4"
        assert env["LOCAL_RANK"] == str(rank % 2)
        assert env["NODE_RANK"] == str(node)
        assert env["WORKER_CNT"] == "2" and env["GPUS_PER_NODE"] == "2"
        assert env["MASTER_ADDR"] == "127.0.0.1"
        assert env["SXWL_TEST_DEVICE"] == f"node-{node}-cards"
        assert env["SXWL_RESUME"] == "0"
    log = await watch.log(request)
    assert "[node 0] " in log and "[node 1] " in log


@pytest.mark.asyncio
async def test_pytorch_ddp_two_nodes_trains_and_saves(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    torch = pytest.importorskip("torch")
    request = make_request(
        "python train.py",
        files={"train.py": DDP_TRAIN},
        job_type=JobType.pytorch,
        nodes=2,
        procs_per_node=2,
        distributed_backend="gloo",
    )

    await backend.launch(request)
    state = await watch.finished(request, timeout=120)

    log = await watch.log(request)
    assert state.phase is RunPhase.succeeded, log
    # 1+2+3+4, on whole lines tagged with node and rank although two ranks share each pipe
    for rank in range(4):
        assert f"[node {rank // 2}] [rank {rank}] rank {rank} of 4: all_reduce sum 10\n" in log
    # Saved through the platform's volumes, also visible through the code folder's symlinks.
    checkpoints = request.run_dir / "work" / "checkpoints"
    weights = [torch.load(checkpoints / f"rank-{rank}.pt") for rank in range(4)]
    for other in weights[1:]:  # DDP kept every rank's weights in step
        for name, value in weights[0].items():
            assert torch.equal(value, other[name])
    model = torch.load(request.run_dir / "volumes" / "model" / "model.pt")
    assert set(model) == {"weight", "bias"}
    metrics = (request.run_dir / "metrics.jsonl").read_text().splitlines()
    assert json.loads(metrics[0])["step"] == 3


@pytest.mark.asyncio
async def test_distributed_failure_names_the_rank_and_ends_the_others(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request(
        'if [ "$RANK" = 1 ]; then echo rank 1 gives up; exit 7; fi; sleep 300',
        job_type=JobType.pytorch,
        nodes=2,
        procs_per_node=1,
    )
    started = time.monotonic()

    await backend.launch(request)
    state = await watch.finished(request)

    assert state.phase is RunPhase.failed
    assert state.exit_code == 7
    assert state.message == "rank 1 (node 1, local rank 0) exited with code 7; see the log"
    assert time.monotonic() - started < 30  # rank 0 was not left sleeping
    assert "[node 1] [rank 1] rank 1 gives up" in await watch.log(request)
    assert watch.processes(request.job_id) == []


@needs_mpirun
@pytest.mark.asyncio
async def test_mpi_job_environment_of_every_rank(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request(
        "python dump_env.py",
        files={"dump_env.py": DUMP_ENV},
        job_type=JobType.mpi,
        nodes=2,
        procs_per_node=1,
        device_env=[{"SXWL_TEST_DEVICE": "a"}, {"SXWL_TEST_DEVICE": "b"}],
    )
    request.env["OUT_DIR"] = str(request.run_dir / "envs")
    (request.run_dir / "envs").mkdir()

    await backend.launch(request)
    state = await watch.finished(request)

    assert state.phase is RunPhase.succeeded, await watch.log(request)
    envs = {rank: dump["env"] for rank, dump in read_envs(request.run_dir / "envs").items()}
    assert sorted(envs) == [0, 1]
    for rank, env in envs.items():
        assert env["WORLD_SIZE"] == "2"
        assert env["LOCAL_RANK"] == "0"
        assert env["NODE_RANK"] == str(rank)
        assert env["WORKER_CNT"] == "2" and env["GPUS_PER_NODE"] == "1"
        assert env["SXWL_TEST_DEVICE"] == "ab"[rank]


@pytest.mark.asyncio
async def test_mpi_job_without_mpirun_fails_with_a_hint(
    watch: JobWatch, make_request: MakeRequest
) -> None:
    backend = LocalBackend(mpirun="no-such-mpirun")
    request = make_request("true", job_type=JobType.mpi, nodes=1, procs_per_node=2)

    await backend.launch(request)
    state = await JobWatch(backend).finished(request)

    assert state.phase is RunPhase.failed
    assert "mpirun" in state.message and "c.LocalBackend.mpirun" in state.message


@pytest.mark.asyncio
async def test_max_run_time_stops_the_job_as_timed_out(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request("sleep 300", max_run_seconds=1)
    started = time.monotonic()

    await backend.launch(request)
    state = await watch.finished(request)

    assert state.phase is RunPhase.timed_out
    assert state.message == "stopped after the maximum run time of 1 second"
    assert time.monotonic() - started < 10
    assert watch.processes(request.job_id) == []


@pytest.mark.asyncio
async def test_stop_ends_every_process_of_a_distributed_job(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request(LINGER, job_type=JobType.pytorch, nodes=2, procs_per_node=1)
    await backend.launch(request)
    for rank in range(2):
        await watch.file(request.run_dir / "work" / f"ready-{rank}")
    assert len(watch.processes(request.job_id)) >= 8  # torchruns, shims, shells, sleeps
    supervisor_pid = AttemptFiles(request.attempt_dir()).read_status().pid

    await backend.stop(request.run_dir, request.attempt, grace_seconds=5)

    assert watch.processes(request.job_id) == []
    assert not psutil.pid_exists(supervisor_pid) or (
        psutil.Process(supervisor_pid).status() == psutil.STATUS_ZOMBIE
    )
    state = await backend.poll(request.run_dir, request.attempt)
    assert state.phase is RunPhase.stopped
    assert state.message == "stopped on request"
    assert state.finished_at is not None


@pytest.mark.asyncio
async def test_a_new_backend_instance_sees_and_stops_a_running_job(
    backend: LocalBackend, make_request: MakeRequest
) -> None:
    request = make_request("touch ready; sleep 300")
    await backend.launch(request)
    await JobWatch.file(request.run_dir / "work" / "ready")

    restarted = LocalBackend()  # the platform came back; it knows only the run directory
    state = await restarted.poll(request.run_dir, request.attempt)
    assert state.phase is RunPhase.running
    assert state.started_at is not None

    await restarted.stop(request.run_dir, request.attempt, grace_seconds=5)
    assert (await restarted.poll(request.run_dir, request.attempt)).phase is RunPhase.stopped
    assert (await backend.poll(request.run_dir, request.attempt)).phase is RunPhase.stopped
    assert JobWatch.processes(request.job_id) == []


@pytest.mark.asyncio
async def test_killed_supervisor_is_reported_lost_and_its_processes_ended(
    backend: LocalBackend, make_request: MakeRequest
) -> None:
    request = make_request(LINGER.replace("$RANK", "0"))
    await backend.launch(request)
    await JobWatch.file(request.run_dir / "work" / "ready-0")
    await asyncio.sleep(2 * backend.usage_interval_seconds)  # the supervisor lists its tree
    assert len(JobWatch.processes(request.job_id)) >= 4
    supervisor_pid = AttemptFiles(request.attempt_dir()).read_status().pid

    supervisor = psutil.Process(supervisor_pid)
    os.kill(supervisor_pid, signal.SIGKILL)  # only the supervisor, not its group
    psutil.wait_procs([supervisor], timeout=5)

    restarted = LocalBackend()
    state = await restarted.poll(request.run_dir, request.attempt)
    assert state.phase is RunPhase.lost
    assert state.message == LOST_MESSAGE
    assert state.finished_at is not None
    assert JobWatch.processes(request.job_id) == []
    assert (await backend.poll(request.run_dir, request.attempt)).phase is RunPhase.lost


@pytest.mark.asyncio
async def test_log_is_readable_while_the_job_runs(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request("echo first; while [ ! -e go ]; do sleep 0.05; done; echo second")
    assert await backend.read_log(request.run_dir, request.attempt) == b""

    await backend.launch(request)
    deadline = time.monotonic() + 10
    while (chunk := await backend.read_log(request.run_dir, request.attempt)) != b"first\n":
        assert time.monotonic() < deadline, chunk
        await asyncio.sleep(0.05)
    assert (await backend.poll(request.run_dir, request.attempt)).phase is RunPhase.running

    (request.run_dir / "work" / "go").touch()
    assert (await watch.finished(request)).phase is RunPhase.succeeded
    rest = await backend.read_log(request.run_dir, request.attempt, offset=len(chunk))
    assert rest == b"second\n"


@pytest.mark.asyncio
async def test_usage_samples_of_a_running_job(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    busy = "import time\nend = time.time() + 2\nwhile time.time() < end: pass\n"
    request = make_request("python busy.py", files={"busy.py": busy})

    await backend.launch(request)
    assert (await watch.finished(request)).phase is RunPhase.succeeded

    samples = await backend.read_usage(request.run_dir, request.attempt)
    assert len(samples) >= 3
    assert [s.t for s in samples] == sorted(s.t for s in samples)
    assert max(s.cpu_percent for s in samples) > 10  # a busy loop, on a loaded machine
    assert max(s.memory_mb for s in samples) > 1
    assert all(s.accelerator_percent is None for s in samples)  # a CPU job


@pytest.mark.asyncio
async def test_missing_working_dir_fails_with_a_message(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request("true", working_dir="no/such/folder")

    await backend.launch(request)
    state = await watch.finished(request)

    assert state.phase is RunPhase.failed
    assert state.message == "working_dir 'no/such/folder' does not exist in the job's code"


@pytest.mark.asyncio
async def test_an_attempt_is_launched_once(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request("true")
    await backend.launch(request)

    with pytest.raises(ValueError, match="already launched"):
        await backend.launch(request)
    assert (await watch.finished(request)).phase is RunPhase.succeeded


@pytest.mark.asyncio
async def test_poll_of_an_attempt_never_launched(backend: LocalBackend, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="never launched"):
        await backend.poll(tmp_path, 1)


@pytest.mark.asyncio
async def test_deepspeed_job_runs_its_ranks_like_pytorch(
    backend: LocalBackend, watch: JobWatch, make_request: MakeRequest
) -> None:
    request = make_request(
        "echo rank $RANK of $WORLD_SIZE", job_type=JobType.deepspeed, nodes=1, procs_per_node=2
    )

    await backend.launch(request)
    assert (await watch.finished(request)).phase is RunPhase.succeeded

    log = await watch.log(request)
    assert "[rank 0] rank 0 of 2\n" in log and "[rank 1] rank 1 of 2\n" in log


@pytest.mark.asyncio
async def test_relative_run_dir(
    backend: LocalBackend,
    watch: JobWatch,
    make_request: MakeRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    absolute = make_request("pwd; echo $SXWL_MODEL_DIR")
    monkeypatch.chdir(absolute.run_dir.parent)
    request = dataclasses.replace(absolute, run_dir=Path(absolute.run_dir.name))

    await backend.launch(request)
    assert (await watch.finished(request)).phase is RunPhase.succeeded

    run_dir = absolute.run_dir.resolve()
    assert await watch.log(request) == f"{run_dir / 'work'}\n{run_dir / 'volumes' / 'model'}\n"
