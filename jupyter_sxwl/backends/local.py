"""LocalBackend: runs jobs as processes on this machine (the embedded deployment mode).

Each attempt gets a detached supervisor, ``python -m jupyter_sxwl.runtime.launcher``, in its own
session and process group. The supervisor owns the job's processes and records everything in
the attempt folder (see ``runtime/attempt_files.py``), so the platform can restart at any time:
a new ``LocalBackend`` finds running attempts through their ``status.json`` alone. Liveness is
checked by pid *and* process create time, so a reused pid is never taken for the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fnmatch
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from traitlets import Float, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

import jupyter_sxwl
from jupyter_sxwl.backends.base import LaunchRequest, RunPhase, RunState, UsageSample, attempt_dir
from jupyter_sxwl.runtime.attempt_files import AttemptFiles, AttemptStatus, write_json_atomic

LOST_MESSAGE = (
    "the job's supervisor process exited without recording a result; "
    "the platform host may have restarted"
)

STOPPED_MESSAGE = "stopped on request"


class LocalBackend(LoggingConfigurable):
    """Runs single, PyTorch (torchrun), DeepSpeed and MPI (mpirun) jobs as local processes.

    A job with ``nodes`` > 1 runs all its "nodes" on this machine, each with its own torchrun
    (or block of MPI ranks) and the flavour's device environment of that node. CPU and memory
    requests are not enforced locally; the scheduler's admission is what keeps them in check.
    """

    python = Unicode(
        help="""Python interpreter that runs the job supervisor, torchrun and the rank shim.

        Its folder is put first on the job's PATH, so `python` in a job's command means this
        interpreter (it needs psutil, and torch for PyTorch and DeepSpeed jobs).
        Defaults to the interpreter running the platform.""",
    ).tag(config=True)

    @default("python")
    def _default_python(self) -> str:
        return sys.executable

    mpirun = Unicode(
        "mpirun",
        help="""Open MPI's mpirun (a name looked up on PATH, or a path), used for MPI jobs.

        It is started with --allow-run-as-root --oversubscribe --bind-to none.""",
    ).tag(config=True)

    stop_grace_seconds = Float(
        10.0,
        help="""Seconds a job's processes get between SIGTERM and SIGKILL when the job is
        stopped by its supervisor: at its maximum run time, when one rank fails, or when the
        supervisor itself is signalled.""",
    ).tag(config=True)

    usage_interval_seconds = Float(
        2.0,
        help="Seconds between two hardware samples (CPU, memory, accelerators) of a running job.",
    ).tag(config=True)

    start_timeout_seconds = Float(
        60.0,
        help="""Seconds after which an attempt whose request was written but whose supervisor
        never recorded a process is reported as lost (the platform died while launching).""",
    ).tag(config=True)

    env_exclude = List(
        Unicode(),
        default_value=["JUPYTERHUB_*", "*TOKEN*", "*SECRET*", "*PASSWORD*"],
        help="""Shell-style patterns of the platform's environment variables that jobs must not
        inherit (the platform's credentials). A job's own `env` is always passed.""",
    ).tag(config=True)

    max_log_chunk_bytes = Int(
        4 * 1024 * 1024,
        help="""Most bytes one read_log call returns; callers page on with the offset.""",
    ).tag(config=True)

    # -- Backend protocol ---------------------------------------------------------------------

    async def launch(self, request: LaunchRequest) -> None:
        """Start the attempt's supervisor; returns as soon as it runs."""
        await asyncio.to_thread(self._launch, request)

    async def poll(self, run_dir: Path, attempt: int) -> RunState:
        """The attempt's state from its ``status.json``; ``lost`` if its supervisor vanished."""
        return await asyncio.to_thread(self._poll, run_dir, attempt)

    async def stop(self, run_dir: Path, attempt: int, grace_seconds: float = 10.0) -> None:
        """SIGTERM the attempt (its supervisor ends the tree), SIGKILL what is left after the
        grace; returns when no process of the attempt is left and ``status.json`` says stopped."""
        await asyncio.to_thread(self._stop, run_dir, attempt, grace_seconds)

    async def read_log(self, run_dir: Path, attempt: int, offset: int = 0) -> bytes:
        """Up to ``max_log_chunk_bytes`` of the combined log from ``offset`` on."""
        files = AttemptFiles(attempt_dir(run_dir, attempt))
        return await asyncio.to_thread(files.read_log, offset, self.max_log_chunk_bytes)

    async def read_usage(self, run_dir: Path, attempt: int) -> list[UsageSample]:
        """The attempt's hardware samples, oldest first."""
        files = AttemptFiles(attempt_dir(run_dir, attempt))
        return await asyncio.to_thread(files.read_usage)

    # -- launch -------------------------------------------------------------------------------

    def _launch(self, request: LaunchRequest) -> None:
        # The supervisor runs elsewhere (another working directory): paths must be absolute.
        request = dataclasses.replace(request, run_dir=request.run_dir.resolve())
        files = AttemptFiles(request.attempt_dir())
        if files.request.exists():
            raise ValueError(
                f"attempt {request.attempt} of job {request.job_id} was already launched "
                f"in {files.folder}; launch a new attempt number instead"
            )
        files.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(files.request, request.to_json())
        argv = [
            self.python,
            "-m",
            "jupyter_sxwl.runtime.launcher",
            f"--usage-interval={self.usage_interval_seconds}",
            f"--stop-grace={self.stop_grace_seconds}",
            f"--mpirun={self.mpirun}",
            str(files.request.resolve()),
        ]
        with files.launcher_log.open("ab") as launcher_log:
            popen = subprocess.Popen(
                argv,
                # `-m` imports from the working directory first: the folder holding this
                # package, so the supervisor runs the same code whether installed or not.
                cwd=Path(jupyter_sxwl.__file__).resolve().parent.parent,
                env=self._supervisor_environment(),
                stdin=subprocess.DEVNULL,
                stdout=launcher_log,
                stderr=subprocess.STDOUT,
                # Its own session: it outlives a platform restart, and its group marks the job's
                # processes even after it died (see _job_processes).
                start_new_session=True,
            )
        # Wait for it in the background so that its exit is reaped at once: a zombie would look
        # alive to anyone checking its pid.
        threading.Thread(target=popen.wait, name=f"reap-{popen.pid}", daemon=True).start()
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.NoSuchProcess:
            create_time = None
        # Only if the supervisor has not written its own status yet (create-if-absent).
        files.create_status(
            AttemptStatus(phase=RunPhase.starting, pid=popen.pid, create_time=create_time)
        )
        self.log.info(
            "Started supervisor %s for job %s attempt %s (%s)",
            popen.pid,
            request.job_id,
            request.attempt,
            request.job_type.value,
        )

    def _supervisor_environment(self) -> dict[str, str]:
        return {
            name: value
            for name, value in os.environ.items()
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.env_exclude)
        }

    # -- poll ---------------------------------------------------------------------------------

    def _poll(self, run_dir: Path, attempt: int) -> RunState:
        files = AttemptFiles(attempt_dir(run_dir, attempt))
        status = files.read_status()
        if status is None:
            if not files.request.exists():
                raise FileNotFoundError(
                    f"attempt {attempt} was never launched in run directory {run_dir}"
                )
            age = time.time() - files.request.stat().st_mtime
            if age < self.start_timeout_seconds:
                return RunState(phase=RunPhase.starting)
            status = AttemptStatus(phase=RunPhase.starting)
        if status.phase.finished or _supervisor(status) is not None:
            return status.run_state()
        # The supervisor may have written its result just before exiting: read again.
        status = files.read_status() or status
        if status.phase.finished:
            return status.run_state()
        self.log.warning("Supervisor of %s is gone; reporting the attempt as lost", files.folder)
        _end_processes(status, grace=0.0)
        status.finished_at = time.time()
        if files.stop_request.exists():
            # A stop() is under way and its SIGKILL got the supervisor before it could write.
            status.phase, status.message = RunPhase.stopped, STOPPED_MESSAGE
        else:
            status.phase = RunPhase.lost
            status.message = LOST_MESSAGE + _launcher_log_hint(files)
        status.processes = []
        files.write_status(status)
        return status.run_state()

    # -- stop ---------------------------------------------------------------------------------

    def _stop(self, run_dir: Path, attempt: int, grace: float) -> None:
        files = AttemptFiles(attempt_dir(run_dir, attempt))
        status = files.read_status()
        if status is None or status.phase.finished:
            return
        # The supervisor reads the grace from here when the signal arrives.
        write_json_atomic(files.stop_request, {"grace_seconds": grace})
        _end_processes(status, grace)
        final = files.read_status() or status
        if not final.phase.finished:
            final.phase = RunPhase.stopped
            final.finished_at = time.time()
            final.message = STOPPED_MESSAGE
            final.processes = []
            files.write_status(final)


def _matches(proc: psutil.Process, create_time: float | None) -> bool:
    """Whether ``proc`` is still the process recorded with ``create_time`` (not a reused pid)."""
    try:
        return (
            create_time is not None
            and abs(proc.create_time() - create_time) < 0.01
            and proc.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def _supervisor(status: AttemptStatus) -> psutil.Process | None:
    """The attempt's supervisor process if it is still alive."""
    if status.pid is None:
        return None
    try:
        proc = psutil.Process(status.pid)
    except psutil.Error:
        return None
    return proc if _matches(proc, status.create_time) else None


def _job_processes(status: AttemptStatus) -> list[psutil.Process]:
    """Every live process of the attempt: the supervisor's tree, its group and what it recorded.

    The group catches processes whose parent already died; the recorded list catches those in
    other sessions (torchrun's workers) after the supervisor died.
    """
    found: dict[int, psutil.Process] = {}
    supervisor = _supervisor(status)
    if supervisor is not None:
        found[supervisor.pid] = supervisor
        with contextlib.suppress(psutil.Error):
            found.update((p.pid, p) for p in supervisor.children(recursive=True))
    for tracked in status.processes:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(tracked.pid)
            if _matches(proc, tracked.create_time):
                found[proc.pid] = proc
                found.update((p.pid, p) for p in proc.children(recursive=True))
    if status.pid is not None and status.create_time is not None:
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                # Members of the supervisor's group started after it (not an older reused group).
                if (
                    os.getpgid(proc.pid) == status.pid
                    and proc.create_time() >= status.create_time - 0.01
                ):
                    found[proc.pid] = proc
    found.pop(os.getpid(), None)
    return list(found.values())


def _end_processes(status: AttemptStatus, grace: float) -> None:
    """SIGTERM the supervisor (it ends its tree), SIGKILL everything left after the grace.

    Only the supervisor is signalled at first, not its whole group: it sends SIGTERM to every
    process of its tree itself, and a second SIGTERM would cut torchrun's own shutdown short.
    Returns when no process of the attempt is left.
    """
    procs = _job_processes(status)
    supervisor = _supervisor(status)
    if supervisor is not None and grace > 0:
        with contextlib.suppress(psutil.Error):
            supervisor.terminate()
        # The supervisor ends its tree within the grace and records the result; a little more
        # time lets it write status.json after its own SIGKILL round.
        with contextlib.suppress(psutil.TimeoutExpired):
            supervisor.wait(timeout=grace + 2.0)
    elif grace > 0:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        psutil.wait_procs(procs, timeout=grace)
    while True:
        procs = [
            p for p in {p.pid: p for p in procs + _job_processes(status)}.values() if _alive(p)
        ]
        if not procs:
            return
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=1.0)


def _alive(proc: psutil.Process) -> bool:
    """Still running and still the same process (psutil compares create times for us)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _launcher_log_hint(files: AttemptFiles) -> str:
    """The supervisor's last words, when it left any (for example a traceback)."""
    try:
        lines = files.launcher_log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f" (its last output: {lines[-1][:300]})" if lines else ""
