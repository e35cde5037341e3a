"""The Backend protocol: where admitted work runs.

The platform decides *what* runs and *when* (catalogue, scheduler, store); a backend only
starts, watches and stops it. ``LocalBackend`` runs processes on this machine; the cluster
mode's Kubernetes backend (not built yet) is to create Jobs/PyTorchJobs/MPIJobs from the same
``LaunchRequest``.

Layout of a job's run directory (prepared by the platform before ``launch``)::

    <run_dir>
      work                               the job's code (unpacked code package), cwd base
        <checkpoint_path>             -> volumes/checkpoint  (a relative symlink)
        <model_path>                  -> volumes/model       (a relative symlink)
    <run_dir>/volumes/checkpoint/        kept across restarts only when resuming
    <run_dir>/volumes/model/             the saved model files (artifacts)
    <run_dir>/attempts/<n>/              one folder per attempt, written by the backend:
        request.json                     the LaunchRequest of the attempt
        log.txt                          combined stdout/stderr of every process
        status.json                      the attempt's state (see ``RunState``), plus the
                                         supervisor's pid and create time and the processes
        usage.jsonl                      hardware samples, one JSON object a line
        launcher.log                     the local supervisor's own output
        stop.json, ranks/<rank>.json     local backend: stop request, per-rank exit records
    <run_dir>/metrics.jsonl              training metrics the user's code appends (optional)
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


class JobType(enum.StrEnum):
    """How the user's command is launched."""

    single = "single"  # one process
    pytorch = "pytorch"  # torchrun, nodes x procs_per_node
    mpi = "mpi"  # mpirun -np nodes*procs_per_node
    deepspeed = "deepspeed"  # a PyTorch job whose ranks run under the DeepSpeed launcher env


class RunPhase(enum.StrEnum):
    """What a backend knows about one attempt."""

    starting = "starting"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    stopped = "stopped"
    timed_out = "timed_out"
    lost = "lost"  # the supervisor vanished without writing a result

    @property
    def finished(self) -> bool:
        return self not in (RunPhase.starting, RunPhase.running)


@dataclass(frozen=True)
class LaunchRequest:
    """Everything a backend needs to start one attempt of a job."""

    job_id: str
    owner: str
    attempt: int
    run_dir: Path
    command: str  # run by ``bash -c`` in every rank
    job_type: JobType = JobType.single
    nodes: int = 1
    procs_per_node: int = 1
    working_dir: str = "."  # relative to <run_dir>/work
    env: dict[str, str] = field(default_factory=dict)  # user env, already validated
    cpu_per_node: float = 1.0
    memory_gb_per_node: float = 2.0
    accelerators_per_node: int = 0
    # Device environment of the flavour, per node, e.g. [{"CUDA_VISIBLE_DEVICES": "0,1"}].
    device_env: list[dict[str, str]] = field(default_factory=list)
    distributed_backend: str = "gloo"  # nccl | hccl | gloo
    max_run_seconds: int | None = None
    resume: bool = False
    image: str | None = None  # container image; ignored by the local backend

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["job_type"] = self.job_type.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LaunchRequest:
        data = dict(data)
        data["run_dir"] = Path(data["run_dir"])
        data["job_type"] = JobType(data["job_type"])
        return cls(**data)

    def attempt_dir(self) -> Path:
        return attempt_dir(self.run_dir, self.attempt)


def attempt_dir(run_dir: Path, attempt: int) -> Path:
    """The folder of one attempt inside a run directory."""
    return run_dir / "attempts" / str(attempt)


@dataclass
class RunState:
    """The state of one attempt as the backend sees it."""

    phase: RunPhase
    exit_code: int | None = None
    message: str = ""
    started_at: float | None = None  # unix seconds
    finished_at: float | None = None


@dataclass
class UsageSample:
    """One hardware sample of a running attempt (summed over all its processes)."""

    t: float
    cpu_percent: float
    memory_mb: float
    accelerator_percent: float | None = None
    accelerator_memory_mb: float | None = None


class Backend(Protocol):
    """Starts, watches and stops attempts. Every method is safe to call from the event loop."""

    async def launch(self, request: LaunchRequest) -> None:
        """Start one attempt. Returns once it is started (not finished)."""

    async def poll(self, run_dir: Path, attempt: int) -> RunState:
        """The current state of an attempt; works after a platform restart."""

    async def stop(self, run_dir: Path, attempt: int, grace_seconds: float = 10.0) -> None:
        """Stop the whole attempt (every process or pod); returns when it is gone."""

    async def read_log(self, run_dir: Path, attempt: int, offset: int = 0) -> bytes:
        """Bytes of the attempt's combined log from ``offset`` on (empty if none yet)."""

    async def read_usage(self, run_dir: Path, attempt: int) -> list[UsageSample]:
        """Hardware samples of the attempt, oldest first."""
