"""The ObjectStore protocol: where the platform's bytes live.

Two implementations share one contract and one test suite: :class:`~.local.LocalObjectStore`
(a directory, the embedded default) and :class:`~.s3.S3ObjectStore` (any S3 endpoint through
boto3). Every object carries the sha256 of its bytes, computed while it is written and checked
again while it is read, so corruption anywhere between the writer and the reader is an error
(:class:`ChecksumMismatch`), never silently wrong data.

The async methods are what the platform's event loop calls: they run the blocking work in a
thread (``asyncio.to_thread``). Worker threads and jobs call the ``*_sync`` methods directly.
Keys are ``/``-separated relative names (``datasets/alice/v1/train.jsonl``); see
:func:`validate_key`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from traitlets.config import LoggingConfigurable

MAX_KEY_BYTES = 1024  # S3's own limit on key length

# What ``put_stream`` accepts: a binary file-like object or any iterable of byte chunks (a
# generator, for example). Either is consumed piece by piece, never read whole.
Source = BinaryIO | IO[bytes] | Iterable[bytes]

# Size of one read while copying or hashing: large enough that per-call overhead vanishes,
# small enough to keep memory flat.
CHUNK = 1024 * 1024


class StorageError(Exception):
    """An object store operation failed; the message says which operation, on what, and why."""


class ObjectNotFound(StorageError, KeyError):
    """The key names no object. A ``KeyError`` too, so ``except KeyError`` works."""

    def __str__(self) -> str:
        # KeyError.__str__ would print the repr of the message, quotes and all.
        return str(self.args[0]) if self.args else ""


class ChecksumMismatch(StorageError):
    """The bytes read do not hash to the sha256 recorded when the object was written."""


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object without reading it."""

    key: str
    size: int
    modified: datetime  # timezone-aware, UTC
    sha256: str | None = None  # hex digest recorded at upload; None for foreign objects
    etag: str | None = None  # the backend's own version tag (S3 ETag), if any


@dataclass(frozen=True)
class ListPage:
    """One page of a listing; pass ``next_token`` back to get the next one (None: no more)."""

    objects: list[ObjectInfo]
    next_token: str | None


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid object key, else raise ``ValueError`` naming it.

    A key is a relative ``/``-separated name of at most 1024 UTF-8 bytes without NUL, empty,
    ``.`` or ``..`` segments. The rules keep one key one object on every backend: on a
    filesystem ``a/../b`` or ``a//b`` would alias other keys or escape the store's root.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key {key!r} is invalid: it must be a non-empty string")
    if "\x00" in key:
        raise ValueError(f"object key {key!r} is invalid: it contains a NUL character")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ValueError(
            f"object key {key[:80]!r}… is invalid: it is longer than {MAX_KEY_BYTES} bytes"
        )
    if key.startswith("/"):
        raise ValueError(f"object key {key!r} is invalid: it must not start with '/'")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(
                f"object key {key!r} is invalid: it has an empty, '.' or '..' segment "
                "(use a relative name like 'datasets/v1/train.jsonl')"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start keys ('' is allowed), else raise ``ValueError``."""
    if prefix == "":
        return prefix
    # A prefix ending in '/' is a key with an empty last segment; check the rest.
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def iter_source(source: Source, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Yield the bytes of ``source`` (a binary stream or an iterable of chunks) in pieces."""
    read = getattr(source, "read", None)
    if callable(read):
        while True:
            data = read(chunk_size)
            if not data:
                return
            if not isinstance(data, bytes | bytearray | memoryview):
                raise TypeError(f"put_stream needs a binary stream; read() gave {type(data)}")
            yield bytes(data)
    else:
        for data in source:  # type: ignore[union-attr]
            if not isinstance(data, bytes | bytearray | memoryview):
                raise TypeError(f"put_stream needs chunks of bytes; got {type(data).__name__}")
            if data:
                yield bytes(data)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class VerifyingReader(io.RawIOBase):
    """A read-only stream over ``raw`` that raises ChecksumMismatch at the end if the bytes
    read do not hash to ``expected`` (no check when ``expected`` is None)."""

    def __init__(self, raw: Any, expected: str | None, what: str) -> None:
        super().__init__()
        self._raw = raw
        self._expected = expected
        self._what = what
        self._hash = hashlib.sha256()
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def read(self, size: int | None = -1) -> bytes:
        data: bytes = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        if data:
            self._hash.update(data)
        elif not self._done and (size is None or size != 0):
            self._done = True
            actual = self._hash.hexdigest()
            if self._expected is not None and actual != self._expected:
                raise ChecksumMismatch(
                    f"{self._what}: the data read hashes to sha256 {actual}, but "
                    f"{self._expected} was recorded when it was written; the stored object "
                    "is corrupt or was changed behind the store's back"
                )
        return data

    def readall(self) -> bytes:
        chunks = []
        while data := self.read(CHUNK):
            chunks.append(data)
        self.read(CHUNK)  # reach the end check even when the last read filled the buffer
        return b"".join(chunks)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class AsyncReader:
    """An object opened for reading from async code; each read runs in a thread."""

    def __init__(self, reader: BinaryIO) -> None:
        self._reader = reader

    async def read(self, size: int = CHUNK) -> bytes:
        """Up to ``size`` bytes; ``b''`` at the end (where the checksum is checked)."""
        return await asyncio.to_thread(self._reader.read, size)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._reader.close)

    async def __aenter__(self) -> AsyncReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class ObjectStore(LoggingConfigurable):
    """Where the platform's bytes live: the interface both backends implement.

    Subclasses implement the ``*_sync`` methods (blocking, safe to call from any thread); this
    class derives the async API from them. ``kind`` names the backend in configuration.
    """

    kind: str = ""

    # ---- the blocking implementation ---------------------------------------------------------

    @abstractmethod
    def put_file_sync(self, key: str, path: str | Path, sha256: str | None = None) -> ObjectInfo:
        """Store the file at ``path`` under ``key`` (replacing any object there), streamed.

        ``sha256``: the file's hex digest when the caller already computed it (the catalog
        does while importing), which saves a backend that needs it up front (S3) a pass over
        the file. A wrong value makes every later read fail with ChecksumMismatch.
        """

    @abstractmethod
    def put_stream_sync(self, key: str, source: Source) -> ObjectInfo:
        """Store the bytes of a binary stream or an iterable of byte chunks under ``key``."""

    @abstractmethod
    def get_file_sync(self, key: str, dest: str | Path) -> ObjectInfo:
        """Download ``key`` to ``dest``, verifying its sha256.

        The bytes go to ``<dest>.part`` and are renamed onto ``dest`` only once verified, so a
        failure (ChecksumMismatch included) leaves no file at ``dest`` and no ``.part`` either.
        """

    @abstractmethod
    def open_sync(self, key: str) -> BinaryIO:
        """A streaming reader of ``key``; reading to the end raises ChecksumMismatch if the
        bytes do not match their recorded sha256."""

    @abstractmethod
    def stat_sync(self, key: str) -> ObjectInfo:
        """Size, sha256, etag and modification time of ``key``; ObjectNotFound if missing."""

    def exists_sync(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        try:
            self.stat_sync(key)
        except ObjectNotFound:
            return False
        return True

    @abstractmethod
    def list_page_sync(
        self, prefix: str = "", page_size: int = 1000, token: str | None = None
    ) -> ListPage:
        """One page of the objects whose keys start with ``prefix``, in key order."""

    def list_sync(self, prefix: str = "", page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, fetched page by page."""
        token: str | None = None
        while True:
            page = self.list_page_sync(prefix, page_size, token)
            yield from page.objects
            if page.next_token is None:
                return
            token = page.next_token

    @abstractmethod
    def delete_sync(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error (as on S3)."""

    @abstractmethod
    def delete_prefix_sync(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (non-empty); return how many."""

    @abstractmethod
    def copy_sync(self, src_key: str, dest_key: str) -> ObjectInfo:
        """Copy ``src_key`` to ``dest_key`` (server-side where the backend can), sha256 kept."""

    def presigned_url_sync(self, key: str, expires_in: int | None = None) -> str | None:
        """A URL anyone can GET ``key`` from for ``expires_in`` seconds (None: the backend's
        default), or None when the backend has no such thing (the local store)."""
        validate_key(key)
        return None

    # ---- the async API for the event loop ----------------------------------------------------

    async def put_file(self, key: str, path: str | Path, sha256: str | None = None) -> ObjectInfo:
        """Async :meth:`put_file_sync`."""
        return await asyncio.to_thread(self.put_file_sync, key, path, sha256)

    async def put_stream(self, key: str, source: Source) -> ObjectInfo:
        """Async :meth:`put_stream_sync`; the source is read in the worker thread."""
        return await asyncio.to_thread(self.put_stream_sync, key, source)

    async def get_file(self, key: str, dest: str | Path) -> ObjectInfo:
        """Async :meth:`get_file_sync`."""
        return await asyncio.to_thread(self.get_file_sync, key, dest)

    async def open_reader(self, key: str) -> AsyncReader:
        """Async :meth:`open_sync`.

        ``async with await store.open_reader(key) as r: data = await r.read()``
        """
        return AsyncReader(await asyncio.to_thread(self.open_sync, key))

    async def stat(self, key: str) -> ObjectInfo:
        """Async :meth:`stat_sync`."""
        return await asyncio.to_thread(self.stat_sync, key)

    async def exists(self, key: str) -> bool:
        """Async :meth:`exists_sync`."""
        return await asyncio.to_thread(self.exists_sync, key)

    async def list_page(
        self, prefix: str = "", page_size: int = 1000, token: str | None = None
    ) -> ListPage:
        """Async :meth:`list_page_sync`."""
        return await asyncio.to_thread(self.list_page_sync, prefix, page_size, token)

    async def list(self, prefix: str = "", page_size: int = 1000) -> AsyncIterator[ObjectInfo]:
        """Async :meth:`list_sync`: ``async for info in store.list("datasets/")``."""
        token: str | None = None
        while True:
            page = await self.list_page(prefix, page_size, token)
            for info in page.objects:
                yield info
            if page.next_token is None:
                return
            token = page.next_token

    async def delete(self, key: str) -> None:
        """Async :meth:`delete_sync`."""
        await asyncio.to_thread(self.delete_sync, key)

    async def delete_prefix(self, prefix: str) -> int:
        """Async :meth:`delete_prefix_sync`."""
        return await asyncio.to_thread(self.delete_prefix_sync, prefix)

    async def copy(self, src_key: str, dest_key: str) -> ObjectInfo:
        """Async :meth:`copy_sync`."""
        return await asyncio.to_thread(self.copy_sync, src_key, dest_key)

    async def presigned_url(self, key: str, expires_in: int | None = None) -> str | None:
        """Async :meth:`presigned_url_sync`."""
        return await asyncio.to_thread(self.presigned_url_sync, key, expires_in)


def check_delete_prefix(prefix: str) -> str:
    """Validate a prefix for ``delete_prefix``: an empty one would empty the whole store."""
    if not prefix:
        raise ValueError(
            "delete_prefix needs a non-empty prefix; an empty prefix would delete every object"
        )
    return validate_prefix(prefix)
