"""LocalObjectStore: objects as files under a directory (the embedded mode's default).

Layout under ``root``::

    objects/<key>           the object's bytes, exactly
    meta/<key>.json         {"sha256": …, "size": …} written with the object
    tmp/                    uploads in progress (same filesystem, so os.replace is atomic)

Keeping the metadata in its own tree means a key may end in ``.json`` or ``.sha256`` without
colliding with a sidecar, and listing walks ``objects/`` only.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from traitlets import Unicode, validate

from .base import (
    CHUNK,
    ChecksumMismatch,
    ListPage,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    Source,
    StorageError,
    VerifyingReader,
    check_delete_prefix,
    iter_source,
    validate_key,
    validate_prefix,
)


class LocalObjectStore(ObjectStore):
    """An object store in a local directory; writes are atomic (temp file + rename)."""

    kind = "local"

    root = Unicode(
        "",
        help="""Directory holding the objects (created if missing). Its ``objects/`` folder
        mirrors the keys; ``meta/`` holds each object's sha256 and ``tmp/`` uploads in
        progress. It must be one filesystem, so that renames from ``tmp/`` are atomic.""",
    ).tag(config=True)

    @validate("root")
    def _validate_root(self, proposal: Any) -> str:
        value: str = proposal["value"]
        return os.path.abspath(os.path.expanduser(value)) if value else value

    def __init__(self, root: str | Path | None = None, **kwargs: Any) -> None:
        if root is not None:
            kwargs["root"] = str(root)
        super().__init__(**kwargs)

    # ---- paths ------------------------------------------------------------------------------

    @property
    def _root(self) -> Path:
        if not self.root:
            raise StorageError(
                "LocalObjectStore.root is not set; configure c.LocalObjectStore.root"
            )
        return Path(self.root)

    def _data_path(self, key: str) -> Path:
        return self._root / "objects" / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self._root / "meta" / (validate_key(key) + ".json")

    def _tmp_dir(self) -> Path:
        path = self._root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _read_meta(self, key: str) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(self._meta_path(key).read_text())
            return meta
        except (OSError, ValueError):
            return {}  # a file dropped into objects/ by hand: no recorded checksum

    def _info(self, key: str, path: Path, meta: dict[str, Any] | None = None) -> ObjectInfo:
        st = path.stat()
        if meta is None:
            meta = self._read_meta(key)
        return ObjectInfo(
            key=key,
            size=st.st_size,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            sha256=meta.get("sha256"),
            etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
        )

    def _missing(self, op: str, key: str) -> ObjectNotFound:
        return ObjectNotFound(f"{op}: no object {key!r} in the local store at {self.root}")

    # ---- writing ----------------------------------------------------------------------------

    def _commit(self, key: str, tmp: Path, sha256: str, size: int) -> ObjectInfo:
        """Move a fully written temp file into place, metadata first.

        If the process dies between the two renames, the old bytes stay with the new
        checksum, which a reader reports as ChecksumMismatch rather than returning bad data.
        """
        data_path, meta_path = self._data_path(key), self._meta_path(key)
        meta = {"sha256": sha256, "size": size}
        try:
            for path in (data_path, meta_path):
                path.parent.mkdir(parents=True, exist_ok=True)
            if data_path.is_dir():
                raise StorageError(
                    f"put {key!r}: the local store holds objects under '{key}/'; a key cannot "
                    "be both an object and a prefix of other objects on a filesystem"
                )
            fd, meta_tmp = tempfile.mkstemp(dir=self._tmp_dir(), suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(meta, f)
            os.replace(meta_tmp, meta_path)
            os.replace(tmp, data_path)
        except (NotADirectoryError, FileExistsError) as e:
            raise StorageError(
                f"put {key!r}: a parent of this key is itself an object in the local store; "
                f"a key cannot be both an object and a prefix of other objects ({e})"
            ) from e
        except OSError as e:
            raise StorageError(f"put {key!r} into the local store at {self.root}: {e}") from e
        return self._info(key, data_path, meta)

    @contextlib.contextmanager
    def _temp_file(self) -> Iterator[tuple[BinaryIO, Path]]:
        """A temp file under ``tmp/``, removed unless the caller moved it away."""
        fd, name = tempfile.mkstemp(dir=self._tmp_dir(), suffix=".upload")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                yield f, path
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def put_stream_sync(self, key: str, source: Source) -> ObjectInfo:
        return self._put(key, source, None, "the stream")

    def _put(self, key: str, source: Source, expected: str | None, what: str) -> ObjectInfo:
        validate_key(key)
        digest, size = hashlib.sha256(), 0
        with self._temp_file() as (f, tmp):
            for chunk in iter_source(source):
                digest.update(chunk)
                f.write(chunk)
                size += len(chunk)
            f.flush()
            actual = digest.hexdigest()
            if expected is not None and expected != actual:
                raise ChecksumMismatch(
                    f"put {key!r}: {what} hashes to sha256 {actual}, not the {expected} "
                    "given; nothing was stored"
                )
            return self._commit(key, tmp, actual, size)

    def put_file_sync(self, key: str, path: str | Path, sha256: str | None = None) -> ObjectInfo:
        # The local store hashes while it copies, which costs nothing extra: ``sha256`` is
        # accepted for the protocol's sake and checked against what was written.
        validate_key(key)
        try:
            src = open(path, "rb")  # noqa: SIM115 (closed below; the error needs context)
        except OSError as e:
            raise StorageError(f"put {key!r}: cannot read the source file {path}: {e}") from e
        with src:
            return self._put(key, src, sha256, f"the file {path}")

    # ---- reading ----------------------------------------------------------------------------

    def stat_sync(self, key: str) -> ObjectInfo:
        path = self._data_path(key)
        try:
            if path.is_file():
                return self._info(key, path)
        except OSError as e:
            raise StorageError(f"stat {key!r} in the local store at {self.root}: {e}") from e
        raise self._missing("stat", key)

    def open_sync(self, key: str) -> BinaryIO:
        path = self._data_path(key)
        meta = self._read_meta(key)
        try:
            raw = open(path, "rb")  # noqa: SIM115 (the reader owns and closes it)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing("open", key) from None
        reader = VerifyingReader(raw, meta.get("sha256"), f"read {key!r} from {self.root}")
        return io_buffered(reader)

    def get_file_sync(self, key: str, dest: str | Path) -> ObjectInfo:
        info = self.stat_sync(key)
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        try:
            with self.open_sync(key) as reader, open(part, "wb") as out:
                shutil.copyfileobj(reader, out, CHUNK)
                reader.read(1)  # the end-of-stream read runs the checksum comparison
            os.replace(part, dest)
        except BaseException:  # ChecksumMismatch included: never leave a partial file
            part.unlink(missing_ok=True)
            raise
        return info

    def list_page_sync(
        self, prefix: str = "", page_size: int = 1000, token: str | None = None
    ) -> ListPage:
        validate_prefix(prefix)
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        keys = self._keys_under(prefix)
        start = bisect.bisect_right(keys, token) if token is not None else 0
        chosen = keys[start : start + page_size]
        objects = []
        for key in chosen:
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                objects.append(self._info(key, self._data_path(key)))
        more = start + page_size < len(keys)
        return ListPage(objects, chosen[-1] if more and chosen else None)

    def _keys_under(self, prefix: str) -> list[str]:
        """All keys starting with ``prefix``, sorted as S3 sorts them (by UTF-8 bytes)."""
        objects = self._root / "objects"
        # Walk only the deepest directory the prefix names; filter the rest by string.
        base_rel = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = objects / base_rel if base_rel else objects
        keys = []
        for dirpath, _dirnames, filenames in os.walk(base):
            rel_dir = os.path.relpath(dirpath, objects)
            for name in filenames:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort(key=lambda k: k.encode("utf-8", "surrogatepass"))
        return keys

    # ---- deleting and copying ---------------------------------------------------------------

    def delete_sync(self, key: str) -> None:
        data_path, meta_path = self._data_path(key), self._meta_path(key)
        try:
            data_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
        except IsADirectoryError:
            return  # a prefix, not an object: nothing to delete, as on S3
        except OSError as e:
            raise StorageError(f"delete {key!r} from the local store at {self.root}: {e}") from e
        self._prune_empty_dirs(data_path.parent, self._root / "objects")
        self._prune_empty_dirs(meta_path.parent, self._root / "meta")

    @staticmethod
    def _prune_empty_dirs(path: Path, stop: Path) -> None:
        # Empty folders left by deleted objects would otherwise block a later key of that name.
        while path != stop and stop in path.parents:
            try:
                path.rmdir()
            except OSError:
                return
            path = path.parent

    def delete_prefix_sync(self, prefix: str) -> int:
        check_delete_prefix(prefix)
        count = 0
        for key in self._keys_under(prefix):
            self.delete_sync(key)
            count += 1
        return count

    def copy_sync(self, src_key: str, dest_key: str) -> ObjectInfo:
        validate_key(dest_key)
        src = self._data_path(src_key)
        meta = self._read_meta(src_key)
        with self._temp_file() as (f, tmp):
            try:
                with open(src, "rb") as s:
                    # copyfileobj via the kernel (sendfile) where it can; no need to re-hash:
                    # the sha256 travels with the copy and the next read checks it.
                    shutil.copyfileobj(s, f, CHUNK)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise self._missing("copy", src_key) from None
            f.flush()
            size = os.fstat(f.fileno()).st_size
            sha256 = meta.get("sha256")
            if sha256 is None:  # a foreign file: hash it now so the copy has a checksum
                f.close()
                with open(tmp, "rb") as again:
                    sha256 = hashlib.file_digest(again, "sha256").hexdigest()
            return self._commit(dest_key, tmp, sha256, size)


def io_buffered(reader: VerifyingReader) -> BinaryIO:
    """Wrap a raw reader in a BufferedReader (typed as the BinaryIO callers expect)."""
    return io.BufferedReader(reader, CHUNK)  # type: ignore[return-value]
