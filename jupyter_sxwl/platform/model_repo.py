"""The model repository (M1 to M5): preset base models, imports, versions, sharing, export.

A model is a name with numbered versions. A version's files live in the object store under
``models/<model_id>/v<n>/files/`` with a ``manifest.json`` beside them (path, size and sha256
of every file); the manifest's sha256 is the version's. Imports run in the background and a
version shows its status (importing, ready, failed) and progress while they run; a failed
import keeps its row with the reason but none of its files, and never touches other versions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_, select, update

from ..catalog.models.presets import preset_models
from ..storage.base import ObjectStore, file_sha256
from ..store.database import Database
from ..store.models import Job, Model, ModelVersion, utcnow
from .auth import Identity
from .errors import Problem
from .operations import (
    PRESET_OWNER,
    BackgroundWork,
    Throttle,
    WorkFailed,
    iso,
    operation_out,
    remove_readonly_tree,
)
from .payloads import FINAL_STATUSES, catalogue_name, text_field
from .shares import ShareManager
from .uploads import UploadManager

SOURCES = ("upload", "url", "job", "lab", "preset", "share", "finetune")


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """Regular files under ``root`` as (relative posix path, path), sorted; links skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            yield path.relative_to(root).as_posix(), path


class ModelRepository:
    """Everything a user can do with models; called by the REST handlers."""

    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        work: BackgroundWork,
        shares: ShareManager,
        uploads: UploadManager,
        data_dir: Path,
        fetch_policy: Any,
        archive_limits: Any,
        hub_endpoint: str = "https://huggingface.co",
        hub_token: str | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.work = work
        self.shares = shares
        self.uploads = uploads
        self.dir = data_dir / "models"
        self.mount_dir = data_dir / "mounts" / "models"
        self.fetch_policy = fetch_policy
        self.archive_limits = archive_limits
        self.hub_endpoint = hub_endpoint
        self.hub_token = hub_token
        self._locks: dict[str, asyncio.Lock] = {}
        self._modules: dict[tuple[str, int], list[str] | None] = {}

    # -- access --------------------------------------------------------------------------------

    def _access(self, identity: Identity, m: Model) -> str | None:
        if m.preset:
            return "admin" if identity.admin else "preset"
        if m.owner == identity.name:
            return "owner"
        return "admin" if identity.admin else None

    def _load(
        self, session: Any, identity: Identity, ref: str, write: bool = False
    ) -> tuple[Model, str]:
        m = session.get(Model, ref)
        if m is None:
            m = session.scalar(
                select(Model).where(Model.owner == identity.name, Model.name == ref)
            ) or session.scalar(select(Model).where(Model.preset.is_(True), Model.name == ref))
        access = None if m is None else self._access(identity, m)
        if m is None or access is None:
            raise Problem.not_found(f"model {ref!r}")
        if write and access not in ("owner", "admin"):
            raise Problem(
                403,
                "preset models are read-only; mount or fine-tune them, or import their files "
                "into a model of your own",
            )
        return m, access

    def _version(self, session: Any, m: Model, number: int | None) -> ModelVersion:
        n = number or m.latest_version
        v = None
        if n:
            v = session.scalar(
                select(ModelVersion).where(ModelVersion.model_id == m.id, ModelVersion.number == n)
            )
        if v is None:
            if number is None:
                raise Problem.invalid(
                    "version", f"model {m.name!r} has no ready version yet; import one first", 404
                )
            raise Problem.not_found(f"version {number} of model {m.name!r}")
        return v  # type: ignore[no-any-return]

    def _ready(self, session: Any, m: Model, number: int | None) -> ModelVersion:
        v = self._version(session, m, number)
        if v.status != "ready":
            raise Problem.invalid(
                "version",
                f"version {v.number} of {m.name!r} is {v.status}"
                + (f" ({v.message})" if v.message else "")
                + "; use a ready version",
                409,
            )
        return v

    # -- reading -------------------------------------------------------------------------------

    def _version_out(self, v: ModelVersion) -> dict[str, Any]:
        return {
            "model_id": v.model_id,
            "number": v.number,
            "status": v.status,
            "phase": v.phase,
            "bytes_done": v.bytes_done,
            "bytes_total": v.bytes_total,
            "size": v.size,
            "files": v.files,
            "sha256": v.sha256,
            "source": v.source,
            "source_detail": v.source_detail or {},
            "lineage": v.lineage or {},
            "notes": v.notes,
            "message": v.message,
            "created_by": v.created_by,
            "created_at": iso(v.created_at),
            "finished_at": iso(v.finished_at),
        }

    def to_out(self, session: Any, m: Model, access: str, detail: bool = False) -> dict[str, Any]:
        versions = session.scalars(
            select(ModelVersion)
            .where(ModelVersion.model_id == m.id)
            .order_by(ModelVersion.number.desc())
        ).all()
        ready = [v for v in versions if v.status == "ready"]
        out: dict[str, Any] = {
            "id": m.id,
            "name": m.name,
            "owner": "platform" if m.preset else m.owner,
            "description": m.description,
            "family": m.family,
            "preset": m.preset,
            "access": access,
            "read_only": access not in ("owner", "admin"),
            "source": m.source or {},
            "latest_version": ready[0].number if ready else None,
            "latest": self._version_out(versions[0]) if versions else None,
            "versions_count": len(versions),
            "created_at": iso(m.created_at),
        }
        if detail:
            out["versions"] = [self._version_out(v) for v in versions]
        return out

    def list_models(self, identity: Identity, all_users: bool = False) -> dict[str, Any]:
        with self.db.session() as session:
            q = select(Model)
            if not (all_users and identity.admin):
                q = q.where(or_(Model.owner == identity.name, Model.preset.is_(True)))
            rows = session.scalars(q.order_by(Model.preset, Model.created_at.desc())).all()
            return {
                "models": [
                    self.to_out(session, m, access)
                    for m in rows
                    if (access := self._access(identity, m)) is not None
                ]
            }

    def get(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            m, access = self._load(session, identity, ref)
            return self.to_out(session, m, access, detail=True)

    def versions(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            rows = session.scalars(
                select(ModelVersion)
                .where(ModelVersion.model_id == m.id)
                .order_by(ModelVersion.number.desc())
            ).all()
            return {"versions": [self._version_out(v) for v in rows]}

    def version(self, identity: Identity, ref: str, number: int) -> dict[str, Any]:
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            return self._version_out(self._version(session, m, number))

    async def files(self, identity: Identity, ref: str, number: int) -> dict[str, Any]:
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            v = self._ready(session, m, number)
            prefix = self._prefix(m.id, v.number)
        manifest = await self._manifest(prefix)
        return {"files": manifest["files"]}

    async def _manifest(self, prefix: str) -> dict[str, Any]:
        reader = await self.store.open_reader(prefix + "manifest.json")
        chunks = []
        async with reader:
            while chunk := await reader.read(1 << 20):
                chunks.append(chunk)
        return json.loads(b"".join(chunks))  # type: ignore[no-any-return]

    async def file_object(
        self, identity: Identity, ref: str, number: int, path: str
    ) -> tuple[str, int]:
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            v = self._ready(session, m, number)
            prefix = self._prefix(m.id, v.number)
        manifest = await self._manifest(prefix)
        for f in manifest["files"]:
            if f["path"] == path:
                return prefix + "files/" + path, int(f["size"])
        raise Problem.not_found(f"file {path!r}")

    async def archive_parts(
        self, identity: Identity, ref: str, number: int
    ) -> tuple[str, str, list[dict[str, Any]]]:
        """(archive name, key prefix, files) for a .tar download of a version."""
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            v = self._ready(session, m, number)
            prefix, name = self._prefix(m.id, v.number), f"{m.name}-v{v.number}"
        manifest = await self._manifest(prefix)
        return name, prefix + "files/", manifest["files"]

    @staticmethod
    def _prefix(model_id: str, number: int) -> str:
        return f"models/{model_id}/v{number}/"

    # -- create, change, delete ----------------------------------------------------------------

    def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        extra = sorted(set(body) - {"name", "description", "family"})
        if extra:
            raise Problem.fields([(k, "is not a known field; remove it") for k in extra])
        name = catalogue_name(body.get("name"), "qwen-support-bot")
        description = text_field(body, "description", 4000)
        family = text_field(body, "family", 64)
        with self.db.session() as session:
            m = self._new_model(session, identity.name, name, description, family)
            return self.to_out(session, m, "owner")

    def _new_model(
        self,
        session: Any,
        owner: str,
        name: str,
        description: str,
        family: str,
        preset: bool = False,
        source: dict[str, Any] | None = None,
    ) -> Model:
        clash = session.scalar(select(Model.id).where(Model.owner == owner, Model.name == name))
        if clash is not None:
            raise Problem.invalid(
                "name", f"you already have a model named {name!r}; choose another name", 409
            )
        m = Model(
            id=f"md-{secrets.token_hex(5)}",
            owner=owner,
            name=name,
            description=description,
            family=family,
            preset=preset,
            source=source or {},
        )
        session.add(m)
        session.flush()
        return m

    def patch(self, identity: Identity, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        extra = sorted(set(body) - {"name", "description", "family"})
        if extra:
            raise Problem.fields([(k, "cannot be changed here") for k in extra])
        with self.db.session() as session:
            m, access = self._load(session, identity, ref, write=True)
            if "name" in body:
                name = catalogue_name(body["name"], "qwen-support-bot")
                clash = session.scalar(
                    select(Model.id).where(
                        Model.owner == m.owner, Model.name == name, Model.id != m.id
                    )
                )
                if clash is not None:
                    raise Problem.invalid("name", f"a model named {name!r} exists already", 409)
                m.name = name
            if "description" in body:
                m.description = text_field(body, "description", 4000)
            if "family" in body:
                m.family = text_field(body, "family", 64)
            m.updated_at = utcnow()
            return self.to_out(session, m, access, detail=True)

    async def delete(self, identity: Identity, ref: str) -> None:
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref, write=True)
            if m.preset:
                raise Problem(403, "preset models cannot be deleted; delete their versions")
            busy = session.scalar(
                select(ModelVersion.number).where(
                    ModelVersion.model_id == m.id, ModelVersion.status == "importing"
                )
            )
            if busy is not None:
                raise Problem(409, f"version {busy} is still importing; wait for it to end")
            model_id = m.id
            session.execute(delete(ModelVersion).where(ModelVersion.model_id == model_id))
            self.shares.forget_object(session, "model", model_id)
            session.delete(m)
        await self.store.delete_prefix(f"models/{model_id}/")
        for d in (self.dir / model_id, self.mount_dir / model_id):
            await asyncio.to_thread(remove_readonly_tree, d)

    async def delete_version(self, identity: Identity, ref: str, number: int) -> None:
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref, write=True)
            v = self._version(session, m, number)
            if v.status == "importing":
                raise Problem(409, f"version {number} is still importing; wait for it to end")
            model_id = m.id
            session.delete(v)
            m.latest_version = max(
                (
                    n
                    for n in session.scalars(
                        select(ModelVersion.number).where(
                            ModelVersion.model_id == model_id, ModelVersion.number != number
                        )
                    )
                ),
                default=0,
            )
        # Its number can be given again to a later version: forget what was read from it.
        self._modules.pop((model_id, number), None)
        await self.store.delete_prefix(self._prefix(model_id, number))
        await asyncio.to_thread(remove_readonly_tree, self.mount_dir / model_id / str(number))

    # -- imports -------------------------------------------------------------------------------

    def _new_version(
        self,
        session: Any,
        m: Model,
        identity: Identity,
        source: str,
        detail: dict[str, Any],
        notes: str = "",
        lineage: dict[str, Any] | None = None,
    ) -> ModelVersion:
        number = (
            session.scalar(
                select(ModelVersion.number)
                .where(ModelVersion.model_id == m.id)
                .order_by(ModelVersion.number.desc())
                .limit(1)
            )
            or 0
        ) + 1
        v = ModelVersion(
            model_id=m.id,
            number=number,
            status="importing",
            phase="queued",
            source=source,
            source_detail=detail,
            notes=notes,
            lineage=lineage or {},
            created_by=identity.name,
        )
        session.add(v)
        m.latest_version = max(m.latest_version, number)
        m.updated_at = utcnow()
        session.flush()
        return v

    async def start_import(
        self, identity: Identity, ref: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        from ..catalog.fetch import FetchError, check_url

        source = body.get("source")
        if source not in ("upload", "url", "job", "lab", "preset"):
            raise Problem.invalid(
                "source", "must be one of upload, url, job, lab or preset (see the API docs)"
            )
        allowed = {
            "source",
            "notes",
            {
                "upload": "upload_id",
                "lab": "upload_id",
                "url": "url",
                "job": "job_id",
                "preset": "source",
            }[source],
        }
        extra = sorted(set(body) - allowed)
        if extra:
            raise Problem.fields([(k, f"is not used with source {source!r}") for k in extra])
        notes = text_field(body, "notes", 4000)
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref, write=True)
            if source == "preset" and not m.preset:
                raise Problem.invalid("source", "'preset' imports apply to preset models only")
            if m.preset and source != "preset":
                raise Problem(403, "preset models take versions from their public source only")
            if source == "preset" and not identity.admin:
                raise Problem(
                    403, "only admins fetch preset models (it downloads from the internet)"
                )
            model_id, model_source = m.id, dict(m.source or {})
        staging_id = secrets.token_hex(6)
        staging = self.dir / model_id / "staging" / staging_id
        detail: dict[str, Any] = {}
        plan: dict[str, Any] = {"kind": source}
        if source in ("upload", "lab"):
            up = await asyncio.to_thread(
                self.uploads.take, identity, body.get("upload_id"), "model", staging / "upload"
            )
            detail = {"filename": up.filename, "size": up.size}
            plan.update(path=staging / "upload", filename=up.filename)
        elif source == "url":
            url = body.get("url")
            if not isinstance(url, str):
                raise Problem.invalid("url", "must be a URL, e.g. https://example.org/model.tar")
            try:
                await asyncio.to_thread(check_url, url, self.fetch_policy)
            except FetchError as e:
                raise Problem.invalid("url", str(e)) from None
            detail = {"url": url}
            plan["url"] = url
        elif source == "job":
            job_dir, detail = self._job_output(identity, body.get("job_id"))
            plan["dir"] = job_dir
        else:
            detail = model_source
            plan["preset"] = model_source
        with self.db.session() as session:
            target = session.get(Model, model_id)
            if target is None:
                raise Problem.not_found(f"model {ref!r}")
            v = self._new_version(session, target, identity, source, detail, notes)
            out = self._version_out(v)
            number = v.number
        self.work.spawn(
            self._run_import(model_id, number, staging, plan), f"model import {model_id}/{number}"
        )
        return out

    def _job_output(self, identity: Identity, job_id: Any) -> tuple[Path, dict[str, Any]]:
        if not isinstance(job_id, str) or not job_id:
            raise Problem.invalid("job_id", "is required: the id of a finished job")
        with self.db.session() as session:
            job = session.scalar(select(Job).where(Job.id == job_id))
            if job is None or not identity.can_see(job.owner):
                raise Problem.invalid("job_id", f"there is no job {job_id!r} of yours", 404)
            if job.status not in FINAL_STATUSES:
                raise Problem.invalid(
                    "job_id", f"job {job_id} is {job.status}; import its model once it has ended"
                )
            root = Path(job.run_dir) / "volumes" / "model"
            detail = {"job_id": job.id, "job_name": job.name, "model_path": job.model_path}
        if not root.is_dir() or not any(root.rglob("*")):
            raise Problem.invalid(
                "job_id",
                f"job {job_id} saved no files in its model folder ({detail['model_path']})",
            )
        return root, detail

    def _set_version(self, model_id: str, number: int, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.model_id == model_id, ModelVersion.number == number)
                .values(**values)
            )

    async def _run_import(
        self, model_id: str, number: int, staging: Path, plan: dict[str, Any]
    ) -> None:
        prefix = self._prefix(model_id, number)
        try:
            facts = await asyncio.to_thread(self._import_sync, model_id, number, staging, plan)
            self._set_version(
                model_id,
                number,
                status="ready",
                phase="done",
                finished_at=utcnow(),
                message="",
                **facts,
            )
        except BaseException as e:
            cancelled = isinstance(e, asyncio.CancelledError)
            if isinstance(e, WorkFailed):
                message = str(e)
            elif cancelled:
                message = "the platform stopped during the import; import again"
            else:
                self.work.log.error("model import %s v%s failed", model_id, number, exc_info=True)
                message = f"the import failed ({type(e).__name__}: {e})"[:1000]
            try:
                await asyncio.shield(self.store.delete_prefix(prefix))
            except Exception:
                self.work.log.warning("could not remove %s after a failed import", prefix)
            self._set_version(
                model_id,
                number,
                status="failed",
                phase="failed",
                message=message,
                finished_at=utcnow(),
            )
            if cancelled:
                raise
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)

    def _import_sync(
        self, model_id: str, number: int, staging: Path, plan: dict[str, Any]
    ) -> dict[str, Any]:
        from ..catalog.archives import ArchiveError, archive_kind, extract_archive, is_archive
        from ..catalog.fetch import FetchError, fetch_url

        staging.mkdir(parents=True, exist_ok=True)
        progress = Throttle(lambda n: self._set_version(model_id, number, bytes_done=n))
        kind = plan["kind"]
        root: Path
        if kind == "job":
            root = plan["dir"]
        elif kind == "preset":
            root = staging / "files"
            self._fetch_preset(model_id, number, plan["preset"], root, progress)
        else:
            if kind == "url":
                self._set_version(model_id, number, phase="downloading")
                try:
                    got = fetch_url(
                        plan["url"],
                        staging / "download",
                        policy=self.fetch_policy,
                        progress=lambda done, total: progress(done),
                    )
                except FetchError as e:
                    raise WorkFailed(f"download failed: {e}") from None
                path, filename = Path(got.path), got.filename
            else:
                path, filename = plan["path"], plan["filename"]
            root = staging / "files"
            if is_archive(filename) or archive_kind(path) is not None:
                self._set_version(model_id, number, phase="unpacking")
                try:
                    extract_archive(path, root, limits=self.archive_limits, name=filename)
                except ArchiveError as e:
                    raise WorkFailed(str(e)) from None
                path.unlink(missing_ok=True)
            else:
                root.mkdir(parents=True)
                os.replace(path, root / filename)
        return self._store_files(model_id, number, root, progress)

    def _store_files(
        self, model_id: str, number: int, root: Path, progress: Throttle
    ) -> dict[str, Any]:
        files = list(_walk(root))
        if not files:
            raise WorkFailed("no files to import: the source is empty")
        total = sum(p.stat().st_size for _, p in files)
        self._set_version(model_id, number, phase="storing", bytes_total=total, bytes_done=0)
        prefix = self._prefix(model_id, number)
        manifest = []
        done = 0
        for rel, path in files:
            digest = file_sha256(path)
            self.store.put_file_sync(prefix + "files/" + rel, path, sha256=digest)
            size = path.stat().st_size
            manifest.append({"path": rel, "size": size, "sha256": digest})
            done += size
            progress(done)
        blob = json.dumps({"files": manifest}, indent=1).encode()
        self.store.put_stream_sync(prefix + "manifest.json", [blob])
        return {
            "size": total,
            "files": len(manifest),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes_done": total,
            "bytes_total": total,
        }

    def _fetch_preset(
        self, model_id: str, number: int, source: dict[str, Any], dest: Path, progress: Throttle
    ) -> None:
        if source.get("kind") == "local":
            self._set_version(model_id, number, phase="building")
            proc = subprocess.run(
                [sys.executable, "-m", source["builder"], str(dest)],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
                raise WorkFailed("building the model failed: " + " | ".join(tail))
            return
        from ..catalog.fetch import FetchError, FetchPolicy, fetch_url
        from ..catalog.models.hub_source import HubDownloadError, HubSourceError, download_snapshot

        policy: FetchPolicy = self.fetch_policy

        def fetch(url: str, target: Path, headers: Any) -> None:
            # Hub files go through the same address rules as every URL import; the token in
            # ``headers`` reaches the hub itself, never a host it redirects to.
            try:
                fetch_url(url, target, policy=policy, headers=dict(headers or {}))
            except FetchError as e:
                raise HubDownloadError(str(e)) from None

        def get_json(url: str, headers: Any) -> Any:
            tmp = dest.parent / f"api-{secrets.token_hex(4)}.json"
            try:
                fetch(url, tmp, headers)
                return json.loads(tmp.read_text())
            finally:
                tmp.unlink(missing_ok=True)

        self._set_version(model_id, number, phase="downloading")
        try:
            download_snapshot(
                self.hub_endpoint,
                source["repo_id"],
                source.get("revision", "main"),
                dest,
                fetch=fetch,
                get_json=get_json,
                token=self.hub_token,
                progress=lambda p: progress(p.bytes_done),
            )
        except (HubSourceError, HubDownloadError) as e:
            raise WorkFailed(
                f"could not fetch {source['repo_id']} from {self.hub_endpoint}: {e}"
            ) from None

    # -- register (finished fine-tunes and other platform work) -------------------------------

    async def register_directory(
        self,
        identity: Identity,
        ref: str,
        root: Path,
        source: str,
        detail: dict[str, Any],
        lineage: dict[str, Any],
        notes: str = "",
    ) -> dict[str, Any]:
        """Store ``root`` as a new version of the caller's model ``ref`` (created if missing)."""
        with self.db.session() as session:
            m = session.scalar(select(Model).where(Model.owner == identity.name, Model.name == ref))
            if m is None:
                m = self._new_model(
                    session, identity.name, catalogue_name(ref, "qwen-support-bot"), "", ""
                )
            v = self._new_version(session, m, identity, source, detail, notes, lineage)
            model_id, number = m.id, v.number
        progress = Throttle(lambda n: self._set_version(model_id, number, bytes_done=n))
        try:
            facts = await asyncio.to_thread(self._store_files, model_id, number, root, progress)
        except BaseException as e:
            await self.store.delete_prefix(self._prefix(model_id, number))
            self._set_version(
                model_id, number, status="failed", message=str(e)[:1000], finished_at=utcnow()
            )
            raise
        self._set_version(
            model_id, number, status="ready", phase="done", finished_at=utcnow(), **facts
        )
        return self.version(identity, model_id, number)

    # -- sharing -------------------------------------------------------------------------------

    def share(self, identity: Identity, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        version = body.get("version")
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref, write=True)
            if m.preset:
                raise Problem(400, "preset models are visible to everyone already")
            if version is not None:
                if type(version) is not int:
                    raise Problem.invalid("version", "must be a version number")
                self._ready(session, m, version)
            model_id = m.id
        rest = {k: v for k, v in body.items() if k != "version"}
        return self.shares.create(identity, "model", model_id, rest, version=version)

    def list_shares(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref, write=True)
            model_id = m.id
        return {"shares": self.shares.list_for("model", model_id)}

    async def import_shared(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        share = self.shares.redeem(body.get("token"), "model")
        with self.db.session() as session:
            src = session.get(Model, share.object_id)
            if src is None:
                raise Problem.invalid("token", "the shared model no longer exists", 410)
            v = self._ready(session, src, share.version)
            name = body.get("name") or src.name
            m = session.scalar(
                select(Model).where(Model.owner == identity.name, Model.name == name)
            )
            if m is None:
                m = self._new_model(
                    session,
                    identity.name,
                    catalogue_name(name, "qwen-support-bot"),
                    src.description,
                    src.family,
                )
            detail = {"from_owner": src.owner, "from_model": src.name, "from_version": v.number}
            new = self._new_version(
                session, m, identity, "share", detail, lineage=dict(v.lineage or {})
            )
            job = (self._prefix(src.id, v.number), m.id, new.number, v.size, v.files, v.sha256)
            out_model = self.to_out(session, m, "owner")
            out_version = self._version_out(new)
        self.work.spawn(self._run_copy(*job), f"model share copy {m.id}/{job[2]}")
        return {"model": out_model, "version": out_version}

    async def _run_copy(
        self, src_prefix: str, model_id: str, number: int, size: int, files: int, sha: str
    ) -> None:
        dest_prefix = self._prefix(model_id, number)
        try:
            self._set_version(model_id, number, phase="copying", bytes_total=size)
            done = 0
            async for info in self.store.list(src_prefix):
                await self.store.copy(info.key, dest_prefix + info.key[len(src_prefix) :])
                done += info.size
                self._set_version(model_id, number, bytes_done=min(done, size))
            self._set_version(
                model_id,
                number,
                status="ready",
                phase="done",
                size=size,
                files=files,
                sha256=sha,
                bytes_done=size,
                finished_at=utcnow(),
            )
        except BaseException as e:
            await asyncio.shield(self.store.delete_prefix(dest_prefix))
            self._set_version(
                model_id,
                number,
                status="failed",
                message=f"copy failed: {e}"[:1000],
                finished_at=utcnow(),
            )
            if isinstance(e, asyncio.CancelledError):
                raise

    # -- export --------------------------------------------------------------------------------

    async def export(
        self, identity: Identity, ref: str, number: int, body: dict[str, Any]
    ) -> dict[str, Any]:
        from ..catalog.fetch import FetchError, check_url

        known = {
            "bucket",
            "prefix",
            "endpoint_url",
            "region",
            "access_key_id",
            "secret_access_key",
            "path_style",
        }
        extra = sorted(set(body) - known)
        if extra:
            raise Problem.fields([(k, "is not a known field") for k in extra])
        bucket = body.get("bucket")
        if not isinstance(bucket, str) or not 3 <= len(bucket) <= 63:
            raise Problem.invalid("bucket", "is required: the name of your S3 bucket")
        prefix = body.get("prefix", "") or ""
        if not isinstance(prefix, str) or prefix.startswith("/") or ".." in prefix.split("/"):
            raise Problem.invalid("prefix", "must be a relative key prefix such as 'models/qwen/'")
        endpoint = body.get("endpoint_url")
        if endpoint is not None:
            if not isinstance(endpoint, str):
                raise Problem.invalid("endpoint_url", "must be a URL")
            try:
                await asyncio.to_thread(check_url, endpoint, self.fetch_policy)
            except FetchError as e:
                raise Problem.invalid("endpoint_url", str(e)) from None
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            v = self._ready(session, m, number)
            src = self._prefix(m.id, v.number)
            op = self.work.new_operation(identity, "export", m.id, total=v.size)
            out = operation_out(op)
        self.work.spawn(self._run_export(op.id, src, dict(body), prefix), op.id)
        return out

    async def _run_export(
        self, op_id: str, src_prefix: str, target: dict[str, Any], prefix: str
    ) -> None:
        from ..storage.s3 import S3ObjectStore

        try:
            dest = S3ObjectStore(
                bucket=target["bucket"],
                prefix="",
                endpoint_url=target.get("endpoint_url") or "",
                region=target.get("region") or "us-east-1",
                access_key_id=target.get("access_key_id") or "",
                secret_access_key=target.get("secret_access_key") or "",
                path_style=bool(target.get("path_style", False)),
            )
            manifest = await self._manifest(src_prefix)
            progress = self.work.progress_of(op_id)
            base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
            done = 0
            tmp_dir = self.dir / "exports" / op_id
            tmp_dir.mkdir(parents=True, exist_ok=True)
            try:
                for f in manifest["files"]:
                    tmp = tmp_dir / "part"
                    await self.store.get_file(src_prefix + "files/" + f["path"], tmp)
                    await dest.put_file(base + f["path"], tmp, sha256=f["sha256"])
                    tmp.unlink(missing_ok=True)
                    done += int(f["size"])
                    progress(done)
            finally:
                shutil.rmtree(tmp_dir, ignore_errors=True)
            self.work.finish(
                op_id,
                "succeeded",
                f"exported {len(manifest['files'])} files to s3://{target['bucket']}/{base}",
                {"bucket": target["bucket"], "prefix": base, "files": len(manifest["files"])},
            )
        except asyncio.CancelledError:
            self.work.finish(op_id, "failed", "the platform stopped during the export")
            raise
        except Exception as e:
            self.work.finish(op_id, "failed", f"export failed: {e}"[:1000])

    # -- layers --------------------------------------------------------------------------------

    async def linear_modules(self, model_id: str, number: int) -> list[str] | None:
        """Names of the linear layers of a ready version (what LoRA can target), read from its
        safetensors headers; None when it has no safetensors files. Versions never change, so
        the answer is kept."""
        key = (model_id, number)
        if key in self._modules:
            return self._modules[key]
        prefix = self._prefix(model_id, number)
        manifest = await self._manifest(prefix)
        paths = [f["path"] for f in manifest["files"] if f["path"].endswith(".safetensors")]

        def read() -> list[str] | None:
            from ..catalog.models.layers import HeaderError, linear_modules, read_header

            headers = []
            for path in paths:
                with self.store.open_sync(prefix + "files/" + path) as stream:
                    try:
                        headers.append(read_header(stream))
                    except HeaderError:
                        continue
            return linear_modules(headers) if headers else None

        found = await asyncio.to_thread(read) if paths else None
        self._modules[key] = found
        return found

    # -- mounts --------------------------------------------------------------------------------

    def resolve_ref(self, identity: Identity, ref: str, number: int | None) -> dict[str, Any]:
        """The ready version a job would mount: ``{"id", "name", "version"}``."""
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            v = self._ready(session, m, number) if number else self._latest_ready(session, m)
            return {"id": m.id, "name": m.name, "version": v.number}

    def adapter_base(self, identity: Identity, ref: str, number: int) -> dict[str, Any] | None:
        """For a LoRA adapter exported unmerged from a fine-tune: the base model it was trained
        on (``{"id", "name", "version"}`` from its lineage); None for any other version."""
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            v = self._ready(session, m, number)
            lineage = dict(v.lineage or {})
        base = lineage.get("base")
        if lineage.get("merged") is False and isinstance(base, dict) and base.get("id"):
            return base
        return None

    async def materialise(
        self, identity: Identity, ref: str, number: int | None = None
    ) -> tuple[dict[str, Any], Path]:
        """A local read-only directory with a ready version's files."""
        with self.db.session() as session:
            m, _ = self._load(session, identity, ref)
            v = self._ready(session, m, number) if number else self._latest_ready(session, m)
            info = {"id": m.id, "name": m.name, "version": v.number, "kind": "model"}
            prefix = self._prefix(m.id, v.number)
            target = self.mount_dir / m.id / str(v.number)
        lock = self._locks.setdefault(str(target), asyncio.Lock())
        async with lock:
            if not (target / ".sxwl-complete").exists():
                manifest = await self._manifest(prefix)
                await asyncio.to_thread(self._materialise_sync, prefix, manifest, target)
        return info, target

    def _latest_ready(self, session: Any, m: Model) -> ModelVersion:
        v = session.scalar(
            select(ModelVersion)
            .where(ModelVersion.model_id == m.id, ModelVersion.status == "ready")
            .order_by(ModelVersion.number.desc())
            .limit(1)
        )
        if v is None:
            raise Problem.invalid(
                "version", f"model {m.name!r} has no ready version yet; import one first", 404
            )
        return v  # type: ignore[no-any-return]

    def _materialise_sync(self, prefix: str, manifest: dict[str, Any], target: Path) -> None:
        tmp = target.with_name(target.name + f".tmp-{secrets.token_hex(4)}")
        tmp.mkdir(parents=True)
        try:
            for f in manifest["files"]:
                dest = tmp / f["path"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.store.get_file_sync(prefix + "files/" + f["path"], dest)
            (tmp / ".sxwl-complete").write_text("")
            for dirpath, _dirnames, filenames in os.walk(tmp, topdown=False):
                for name in filenames:
                    os.chmod(os.path.join(dirpath, name), 0o444)
                os.chmod(dirpath, 0o555)
            remove_readonly_tree(target)
            os.replace(tmp, target)
        except BaseException:
            remove_readonly_tree(tmp)
            raise

    # -- presets -------------------------------------------------------------------------------

    async def seed_presets(self) -> None:
        """Create the preset models' entries; build the tiny local model's first version."""
        tiny: str | None = None
        for p in preset_models():
            source = (
                {"kind": "local", "builder": p.local_builder}
                if p.source == "local"
                else {
                    "kind": "huggingface",
                    "repo_id": p.repo_id,
                    "revision": p.revision,
                    "modelscope_id": p.modelscope_id,
                }
            )
            info = {
                "license": p.license,
                "parameters": p.parameters,
                "context_length": p.context_length,
                "chat_template": p.chat_template_name,
            }
            with self.db.session() as session:
                m = session.scalar(
                    select(Model).where(Model.preset.is_(True), Model.name == p.name)
                )
                if m is None:
                    m = self._new_model(
                        session,
                        PRESET_OWNER,
                        p.name,
                        p.description,
                        p.family,
                        True,
                        {**source, **info},
                    )
                if p.source == "local":
                    has = session.scalar(
                        select(ModelVersion.number).where(
                            ModelVersion.model_id == m.id, ModelVersion.status != "failed"
                        )
                    )
                    if has is None:
                        tiny = m.id
        if tiny is not None:
            await self.start_import(Identity("platform", admin=True), tiny, {"source": "preset"})

    def mark_interrupted(self) -> None:
        with self.db.session() as session:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.status == "importing")
                .values(
                    status="failed",
                    phase="failed",
                    message="the platform restarted during the import; import again",
                    finished_at=utcnow(),
                )
            )
