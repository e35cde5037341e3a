"""The dispatcher: runs admission cycles and moves jobs through their states.

It is the only place that turns scheduler decisions into backend calls. Each cycle it polls
the attempts that are active (so a platform restart re-attaches to running work), then admits
queued jobs. Waiting reasons and positions are kept in memory, never written per job: with
10,000 queued jobs a cycle must not rewrite 10,000 rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..backends.base import Backend, JobType, LaunchRequest, RunPhase, RunState
from ..scheduler import admit
from ..scheduler.catalogue import queue_spec, user_limit_from_json
from ..scheduler.model import (
    AdmissionResult,
    Flavour,
    NodeSlot,
    Placement,
    QueueSpec,
    UserLimit,
    Waiting,
    Workload,
)
from ..store.database import Database
from ..store.models import Job, Queue, utcnow
from ..store.models import UserLimit as UserLimitRow
from . import rundir
from .auth import Identity
from .payloads import ACTIVE_STATUSES


class NoRoom(Exception):
    """Work that must start now cannot: no node, quota or limit has room for it."""


_FINAL_BY_PHASE = {
    RunPhase.succeeded: "Succeeded",
    RunPhase.failed: "Failed",
    RunPhase.stopped: "Stopped",
    RunPhase.timed_out: "TimedOut",
    RunPhase.lost: "Failed",
}


def job_workload(job: Job) -> Workload:
    """The scheduler's view of a job row."""
    return Workload(
        id=job.id,
        owner=job.owner,
        queue=job.queue,
        flavour=job.flavour,
        priority=job.priority_value,
        seq=job.seq,
        nodes=job.nodes,
        accelerators_per_node=job.accelerators_per_node,
        cpu_per_node=job.cpu_per_node,
        memory_gb_per_node=job.memory_gb_per_node,
    )


def placement_of(job: Job) -> Placement:
    slots = tuple(NodeSlot(int(s["node"]), tuple(s.get("cards", ()))) for s in job.placement or [])
    return Placement(workload=job_workload(job), slots=slots)


def launch_request(job: Job, flavour: Flavour | None) -> LaunchRequest:
    """Everything the backend needs for the job's current attempt."""
    device_env: list[dict[str, str]] = []
    if flavour is not None and flavour.device_env and job.placement:
        device_env = [
            {flavour.device_env: ",".join(str(c) for c in slot.get("cards", []))}
            for slot in job.placement
        ]
    return LaunchRequest(
        job_id=job.id,
        owner=job.owner,
        attempt=job.attempt,
        run_dir=Path(job.run_dir),
        command=job.command,
        job_type=JobType(job.job_type),
        nodes=job.nodes,
        procs_per_node=job.procs_per_node,
        working_dir=job.working_dir,
        env={
            **(job.env or {}),
            **({"SXWL_MOUNT_ROOT": str(Path(job.run_dir) / "mnt")} if job.mounts else {}),
        },
        cpu_per_node=job.cpu_per_node,
        memory_gb_per_node=job.memory_gb_per_node,
        accelerators_per_node=job.accelerators_per_node,
        device_env=device_env,
        distributed_backend=flavour.distributed_backend if flavour else "gloo",
        max_run_seconds=job.max_run_minutes * 60 if job.max_run_minutes else None,
        resume=job.resume,
        image=job.image,
    )


def _ts(value: float | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)


class Dispatcher:
    """Admission cycles, launches and state tracking for every job."""

    # kind -> async materialise(identity, ref, version) -> (info, local folder); set by the
    # platform once the dataset and model managers exist.
    materialisers: dict[str, Any]

    def __init__(
        self,
        db: Database,
        backend: Backend,
        flavours: dict[str, Flavour],
        default_limit: UserLimit,
        interval: float = 1.0,
        start_timeout: float = 120.0,
        log: logging.Logger | None = None,
        code_dir: Path | None = None,
    ) -> None:
        self.materialisers = {}
        self.db = db
        self.code_dir = code_dir
        self.backend = backend
        self.flavours = flavours
        self.default_limit = default_limit
        self.interval = interval
        self.start_timeout = start_timeout
        self.log = log or logging.getLogger("jupyter_sxwl.dispatch")
        self.waiting: dict[str, Waiting] = {}
        self._wake = asyncio.Event()
        self._dirty = True
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_cycle_seconds = 0.0  # duration of the last admission (SQL reads included)
        self.cycles = 0
        self.on_finished: list[Callable[[Job], None]] = []
        # What runs outside the job table (the replicas of services) and holds cards, CPUs and
        # quota all the same: every admission counts it as running.
        self.held_elsewhere: Callable[[], list[Placement]] = list
        # Queues and per-user limits change rarely and are read on every submit; they are
        # cached here and dropped by ``invalidate`` whenever an admin changes them.
        self._queues: dict[str, QueueSpec] | None = None
        self._limits_cache: dict[str, UserLimit] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    _closing = False

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Ask for an admission cycle now (after a submit, a stop, a finished job)."""
        self._dirty = True
        self._wake.set()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference so it is not collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self) -> None:
        last_full = 0.0
        while not self._closing:
            # Cleared before the cycle: a wake that arrives during it triggers the next one.
            self._wake.clear()
            try:
                # A full cycle at least every 10 intervals even when nothing was reported,
                # so reasons stay fresh; otherwise only when something changed.
                now = time.monotonic()
                full = self._dirty or now - last_full > 10 * self.interval
                await self.cycle(admit_queued=full)
                if full:
                    last_full = now
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("admission cycle failed; retrying")
            # Under a burst of submits every one of them wakes the loop; a gap of twice the last
            # cycle keeps admission to a third of the CPU, leaving the rest to the API.
            await asyncio.sleep(max(0.02, 2 * self.last_cycle_seconds))
            # Poll quickly while something is starting so submit-to-running stays short.
            delay = self.interval / 4 if self._has_starting else self.interval
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancel
            # that close() sends, and the loop would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    _has_starting = False

    # -- one cycle ---------------------------------------------------------------------------

    async def cycle(self, admit_queued: bool = True) -> AdmissionResult | None:
        """Poll active attempts, then (if asked) admit queued jobs and launch them."""
        await self._poll_active()
        if not admit_queued:
            return None
        self._dirty = False
        started = time.perf_counter()
        result, to_launch = self._admit()
        self.last_cycle_seconds = time.perf_counter() - started
        self.cycles += 1
        for job_id in to_launch:
            await self._launch(job_id)
        return result

    def invalidate(self) -> None:
        """Queues or limits changed: read them again and run a cycle."""
        self._queues = None
        self._limits_cache = None
        self.wake()

    def user_limits(self) -> dict[str, UserLimit]:
        if self._limits_cache is None:
            with self.db.session() as session:
                self._limits_cache = {
                    row.username: user_limit_from_json(
                        {"max_accelerators": row.max_accelerators, "max_cpu": row.max_cpu}
                    )
                    for row in session.scalars(select(UserLimitRow))
                }
        return self._limits_cache

    def user_limit(self, username: str) -> UserLimit:
        return self.user_limits().get(username, self.default_limit)

    def queue_specs(self) -> dict[str, QueueSpec]:
        if self._queues is None:
            with self.db.session() as session:
                self._queues = {
                    q.name: queue_spec(q.name, q.quotas, q.users, q.strategy, q.description)
                    for q in session.scalars(select(Queue))
                }
        return self._queues

    def _admit(self) -> tuple[AdmissionResult, list[str]]:
        with _collector_paused(), self.db.session() as session:
            pending_rows = session.execute(
                select(
                    Job.id,
                    Job.owner,
                    Job.queue,
                    Job.flavour,
                    Job.priority_value,
                    Job.seq,
                    Job.nodes,
                    Job.accelerators_per_node,
                    Job.cpu_per_node,
                    Job.memory_gb_per_node,
                ).where(Job.status == "Queued")
            ).all()
            pending = [
                Workload(
                    id=r[0],
                    owner=r[1],
                    queue=r[2],
                    flavour=r[3],
                    priority=r[4],
                    seq=r[5],
                    nodes=r[6],
                    accelerators_per_node=r[7],
                    cpu_per_node=r[8],
                    memory_gb_per_node=r[9],
                )
                for r in pending_rows
            ]
            running = self._running(session)
            result = admit(
                pending,
                running,
                self.flavours,
                self.queue_specs(),
                self.user_limits(),
                self.default_limit,
            )
            now = utcnow()
            to_launch = []
            for placement in result.admitted:
                job = session.scalar(select(Job).where(Job.id == placement.workload.id))
                if job is None or job.status != "Queued":
                    continue
                job.status = "Starting"
                job.admitted_at = now
                job.placement = [{"node": s.node, "cards": list(s.cards)} for s in placement.slots]
                to_launch.append(job.id)
            self.waiting = result.waiting
        return result, to_launch

    def _running(self, session: Any) -> list[Placement]:
        jobs = session.scalars(select(Job).where(Job.status.in_(ACTIVE_STATUSES)))
        return [placement_of(j) for j in jobs] + self.held_elsewhere()

    def place(self, workloads: list[Workload]) -> list[Placement]:
        """Admit ``workloads`` at once, all or none, beside everything running (a service's
        replicas: they start now or not at all, they do not wait in a queue). Raises
        :class:`NoRoom` with the reason in words."""
        with self.db.session() as session:
            running = self._running(session)
        result = admit(
            workloads,
            running,
            self.flavours,
            self.queue_specs(),
            self.user_limits(),
            self.default_limit,
        )
        if len(result.admitted) < len(workloads):
            reasons = {w.reason for w in result.waiting.values() if w.reason}
            raise NoRoom("; ".join(sorted(reasons)) or "no room")
        by_id = {p.workload.id: p for p in result.admitted}
        return [by_id[w.id] for w in workloads]

    async def _launch(self, job_id: str) -> None:
        with self.db.session() as session:
            job = session.scalar(select(Job).where(Job.id == job_id))
            if job is None or job.status != "Starting":
                return
            request = launch_request(job, self.flavours.get(job.flavour))
            archive = (
                self.code_dir / f"{job.code_package}.archive"
                if job.code_package and self.code_dir
                else None
            )
            volume_paths = {"checkpoint_path": job.checkpoint_path, "model_path": job.model_path}
            mounts, owner = list(job.mounts or []), job.owner
            capacities = {
                "checkpoint_capacity_gb": job.checkpoint_capacity_gb,
                "model_capacity_gb": job.model_capacity_gb,
            }
        try:
            await asyncio.to_thread(
                rundir.prepare, request.run_dir, archive, volume_paths, capacities
            )
            for m in mounts:
                _, path = await self.materialisers[m["kind"]](
                    Identity(owner), m["id"], m["version"]
                )
                await asyncio.to_thread(rundir.link_mount, request.run_dir, m, path)
            await self.backend.launch(request)
            self._has_starting = True
        except Exception as e:
            self.log.exception("launching %s failed", job_id)
            self.finish(job_id, "Failed", None, f"the job could not be started: {e}")

    async def _poll_active(self) -> None:
        with self.db.session() as session:
            active = [
                (j.id, j.status, Path(j.run_dir), j.attempt, j.admitted_at)
                for j in session.scalars(select(Job).where(Job.status.in_(ACTIVE_STATUSES)))
            ]
        has_starting = False
        for job_id, status, run_dir, attempt, admitted_at in active:
            try:
                state = await self.backend.poll(run_dir, attempt)
            except Exception as e:
                self.log.warning("polling %s failed: %s", job_id, e)
                continue
            if state.phase == RunPhase.starting:
                waited = (utcnow() - admitted_at).total_seconds() if admitted_at else 0.0
                if waited > self.start_timeout and status != "Stopping":
                    await self.backend.stop(run_dir, attempt)
                    self.finish(
                        job_id,
                        "Failed",
                        None,
                        f"the job did not start within {int(self.start_timeout)} s; "
                        "restart it, and tell an admin if it happens again",
                    )
                    continue
                has_starting = True
            self._apply(job_id, state)
        self._has_starting = has_starting

    def _apply(self, job_id: str, state: RunState) -> None:
        if state.phase.finished:
            with self.db.session() as session:
                job = session.scalar(select(Job).where(Job.id == job_id))
                current = job.status if job else None
            status = "Stopped" if current == "Stopping" else _FINAL_BY_PHASE[state.phase]
            self.finish(job_id, status, state.exit_code, state.message, state)
            return
        if state.phase == RunPhase.running:
            with self.db.session() as session:
                job = session.scalar(select(Job).where(Job.id == job_id))
                if job is not None and job.status == "Starting":
                    job.status = "Running"
                    job.started_at = _ts(state.started_at) or utcnow()

    def finish(
        self,
        job_id: str,
        status: str,
        exit_code: int | None,
        message: str,
        state: RunState | None = None,
    ) -> None:
        with self.db.session() as session:
            job = session.scalar(select(Job).where(Job.id == job_id))
            if job is None or job.status not in ACTIVE_STATUSES:
                return
            job.status = status
            job.exit_code = exit_code
            job.message = message
            if state is not None and state.started_at and job.started_at is None:
                job.started_at = _ts(state.started_at)
            job.finished_at = (_ts(state.finished_at) if state else None) or utcnow()
            for callback in self.on_finished:
                callback(job)
        self.wake()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one admission.

    A cycle with 10,000 queued jobs allocates tens of thousands of short-lived, acyclic
    objects; each allocation burst would trigger collections that walk the whole heap, which
    cost more than the admission itself. Reference counting frees them all the same.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def clear_directory(path: Path) -> None:
    """Empty a directory, keeping the directory itself (used for restarts without resume)."""
    if not path.exists():
        return
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
