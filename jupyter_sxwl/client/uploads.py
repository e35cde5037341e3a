"""Chunked, resumable uploads (``POST uploads`` + ``PUT uploads/<id>?offset=N``), the folder
packing that goes before them, and waiting on the long work that follows (imports,
operations), with progress reports.

A file is hashed first (sha256, so the platform can check what arrived), then sent in chunks
of ``chunk_size`` bytes read one at a time: a 50 GB checkpoint never sits in memory. When a
chunk fails (connection lost, a proxy's 5xx) or the platform answers 409 because the offset
is not where it stands, the client asks the upload how many bytes arrived (``received``) and
goes on from there. ``upload_file(path, upload_id=...)`` resumes an upload another process
began.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .code_package import iter_package_files
from .errors import SxwlAPIError, SxwlConnectionError, SxwlError, SxwlTimeoutError

if TYPE_CHECKING:
    import requests

DEFAULT_CHUNK_SIZE = 8 << 20
# The platform refuses chunks over 64 MiB.
MAX_CHUNK_SIZE = 64 << 20
# Files a dataset folder contributes to its .zip; the platform skips anything else anyway.
DATASET_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
_JUNK = frozenset({".DS_Store", "Thumbs.db", "__MACOSX"})


@dataclass(frozen=True)
class Progress:
    """How far a long call has come, as handed to ``progress=`` callbacks.

    Attributes:
        phase: ``packing``, ``hashing``, ``uploading``, then the platform's own phases
            (``queued``, ``downloading``, ``unpacking``, ``validating``, ``saving``,
            ``publishing``, ``copying``, ``exporting``, ``done``).
        done: how much is done, in ``unit``.
        total: how much there is in all, 0 when not known yet.
        unit: ``"B"`` (bytes), ``"records"`` or ``"files"``.
    """

    phase: str
    done: int
    total: int
    unit: str = "B"

    @property
    def fraction(self) -> float | None:
        """``done / total`` between 0 and 1, or None when the total is not known."""
        if self.total <= 0:
            return None
        return max(0.0, min(1.0, self.done / self.total))


ProgressCallback = Callable[[Progress], None]


def _report(progress: ProgressCallback | None, *args: Any) -> None:
    if progress is not None:
        progress(Progress(*args))


def file_sha256(
    path: str | os.PathLike[str], progress: ProgressCallback | None = None, block: int = 1 << 20
) -> str:
    """The sha256 of a file, read in blocks (reported as the ``hashing`` phase)."""
    digest = hashlib.sha256()
    size = os.path.getsize(path)
    done = 0
    last = 0.0
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
            done += len(chunk)
            now = time.monotonic()
            if now - last >= 0.2:  # a few reports a second, not one per block
                _report(progress, "hashing", done, size)
                last = now
    _report(progress, "hashing", done, size)
    return digest.hexdigest()


def _folder_files(root: Path, suffixes: tuple[str, ...] | None) -> list[tuple[Path, str]]:
    """Regular files under ``root`` (symlinked files followed) as ``(path, name inside)``.

    ``.git``, caches, virtual environments and what ``.sxwlignore`` lists stay out, as for
    code folders; so do links to folders (an archive may not hold links) and OS junk.
    """
    files = []
    for full, rel in iter_package_files(root):
        if any(part in _JUNK for part in rel.split("/")):
            continue
        if full.is_dir() or not full.is_file():  # folders, links to folders, dead links
            continue
        if suffixes is not None and not full.name.lower().endswith(suffixes):
            continue
        files.append((full, rel))
    return files


def pack_zip(
    folder: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    suffixes: tuple[str, ...] | None = DATASET_SUFFIXES,
    progress: ProgressCallback | None = None,
) -> list[str]:
    """Pack the files of ``folder`` (only those ending in ``suffixes``; all when None) into
    the zip file ``dest``, compressed; returns the names packed. Raises SxwlError when there
    is nothing to pack."""
    root = Path(folder).resolve()
    files = _folder_files(root, suffixes)
    if not files:
        kinds = f" ({', '.join(suffixes)})" if suffixes else ""
        raise SxwlError(f"path: {root} holds no data files{kinds}; nothing to import")
    total = sum(p.stat().st_size for p, _ in files)
    done = 0
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for full, rel in files:
            zf.write(full, rel)
            done += full.stat().st_size
            _report(progress, "packing", done, total)
    return [rel for _, rel in files]


def pack_tar(
    folder: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
) -> list[str]:
    """Pack every file of ``folder`` into the uncompressed tar ``dest`` (model weights do not
    compress; gzip would only cost time); returns the names packed."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise SxwlError(f"lab_dir: {folder} is not a folder")
    files = _folder_files(root, None)
    if not files:
        raise SxwlError(f"lab_dir: {root} holds no files; nothing to import")
    total = sum(p.stat().st_size for p, _ in files)
    done = 0

    def anonymise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        return info

    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT, dereference=True) as tar:
        for full, rel in files:
            tar.add(full, arcname=rel, recursive=False, filter=anonymise)
            done += full.stat().st_size
            _report(progress, "packing", done, total)
    return [rel for _, rel in files]


def poll_until(
    fetch: Callable[[], dict[str, Any]],
    finished: Callable[[dict[str, Any]], bool],
    *,
    what: str,
    progress: ProgressCallback | None = None,
    to_progress: Callable[[dict[str, Any]], Progress | None] | None = None,
    timeout: float | None = None,
    poll: float = 0.5,
) -> dict[str, Any]:
    """Call ``fetch`` every ``poll`` seconds until ``finished`` says so; return the last answer.

    Each answer goes through ``to_progress`` to ``progress``. Raises SxwlTimeoutError naming
    ``what`` after ``timeout`` seconds (the work goes on on the platform).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = fetch()
        if progress is not None and to_progress is not None:
            report = to_progress(state)
            if report is not None:
                progress(report)
        if finished(state):
            return state
        if deadline is not None and time.monotonic() >= deadline:
            raise SxwlTimeoutError(
                f"{what} has not finished after {timeout:g} s; it goes on on the platform"
            )
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        time.sleep(poll if left is None else min(poll, left))


def operation_progress(op: dict[str, Any]) -> Progress:
    """A publish or export operation as a :class:`Progress`."""
    unit = "records" if op.get("kind") == "publish" else "B"
    phase = {"publish": "publishing", "export": "exporting"}.get(str(op.get("kind")), "working")
    if op.get("status") != "running":
        phase = "done"
    return Progress(phase, int(op.get("done") or 0), int(op.get("total") or 0), unit)


def _retryable(error: SxwlError) -> bool:
    """A failure worth asking the upload where it stands and trying again."""
    if isinstance(error, SxwlConnectionError):
        return True
    return isinstance(error, SxwlAPIError) and (error.status == 409 or error.status >= 500)


class UploadsAPI:
    """The upload part of :class:`~jupyter_sxwl.client.Client` (a mixin; Client defines the
    HTTP helpers declared below)."""

    if TYPE_CHECKING:
        timeout: tuple[float, float]

        def _request(
            self,
            method: str,
            path: str,
            *,
            params: dict[str, Any] | None = None,
            json: Any = None,
            data: Any = None,
            headers: dict[str, str] | None = None,
            stream: bool = False,
            timeout: Any = None,
        ) -> requests.Response: ...

        def _get(self, path: str, **params: Any) -> Any: ...

        def _post(self, path: str, body: Any = None) -> Any: ...

        def _save_stream(
            self, response: requests.Response, target: Path, what: str, sha256: str | None = None
        ) -> None: ...

    # -- operations (publish, export) ------------------------------------------------------

    def operation(self, op_id: str) -> dict[str, Any]:
        """A long-running operation: ``{id, kind, object_id, status, done, total, message,
        result}``; ``status`` is running, succeeded or failed."""
        return dict(self._get(f"operations/{quote(op_id, safe='')}"))

    def wait_operation(
        self,
        op_id: str,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
        poll: float = 0.5,
    ) -> dict[str, Any]:
        """Poll an operation until it ends and return it, whatever its status; raise
        SxwlTimeoutError after ``timeout`` seconds."""
        return poll_until(
            lambda: self.operation(op_id),
            lambda op: op.get("status") != "running",
            what=f"operation {op_id}",
            progress=progress,
            to_progress=operation_progress,
            timeout=timeout,
            poll=poll,
        )

    def _finished_operation(
        self,
        op: dict[str, Any],
        what: str,
        wait: bool,
        timeout: float | None,
        progress: ProgressCallback | None,
    ) -> dict[str, Any]:
        """``op`` waited for (when ``wait``); raise SxwlError when it failed."""
        if not wait:
            return op
        if progress is not None:
            progress(operation_progress(op))
        op = self.wait_operation(str(op["id"]), timeout=timeout, progress=progress)
        if op.get("status") == "failed":
            raise SxwlError(f"{what} failed: {op.get('message') or 'no reason given'}")
        return op

    # -- uploads ---------------------------------------------------------------------------

    def upload(self, upload_id: str) -> dict[str, Any]:
        """One upload: ``{id, purpose, filename, size, received, sha256, status}``."""
        return dict(self._get(f"uploads/{quote(upload_id, safe='')}"))

    def delete_upload(self, upload_id: str) -> None:
        """Throw away an upload (finished or not) and the bytes it holds."""
        self._request("DELETE", f"uploads/{quote(upload_id, safe='')}")

    def upload_file(
        self,
        path: str | os.PathLike[str],
        purpose: str = "dataset",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: ProgressCallback | None = None,
        *,
        filename: str | None = None,
        upload_id: str | None = None,
        retries: int = 5,
    ) -> dict[str, Any]:
        """Upload one file in chunks; returns the complete upload (its ``id`` goes into an
        import).

        Args:
            path: the file; it is read ``chunk_size`` bytes at a time, never whole.
            purpose: ``"dataset"`` or ``"model"`` (each has its own size limit).
            chunk_size: bytes per request (at most 64 MiB).
            progress: called with a :class:`Progress` while hashing and uploading.
            filename: the name the platform records (default: the file's own).
            upload_id: an unfinished upload of this same file to continue.
            retries: how many failures in a row to recover from before giving up.
        """
        source = Path(path)
        if not source.is_file():
            raise SxwlError(f"path: {source} is not a file; give the file to upload")
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise SxwlError(f"chunk_size: must be between 1 byte and {MAX_CHUNK_SIZE >> 20} MiB")
        size = source.stat().st_size
        sha256 = file_sha256(source, progress)
        if upload_id is not None:
            up = self.upload(upload_id)
            if up.get("size") != size or up.get("sha256") not in (None, sha256):
                raise SxwlError(
                    f"upload_id: upload {upload_id} is for another file ({up.get('filename')}, "
                    f"{up.get('size')} bytes); start a new upload instead"
                )
        else:
            body = {
                "filename": filename or source.name,
                "size": size,
                "sha256": sha256,
                "purpose": purpose,
            }
            up = dict(self._request("POST", "uploads", json=body).json())
        up_path = f"uploads/{quote(str(up['id']), safe='')}"
        # Chunks may take long on a slow link: allow each a generous read timeout.
        timeout = (self.timeout[0], max(self.timeout[1], 300.0))
        failures = 0
        with open(source, "rb") as f:
            while up.get("status") == "open":
                offset = int(up.get("received") or 0)
                _report(progress, "uploading", offset, size)
                f.seek(offset)
                chunk = f.read(min(chunk_size, size - offset))
                if not chunk:
                    raise SxwlError(
                        f"{source} is shorter than when the upload began ({offset} of {size} "
                        "bytes); it changed on disk: upload it again"
                    )
                try:
                    up = dict(
                        self._request(
                            "PUT",
                            up_path,
                            params={"offset": offset},
                            data=chunk,
                            headers={"Content-Type": "application/octet-stream"},
                            timeout=timeout,
                        ).json()
                    )
                    failures = 0
                except SxwlError as e:
                    if not _retryable(e) or failures >= retries:
                        raise
                    failures += 1
                    time.sleep(min(0.25 * 2**failures, 8.0))
                    up = self._where_upload_stands(up_path, up)
        if up.get("status") != "complete":
            raise SxwlError(
                f"upload {up.get('id')} ended {up.get('status')}; upload the file again"
            )
        _report(progress, "uploading", size, size)
        return up

    def _post_using_upload(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` (which may name a complete upload); should the platform refuse it,
        the upload is deleted rather than left to take space until the platform expires it."""
        try:
            return self._post(path, body)
        except SxwlAPIError:
            if "upload_id" in body:
                with contextlib.suppress(SxwlError):
                    self.delete_upload(str(body["upload_id"]))
            raise

    def _where_upload_stands(self, up_path: str, last: dict[str, Any]) -> dict[str, Any]:
        """The upload as the platform has it now (``last`` when it cannot be reached: the next
        chunk then tries again, and fails with a 409 that says the offset, if need be)."""
        try:
            return dict(self._get(up_path))
        except SxwlConnectionError:
            return last
