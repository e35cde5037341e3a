"""Fixtures of the backend tests: run directories laid out the way the platform prepares them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from jupyter_sxwl.backends.base import JobType, LaunchRequest, RunState
from jupyter_sxwl.backends.local import LocalBackend

_job_numbers = itertools.count(1)


def prepare_run_dir(run_dir: Path, files: dict[str, str] | None = None) -> Path:
    """Create ``work/``, the volumes and the ``checkpoints``/``output`` symlinks; add ``files``."""
    work = run_dir / "work"
    work.mkdir(parents=True)
    (run_dir / "volumes" / "checkpoint").mkdir(parents=True)
    (run_dir / "volumes" / "model").mkdir(parents=True)
    (work / "checkpoints").symlink_to(Path("..") / "volumes" / "checkpoint")
    (work / "output").symlink_to(Path("..") / "volumes" / "model")
    for name, text in (files or {}).items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return run_dir


MakeRequest = Callable[..., LaunchRequest]


@pytest.fixture
def make_request(tmp_path: Path) -> MakeRequest:
    """Build a LaunchRequest for a fresh run directory holding ``files`` in its code folder."""

    def make(
        command: str,
        *,
        files: dict[str, str] | None = None,
        job_type: JobType = JobType.single,
        **fields: object,
    ) -> LaunchRequest:
        number = next(_job_numbers)
        run_dir = prepare_run_dir(tmp_path / f"job-{number}", files)
        return LaunchRequest(
            # Unique across test runs: leftover processes are found by their SXWL_JOB_ID.
            job_id=f"job-{uuid.uuid4().hex[:12]}",
            owner="alice",
            attempt=1,
            run_dir=run_dir,
            command=command,
            job_type=job_type,
            **fields,  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def backend() -> LocalBackend:
    """A LocalBackend with short intervals so that tests stay fast."""
    return LocalBackend(usage_interval_seconds=0.3, stop_grace_seconds=3.0)


class JobWatch:
    """Waits and checks used by the tests of one backend."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend

    async def finished(self, request: LaunchRequest, timeout: float = 60.0) -> RunState:
        """Poll until the attempt finishes; fail the test if it takes longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.backend.poll(request.run_dir, request.attempt)
            if state.phase.finished:
                return state
            if time.monotonic() > deadline:
                log = await self.log(request)
                pytest.fail(f"job still {state.phase.value} after {timeout} s; log:\n{log}")
            await asyncio.sleep(0.1)

    async def log(self, request: LaunchRequest) -> str:
        return (await self.backend.read_log(request.run_dir, request.attempt)).decode()

    @staticmethod
    async def file(path: Path, timeout: float = 30.0) -> None:
        """Wait until ``path`` exists."""
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                pytest.fail(f"{path} did not appear within {timeout} s")
            await asyncio.sleep(0.05)

    @staticmethod
    def processes(job_id: str) -> list[psutil.Process]:
        """Live processes whose environment says they belong to ``job_id``, wherever they are."""
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if (
                    proc.status() != psutil.STATUS_ZOMBIE
                    and proc.environ().get("SXWL_JOB_ID") == job_id
                ):
                    found.append(proc)
        return found


@pytest.fixture
def watch(backend: LocalBackend) -> JobWatch:
    return JobWatch(backend)
