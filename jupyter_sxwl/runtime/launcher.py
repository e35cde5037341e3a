"""The supervisor of one local attempt: starts the job's processes, watches them, records results.

``LocalBackend.launch`` starts it detached, in its own session and process group::

    python -m jupyter_sxwl.runtime.launcher [options] <attempt_dir>/request.json

It runs the request's command the way its job type asks (one ``bash -c``, one torchrun per
simulated node, or one mpirun), merges every process's output into ``log.txt``, samples hardware
use into ``usage.jsonl``, enforces the maximum run time and writes ``status.json`` (atomically)
at each change. SIGTERM or SIGINT stops the job: every process of its tree gets SIGTERM, then
SIGKILL after a grace.

The supervisor marks itself a *child subreaper* (Linux), so processes orphaned inside the job
(torchrun's workers after torchrun dies, a daemon a script forked) are re-parented to it instead
of to init: its process tree is always the job's whole tree, whatever sessions or groups the
processes moved to (torchrun gives every worker its own session).

It imports only the standard library, psutil and the stdlib-only ``backends/base.py``: it
must start fast and never import torch.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psutil

from jupyter_sxwl.backends.base import JobType, LaunchRequest, RunPhase, UsageSample
from jupyter_sxwl.runtime.attempt_files import AttemptFiles, AttemptStatus, TrackedProcess
from jupyter_sxwl.runtime.rankenv import exit_code_of

RANK_SHIM = Path(__file__).with_name("rankenv.py")
MASTER_ADDR = "127.0.0.1"
TICK_SECONDS = 0.25  # how often process exits, signals and deadlines are checked
PARTIAL_LINE_LIMIT = 64 * 1024  # a prefixed stream without newlines is flushed at this size

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class LaunchError(Exception):
    """The job could not be started; the message is meant for the user."""


def _die_with_parent() -> None:
    """Runs in each direct child before exec: SIGTERM it when the supervisor dies.

    torchrun and mpirun answer SIGTERM by stopping their ranks, so a supervisor killed with
    SIGKILL does not leave a training job running unobserved.
    """
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind((MASTER_ADDR, 0))
        return int(s.getsockname()[1])


def describe_duration(seconds: float) -> str:
    """``"30 minutes"``, ``"1 minute"``, ``"90 seconds"``: whole minutes when they are."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute" + ("s" if minutes != 1 else "")
    return f"{seconds:g} second" + ("s" if seconds != 1 else "")


@dataclass
class Member:
    """One process the supervisor starts directly (bash, one torchrun per node, or mpirun)."""

    label: str  # names it in messages: "the command", "node 1 (torchrun)", "mpirun"
    argv: list[str]
    env: dict[str, str]
    prefix: bytes = b""  # put before each of its output lines in log.txt
    popen: subprocess.Popen[bytes] | None = None
    partial: bytes = b""
    exit_code: int | None = None
    signal_name: str | None = None
    exited_at: float | None = None
    stream_open: bool = True


def job_environment(
    request: LaunchRequest, base: dict[str, str], python: str, master_port: int
) -> dict[str, str]:
    """The environment every process of the job shares (rank variables come later)."""
    env = dict(base)
    env.update(request.env)
    single = request.job_type is JobType.single
    nodes = 1 if single else request.nodes
    procs = 1 if single else request.procs_per_node
    run_dir = request.run_dir
    env.update(
        {
            "MASTER_ADDR": MASTER_ADDR,
            "MASTER_PORT": str(master_port),
            "WORLD_SIZE": str(nodes * procs),
            "WORKER_CNT": str(nodes),
            "GPUS_PER_NODE": str(procs),
            "SXWL_JOB_ID": request.job_id,
            "SXWL_ATTEMPT": str(request.attempt),
            "SXWL_CHECKPOINT_DIR": str(run_dir / "volumes" / "checkpoint"),
            "SXWL_MODEL_DIR": str(run_dir / "volumes" / "model"),
            "SXWL_METRICS_FILE": str(run_dir / "metrics.jsonl"),
            "SXWL_RESUME": "1" if request.resume else "0",
            "SXWL_DISTRIBUTED_BACKEND": request.distributed_backend,
        }
    )
    # `python` in the command means the interpreter the platform runs jobs with.
    bin_dir = str(Path(python).parent)
    env["PATH"] = os.pathsep.join(p for p in (bin_dir, env.get("PATH", "")) if p)
    return env


def node_env(request: LaunchRequest, node: int) -> dict[str, str]:
    return dict(request.device_env[node]) if node < len(request.device_env) else {}


def build_members(
    request: LaunchRequest, files: AttemptFiles, base_env: dict[str, str], mpirun: str
) -> list[Member]:
    """The processes to start for the request's job type."""
    python = sys.executable
    env = job_environment(request, base_env, python, free_port())
    bash = ["bash", "-c", request.command]
    shim = [
        str(RANK_SHIM),
        "--procs-per-node",
        str(request.procs_per_node),
        "--device-env",
        json.dumps(request.device_env),
        "--exit-dir",
        str(files.ranks),
        *(["--prefix-output"] if request.nodes * request.procs_per_node > 1 else []),
        "--",
        *bash,
    ]
    if request.job_type is JobType.single:
        env.update(RANK="0", LOCAL_RANK="0", NODE_RANK="0", **node_env(request, 0))
        return [Member("the command", bash, env)]
    if request.job_type in (JobType.pytorch, JobType.deepspeed):
        members = []
        for node in range(request.nodes):
            node_specific = dict(env, NODE_RANK=str(node), **node_env(request, node))
            argv = [
                python,
                "-m",
                "torch.distributed.run",
                f"--nnodes={request.nodes}",
                f"--nproc-per-node={request.procs_per_node}",
                f"--node-rank={node}",
                f"--master-addr={MASTER_ADDR}",
                f"--master-port={env['MASTER_PORT']}",
                "--max-restarts=0",
                *shim,
            ]
            prefix = f"[node {node}] ".encode() if request.nodes > 1 else b""
            members.append(Member(f"node {node} (torchrun)", argv, node_specific, prefix))
        return members
    if request.job_type is JobType.mpi:
        found = shutil.which(mpirun)
        if found is None:
            raise LaunchError(
                f"MPI jobs need Open MPI's mpirun, which was not found as {mpirun!r}; "
                "install openmpi-bin or set c.LocalBackend.mpirun to its path"
            )
        argv = [
            found,
            "--allow-run-as-root",
            "--oversubscribe",
            "--bind-to",
            "none",
            "-np",
            str(request.nodes * request.procs_per_node),
            python,
            *shim,
        ]
        return [Member("mpirun", argv, env)]
    raise LaunchError(f"job type {request.job_type.value!r} is not supported by the local backend")


class AcceleratorProbe:
    """Accelerator use of the job's devices via ``nvidia-smi``; None where there is none."""

    QUERY = "index,uuid,utilization.gpu,memory.used"

    def __init__(self, request: LaunchRequest) -> None:
        self.nvidia_smi = shutil.which("nvidia-smi") if request.accelerators_per_node else None
        # The flavour's device env says which devices are the job's; without it, all of them.
        visible: set[str] = set()
        for env in request.device_env:
            for var in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"):
                visible.update(d.strip() for d in env.get(var, "").split(",") if d.strip())
        self.devices = visible - {"all"}

    def sample(self) -> tuple[float | None, float | None]:
        """(mean utilisation %, memory used MiB summed) over the job's GPUs."""
        if self.nvidia_smi is None:
            return None, None
        try:
            out = subprocess.run(
                [self.nvidia_smi, f"--query-gpu={self.QUERY}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return None, None
        return parse_nvidia_smi(out, self.devices)


def parse_nvidia_smi(out: str, devices: set[str]) -> tuple[float | None, float | None]:
    """Parse ``index, uuid, utilization.gpu, memory.used`` rows, keeping ``devices`` (or all)."""
    utils, memory = [], 0.0
    for row in out.strip().splitlines():
        cols = [c.strip() for c in row.split(",")]
        if len(cols) != 4 or (devices and cols[0] not in devices and cols[1] not in devices):
            continue
        with contextlib.suppress(ValueError):  # "[N/A]" on some devices
            utils.append(float(cols[2]))
        with contextlib.suppress(ValueError):
            memory += float(cols[3])
    if not utils:
        return None, None
    return sum(utils) / len(utils), memory


class Supervisor:
    """Runs one attempt to its end; ``run`` returns once ``status.json`` holds the result."""

    def __init__(
        self,
        request: LaunchRequest,
        files: AttemptFiles,
        *,
        usage_interval: float,
        stop_grace: float,
        mpirun: str,
    ) -> None:
        self.request = request
        self.files = files
        self.usage_interval = usage_interval
        self.stop_grace = stop_grace
        self.mpirun = mpirun
        self.me = psutil.Process()
        self.status = AttemptStatus(
            phase=RunPhase.starting, pid=self.me.pid, create_time=self.me.create_time()
        )
        self.members: list[Member] = []
        self.signal_received: int | None = None
        # Set once the job is being ended: the phase to record, why, and when to SIGKILL.
        self.ending: tuple[RunPhase, str] | None = None
        self.kill_at: float | None = None
        self.terminated: set[tuple[int, float]] = set()
        self.sampled: dict[tuple[int, float], psutil.Process] = {}
        self.accelerators = AcceleratorProbe(request)
        self.log: BinaryIO | None = None

    # -- life cycle -----------------------------------------------------------------------

    def run(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        if _libc is not None:
            _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self.files.write_status(self.status)
        self.files.ranks.mkdir(exist_ok=True)
        try:
            self.members = build_members(
                self.request, self.files, self._base_environment(), self.mpirun
            )
            cwd = self._working_directory()
        except LaunchError as exc:
            self._finish(RunPhase.failed, None, str(exc))
            return
        with self.files.log.open("ab", buffering=0) as log:
            self.log = log
            selector = selectors.DefaultSelector()
            selector.register(wake_r, selectors.EVENT_READ, None)
            for member in self.members:
                member.popen = subprocess.Popen(
                    member.argv,
                    cwd=cwd,
                    env=member.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                )
                assert member.popen.stdout is not None
                os.set_blocking(member.popen.stdout.fileno(), False)
                selector.register(member.popen.stdout, selectors.EVENT_READ, member)
            self.status.phase = RunPhase.running
            self.status.started_at = time.time()
            self._record_processes()
            self._loop(selector, wake_r)
        phase, exit_code, message = self._result()
        self._finish(phase, exit_code, message)

    def _base_environment(self) -> dict[str, str]:
        return dict(os.environ)

    def _working_directory(self) -> Path:
        work = (self.request.run_dir / "work").resolve()
        cwd = (work / self.request.working_dir).resolve()
        if cwd != work and work not in cwd.parents:
            raise LaunchError(
                f"working_dir {self.request.working_dir!r} points outside the job's code folder"
            )
        if not cwd.is_dir():
            raise LaunchError(
                f"working_dir {self.request.working_dir!r} does not exist in the job's code"
            )
        return cwd

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Only note it: the main loop, woken through the wakeup fd, does the work.
        self.signal_received = signum

    def _loop(self, selector: selectors.BaseSelector, wake_r: int) -> None:
        started = self.status.started_at or time.time()
        limit = self.request.max_run_seconds
        deadline = started + limit if limit else None
        next_sample = time.time() + self.usage_interval
        self._sample_processes()  # primes cpu_percent, whose first reading is always 0
        drained_since: float | None = None
        next_tick = 0.0
        while True:
            for key, _ in selector.select(TICK_SECONDS):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 512)
                    next_tick = 0.0  # a signal: act on it now
                    continue
                self._read_output(selector, key.data)
            now = time.time()
            if now < next_tick:
                continue  # chatty output wakes us often; process checks scan /proc, so pace them
            next_tick = now + TICK_SECONDS
            self._reap()
            if self.signal_received is not None and self.ending is None:
                grace = self.files.read_stop_grace()
                self._end(RunPhase.stopped, "stopped on request", grace)
            if deadline is not None and now >= deadline and self.ending is None:
                assert limit is not None
                message = f"stopped after the maximum run time of {describe_duration(limit)}"
                self._end(RunPhase.timed_out, message)
            if self.ending is None and any(m.exit_code not in (None, 0) for m in self.members):
                # One failed rank or node fails the job: the others would only wait for it.
                self._end(RunPhase.failed, "")
            all_exited = all(m.exit_code is not None for m in self.members)
            if all_exited and self.ending is None:
                self._end(RunPhase.succeeded, "")  # ends what the job left running, if any
            if self.ending is not None:
                self._signal_tree(now)
            if now >= next_sample:
                self._sample_usage(now)
                next_sample = now + self.usage_interval
            if all_exited and not self._descendants():
                streams_open = any(m.stream_open for m in self.members)
                # Every writer is gone, so the pipes are at EOF; the drain window only covers
                # a process outside our tree holding one (no subreaper on this system).
                drained_since = drained_since or now
                if not streams_open or now - drained_since > 1.0:
                    break
        for member in self.members:
            self._flush_partial(member)

    # -- processes --------------------------------------------------------------------------

    def _descendants(self) -> list[psutil.Process]:
        alive = []
        for proc in self.me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive

    def _reap(self) -> None:
        now = time.time()
        for member in self.members:
            assert member.popen is not None
            if member.exit_code is None and member.popen.poll() is not None:
                member.exit_code, member.signal_name = exit_code_of(member.popen.returncode)
                member.exited_at = now
        # Orphans re-parented to us (we are a subreaper) must be waited for, or they stay
        # zombies; our own Popen children are left to Popen so their exit codes are kept.
        own = {m.popen.pid for m in self.members if m.popen is not None}
        for child in self.me.children():
            if child.pid not in own:
                with contextlib.suppress(ChildProcessError, psutil.Error):
                    if child.status() == psutil.STATUS_ZOMBIE:
                        os.waitpid(child.pid, os.WNOHANG)

    def _end(self, phase: RunPhase, message: str, grace: float | None = None) -> None:
        """Start ending the job: SIGTERM now (see ``_signal_tree``), SIGKILL after the grace."""
        self.ending = (phase, message)
        self.kill_at = time.time() + (self.stop_grace if grace is None else grace)

    def _signal_tree(self, now: float) -> None:
        """SIGTERM every process of the tree once; SIGKILL what is left after the grace."""
        assert self.kill_at is not None
        kill = now >= self.kill_at
        for proc in self._descendants():
            with contextlib.suppress(psutil.Error):
                key = (proc.pid, proc.create_time())
                if kill:
                    proc.kill()
                elif key not in self.terminated:
                    self.terminated.add(key)
                    proc.terminate()

    def _record_processes(self) -> None:
        tracked = []
        for proc in self._descendants():
            with contextlib.suppress(psutil.Error):
                tracked.append(TrackedProcess(proc.pid, proc.create_time()))
        self.status.processes = tracked
        self.files.write_status(self.status)

    # -- output and usage -------------------------------------------------------------------

    def _read_output(self, selector: selectors.BaseSelector, member: Member) -> None:
        assert member.popen is not None and member.popen.stdout is not None
        try:
            chunk = os.read(member.popen.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:
            selector.unregister(member.popen.stdout)
            member.popen.stdout.close()
            member.stream_open = False
            self._flush_partial(member)
            return
        assert self.log is not None
        if not member.prefix:
            self.log.write(chunk)
            return
        # Prefixed output goes out in whole lines so that nodes' lines do not interleave.
        data = member.partial + chunk
        head, sep, tail = data.rpartition(b"\n")
        if sep:
            lines = (head + sep).splitlines(keepends=True)
            self.log.write(b"".join(member.prefix + line for line in lines))
        member.partial = tail
        if len(member.partial) > PARTIAL_LINE_LIMIT:
            self._flush_partial(member)

    def _flush_partial(self, member: Member) -> None:
        if member.partial and self.log is not None:
            self.log.write(member.prefix + member.partial + b"\n")
        member.partial = b""

    def _sample_processes(self) -> tuple[float, float]:
        cpu, rss = 0.0, 0.0
        current: dict[tuple[int, float], psutil.Process] = {}
        for proc in self._descendants():
            with contextlib.suppress(psutil.Error):
                key = (proc.pid, proc.create_time())
                # Keep the same Process object: cpu_percent measures since its last call.
                proc = self.sampled.get(key, proc)
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
                current[key] = proc
        self.sampled = current
        return cpu, rss / (1024 * 1024)

    def _sample_usage(self, now: float) -> None:
        cpu, memory_mb = self._sample_processes()
        accel, accel_memory = self.accelerators.sample()
        self.files.append_usage(UsageSample(now, cpu, memory_mb, accel, accel_memory))
        self._record_processes()

    # -- result -----------------------------------------------------------------------------

    def _result(self) -> tuple[RunPhase, int | None, str]:
        assert self.ending is not None
        phase, message = self.ending
        if phase in (RunPhase.stopped, RunPhase.timed_out):
            return phase, None, message
        if all(m.exit_code == 0 for m in self.members):
            return RunPhase.succeeded, 0, ""
        return (RunPhase.failed, *self._first_failure())

    def _first_failure(self) -> tuple[int | None, str]:
        """The exit code and a message naming the rank (or process) that failed first."""
        ranks = [r for r in self.files.read_rank_records() if r.get("exit_code")]
        if ranks:
            first = min(ranks, key=lambda r: r["finished_at"])
            how = (
                f"was killed by {first['signal']}"
                if first.get("signal")
                else f"exited with code {first['exit_code']}"
            )
            where = f"rank {first['rank']} (node {first['node_rank']}, "
            where += f"local rank {first['local_rank']})"
            return first["exit_code"], f"{where} {how}; see the log"
        failed = [m for m in self.members if m.exit_code not in (None, 0)]
        first_member = min(failed, key=lambda m: m.exited_at or 0.0)
        how = (
            f"was killed by {first_member.signal_name}"
            if first_member.signal_name
            else f"exited with code {first_member.exit_code}"
        )
        return first_member.exit_code, f"{first_member.label} {how}; see the log"

    def _finish(self, phase: RunPhase, exit_code: int | None, message: str) -> None:
        self.status.phase = phase
        self.status.exit_code = exit_code
        self.status.message = message
        self.status.finished_at = time.time()
        self.status.processes = []
        self.files.write_status(self.status)


def _kill_tree_now() -> None:
    """Last resort after a crash of the supervisor: SIGKILL whatever the job started."""
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _record_crash(files: AttemptFiles, error: BaseException) -> None:
    with contextlib.suppress(Exception):
        me = psutil.Process()
        status = files.read_status() or AttemptStatus(phase=RunPhase.starting)
        if status.phase.finished:
            return
        status.phase = RunPhase.failed
        status.pid, status.create_time = me.pid, me.create_time()
        status.finished_at = time.time()
        status.message = f"the job's supervisor failed: {type(error).__name__}: {error}"
        status.processes = []
        files.write_status(status)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m jupyter_sxwl.runtime.launcher``."""
    parser = argparse.ArgumentParser(description="Supervise one local attempt of a job.")
    parser.add_argument("request", type=Path, help="the attempt's request.json")
    parser.add_argument("--usage-interval", type=float, default=2.0)
    parser.add_argument("--stop-grace", type=float, default=10.0)
    parser.add_argument("--mpirun", default="mpirun")
    args = parser.parse_args(argv)
    files = AttemptFiles(args.request.resolve().parent)
    # Our own process group: the backend finds the job's processes by it if we die.
    if os.getpgrp() != os.getpid():
        with contextlib.suppress(OSError):
            os.setsid()
    try:
        request = LaunchRequest.from_json(json.loads(args.request.read_text(encoding="utf-8")))
        Supervisor(
            request,
            files,
            usage_interval=args.usage_interval,
            stop_grace=args.stop_grace,
            mpirun=args.mpirun,
        ).run()
    except BaseException as exc:
        traceback.print_exc()
        _kill_tree_now()
        _record_crash(files, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
