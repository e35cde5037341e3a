"""Chunked, resumable uploads (D2, M2): big files arrive in pieces and survive a broken link.

A client declares the file (name, size, optional sha256), then sends chunks with ``PUT
…/uploads/<id>?offset=N``. A chunk must start where the received bytes end, so after a broken
connection the client asks how much arrived (``GET``) and goes on from there. When the last
byte arrives the digest is checked and the upload is complete; an import then *takes* it,
which moves the file out of the upload area. Bytes are appended to a file in the data dir,
never held whole in memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..store.database import Database
from ..store.models import Upload, utcnow
from .auth import Identity
from .errors import Problem

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
PURPOSES = ("dataset", "model")
MAX_CHUNK = 64 << 20


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def safe_filename(name: Any, field: str = "filename") -> str:
    """The last path component of a client's file name, checked."""
    if not isinstance(name, str) or not name.strip():
        raise Problem.invalid(field, "is required: the name of the file being uploaded")
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    try:
        base.encode("utf-8")
    except UnicodeEncodeError:
        raise Problem.invalid(field, "must be valid UTF-8") from None
    if not base or base in (".", "..") or "\x00" in base or len(base) > 255:
        raise Problem.invalid(field, f"{name[:80]!r} is not a usable file name")
    return base


class UploadManager:
    """Uploads in progress, one part file each under ``<data_dir>/uploads``."""

    def __init__(self, db: Database, upload_dir: Path, limits: dict[str, int]) -> None:
        self.db = db
        self.dir = upload_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.limits = limits  # purpose -> largest size in bytes
        # Running digests of uploads whose bytes arrived in this process, by upload id.
        self._hashes: dict[str, tuple[int, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def part_path(self, upload_id: str) -> Path:
        return self.dir / f"{upload_id}.part"

    def to_out(self, up: Upload) -> dict[str, Any]:
        return {
            "id": up.id,
            "purpose": up.purpose,
            "filename": up.filename,
            "size": up.size,
            "received": up.received,
            "sha256": up.sha256,
            "status": up.status,
        }

    def _upload(self, session: Any, identity: Identity, upload_id: str) -> Upload:
        up = session.get(Upload, upload_id)
        if up is None or up.owner != identity.name:
            raise Problem.not_found(f"upload {upload_id!r}")
        return up

    def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        purpose = body.get("purpose", "dataset")
        if purpose not in PURPOSES:
            raise Problem.invalid("purpose", f"must be one of {', '.join(PURPOSES)}")
        filename = safe_filename(body.get("filename"))
        size = body.get("size")
        if type(size) is not int or size < 0:
            raise Problem.invalid("size", "must be the file's size in bytes (a whole number)")
        limit = self.limits[purpose]
        if size > limit:
            raise Problem.invalid(
                "size",
                f"the file is {_gb(size)} but a {purpose} upload may be at most {_gb(limit)}; "
                "split it, or ask an admin to raise the limit",
                413,
            )
        sha = body.get("sha256")
        if sha is not None and (not isinstance(sha, str) or not SHA256_RE.match(sha.lower())):
            raise Problem.invalid("sha256", "must be 64 hexadecimal digits, or left out")
        up = Upload(
            id=f"up-{secrets.token_hex(8)}",
            owner=identity.name,
            purpose=purpose,
            filename=filename,
            size=size,
            sha256=sha.lower() if sha else None,
            status="open",
        )
        self.part_path(up.id).touch()
        with self.db.session() as session:
            session.add(up)
        if size == 0:
            return self._finish_sync(identity, up.id)
        return self.to_out(up)

    def get(self, identity: Identity, upload_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            return self.to_out(self._upload(session, identity, upload_id))

    async def put_chunk(
        self, identity: Identity, upload_id: str, offset: int | None, data: bytes
    ) -> dict[str, Any]:
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        async with lock:
            with self.db.session() as session:
                up = self._upload(session, identity, upload_id)
                if up.status != "open":
                    raise Problem(409, f"upload {upload_id} is {up.status}; start a new upload")
                received, size = up.received, up.size
            if offset is None:
                raise Problem.invalid("offset", "is required: where this chunk starts in the file")
            if offset != received:
                raise Problem(
                    409,
                    f"offset: the upload has {received} bytes; send the chunk that starts at "
                    f"offset {received}",
                    [("offset", f"must be {received}")],
                )
            if not data:
                raise Problem.invalid("body", "is empty; send the next bytes of the file")
            if received + len(data) > size:
                raise Problem.invalid(
                    "body",
                    f"the chunk goes past the declared size ({size} bytes); the upload "
                    f"needs {size - received} more bytes",
                    413,
                )
            path = self.part_path(upload_id)
            state = self._hashes.get(upload_id)
            digest = state[1] if state is not None and state[0] == received else None

            def append() -> Any:
                nonlocal digest
                if digest is None:  # resumed in a new process: hash what is already there
                    digest = hashlib.sha256()
                    with open(path, "rb") as f:
                        remaining = received
                        while remaining:
                            chunk = f.read(min(remaining, 8 << 20))
                            if not chunk:
                                break
                            digest.update(chunk)
                            remaining -= len(chunk)
                with open(path, "r+b") as f:
                    f.truncate(received)  # drop bytes of a chunk that died half-written
                    f.seek(received)
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                digest.update(data)
                return digest

            digest = await asyncio.to_thread(append)
            received += len(data)
            self._hashes[upload_id] = (received, digest)
            with self.db.session() as session:
                up = self._upload(session, identity, upload_id)
                up.received = received
                up.updated_at = utcnow()
            if received == size:
                return self._finish_sync(identity, upload_id)
            return self.get(identity, upload_id)

    def _finish_sync(self, identity: Identity, upload_id: str) -> dict[str, Any]:
        state = self._hashes.pop(upload_id, None)
        if state is not None:
            actual = state[1].hexdigest()
        else:
            digest = hashlib.sha256()
            with open(self.part_path(upload_id), "rb") as f:
                while chunk := f.read(8 << 20):
                    digest.update(chunk)
            actual = digest.hexdigest()
        self._locks.pop(upload_id, None)
        with self.db.session() as session:
            up = self._upload(session, identity, upload_id)
            if up.sha256 and up.sha256 != actual:
                up.status = "failed"
                self.part_path(upload_id).unlink(missing_ok=True)
                raise Problem.invalid(
                    "sha256",
                    f"the received file's sha256 is {actual}, not the declared {up.sha256}: "
                    "the bytes changed on the way; upload the file again",
                )
            up.sha256 = actual
            up.status = "complete"
            return self.to_out(up)

    def take(self, identity: Identity, upload_id: Any, purpose: str, dest: Path) -> Upload:
        """Move a complete upload's file to ``dest`` for an import; the upload is used up."""
        if not isinstance(upload_id, str) or not upload_id:
            raise Problem.invalid("upload_id", "is required: the id of a complete upload")
        with self.db.session() as session:
            up = session.get(Upload, upload_id)
            if up is None or up.owner != identity.name:
                raise Problem.invalid("upload_id", f"there is no upload {upload_id!r} of yours")
            if up.purpose != purpose:
                raise Problem.invalid(
                    "upload_id", f"upload {upload_id} was made for a {up.purpose}, not a {purpose}"
                )
            if up.status != "complete":
                left = up.size - up.received
                raise Problem.invalid(
                    "upload_id",
                    f"upload {upload_id} is {up.status}"
                    + (f"; {left} bytes are still to come" if up.status == "open" else ""),
                    409,
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.part_path(upload_id), dest)
            up.status = "used"
            session.flush()
            session.expunge(up)
            return up

    def delete(self, identity: Identity, upload_id: str) -> None:
        with self.db.session() as session:
            up = self._upload(session, identity, upload_id)
            session.delete(up)
        self._hashes.pop(upload_id, None)
        self.part_path(upload_id).unlink(missing_ok=True)

    def expire(self, older_than: dt.timedelta) -> int:
        """Forget uploads untouched for ``older_than``, and their bytes."""
        cutoff = utcnow() - older_than
        with self.db.session() as session:
            stale = session.scalars(select(Upload).where(Upload.updated_at < cutoff)).all()
            for up in stale:
                self.part_path(up.id).unlink(missing_ok=True)
                session.delete(up)
            return len(stale)
