"""Datasets (D1 to D7): create, import, annotate, publish, share, accelerate, mount.

A dataset has a *working copy* (imported files as draft files in the data dir, plus the edits
made in the annotation view, in the database) and *published versions* (canonical JSON Lines
in the object store, content-addressed, immutable). Only published versions feed jobs and
mounts. Handlers call one method here; authorisation happens here too: a dataset that is
missing or someone else's (and not shared with the caller) is a 404.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from ..catalog.datasets import AnnotationType, schema_for
from ..catalog.datasets.draft import (
    DraftFile,
    DraftRecord,
    TooManyInvalid,
    build_draft,
    index_path,
    record_problems,
)
from ..catalog.datasets.formats import DatasetFileError
from ..storage.base import ObjectStore, file_sha256
from ..store.database import Database
from ..store.models import (
    Dataset,
    DatasetEdit,
    DatasetFile,
    DatasetImport,
    DatasetIssue,
    DatasetVersion,
    Grant,
    utcnow,
)
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
from .payloads import catalogue_name, check_text, text_field
from .shares import ShareManager
from .uploads import UploadManager

DATA_TYPES = ("text",)
DATASET_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
MAX_RECORD_BYTES = 1 << 20
MAX_PROBLEMS_SHOWN = 1000
PRESETS_DIR = Path(__file__).resolve().parent.parent / "catalog" / "presets"


def _dataset_file(name: str) -> bool:
    return name.lower().endswith(DATASET_SUFFIXES)


# -- the record layout of a working copy --------------------------------------------------------


@dataclass
class Layout:
    """Where every live record of a working copy is: imported files in order, then additions.

    Deleted records are skipped; positions (0-based) count live records only.
    """

    files: list[tuple[int, int, list[int]]]  # (file_id, records, sorted deleted indexes)
    added: list[int]  # idx of live added records, sorted
    edits: dict[tuple[int | None, int], DatasetEdit] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(n - len(d) for _, n, d in self.files) + len(self.added)

    def locate(self, position: int) -> tuple[int | None, int] | None:
        for file_id, n, dels in self.files:
            live = n - len(dels)
            if position < live:
                idx = position
                for d in dels:  # each deletion at or before idx pushes it one further
                    if d <= idx:
                        idx += 1
                    else:
                        break
                return file_id, idx
            position -= live
        if position < len(self.added):
            return None, self.added[position]
        return None

    def position(self, file_id: int | None, idx: int) -> int | None:
        base = 0
        for fid, n, dels in self.files:
            if fid == file_id:
                i = bisect.bisect_left(dels, idx)
                if (i < len(dels) and dels[i] == idx) or not 0 <= idx < n:
                    return None
                return base + idx - i
            base += n - len(dels)
        if file_id is None:
            i = bisect.bisect_left(self.added, idx)
            if i < len(self.added) and self.added[i] == idx:
                return base + i
        return None

    def order(self, file_id: int | None) -> int:
        for i, (fid, _, _) in enumerate(self.files):
            if fid == file_id:
                return i
        return len(self.files)


def record_id(file_id: int | None, idx: int) -> str:
    return f"a:{idx}" if file_id is None else f"{file_id}:{idx}"


def parse_record_id(rid: str) -> tuple[int | None, int]:
    head, _, tail = rid.partition(":")
    try:
        idx = int(tail)
        return (None if head == "a" else int(head)), idx
    except ValueError:
        raise Problem.not_found(f"record {rid!r}") from None


class DatasetManager:
    """Everything a user can do with datasets; called by the REST handlers."""

    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        work: BackgroundWork,
        shares: ShareManager,
        uploads: UploadManager,
        data_dir: Path,
        cache_dir: Path,
        fetch_policy: Any,
        archive_limits: Any,
        max_invalid: int = 100_000,
    ) -> None:
        self.db = db
        self.store = store
        self.work = work
        self.shares = shares
        self.uploads = uploads
        self.dir = data_dir / "datasets"
        self.mount_dir = data_dir / "mounts" / "datasets"
        self.cache_dir = cache_dir / "datasets"
        self.fetch_policy = fetch_policy
        self.archive_limits = archive_limits
        self.max_invalid = max_invalid
        self._locks: dict[str, asyncio.Lock] = {}

    # -- access --------------------------------------------------------------------------------

    def _access(self, session: Any, identity: Identity, ds: Dataset) -> str | None:
        if ds.preset:
            return "admin" if identity.admin else "preset"
        if ds.owner == identity.name:
            return "owner"
        if identity.admin:
            return "admin"
        granted = session.scalar(
            select(Grant.id).where(
                Grant.kind == "dataset", Grant.object_id == ds.id, Grant.username == identity.name
            )
        )
        return "shared" if granted is not None else None

    def _load(
        self, session: Any, identity: Identity, ref: str, write: bool = False
    ) -> tuple[Dataset, str]:
        ds = session.get(Dataset, ref)
        if ds is None:
            ds = self._by_name(session, identity, ref)
        access = None if ds is None else self._access(session, identity, ds)
        if ds is None or access is None:
            raise Problem.not_found(f"dataset {ref!r}")
        if write and access not in ("owner", "admin"):
            why = (
                "preset datasets are read-only; import their files into a dataset of your own"
                if access == "preset"
                else f"this dataset is shared with you by {ds.owner} and is read-only"
            )
            raise Problem(403, why)
        return ds, access

    def _by_name(self, session: Any, identity: Identity, name: str) -> Dataset | None:
        own = session.scalar(
            select(Dataset).where(Dataset.owner == identity.name, Dataset.name == name)
        )
        if own is not None:
            return own  # type: ignore[no-any-return]
        shared = session.scalar(
            select(Dataset)
            .join(Grant, (Grant.object_id == Dataset.id) & (Grant.kind == "dataset"))
            .where(Grant.username == identity.name, Dataset.name == name)
        )
        if shared is not None:
            return shared  # type: ignore[no-any-return]
        return session.scalar(  # type: ignore[no-any-return]
            select(Dataset).where(Dataset.preset.is_(True), Dataset.name == name)
        )

    # -- reading -------------------------------------------------------------------------------

    def _layout(self, session: Any, ds_id: str) -> Layout:
        files = session.execute(
            select(DatasetFile.id, DatasetFile.records)
            .where(DatasetFile.dataset_id == ds_id)
            .order_by(DatasetFile.id)
        ).all()
        edits = session.scalars(select(DatasetEdit).where(DatasetEdit.dataset_id == ds_id)).all()
        dels: dict[int, list[int]] = {}
        added = []
        by_key: dict[tuple[int | None, int], DatasetEdit] = {}
        for e in edits:
            by_key[(e.file_id, e.idx)] = e
            if e.file_id is None:
                if not e.deleted:
                    added.append(e.idx)
            elif e.deleted:
                dels.setdefault(e.file_id, []).append(e.idx)
        return Layout(
            [(fid, n, sorted(dels.get(fid, []))) for fid, n in files], sorted(added), by_key
        )

    def _invalid_keys(
        self, session: Any, ds_id: str, layout: Layout
    ) -> list[tuple[int | None, int]]:
        """Every live record with problems, in order."""
        keys: set[tuple[int | None, int]] = set()
        rows = session.execute(
            select(DatasetIssue.file_id, DatasetIssue.idx)
            .where(DatasetIssue.dataset_id == ds_id)
            .distinct()
        ).all()
        for fid, idx in rows:
            e = layout.edits.get((fid, idx))
            if e is None or (e.data is None and not e.deleted):
                keys.add((fid, idx))
        for key, e in layout.edits.items():
            if not e.deleted and e.data is not None and e.issues:
                keys.add(key)
        return sorted(keys, key=lambda k: (layout.order(k[0]), k[1]))

    def _stats(self, session: Any, ds: Dataset, layout: Layout | None = None) -> dict[str, Any]:
        layout = layout or self._layout(session, ds.id)
        live = [e for e in layout.edits.values() if not e.deleted]
        return {
            "records": layout.total,
            "invalid": len(self._invalid_keys(session, ds.id, layout)),
            "reviewed": sum(1 for e in live if e.reviewed),
            "edited": sum(1 for e in live if e.data is not None),
            "files": len(layout.files),
        }

    def to_out(
        self, session: Any, ds: Dataset, access: str, detail: bool = False
    ) -> dict[str, Any]:
        latest = None
        if ds.latest_version:
            v = session.scalar(
                select(DatasetVersion).where(
                    DatasetVersion.dataset_id == ds.id, DatasetVersion.number == ds.latest_version
                )
            )
            latest = None if v is None else self._version_out(ds, v)
        publishing = self.work.running("publish", ds.id)
        out: dict[str, Any] = {
            "id": ds.id,
            "name": ds.name,
            "owner": "platform" if ds.preset else ds.owner,
            "description": ds.description,
            "data_type": ds.data_type,
            "annotation_type": ds.annotation_type,
            "preset": ds.preset,
            "access": access,
            "read_only": access not in ("owner", "admin"),
            "latest_version": ds.latest_version or None,
            "latest": latest,
            "publishing": None if publishing is None else operation_out(publishing),
            "created_at": iso(ds.created_at),
            "updated_at": iso(ds.updated_at),
            "draft": self._stats(session, ds),
        }
        running = session.scalars(
            select(DatasetImport).where(
                DatasetImport.dataset_id == ds.id, DatasetImport.status == "running"
            )
        ).all()
        out["importing"] = [self._import_out(i) for i in running]
        if detail:
            files = session.scalars(
                select(DatasetFile).where(DatasetFile.dataset_id == ds.id).order_by(DatasetFile.id)
            ).all()
            out["files"] = [
                {
                    "id": f.id,
                    "name": f.name,
                    "format": f.format,
                    "records": f.records,
                    "invalid": f.invalid,
                    "size": f.size,
                    "sha256": f.sha256,
                    "created_at": iso(f.created_at),
                }
                for f in files
            ]
            versions = session.scalars(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == ds.id)
                .order_by(DatasetVersion.number.desc())
            ).all()
            out["versions"] = [self._version_out(ds, v) for v in versions]
        return out

    def list_datasets(self, identity: Identity, all_users: bool = False) -> dict[str, Any]:
        with self.db.session() as session:
            q = select(Dataset)
            if not (all_users and identity.admin):
                granted = select(Grant.object_id).where(
                    Grant.kind == "dataset", Grant.username == identity.name
                )
                q = q.where(
                    or_(
                        Dataset.owner == identity.name,
                        Dataset.preset.is_(True),
                        Dataset.id.in_(granted),
                    )
                )
            rows = session.scalars(q.order_by(Dataset.preset, Dataset.created_at.desc())).all()
            items = []
            for ds in rows:
                access = self._access(session, identity, ds)
                if access is not None:
                    items.append(self.to_out(session, ds, access))
            return {"datasets": items}

    def get(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            ds, access = self._load(session, identity, ref)
            return self.to_out(session, ds, access, detail=True)

    # -- create, change, delete ----------------------------------------------------------------

    def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        known = {"name", "description", "data_type", "annotation_type"}
        extra = sorted(set(body) - known)
        if extra:
            raise Problem.fields(
                [(k, "is not a known field; remove it (see openapi.json)") for k in extra]
            )
        name = catalogue_name(body.get("name"), "customer-faq")
        description = text_field(body, "description", 4000)
        data_type = body.get("data_type", "text")
        if data_type not in DATA_TYPES:
            raise Problem.invalid("data_type", f"must be one of {', '.join(DATA_TYPES)}")
        try:
            atype = AnnotationType.parse(body.get("annotation_type", ""))
        except ValueError as e:
            raise Problem.invalid("annotation_type", str(e)) from None
        return self._create(identity.name, name, description, data_type, atype.value, identity)

    def _create(
        self,
        owner: str,
        name: str,
        description: str,
        data_type: str,
        annotation_type: str,
        identity: Identity,
        preset: bool = False,
    ) -> dict[str, Any]:
        with self.db.session() as session:
            clash = session.scalar(
                select(Dataset.id).where(Dataset.owner == owner, Dataset.name == name)
            )
            if clash is not None:
                raise Problem.invalid(
                    "name", f"you already have a dataset named {name!r}; choose another name", 409
                )
            ds = Dataset(
                id=f"ds-{secrets.token_hex(5)}",
                owner=owner,
                name=name,
                description=description,
                data_type=data_type,
                annotation_type=annotation_type,
                preset=preset,
            )
            session.add(ds)
            session.flush()
            return self.to_out(session, ds, "admin" if preset else "owner")

    def patch(self, identity: Identity, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        extra = sorted(set(body) - {"name", "description"})
        if extra:
            raise Problem.fields(
                [(k, "cannot be changed here (only name and description)") for k in extra]
            )
        with self.db.session() as session:
            ds, access = self._load(session, identity, ref, write=True)
            if "name" in body:
                name = catalogue_name(body["name"], "customer-faq")
                clash = session.scalar(
                    select(Dataset.id).where(
                        Dataset.owner == ds.owner, Dataset.name == name, Dataset.id != ds.id
                    )
                )
                if clash is not None:
                    raise Problem.invalid("name", f"a dataset named {name!r} exists already", 409)
                ds.name = name
            if "description" in body:
                ds.description = text_field(body, "description", 4000)
            ds.updated_at = utcnow()
            return self.to_out(session, ds, access, detail=True)

    async def delete(self, identity: Identity, ref: str) -> None:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            ds_id = ds.id
            self._check_idle(session, ds_id)
            for model in (DatasetEdit, DatasetIssue, DatasetFile, DatasetImport, DatasetVersion):
                session.execute(delete(model).where(model.dataset_id == ds_id))  # type: ignore[attr-defined]
            self.shares.forget_object(session, "dataset", ds_id)
            session.delete(ds)
        # Bytes go after the rows: a crash in between leaves unreachable files, never rows
        # pointing at missing ones.
        await self.store.delete_prefix(f"datasets/{ds_id}/")
        for d in (self.dir / ds_id, self.mount_dir / ds_id, self.cache_dir / ds_id):
            await asyncio.to_thread(remove_readonly_tree, d)

    def _check_idle(self, session: Any, ds_id: str) -> None:
        if self.work.running("publish", ds_id) is not None:
            raise Problem(409, "the dataset is being published; try again when that ends")

    def _touch(self, session: Any, ds: Dataset) -> None:
        ds.revision += 1
        ds.updated_at = utcnow()

    # -- imports -------------------------------------------------------------------------------

    def _import_out(self, imp: DatasetImport) -> dict[str, Any]:
        return {
            "id": imp.id,
            "dataset_id": imp.dataset_id,
            "source": imp.source,
            "detail": imp.detail,
            "status": imp.status,
            "phase": imp.phase,
            "bytes_done": imp.bytes_done,
            "bytes_total": imp.bytes_total,
            "files": imp.files,
            "records": imp.records,
            "invalid": imp.invalid,
            "message": imp.message,
            "problems": imp.problems or [],
            "created_at": iso(imp.created_at),
            "finished_at": iso(imp.finished_at),
        }

    def list_imports(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            rows = session.scalars(
                select(DatasetImport)
                .where(DatasetImport.dataset_id == ds.id)
                .order_by(DatasetImport.created_at.desc())
            ).all()
            return {"imports": [self._import_out(i) for i in rows]}

    def get_import(self, identity: Identity, ref: str, import_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            imp = session.get(DatasetImport, import_id)
            if imp is None or imp.dataset_id != ds.id:
                raise Problem.not_found(f"import {import_id!r}")
            return self._import_out(imp)

    async def start_import(
        self, identity: Identity, ref: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        from ..catalog.fetch import FetchError, check_url

        extra = sorted(set(body) - {"upload_id", "url"})
        if extra:
            raise Problem.fields(
                [(k, "is not a known field; give upload_id or url") for k in extra]
            )
        if ("upload_id" in body) == ("url" in body):
            raise Problem.invalid(
                "upload_id", "give exactly one source: upload_id (a finished upload) or url"
            )
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            self._check_idle(session, ds.id)
            ds_id, atype = ds.id, ds.annotation_type
        imp_id = f"imp-{secrets.token_hex(6)}"
        staging = self.dir / ds_id / "staging" / imp_id
        if "url" in body:
            url = body["url"]
            if not isinstance(url, str):
                raise Problem.invalid("url", "must be a URL, e.g. https://example.org/data.zip")
            try:
                await asyncio.to_thread(check_url, url, self.fetch_policy)
            except FetchError as e:
                raise Problem.invalid(getattr(e, "field", None) or "url", str(e)) from None
            source, detail, local, local_sha = "url", url, None, None
        else:
            up = await asyncio.to_thread(
                self.uploads.take, identity, body["upload_id"], "dataset", staging / "upload.bin"
            )
            source, detail, local = "upload", up.filename, staging / "upload.bin"
            local_sha = up.sha256
        imp = DatasetImport(
            id=imp_id,
            dataset_id=ds_id,
            owner=identity.name,
            source=source,
            detail=detail,
            status="running",
            phase="queued",
            problems=[],
        )
        with self.db.session() as session:
            session.add(imp)
            session.flush()
            out = self._import_out(imp)
        self.work.spawn(
            self._run_import(imp_id, ds_id, atype, staging, local, detail, local_sha), imp_id
        )
        return out

    def _set_import(self, imp_id: str, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(
                update(DatasetImport).where(DatasetImport.id == imp_id).values(**values)
            )

    async def _run_import(
        self,
        imp_id: str,
        ds_id: str,
        annotation_type: str,
        staging: Path,
        local: Path | None,
        detail: str,
        local_sha: str | None = None,
    ) -> None:
        try:
            await asyncio.to_thread(
                self._import_sync, imp_id, ds_id, annotation_type, staging, local, detail, local_sha
            )
        except asyncio.CancelledError:
            self._set_import(
                imp_id,
                status="failed",
                message="the platform stopped during the import; import again",
                finished_at=utcnow(),
            )
            raise
        except WorkFailed as e:
            self._set_import(imp_id, status="failed", message=str(e), finished_at=utcnow())
        except Exception as e:
            self.work.log.error("dataset import %s failed", imp_id, exc_info=True)
            self._set_import(
                imp_id,
                status="failed",
                message=f"the import failed unexpectedly ({type(e).__name__}); the admin log "
                "has the details",
                finished_at=utcnow(),
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)

    def _import_sync(
        self,
        imp_id: str,
        ds_id: str,
        annotation_type: str,
        staging: Path,
        local: Path | None,
        detail: str,
        local_sha: str | None = None,
    ) -> None:
        """Download (URL), unpack (archive), check and draft every file, then commit.

        The sha256 of each source is known already (computed while the upload arrived, the
        download ran or the archive was unpacked), so no extra pass over the bytes is made.
        """
        from ..catalog.archives import ArchiveError, archive_kind, extract_archive, is_archive
        from ..catalog.fetch import FetchError, fetch_url

        staging.mkdir(parents=True, exist_ok=True)
        progress = Throttle(lambda n: self._set_import(imp_id, bytes_done=n))
        filename = detail
        if local is None:
            self._set_import(imp_id, phase="downloading")
            try:
                got = fetch_url(
                    detail,
                    staging / "download.bin",
                    policy=self.fetch_policy,
                    progress=lambda done, total: progress(done),
                )
            except FetchError as e:
                raise WorkFailed(f"download failed: {e}") from None
            local = Path(got.path)
            filename = got.filename or "download"
            local_sha = got.sha256
        sources: list[tuple[str, Path, str | None]] = []
        skipped: list[str] = []
        if is_archive(filename) or archive_kind(local) is not None:
            self._set_import(imp_id, phase="unpacking")
            try:
                members = extract_archive(
                    local, staging / "unpacked", limits=self.archive_limits, name=filename
                )
            except ArchiveError as e:
                raise WorkFailed(str(e)) from None
            local.unlink(missing_ok=True)
            for m in sorted(members, key=lambda m: m.relative_path):
                if _dataset_file(m.relative_path):
                    sources.append(
                        (m.relative_path, staging / "unpacked" / m.relative_path, m.sha256)
                    )
                else:
                    skipped.append(m.relative_path)
            if not sources:
                raise WorkFailed(
                    f"{filename} holds no dataset file (.jsonl, .json or .csv)"
                    + (f"; it has {', '.join(skipped[:5])}" if skipped else "")
                )
        else:
            if not _dataset_file(filename):
                raise WorkFailed(
                    f"{filename}: not a dataset file; upload .jsonl, .json or .csv files, or a "
                    ".zip / .tar.gz archive of them"
                )
            sources.append((filename, local, local_sha))
        total = sum(p.stat().st_size for _, p, _ in sources)
        self._set_import(imp_id, phase="validating", bytes_total=total, bytes_done=0)
        drafts: list[tuple[str, Path, Any, str, int]] = []
        done_before = 0
        problems: list[dict[str, Any]] = [
            {"file": s, "line": None, "field": None, "message": "skipped: not a dataset file"}
            for s in skipped[:20]
        ]
        invalid = records = 0
        for i, (name, path, known_sha) in enumerate(sources):
            draft = staging / "drafts" / f"{i}.jsonl"
            draft.parent.mkdir(parents=True, exist_ok=True)
            base = done_before
            digest = known_sha or file_sha256(path)
            try:
                result = build_draft(
                    path,
                    draft,
                    annotation_type,
                    max_invalid=self.max_invalid,
                    progress=lambda n, base=base: progress(base + n),  # type: ignore[misc]
                )
            except DatasetFileError as e:
                raise WorkFailed(f"{name}: {e}") from None
            except TooManyInvalid as e:
                raise WorkFailed(f"{name}: {e}") from None
            done_before += path.stat().st_size
            if result.records == 0:
                problems.append(
                    {
                        "file": name,
                        "line": None,
                        "field": None,
                        "message": "the file holds no records",
                    }
                )
            for issue in result.issues:
                if len(problems) >= MAX_PROBLEMS_SHOWN:
                    break
                problems.append(
                    {
                        "file": name,
                        "line": issue.line,
                        "field": issue.field,
                        "message": issue.message,
                    }
                )
            invalid += result.invalid
            records += result.records
            drafts.append((name, draft, result, digest, path.stat().st_size))
            path.unlink(missing_ok=True)
        if records == 0:
            raise WorkFailed("no records found: the files are empty")
        self._set_import(imp_id, phase="saving", bytes_done=total)
        self._commit_import(imp_id, ds_id, drafts, problems, records, invalid)

    def _commit_import(
        self,
        imp_id: str,
        ds_id: str,
        drafts: list[tuple[str, Path, Any, str, int]],
        problems: list[dict[str, Any]],
        records: int,
        invalid: int,
    ) -> None:
        files_dir = self.dir / ds_id / "files"
        files_dir.mkdir(parents=True, exist_ok=True)
        moved: list[Path] = []
        try:
            with self.db.session() as session:
                ds = session.get(Dataset, ds_id)
                if ds is None:
                    raise WorkFailed("the dataset was deleted during the import")
                for name, draft, result, digest, size in drafts:
                    row = DatasetFile(
                        dataset_id=ds_id,
                        import_id=imp_id,
                        name=name[:512],
                        format=result.format.value,
                        records=result.records,
                        invalid=result.invalid,
                        size=size,
                        sha256=digest,
                    )
                    session.add(row)
                    session.flush()
                    target = files_dir / f"{row.id}.jsonl"
                    os.replace(draft, target)
                    moved.append(target)
                    os.replace(index_path(draft), index_path(target))
                    moved.append(index_path(target))
                    if result.issues:
                        session.execute(
                            insert(DatasetIssue),
                            [
                                {
                                    "dataset_id": ds_id,
                                    "file_id": row.id,
                                    "idx": i.idx,
                                    "line": i.line,
                                    "field": i.field,
                                    "message": i.message,
                                }
                                for i in result.issues
                            ],
                        )
                self._touch(session, ds)
                session.execute(
                    update(DatasetImport)
                    .where(DatasetImport.id == imp_id)
                    .values(
                        status="succeeded",
                        phase="done",
                        files=len(drafts),
                        records=records,
                        invalid=invalid,
                        problems=problems,
                        message=(
                            f"imported {records:,} records from {len(drafts)} file(s)"
                            + (f"; {invalid:,} need fixing before publishing" if invalid else "")
                        ),
                        finished_at=utcnow(),
                    )
                )
        except BaseException:
            for p in moved:
                p.unlink(missing_ok=True)
            raise

    # -- records (annotation) ------------------------------------------------------------------

    def _draft(self, ds_id: str, file_id: int) -> DraftFile:
        return DraftFile(self.dir / ds_id / "files" / f"{file_id}.jsonl")

    def _issues_of(
        self, session: Any, ds_id: str, file_id: int, idxs: list[int]
    ) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        if not idxs:
            return out
        rows = session.execute(
            select(DatasetIssue.idx, DatasetIssue.field, DatasetIssue.message)
            .where(
                DatasetIssue.dataset_id == ds_id,
                DatasetIssue.file_id == file_id,
                DatasetIssue.idx.in_(idxs),
            )
            .order_by(DatasetIssue.id)
        ).all()
        for idx, f, m in rows:
            out.setdefault(idx, []).append({"field": f, "message": m})
        return out

    def _records_out(
        self,
        session: Any,
        ds: Dataset,
        layout: Layout,
        keys: list[tuple[int | None, int]],
    ) -> list[dict[str, Any]]:
        names = dict(
            session.execute(
                select(DatasetFile.id, DatasetFile.name).where(DatasetFile.dataset_id == ds.id)
            ).all()
        )
        by_file: dict[int, list[int]] = {}
        for fid, idx in keys:
            if fid is not None:
                by_file.setdefault(fid, []).append(idx)
        original: dict[tuple[int | None, int], DraftRecord] = {}
        issues: dict[tuple[int | None, int], list[dict[str, Any]]] = {}
        for fid, idxs in by_file.items():
            draft = self._draft(ds.id, fid)
            lo, hi = min(idxs), max(idxs)
            if hi - lo < 4 * len(idxs) + 64:
                for got in draft.read(lo, hi - lo + 1):
                    original[(fid, got.idx)] = got
            else:
                for idx in idxs:
                    original[(fid, idx)] = draft.get(idx)
            for idx, probs in self._issues_of(session, ds.id, fid, idxs).items():
                issues[(fid, idx)] = probs
        out = []
        for key in keys:
            fid, idx = key
            e = layout.edits.get(key)
            rec = original.get(key)
            value = e.data if e is not None and e.data is not None else (rec.value if rec else None)
            if e is not None and e.data is not None:
                probs = e.issues or []
            else:
                probs = issues.get(key, []) if fid is not None else []
            out.append(
                {
                    "id": record_id(fid, idx),
                    "index": layout.position(fid, idx),
                    "file": names.get(fid) if fid is not None else None,
                    "line": rec.line if rec else None,
                    "data": value if isinstance(value, dict) else None,
                    "raw": value
                    if isinstance(value, str)
                    else (
                        None if isinstance(value, dict) else json.dumps(value, ensure_ascii=False)
                    ),
                    "issues": probs,
                    "reviewed": bool(e and e.reviewed),
                    "edited": bool(e and e.data is not None),
                    "added": fid is None,
                }
            )
        return out

    def records(
        self,
        identity: Identity,
        ref: str,
        offset: int = 0,
        limit: int = 20,
        only: str | None = None,
    ) -> dict[str, Any]:
        if only not in (None, "", "invalid", "edited", "reviewed"):
            raise Problem.invalid("only", "must be invalid, edited or reviewed (or left out)")
        if not 1 <= limit <= 500:
            raise Problem.invalid("limit", "must be between 1 and 500")
        offset = max(offset, 0)
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            layout = self._layout(session, ds.id)
            if only == "invalid":
                chosen = self._invalid_keys(session, ds.id, layout)
            elif only in ("edited", "reviewed"):
                chosen = sorted(
                    (
                        k
                        for k, e in layout.edits.items()
                        if not e.deleted
                        and (e.data is not None if only == "edited" else e.reviewed)
                    ),
                    key=lambda k: (layout.order(k[0]), k[1]),
                )
            else:
                chosen = []
                total = layout.total
                for pos in range(offset, min(offset + limit, total)):
                    key = layout.locate(pos)
                    if key is not None:
                        chosen.append(key)
                return {
                    "total": total,
                    "offset": offset,
                    "records": self._records_out(session, ds, layout, chosen),
                }
            page = chosen[offset : offset + limit]
            return {
                "total": len(chosen),
                "offset": offset,
                "records": self._records_out(session, ds, layout, page),
            }

    def _record_key(self, layout: Layout, rid: str) -> tuple[int | None, int]:
        key = parse_record_id(rid)
        if layout.position(*key) is None:
            raise Problem.not_found(f"record {rid!r}")
        return key

    def record(self, identity: Identity, ref: str, rid: str) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            return self._one_record(session, ds, rid)

    def _one_record(self, session: Any, ds: Dataset, rid: str) -> dict[str, Any]:
        layout = self._layout(session, ds.id)
        key = self._record_key(layout, rid)
        out = self._records_out(session, ds, layout, [key])[0]
        pos = out["index"]
        prev_key = layout.locate(pos - 1) if pos > 0 else None
        next_key = layout.locate(pos + 1)
        out["total"] = layout.total
        out["previous"] = None if prev_key is None else record_id(*prev_key)
        out["next"] = None if next_key is None else record_id(*next_key)
        if ds.annotation_type == "ranking" and key[0] is not None:
            original = self._draft(ds.id, key[0]).get(key[1]).value
            out["default_order"] = (
                original.get("candidates") if isinstance(original, dict) else None
            )
        return out

    def _check_record_data(self, ds: Dataset, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, dict):
            raise Problem.invalid(
                "data", "must be a JSON object with the fields of the dataset's annotation type"
            )
        size = len(json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogateescape"))
        if size > MAX_RECORD_BYTES:
            raise Problem.invalid("data", f"is {size:,} bytes; a record may be at most 1 MiB")
        try:
            check_text(json.dumps(data, ensure_ascii=False), "record")
        except ValueError as e:
            raise Problem.invalid("data", str(e)) from None
        return record_problems(schema_for(ds.annotation_type), data)

    def _edit(
        self, session: Any, ds: Dataset, key: tuple[int | None, int], identity: Identity
    ) -> DatasetEdit:
        fid, idx = key
        e = session.scalar(
            select(DatasetEdit).where(
                DatasetEdit.dataset_id == ds.id,
                DatasetEdit.file_id.is_(None) if fid is None else DatasetEdit.file_id == fid,
                DatasetEdit.idx == idx,
            )
        )
        if e is None:
            e = DatasetEdit(
                dataset_id=ds.id, file_id=fid, idx=idx, issues=[], deleted=False, reviewed=False
            )
            session.add(e)
        e.updated_by = identity.name
        e.updated_at = utcnow()
        return e  # type: ignore[no-any-return]

    def put_record(
        self, identity: Identity, ref: str, rid: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        extra = sorted(set(body) - {"data", "reviewed"})
        if extra:
            raise Problem.fields(
                [(k, "is not a known field; send data and/or reviewed") for k in extra]
            )
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            self._check_idle(session, ds.id)
            key = self._record_key(self._layout(session, ds.id), rid)
            issues = self._check_record_data(ds, body["data"]) if "data" in body else None
            if "reviewed" in body and not isinstance(body["reviewed"], bool):
                raise Problem.invalid("reviewed", "must be true or false")
            e = self._edit(session, ds, key, identity)
            if issues is not None:
                e.data = body["data"]
                e.issues = issues
            if "reviewed" in body:
                e.reviewed = body["reviewed"]
            self._touch(session, ds)
            session.flush()
            return self._one_record(session, ds, rid)

    def add_record(self, identity: Identity, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            self._check_idle(session, ds.id)
            issues = self._check_record_data(ds, body.get("data"))
            idx = ds.next_added
            ds.next_added += 1
            e = self._edit(session, ds, (None, idx), identity)
            e.data = body["data"]
            e.issues = issues
            e.reviewed = body.get("reviewed") is True
            self._touch(session, ds)
            session.flush()
            return self._one_record(session, ds, record_id(None, idx))

    def delete_record(self, identity: Identity, ref: str, rid: str) -> None:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            self._check_idle(session, ds.id)
            key = self._record_key(self._layout(session, ds.id), rid)
            e = self._edit(session, ds, key, identity)
            if key[0] is None:
                session.delete(e)
            else:
                e.deleted = True
                e.data = None
                e.issues = []
            self._touch(session, ds)

    def restore_record(
        self, identity: Identity, ref: str, rid: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        what = body.get("what", "all")
        if what not in ("all", "order"):
            raise Problem.invalid("what", "must be 'all' (the imported record) or 'order'")
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            self._check_idle(session, ds.id)
            key = self._record_key(self._layout(session, ds.id), rid)
            if key[0] is None:
                raise Problem.invalid("id", "an added record has no imported version to restore")
            original = self._draft(ds.id, key[0]).get(key[1]).value
            e = self._edit(session, ds, key, identity)
            if what == "all":
                e.data = None
                e.issues = []
            else:
                if ds.annotation_type != "ranking":
                    raise Problem.invalid("what", "'order' applies to ranking datasets only")
                current = e.data if e.data is not None else original
                if not isinstance(current, dict) or not isinstance(original, dict):
                    raise Problem.invalid("what", "the record is not an object; fix it first")
                restored = dict(current)
                restored["candidates"] = original.get("candidates")
                e.data = restored
                e.issues = record_problems(schema_for(ds.annotation_type), restored)
            self._touch(session, ds)
            session.flush()
            return self._one_record(session, ds, rid)

    # -- publish and versions --------------------------------------------------------------------

    def _version_out(self, ds: Dataset, v: DatasetVersion) -> dict[str, Any]:
        return {
            "dataset_id": ds.id,
            "number": v.number,
            "sha256": v.sha256,
            "size": v.size,
            "records": v.records,
            "notes": v.notes,
            "created_by": v.created_by,
            "created_at": iso(v.created_at),
            "acceleration": {
                "status": v.accel_status,
                "done": v.accel_done,
                "total": v.size,
                "message": v.accel_message,
            },
        }

    async def publish(self, identity: Identity, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        notes = body.get("notes", "")
        if not isinstance(notes, str) or len(notes) > 4000:
            raise Problem.invalid("notes", "must be text of at most 4000 characters")
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            self._check_idle(session, ds.id)
            layout = self._layout(session, ds.id)
            if layout.total == 0:
                raise Problem.invalid(
                    "dataset", "has no records to publish; import a file or add records first"
                )
            bad = self._invalid_keys(session, ds.id, layout)
            if bad:
                shown = self._records_out(session, ds, layout, bad[:5])
                detail = "; ".join(
                    f"record {r['index'] + 1}"
                    + (f" ({r['file']} line {r['line']})" if r["file"] else " (added)")
                    + ": "
                    + (r["issues"][0]["message"] if r["issues"] else "invalid")
                    for r in shown
                )
                raise Problem(
                    400,
                    f"dataset: {len(bad):,} record(s) are invalid; fix or delete them in the "
                    f"annotation view first. {detail}",
                    [("dataset", f"{len(bad)} invalid record(s)")],
                )
            ds_id = ds.id
            op = self.work.new_operation(identity, "publish", ds_id, total=layout.total)
            out = operation_out(op)
        self.work.spawn(self._run_publish(op.id, ds_id, identity.name, notes), op.id)
        return out

    async def _run_publish(self, op_id: str, ds_id: str, who: str, notes: str) -> None:
        tmp = self.dir / ds_id / "publish" / f"{op_id}.jsonl"
        try:
            result = await self._publish(op_id, ds_id, who, notes, tmp)
            self.work.finish(op_id, "succeeded", result.pop("message"), result)
        except asyncio.CancelledError:
            self.work.finish(op_id, "failed", "the platform stopped during the publish")
            raise
        except WorkFailed as e:
            self.work.finish(op_id, "failed", str(e))
        except Exception as e:
            self.work.log.error("publish %s failed", op_id, exc_info=True)
            self.work.finish(op_id, "failed", f"publishing failed ({type(e).__name__}: {e})")
        finally:
            tmp.unlink(missing_ok=True)

    async def _publish(
        self, op_id: str, ds_id: str, who: str, notes: str, tmp: Path
    ) -> dict[str, Any]:
        with self.db.session() as session:
            ds = session.get(Dataset, ds_id)
            assert ds is not None
            layout = self._layout(session, ds_id)
            atype = ds.annotation_type
            session.expunge_all()
        progress = self.work.progress_of(op_id)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        digest, size, count = await asyncio.to_thread(
            self._write_canonical, ds_id, atype, layout, tmp, progress
        )
        with self.db.session() as session:
            ds = session.get(Dataset, ds_id)
            if ds is None:
                raise WorkFailed("the dataset was deleted during the publish")
            latest = session.scalar(
                select(DatasetVersion).where(
                    DatasetVersion.dataset_id == ds_id, DatasetVersion.number == ds.latest_version
                )
            )
            if latest is not None and latest.sha256 == digest:
                return {
                    "message": f"nothing changed since version {latest.number}; no new version",
                    "version": latest.number,
                    "unchanged": True,
                    "sha256": digest,
                }
        key = f"datasets/{ds_id}/blobs/{digest}.jsonl"
        if not await self.store.exists(key):  # an identical earlier version's bytes are reused
            await self.store.put_file(key, tmp, sha256=digest)
        with self.db.session() as session:
            ds = session.get(Dataset, ds_id)
            if ds is None:
                raise WorkFailed("the dataset was deleted during the publish")
            number = ds.latest_version + 1
            session.add(
                DatasetVersion(
                    dataset_id=ds_id,
                    number=number,
                    sha256=digest,
                    size=size,
                    records=count,
                    object_key=key,
                    notes=notes,
                    created_by=who,
                )
            )
            ds.latest_version = number
            ds.updated_at = utcnow()
        return {
            "message": f"published version {number} ({count:,} records)",
            "version": number,
            "unchanged": False,
            "sha256": digest,
        }

    def _write_canonical(
        self, ds_id: str, atype: str, layout: Layout, dest: Path, progress: Throttle
    ) -> tuple[str, int, int]:
        normalise = schema_for(atype).normalise
        h = hashlib.sha256()
        size = count = 0
        with open(dest, "wb", buffering=4 << 20) as out:

            def emit(value: dict[str, Any]) -> None:
                nonlocal size, count
                blob = json.dumps(normalise(value), ensure_ascii=False).encode() + b"\n"
                h.update(blob)
                out.write(blob)
                size += len(blob)
                count += 1
                if count % 5000 == 0:
                    progress(count)

            for fid, _, dels in layout.files:
                deleted = set(dels)
                for rec in self._draft(ds_id, fid):
                    if rec.idx in deleted:
                        continue
                    e = layout.edits.get((fid, rec.idx))
                    value = e.data if e is not None and e.data is not None else rec.value
                    if not isinstance(value, dict):
                        raise WorkFailed(f"record {rec.idx + 1} of file {fid} is not an object")
                    emit(value)
            for idx in layout.added:
                emit(layout.edits[(None, idx)].data)
        progress(count, final=True)
        return h.hexdigest(), size, count

    def _version(self, session: Any, ds: Dataset, number: int | None) -> DatasetVersion:
        n = number or ds.latest_version
        v = None
        if n:
            v = session.scalar(
                select(DatasetVersion).where(
                    DatasetVersion.dataset_id == ds.id, DatasetVersion.number == n
                )
            )
        if v is None:
            if not ds.latest_version:
                raise Problem.invalid(
                    "version",
                    f"dataset {ds.name!r} has no published version; publish it first",
                    404,
                )
            raise Problem.not_found(f"version {number} of dataset {ds.name!r}")
        return v  # type: ignore[no-any-return]

    def versions(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            rows = session.scalars(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == ds.id)
                .order_by(DatasetVersion.number.desc())
            ).all()
            return {"versions": [self._version_out(ds, v) for v in rows]}

    def version(self, identity: Identity, ref: str, number: int) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            return self._version_out(ds, self._version(session, ds, number))

    def version_object(
        self, identity: Identity, ref: str, number: int
    ) -> tuple[str, str, int, str]:
        """(object key, file name, size, sha256) of a version's data, for download."""
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            v = self._version(session, ds, number)
            return v.object_key, f"{ds.name}-v{v.number}.jsonl", v.size, v.sha256

    def resolve_ref(self, identity: Identity, ref: str, number: int | None) -> dict[str, Any]:
        """The published version a job would mount: ``{"id", "name", "version"}``."""
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            v = self._version(session, ds, number)
            return {"id": ds.id, "name": ds.name, "version": v.number}

    def operation(self, identity: Identity, op_id: str) -> dict[str, Any]:
        return self.work.get(identity, op_id)

    # -- acceleration and materialised copies ---------------------------------------------------

    def _copy_dir(self, root: Path, ds_id: str, number: int) -> Path:
        return root / ds_id / str(number)

    async def accelerate(self, identity: Identity, ref: str, number: int) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            v = self._version(session, ds, number)
            if v.accel_status in ("running", "ready"):
                return self._version_out(ds, v)
            v.accel_status, v.accel_done, v.accel_message = "running", 0, ""
            session.flush()
            out = self._version_out(ds, v)
            job = (
                ds.id,
                ds.name,
                ds.annotation_type,
                v.number,
                v.object_key,
                v.sha256,
                v.records,
                v.size,
            )
        self.work.spawn(self._run_accelerate(*job), f"accelerate {ds.id}/{job[3]}")
        return out

    def _set_accel(self, ds_id: str, number: int, **values: Any) -> None:
        with self.db.session() as session:
            session.execute(
                update(DatasetVersion)
                .where(DatasetVersion.dataset_id == ds_id, DatasetVersion.number == number)
                .values(**values)
            )

    async def _run_accelerate(
        self,
        ds_id: str,
        name: str,
        atype: str,
        number: int,
        key: str,
        sha: str,
        records: int,
        size: int,
    ) -> None:
        progress = Throttle(lambda n: self._set_accel(ds_id, number, accel_done=n))
        target = self._copy_dir(self.cache_dir, ds_id, number)
        try:
            await asyncio.to_thread(
                self._materialise_sync, target, name, atype, number, key, sha, records, progress
            )
            self._set_accel(ds_id, number, accel_status="ready", accel_done=size, accel_message="")
        except asyncio.CancelledError:
            self._set_accel(ds_id, number, accel_status="failed", accel_message="interrupted")
            raise
        except Exception as e:
            self.work.log.error("acceleration of %s v%s failed", ds_id, number, exc_info=True)
            self._set_accel(ds_id, number, accel_status="failed", accel_message=str(e)[:500])

    async def drop_acceleration(self, identity: Identity, ref: str, number: int) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            v = self._version(session, ds, number)
            if v.accel_status == "running":
                raise Problem(409, "the version is being accelerated; wait for it to end")
            ds_id = ds.id
        await asyncio.to_thread(remove_readonly_tree, self._copy_dir(self.cache_dir, ds_id, number))
        self._set_accel(ds_id, number, accel_status="none", accel_done=0, accel_message="")
        return self.version(identity, ref, number)

    def _materialise_sync(
        self,
        target: Path,
        name: str,
        atype: str,
        number: int,
        key: str,
        sha: str,
        records: int,
        progress: Throttle | None = None,
    ) -> None:
        """Write the version's read-only directory at ``target`` (atomically) unless it exists."""
        if (target / "manifest.json").exists():
            return
        tmp = target.with_name(target.name + f".tmp-{secrets.token_hex(4)}")
        tmp.mkdir(parents=True)
        try:
            data = tmp / "data.jsonl"
            h = hashlib.sha256()
            done = 0
            with self.store.open_sync(key) as src, open(data, "wb") as out:
                while chunk := src.read(8 << 20):
                    h.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done)
            if h.hexdigest() != sha:
                raise WorkFailed(
                    f"the stored data of {name} v{number} does not match its checksum; "
                    "publish the dataset again"
                )
            (tmp / "dataset_info.json").write_text(
                json.dumps(dataset_info(name, atype), ensure_ascii=False, indent=2) + "\n"
            )
            (tmp / "manifest.json").write_text(
                json.dumps(
                    {
                        "name": name,
                        "version": number,
                        "annotation_type": atype,
                        "records": records,
                        "sha256": sha,
                        "file": "data.jsonl",
                    },
                    indent=2,
                )
                + "\n"
            )
            for p in tmp.iterdir():
                p.chmod(0o444)
            tmp.chmod(0o555)
            remove_readonly_tree(target)
            os.replace(tmp, target)
        except BaseException:
            remove_readonly_tree(tmp)
            raise

    async def materialise(
        self, identity: Identity, ref: str, number: int | None = None
    ) -> tuple[dict[str, Any], Path]:
        """A local read-only directory of a published version (the fast copy when there is one)."""
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref)
            v = self._version(session, ds, number)
            info = {"id": ds.id, "name": ds.name, "version": v.number, "kind": "dataset"}
            fast = self._copy_dir(self.cache_dir, ds.id, v.number)
            if v.accel_status == "ready" and (fast / "manifest.json").exists():
                return info, fast
            job = (ds.name, ds.annotation_type, v.number, v.object_key, v.sha256, v.records)
            target = self._copy_dir(self.mount_dir, ds.id, v.number)
        lock = self._locks.setdefault(str(target), asyncio.Lock())
        async with lock:
            await asyncio.to_thread(self._materialise_sync, target, *job)
        return info, target

    # -- sharing -------------------------------------------------------------------------------

    def share(self, identity: Identity, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            if ds.preset:
                raise Problem(400, "preset datasets are visible to everyone already")
            ds_id = ds.id
        return self.shares.create(identity, "dataset", ds_id, body)

    def list_shares(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            ds, _ = self._load(session, identity, ref, write=True)
            ds_id = ds.id
        return {"shares": self.shares.list_for("dataset", ds_id)}

    def add_shared(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        share = self.shares.redeem(body.get("token"), "dataset")
        with self.db.session() as session:
            ds = session.get(Dataset, share.object_id)
            if ds is None:
                raise Problem.invalid("token", "the shared dataset no longer exists", 410)
            if ds.owner == identity.name:
                raise Problem.invalid(
                    "token", "this is your own dataset; it is in your list already"
                )
            exists = session.scalar(
                select(Grant).where(
                    Grant.kind == "dataset",
                    Grant.object_id == ds.id,
                    Grant.username == identity.name,
                )
            )
            if exists is None:
                session.add(
                    Grant(
                        kind="dataset", object_id=ds.id, username=identity.name, share_id=share.id
                    )
                )
                session.flush()
            return self.to_out(session, ds, "shared")

    def remove_shared(self, identity: Identity, ref: str) -> None:
        with self.db.session() as session:
            ds, access = self._load(session, identity, ref)
            if access != "shared":
                raise Problem(400, "only datasets shared with you can be removed from your list")
            session.execute(
                delete(Grant).where(
                    Grant.kind == "dataset",
                    Grant.object_id == ds.id,
                    Grant.username == identity.name,
                )
            )

    # -- presets ---------------------------------------------------------------------------------

    async def seed_presets(self) -> None:
        """Create and publish the preset datasets shipped with the platform (once)."""
        manifest = PRESETS_DIR / "presets.json"
        if not manifest.exists():
            return
        entries = json.loads(manifest.read_text())
        admin = Identity("platform", admin=True)
        for entry in entries:
            with self.db.session() as session:
                exists = session.scalar(
                    select(Dataset.id).where(
                        Dataset.preset.is_(True), Dataset.name == entry["name"]
                    )
                )
            if exists is not None:
                continue
            try:
                await self._seed_one(admin, entry)
            except Exception:
                self.work.log.error("preset dataset %s failed", entry.get("name"), exc_info=True)

    async def _seed_one(self, admin: Identity, entry: dict[str, Any]) -> None:
        out = self._create(
            PRESET_OWNER,
            entry["name"],
            entry.get("description", ""),
            "text",
            AnnotationType.parse(entry["annotation_type"]).value,
            admin,
            preset=True,
        )
        ds_id = out["id"]
        staging = self.dir / ds_id / "staging" / "preset"
        staging.mkdir(parents=True, exist_ok=True)
        src = staging / entry["file"]
        await asyncio.to_thread(shutil.copyfile, PRESETS_DIR / entry["file"], src)
        imp_id = f"imp-{secrets.token_hex(6)}"
        with self.db.session() as session:
            session.add(
                DatasetImport(
                    id=imp_id,
                    dataset_id=ds_id,
                    owner=PRESET_OWNER,
                    source="preset",
                    detail=entry["file"],
                    status="running",
                    problems=[],
                )
            )
        await self._run_import(imp_id, ds_id, out["annotation_type"], staging, src, entry["file"])
        op = self.work.new_operation(admin, "publish", ds_id)
        result = await self._publish(
            op.id, ds_id, "platform", "preset", self.dir / ds_id / "publish" / "preset.jsonl"
        )
        self.work.finish(op.id, "succeeded", result.pop("message"), result)

    def mark_interrupted(self) -> None:
        with self.db.session() as session:
            session.execute(
                update(DatasetImport)
                .where(DatasetImport.status == "running")
                .values(
                    status="failed",
                    message="the platform restarted during the import; import again",
                    finished_at=utcnow(),
                )
            )
            session.execute(
                update(DatasetVersion)
                .where(DatasetVersion.accel_status == "running")
                .values(
                    accel_status="failed", accel_message="the platform restarted; accelerate again"
                )
            )


def dataset_info(name: str, annotation_type: str) -> dict[str, Any]:
    """A LLaMA-Factory ``dataset_info.json`` entry for a published version's ``data.jsonl``."""
    if annotation_type == "instruction":
        return {
            name: {
                "file_name": "data.jsonl",
                "formatting": "alpaca",
                "columns": {
                    "prompt": "instruction",
                    "query": "input",
                    "response": "output",
                    "system": "system",
                    "history": "history",
                },
            }
        }
    if annotation_type == "sharegpt":
        return {
            name: {
                "file_name": "data.jsonl",
                "formatting": "sharegpt",
                "columns": {"messages": "messages", "system": "system", "tools": "tools"},
                "tags": {
                    "role_tag": "role",
                    "content_tag": "content",
                    "user_tag": "user",
                    "assistant_tag": "assistant",
                },
            }
        }
    return {name: {"file_name": "data.jsonl", "annotation_type": annotation_type}}
