"""Custom training jobs (T1 to T4, T6): submit, list, stop, restart, resume, delete, logs, files.

Handlers call one method here; authorisation by owner happens here too, so a job that is
missing or belongs to someone else is the same 404.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncGenerator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select

from ..backends.base import Backend
from ..catalog.code_packages import ArchiveError, inspect_archive
from ..scheduler import check_feasible
from ..scheduler.model import PRIORITY_CLASSES, Flavour, UserLimit, Workload
from ..store.database import Database
from ..store.models import CodePackage, Job, utcnow
from .auth import Identity
from .dispatch import Dispatcher, clear_directory
from .errors import Problem, problem_from_validation
from .payloads import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    CodePackageOut,
    JobOut,
    JobPatch,
    JobSubmit,
    RestartRequest,
)
from .rundir import check_layout

LOG_SEARCH_LIMIT = 1000
_DERIVED_FIELDS = {
    "env",
    "message",
    "created_at",
    "admitted_at",
    "started_at",
    "finished_at",
    "duration_seconds",
    "queue_position",
    "wait_reason",
}
_STORED_FIELDS = [name for name in JobOut.model_fields if name not in _DERIVED_FIELDS]


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def _inside(root: Path, rel: str) -> Path:
    """``root/rel`` resolved, or a 404 when it would leave ``root``."""
    target = (root / rel).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise Problem.not_found(f"file {rel!r}")
    return target


class JobManager:
    """Everything a user can do with jobs; called by the REST handlers."""

    def __init__(
        self,
        db: Database,
        backend: Backend,
        dispatcher: Dispatcher,
        flavours: dict[str, Flavour],
        data_dir: Path,
        default_limit: UserLimit,
        max_code_bytes: int = 200 << 20,
        max_code_files: int = 20000,
        stop_grace_seconds: float = 10.0,
    ) -> None:
        self.db = db
        self.backend = backend
        self.dispatcher = dispatcher
        self.flavours = flavours
        self.data_dir = data_dir
        self.default_limit = default_limit
        self.max_code_bytes = max_code_bytes
        self.max_code_files = max_code_files
        self.stop_grace_seconds = stop_grace_seconds
        self.jobs_dir = data_dir / "jobs"
        # kind -> resolve(identity, name, version) -> {"id", "name", "version"}; set by the
        # platform once the dataset and model managers exist.
        self.mount_resolvers: dict[str, Any] = {}
        self.code_dir = data_dir / "code-packages"

    # -- reading -----------------------------------------------------------------------------

    def to_out(self, job: Job) -> dict[str, Any]:
        waiting = self.dispatcher.waiting.get(job.id) if job.status == "Queued" else None
        end = job.finished_at or (utcnow() if job.started_at else None)
        duration = (end - job.started_at).total_seconds() if job.started_at and end else None
        # Every stored column the API shows is copied as is; the rest is derived here.
        fields = {name: getattr(job, name) for name in _STORED_FIELDS}
        fields["mounts"] = job.mounts or []
        out = JobOut(
            **fields,
            env=job.env or {},
            message=job.message or "",
            created_at=iso(job.created_at) or "",
            admitted_at=iso(job.admitted_at),
            started_at=iso(job.started_at),
            finished_at=iso(job.finished_at),
            duration_seconds=None if duration is None else round(max(duration, 0.0), 1),
            queue_position=waiting.position if waiting else None,
            wait_reason=(
                waiting.reason
                if waiting
                else ("waiting for the next admission cycle" if job.status == "Queued" else None)
            ),
        )
        return out.model_dump(mode="json")

    def _job(self, session: Any, identity: Identity, job_id: str) -> Job:
        job = session.scalar(select(Job).where(Job.id == job_id))
        if job is None or not identity.can_see(job.owner):
            raise Problem.not_found(f"job {job_id!r}")
        return job

    def get(self, identity: Identity, job_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            return self.to_out(self._job(session, identity, job_id))

    def list_jobs(
        self,
        identity: Identity,
        status: str | None = None,
        q: str | None = None,
        all_users: bool = False,
        limit: int = 500,
        offset: int = 0,
    ) -> dict[str, Any]:
        query = select(Job)
        if not (all_users and identity.admin):
            query = query.where(Job.owner == identity.name)
        if status:
            wanted = [s for s in status.split(",") if s]
            query = query.where(Job.status.in_(wanted))
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(Job.name.ilike(pattern, escape="\\"), Job.id.ilike(pattern, escape="\\"))
            )
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(Job.seq.desc()).limit(limit).offset(offset))
            return {"items": [self.to_out(j) for j in rows], "total": total}

    # -- submit ------------------------------------------------------------------------------

    async def submit(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        try:
            spec = JobSubmit.model_validate(body)
        except ValidationError as e:
            raise problem_from_validation(e) from None
        return await self.submit_spec(identity, spec)

    async def check_spec(self, identity: Identity, spec: JobSubmit) -> list[tuple[str, str]]:
        """Field errors of a validated spec: priority, code package, layout and feasibility."""
        if spec.priority == "high" and not identity.admin:
            return [("priority", "only admins can submit at high priority; use normal")]
        queues = self.dispatcher.queue_specs()
        limit = self.dispatcher.user_limit(identity.name)
        members: tuple[list[str], list[str]] = ([], [])
        if spec.code_package is not None:
            with self.db.session() as session:
                package = session.get(CodePackage, spec.code_package)
                if package is None or package.owner != identity.name:
                    return [
                        (
                            "code_package",
                            f"no code package {spec.code_package!r}; upload one first",
                        )
                    ]
            members = await asyncio.to_thread(self._members, spec.code_package)
        layout = check_layout(
            members[0],
            members[1],
            spec.working_dir,
            {"checkpoint_path": spec.checkpoint_path, "model_path": spec.model_path},
        )
        workload = Workload(
            id="new",
            owner=identity.name,
            queue=spec.queue,
            flavour=spec.flavour,
            priority=PRIORITY_CLASSES[spec.priority],
            seq=0,
            nodes=spec.nodes,
            accelerators_per_node=spec.accelerators_per_node,
            cpu_per_node=spec.cpu_per_node,
            memory_gb_per_node=spec.memory_gb_per_node,
        )
        problems = [
            (_job_field(p.field), p.message)
            for p in check_feasible(workload, self.flavours, queues, limit)
        ]
        return problems + layout

    async def submit_spec(
        self,
        identity: Identity,
        spec: JobSubmit,
        platform_env: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Queue a validated job. ``platform_env`` holds variables only the platform may set
        (``SXWL_*``, e.g. a fine-tune's configuration), which ``spec.env`` refuses."""
        errors = await self.check_spec(identity, spec)
        if errors:
            raise Problem.fields(errors)
        mounts = await self._resolve_mounts(identity, spec)

        job_id = new_id("job")
        run_dir = self.jobs_dir / job_id
        with self.db.session() as session:
            job = Job(
                id=job_id,
                owner=identity.name,
                name=spec.name,
                status="Queued",
                queue=spec.queue,
                priority=spec.priority,
                priority_value=PRIORITY_CLASSES[spec.priority],
                flavour=spec.flavour,
                job_type=spec.job_type.value,
                nodes=spec.nodes,
                procs_per_node=spec.procs_per_node,
                accelerators_per_node=spec.accelerators_per_node,
                cpu_per_node=spec.cpu_per_node,
                memory_gb_per_node=spec.memory_gb_per_node,
                command=spec.command,
                working_dir=spec.working_dir,
                env={**spec.env, **(platform_env or {})},
                image=spec.image,
                code_package=spec.code_package,
                checkpoint_path=spec.checkpoint_path,
                checkpoint_capacity_gb=spec.checkpoint_capacity_gb,
                model_path=spec.model_path,
                model_capacity_gb=spec.model_capacity_gb,
                max_run_minutes=spec.max_run_minutes,
                mounts=mounts or None,
                attempt=1,
                resume=False,
                run_dir=str(run_dir),
                message="",
            )
            session.add(job)
            session.flush()
            out = self.to_out(job)
        self.dispatcher.wake()
        return out

    async def _resolve_mounts(self, identity: Identity, spec: JobSubmit) -> list[dict[str, Any]]:
        """Check each mount names a version the caller can read; pin it to that version."""
        out: list[dict[str, Any]] = []
        errors: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for i, m in enumerate(spec.mounts):
            resolver = self.mount_resolvers.get(m.kind)
            if resolver is None:
                errors.append((f"mounts.{i}.kind", f"{m.kind} mounts are not available here"))
                continue
            try:
                info = resolver(identity, m.name, m.version)
            except Problem as e:
                errors.append((f"mounts.{i}.name", e.detail))
                continue
            if (m.kind, info["name"]) in seen:
                errors.append((f"mounts.{i}.name", f"{info['name']!r} is mounted twice"))
                continue
            seen.add((m.kind, info["name"]))
            out.append({**info, "kind": m.kind, "path": f"mnt/{m.kind}s/{info['name']}"})
        if errors:
            raise Problem.fields(errors)
        return out

    def _members(self, package_id: str) -> tuple[list[str], list[str]]:
        """The files and directories of a stored code package (recorded at upload)."""
        data = json.loads((self.code_dir / f"{package_id}.members.json").read_text())
        return data["files"], data["dirs"]

    # -- changing state ----------------------------------------------------------------------

    async def stop(self, identity: Identity, job_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            job = self._job(session, identity, job_id)
            if job.status == "Queued":
                job.status = "Stopped"
                job.finished_at = utcnow()
                job.message = "stopped before it started"
            elif job.status in ("Starting", "Running"):
                job.status = "Stopping"
                self.dispatcher.spawn(
                    self.backend.stop(Path(job.run_dir), job.attempt, self.stop_grace_seconds)
                )
            out = self.to_out(job)
        self.dispatcher.wake()
        return out

    async def _stop_and_wait(self, job_id: str, reason: str = "stopped by the user") -> None:
        """Stop an active attempt and record it as stopped before going on."""
        with self.db.session() as session:
            job = session.scalar(select(Job).where(Job.id == job_id))
            if job is None or job.status not in ACTIVE_STATUSES:
                if job is not None and job.status == "Queued":
                    job.status = "Stopped"
                return
            job.status = "Stopping"
            run_dir, attempt = Path(job.run_dir), job.attempt
        await self.backend.stop(run_dir, attempt, self.stop_grace_seconds)
        state = await self.backend.poll(run_dir, attempt)
        self.dispatcher.finish(job_id, "Stopped", state.exit_code, reason, state)

    async def stop_all(self, reason: str) -> None:
        """Stop every active job (used at shutdown when jobs must not outlive the platform)."""
        with self.db.session() as session:
            ids = list(session.scalars(select(Job.id).where(Job.status.in_(ACTIVE_STATUSES))))
        await asyncio.gather(*(self._stop_and_wait(job_id, reason) for job_id in ids))

    async def restart(
        self, identity: Identity, job_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            request = RestartRequest.model_validate(body or {})
        except ValidationError as e:
            raise problem_from_validation(e) from None
        with self.db.session() as session:
            job = self._job(session, identity, job_id)
            if job.status == "Queued":
                raise Problem(409, "the job is still queued; it has not run yet")
            run_dir = Path(job.run_dir)
        await self._stop_and_wait(job_id)
        if not request.resume:
            # A fresh start must not see the previous attempt's checkpoints or model.
            for name in ("checkpoint", "model"):
                await asyncio.to_thread(clear_directory, run_dir / "volumes" / name)
            metrics = run_dir / "metrics.jsonl"
            await asyncio.to_thread(metrics.unlink, True)
        with self.db.session() as session:
            job = self._job(session, identity, job_id)
            job.attempt += 1
            job.resume = request.resume
            job.status = "Queued"
            job.placement = None
            job.admitted_at = job.started_at = job.finished_at = None
            job.exit_code = None
            job.message = "resumed from the last checkpoint" if request.resume else ""
            out = self.to_out(job)
        self.dispatcher.wake()
        return out

    async def delete(self, identity: Identity, job_id: str) -> None:
        with self.db.session() as session:
            job = self._job(session, identity, job_id)
            run_dir = Path(job.run_dir)
        await self._stop_and_wait(job_id)
        with self.db.session() as session:
            job = self._job(session, identity, job_id)
            session.delete(job)
        self.dispatcher.waiting.pop(job_id, None)
        await asyncio.to_thread(shutil.rmtree, run_dir, True)
        self.dispatcher.wake()

    def patch(self, identity: Identity, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            patch = JobPatch.model_validate(body)
        except ValidationError as e:
            raise problem_from_validation(e) from None
        with self.db.session() as session:
            job = self._job(session, identity, job_id)
            if not identity.admin:
                raise Problem(403, "only admins can change a job's priority")
            if job.status != "Queued":
                raise Problem.invalid(
                    "priority",
                    f"the job is {job.status}; only a queued job's priority can change",
                    409,
                )
            job.priority = patch.priority
            job.priority_value = PRIORITY_CLASSES[patch.priority]
            out = self.to_out(job)
        self.dispatcher.wake()
        return out

    # -- logs, usage, metrics, artifacts ------------------------------------------------------

    def _attempt(
        self, session: Any, identity: Identity, job_id: str, attempt: int | None
    ) -> tuple[Job, int]:
        job = self._job(session, identity, job_id)
        n = job.attempt if attempt is None else attempt
        if not 1 <= n <= job.attempt:
            raise Problem.invalid("attempt", f"must be between 1 and {job.attempt}")
        return job, n

    async def read_log(
        self, identity: Identity, job_id: str, attempt: int | None, offset: int
    ) -> tuple[bytes, int]:
        if offset < 0:
            raise Problem.invalid("offset", "must not be negative")
        with self.db.session() as session:
            job, n = self._attempt(session, identity, job_id, attempt)
            run_dir = Path(job.run_dir)
        data = await self.backend.read_log(run_dir, n, offset)
        return data, offset + len(data)

    async def follow_log(
        self, identity: Identity, job_id: str, attempt: int | None, offset: int
    ) -> AsyncGenerator[bytes, None]:
        """Yield log bytes as they are written until the attempt ends."""
        with self.db.session() as session:
            job, n = self._attempt(session, identity, job_id, attempt)
            run_dir, current = Path(job.run_dir), job.attempt
        while True:
            data = await self.backend.read_log(run_dir, n, offset)
            if data:
                offset += len(data)
                yield data
                continue
            with self.db.session() as session:
                latest = session.scalar(select(Job).where(Job.id == job_id))
                done = (
                    latest is None
                    or latest.attempt != current
                    or latest.status in FINAL_STATUSES
                    or (latest.status == "Queued" and n != latest.attempt)
                )
            if done:
                # The backend hands out the log in bounded chunks: drain what is left.
                while tail := await self.backend.read_log(run_dir, n, offset):
                    offset += len(tail)
                    yield tail
                return
            await asyncio.sleep(0.5)

    async def search_log(
        self, identity: Identity, job_id: str, attempt: int | None, q: str, regex: bool
    ) -> dict[str, Any]:
        if not q:
            raise Problem.invalid("q", "give the text to search for")
        if regex:
            try:
                pattern = re.compile(q)
            except re.error as e:
                raise Problem.invalid("q", f"is not a valid regular expression: {e}") from None
        else:
            pattern = re.compile(re.escape(q), re.IGNORECASE)
        # The backend hands out the log in bounded chunks: scan chunk by chunk, carrying a
        # partial last line over, so a long log is searched whole without being held whole.
        matches: list[dict[str, Any]] = []
        total = 0
        number = 0
        carry = b""
        offset = 0

        def scan(lines: list[bytes]) -> None:
            nonlocal number, total
            for raw in lines:
                number += 1
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if pattern.search(line):
                    total += 1
                    if len(matches) < LOG_SEARCH_LIMIT:
                        matches.append({"line": number, "text": line})

        while True:
            data, offset = await self.read_log(identity, job_id, attempt, offset)
            if not data:
                break
            lines = (carry + data).split(b"\n")
            carry = lines.pop()
            await asyncio.to_thread(scan, lines)
        if carry:
            scan([carry])
        return {"matches": matches, "total": total}

    async def usage(self, identity: Identity, job_id: str, attempt: int | None) -> dict[str, Any]:
        with self.db.session() as session:
            job, n = self._attempt(session, identity, job_id, attempt)
            run_dir = Path(job.run_dir)
        samples = await self.backend.read_usage(run_dir, n)
        return {"samples": [asdict(s) for s in samples]}

    async def metrics(self, identity: Identity, job_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            run_dir = Path(self._job(session, identity, job_id).run_dir)

        def read() -> list[dict[str, Any]]:
            path = run_dir / "metrics.jsonl"
            if not path.exists():
                return []
            points = []
            for line in path.read_text("utf-8", "replace").splitlines():
                try:
                    point = json.loads(line)
                except ValueError:
                    continue  # a line being written, or not ours to judge
                if isinstance(point, dict):
                    points.append(point)
            return points

        return {"points": await asyncio.to_thread(read)}

    def _model_dir(self, identity: Identity, job_id: str) -> Path:
        with self.db.session() as session:
            return Path(self._job(session, identity, job_id).run_dir) / "volumes" / "model"

    async def artifacts(self, identity: Identity, job_id: str) -> dict[str, Any]:
        root = self._model_dir(identity, job_id)

        def walk() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            if not root.is_dir():
                return items
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(filenames):
                    full = Path(dirpath) / name
                    if full.is_symlink() or not full.is_file():
                        continue
                    st = full.stat()
                    modified = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).replace(tzinfo=None)
                    items.append(
                        {
                            "path": full.relative_to(root).as_posix(),
                            "size": st.st_size,
                            "modified": iso(modified),
                        }
                    )
            return items

        return {"items": await asyncio.to_thread(walk)}

    def artifact_file(self, identity: Identity, job_id: str, rel: str) -> Path:
        root = self._model_dir(identity, job_id)
        target = _inside(root, rel)
        if not target.is_file():
            raise Problem.not_found(f"file {rel!r}")
        return target

    # -- code packages -----------------------------------------------------------------------

    async def add_code_package(self, identity: Identity, name: str, upload: Path) -> dict[str, Any]:
        """Check an uploaded archive and keep it; ``upload`` is moved, not copied."""
        try:
            summary = await asyncio.to_thread(
                inspect_archive, upload, self.max_code_bytes, self.max_code_files
            )
        except ArchiveError as e:
            raise Problem.invalid("body", f"the code archive {e}") from None
        package_id = new_id("code")
        self.code_dir.mkdir(parents=True, exist_ok=True)
        target = self.code_dir / f"{package_id}.archive"
        members = self.code_dir / f"{package_id}.members.json"
        listing = {"files": list(summary.file_paths), "dirs": list(summary.dir_paths)}
        await asyncio.to_thread(members.write_text, json.dumps(listing))
        await asyncio.to_thread(shutil.move, upload, target)
        try:
            with self.db.session() as session:
                row = CodePackage(
                    id=package_id,
                    owner=identity.name,
                    name=name[:255] or package_id,
                    size=summary.size,
                    files=summary.files,
                    sha256=summary.sha256,
                )
                session.add(row)
                session.flush()
                return CodePackageOut(
                    id=row.id,
                    name=row.name,
                    size=row.size,
                    files=row.files,
                    sha256=row.sha256,
                    created_at=iso(row.created_at) or "",
                ).model_dump()
        except BaseException:
            target.unlink(missing_ok=True)
            members.unlink(missing_ok=True)
            raise

    def upload_dir(self) -> Path:
        """Where request bodies are spooled before they are checked."""
        path = self.data_dir / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_upload(self) -> tuple[int, str]:
        return tempfile.mkstemp(dir=self.upload_dir(), suffix=".part")


def _job_field(field: str) -> str:
    """Scheduler field names as the job API spells them."""
    return {
        "accelerators": "accelerators_per_node",
        "cpu": "cpu_per_node",
        "memory_gb": "memory_gb_per_node",
    }.get(field, field)
