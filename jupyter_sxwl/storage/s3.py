"""S3ObjectStore: objects in an S3 bucket through boto3 (AWS, MinIO, Ceph, SeaweedFS, …).

Each object's sha256 travels as user metadata (``x-amz-meta-sha256``), recorded at upload and
checked on download, so integrity holds end to end whatever the server's own ETag means
(an MD5 for single-part uploads, an MD5 of MD5s for multipart ones). Because botocore's
per-request CRC32 would only repeat that work, the client computes checksums only where S3
requires them. Request bodies are not signed by default (:attr:`S3ObjectStore.sign_payload`):
the sha256 an object is checked against travels in signed headers, so a body changed on the way
is refused when the object is read, and HTTPS is what protects a site's traffic.

Transfers are our own rather than s3transfer's. An upload reads each part of the file once
into a reused buffer, hashes it in order when the digest is not known yet, and sends it as
one bytes body (s3transfer hands botocore a file-like part that is read again to sign it, to
CRC it and to send it in small blocks). A download is concurrent ranged GETs written in place
and hashed in order while later ranges are still arriving (s3transfer can only hand out bytes
in order through its non-seekable output path, which deadlocks on large objects in s3transfer
0.19).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, Protocol

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from traitlets import Bool, Int, Unicode, default, validate

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

MiB = 1024 * 1024
# One read from a download's HTTP body, which allocates and copies buffers of this size. On a
# 2-core machine 1 MiB reads cost up to 4x the system time of 256 KiB ones (1 GiB from SeaweedFS:
# 2.7 s against 0.6 s), and 2 MiB worse still; 256 KiB is also s3transfer's read size.
GET_READ_SIZE = 256 * 1024
# One read-back while hashing a download (256 KiB to 4 MiB measured alike).
HASH_READ_SIZE = 1024 * 1024
# Above this CopyObject is refused by S3; larger copies go part by part (UploadPartCopy).
MAX_SINGLE_COPY = 5 * 1024 * MiB
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_AUTH_CODES = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}


class _Readable(Protocol):
    """What uploads read from: a file opened unbuffered, or a spooled stream."""

    def readinto(self, buffer: Any, /) -> int: ...
    def readable(self) -> bool: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...


class S3ObjectStore(ObjectStore):
    """An object store in one S3 bucket (under an optional key prefix)."""

    kind = "s3"

    endpoint_url = Unicode(
        None,
        allow_none=True,
        help="""URL of the S3 API, e.g. ``http://minio.example:9000`` for MinIO, Ceph or
        SeaweedFS. Leave unset for AWS S3 (boto3 then picks the regional endpoint).""",
    ).tag(config=True)

    region = Unicode(
        None,
        allow_none=True,
        help="""Region to sign requests for (``us-east-1`` works for most non-AWS servers).
        Unset: boto3's usual sources (``AWS_DEFAULT_REGION``, ``~/.aws/config``), else
        ``us-east-1``.""",
    ).tag(config=True)

    bucket = Unicode(
        "",
        help="""Bucket holding the platform's objects. It must exist; the platform does not
        create buckets.""",
    ).tag(config=True)

    prefix = Unicode(
        "",
        help="""Key prefix inside the bucket (e.g. ``sxwl/``) so the platform can share a
        bucket. Keys the platform sees never include it.""",
    ).tag(config=True)

    path_style = Bool(
        False,
        help="""Address buckets as ``endpoint/bucket/key`` instead of ``bucket.endpoint/key``.
        Most self-hosted servers (MinIO, SeaweedFS, Ceph without wildcard DNS) need this.""",
    ).tag(config=True)

    access_key_id = Unicode(
        None,
        allow_none=True,
        help="""Access key. Unset: boto3's usual chain (``AWS_ACCESS_KEY_ID`` and
        ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``/``~/.aws/credentials``, instance roles).""",
    ).tag(config=True)

    secret_access_key = Unicode(
        None,
        allow_none=True,
        help="Secret key that goes with ``access_key_id``.",
    ).tag(config=True)

    session_token = Unicode(
        None, allow_none=True, help="Session token for temporary credentials (optional)."
    ).tag(config=True)

    verify_tls = Bool(
        True, help="Verify the endpoint's TLS certificate (turn off only for test servers)."
    ).tag(config=True)

    sign_payload = Bool(
        False,
        help="""Sign every request's body too (SigV4 payload signing: a sha256 of each part,
        computed here and checked by the server), so that a body changed on the way is
        refused when it is written rather than when it is read. Off by default: every
        object's sha256 is sent in signed headers (when the upload starts, or by a signed
        metadata update right after it) and checked on every read, so a changed body is never
        served; and over plain HTTP signing cannot protect reads, whose answers S3 does not
        sign, so it does not make plain HTTP safe against someone who can change traffic
        (use an HTTPS endpoint for that). Turning it on costs a sha256 of every byte on
        both ends (measured: about 1 s of client CPU per GiB on a 2-core machine). boto3
        signs bodies over plain HTTP and not over HTTPS.""",
    ).tag(config=True)

    multipart_threshold = Int(
        16 * MiB,
        help="""Objects at least this large (bytes) are transferred in parts. On a local
        SeaweedFS, 16 MiB parts did as well as or better than boto3's 8 MiB and than 64 MiB
        (too few parts in flight to keep ten connections busy on a 1 GiB file).""",
    ).tag(config=True)

    multipart_chunksize = Int(
        16 * MiB,
        help="""Size of one part (bytes) in multipart uploads and ranged downloads. S3 needs
        at least 5 MiB and at most 10,000 parts per object; larger objects get larger parts
        automatically.""",
    ).tag(config=True)

    max_concurrency = Int(
        10,
        help="""Parts transferred at once per upload or download. An upload holds at most
        ``(max_concurrency + 1) * multipart_chunksize`` bytes in memory (176 MiB with the
        defaults); a download about ``max_concurrency`` reads of 256 KiB, the rest going
        straight to the file.""",
    ).tag(config=True)

    record_sha256_after_upload = Bool(
        help="""How ``put_file`` records the sha256 of a file it is not given the digest of.
        True: hash each part as it is read for sending, so the file is read once, and record
        the digest after the upload with a CopyObject of the object onto itself that
        replaces its metadata. SeaweedFS does that as a metadata update (about 10 ms for a
        1 GiB object). False: hash the whole file in a pass before the upload (S3 takes
        metadata only when an upload starts). Default: True with an ``endpoint_url``, False
        for AWS S3, which copies every byte again for such a copy and refuses it above
        5 GiB; set False for any other server that does the same.""",
    ).tag(config=True)

    presign_expires = Int(3600, help="Default lifetime (seconds) of presigned download URLs.").tag(
        config=True
    )

    list_page_size = Int(1000, help="Keys asked for per ListObjectsV2 call (S3's maximum).").tag(
        config=True
    )

    @validate("prefix")
    def _validate_prefix(self, proposal: Any) -> str:
        value: str = proposal["value"].strip("/")
        return value + "/" if value else ""

    @validate("multipart_chunksize")
    def _validate_chunksize(self, proposal: Any) -> int:
        value: int = proposal["value"]
        if value < 5 * MiB:
            raise ValueError(f"S3ObjectStore.multipart_chunksize must be ≥ 5 MiB, not {value}")
        return value

    @validate("max_concurrency")
    def _validate_concurrency(self, proposal: Any) -> int:
        value: int = proposal["value"]
        if value < 1:
            raise ValueError(f"S3ObjectStore.max_concurrency must be at least 1, not {value}")
        return value

    @default("record_sha256_after_upload")
    def _default_record_sha256_after_upload(self) -> bool:
        return bool(self.endpoint_url)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client_lock = threading.Lock()
        self._client_obj: Any = None

    # ---- client and errors ------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (clients are thread-safe; one is shared)."""
        with self._client_lock:
            if self._client_obj is None:
                if not self.bucket:
                    raise StorageError("S3ObjectStore.bucket is not set; configure it")
                session = boto3.session.Session(
                    aws_access_key_id=self.access_key_id or None,
                    aws_secret_access_key=self.secret_access_key or None,
                    aws_session_token=self.session_token or None,
                    region_name=self.region or None,
                )
                config = BotoConfig(
                    signature_version="s3v4",
                    s3={
                        "addressing_style": "path" if self.path_style else "auto",
                        "payload_signing_enabled": self.sign_payload,
                    },
                    # Room for every transfer thread plus listings running beside them.
                    max_pool_connections=max(10, 2 * self.max_concurrency),
                    retries={"max_attempts": 5, "mode": "standard"},
                    # sha256 in metadata covers integrity; skip botocore's extra CRC32s.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                self._client_obj = session.client(
                    "s3",
                    endpoint_url=self.endpoint_url or None,
                    region_name=self.region or session.region_name or "us-east-1",
                    verify=self.verify_tls,
                    config=config,
                )
            return self._client_obj

    def _part_size(self, size: int) -> int:
        """The part size for an object of ``size`` bytes.

        S3 allows at most 10,000 parts: huge objects get larger parts.
        """
        return max(self.multipart_chunksize, -(-size // 10_000))

    def _transfer_config(self, size: int) -> TransferConfig:
        """s3transfer's settings, for the multipart copies it still does for us."""
        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self._part_size(size),
            max_concurrency=self.max_concurrency,
            # s3transfer's default read size is 256 KiB; bigger reads cost less per byte.
            io_chunksize=CHUNK,
            use_threads=True,
        )

    def _full_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _where(self, key: str | None) -> str:
        where = f"s3://{self.bucket}/{self.prefix}{key or ''}"
        if self.endpoint_url:
            where += f" at {self.endpoint_url}"
        return where

    def _raise(self, op: str, key: str | None, error: Exception) -> NoReturn:
        """Re-raise a boto3/botocore error as StorageError saying what failed, and where."""
        where = self._where(key)
        if isinstance(error, ClientError):
            err = error.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = err.get("Message") or ""
            if code in _NOT_FOUND_CODES:
                raise ObjectNotFound(f"{op}: no object {where}") from error
            if code == "NoSuchBucket":
                raise StorageError(
                    f"{op} {where}: the bucket {self.bucket!r} does not exist; create it or fix "
                    "S3ObjectStore.bucket"
                ) from error
            if code in _AUTH_CODES or status == 403:
                raise StorageError(
                    f"{op} {where}: the server refused the credentials ({code}: {message}); "
                    "check S3ObjectStore.access_key_id/secret_access_key or the AWS "
                    "environment and the key's permissions"
                ) from error
            raise StorageError(f"{op} {where} failed: {code} {message} (HTTP {status})") from error
        if isinstance(error, NoCredentialsError):
            raise StorageError(
                f"{op} {where}: no S3 credentials found; set S3ObjectStore.access_key_id and "
                "secret_access_key, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile"
            ) from error
        raise StorageError(f"{op} {where} failed: {error}") from error

    @contextlib.contextmanager
    def _errors(self, op: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as e:
            self._raise(op, key, e)
        except Exception as e:
            # s3transfer wraps some failures (e.g. S3UploadFailedError) around a ClientError.
            cause = e.__cause__ or e.__context__
            if isinstance(cause, ClientError | BotoCoreError) and not isinstance(e, StorageError):
                self._raise(op, key, cause)
            if type(e).__module__.startswith(("boto3", "s3transfer")):
                raise StorageError(f"{op} {self._where(key)} failed: {e}") from e
            raise

    def _info(self, key: str, head: dict[str, Any]) -> ObjectInfo:
        modified = head.get("LastModified")
        if not isinstance(modified, datetime):
            modified = datetime.now(UTC)
        metadata = head.get("Metadata") or {}
        return ObjectInfo(
            key=key,
            size=int(head.get("ContentLength", head.get("Size", 0))),
            modified=modified,
            sha256=metadata.get("sha256"),
            etag=(head.get("ETag") or "").strip('"') or None,
        )

    def _head(self, op: str, key: str) -> dict[str, Any]:
        full = self._full_key(key)
        with self._errors(op, key):
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=full)
            return head

    # ---- writing ----------------------------------------------------------------------------

    def put_file_sync(self, key: str, path: str | Path, sha256: str | None = None) -> ObjectInfo:
        validate_key(key)
        try:
            src = open(path, "rb", buffering=0)  # noqa: SIM115 (closed below)
        except OSError as e:
            raise StorageError(f"put {key!r}: cannot read the source file {path}: {e}") from e
        with src:
            self._upload(key, src, os.fstat(src.fileno()).st_size, sha256, f"the file {path}")
        return self.stat_sync(key)

    def put_stream_sync(self, key: str, source: Source) -> ObjectInfo:
        validate_key(key)
        # A stream's size is known only at its end, and multipart uploads need it to choose a
        # part size within S3's 10,000 parts: spool to a temp file (in memory only below the
        # multipart threshold), hashing on the way, then upload that with its digest known.
        with tempfile.SpooledTemporaryFile(max_size=self.multipart_threshold) as spool:
            digest, size = hashlib.sha256(), 0
            for chunk in iter_source(source):
                digest.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            spool.seek(0)
            self._upload(key, spool, size, digest.hexdigest(), "the stream")
        return self.stat_sync(key)

    def _upload(self, key: str, src: _Readable, size: int, sha256: str | None, what: str) -> None:
        """Upload the ``size`` bytes ``src`` holds from its position to ``key``.

        With ``sha256`` None the digest comes from the bytes as they are read for sending
        (:attr:`record_sha256_after_upload`), or from a pass over ``src`` before the upload,
        so that it is always the digest of exactly the bytes stored.
        """
        full = self._full_key(key)
        if size < self.multipart_threshold:
            # One request; at most multipart_threshold bytes in memory.
            body = bytearray(size)
            self._read_into(src, memoryview(body), key, what)
            if sha256 is None:
                sha256 = hashlib.sha256(body).hexdigest()
            with self._errors("upload", key):
                self.client.put_object(
                    Bucket=self.bucket, Key=full, Body=body, Metadata={"sha256": sha256}
                )
            return
        if sha256 is None and not self.record_sha256_after_upload:
            # S3 takes metadata only when an upload is created: hash first, then upload.
            start = src.tell()
            try:
                sha256 = hashlib.file_digest(src, "sha256").hexdigest()
                src.seek(start)
            except OSError as e:
                raise StorageError(f"put {key!r}: cannot read {what}: {e}") from e
        digest = hashlib.sha256() if sha256 is None else None
        with self._errors("upload", key):
            created = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=full, Metadata={"sha256": sha256} if sha256 else {}
            )
        upload_id = created["UploadId"]
        try:
            parts = self._upload_parts(key, upload_id, src, size, digest, what)
            with self._errors("upload", key):
                done = self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(Exception):  # the error that got us here matters more
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise
        if digest is not None:
            self._record_sha256(key, done["ETag"], digest.hexdigest())

    def _upload_parts(
        self,
        key: str,
        upload_id: str,
        src: _Readable,
        size: int,
        digest: Any,
        what: str,
    ) -> list[dict[str, Any]]:
        """Send the parts of a multipart upload; return their numbers and ETags, in order.

        This thread reads the parts in order, each byte once, into reused buffers, hashes
        them into ``digest`` (when given) and hands them to ``max_concurrency`` sender
        threads. Memory is bounded by ``max_concurrency + 1`` part buffers (176 MiB with the
        defaults): one being filled while every sender holds one. A buffer returns to the
        pool once its part is sent.
        """
        full = self._full_key(key)
        part = self._part_size(size)
        free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        buffers = 0
        failed = threading.Event()

        def send(number: int, buffer: bytearray) -> dict[str, Any]:
            try:
                if failed.is_set():
                    raise StorageError(f"upload {self._where(key)}: another part failed")
                # A bytes-like body goes to the socket in one piece, and a retry sends it again.
                with self._errors("upload", key):
                    response = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=full,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=buffer,
                    )
                return {"PartNumber": number, "ETag": response["ETag"]}
            except BaseException:
                failed.set()
                raise
            finally:
                free.put(buffer)

        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="s3-put") as pool:
            futures = []
            try:
                for number, start in enumerate(range(0, size, part), start=1):
                    if buffers <= self.max_concurrency:
                        buffer, buffers = bytearray(part), buffers + 1
                    else:
                        buffer = free.get()  # a sender finished (or failed) with it
                    if failed.is_set():
                        break
                    if size - start < part:  # the last part: a buffer of its own size
                        buffer = bytearray(size - start)
                    view = memoryview(buffer)
                    self._read_into(src, view, key, what)
                    if digest is not None:
                        digest.update(view)  # in order, and hashlib drops the GIL meanwhile
                    view.release()
                    futures.append(pool.submit(send, number, buffer))
                return [future.result() for future in futures]
            except BaseException:
                failed.set()
                for future in futures:
                    future.cancel()
                raise

    @staticmethod
    def _read_into(src: _Readable, view: memoryview, key: str, what: str) -> None:
        """Fill ``view`` from ``src``; a short read means the source shrank meanwhile."""
        filled = 0
        try:
            while filled < len(view):
                n = src.readinto(view[filled:])
                if not n:
                    raise StorageError(
                        f"put {key!r}: {what} ended early; it changed while it was being "
                        "uploaded, and nothing was stored"
                    )
                filled += n
        except OSError as e:
            raise StorageError(f"put {key!r}: cannot read {what}: {e}") from e

    def _record_sha256(self, key: str, etag: str, sha256: str) -> None:
        """Set the sha256 metadata of the object just uploaded, by an in-place copy.

        If-Match makes sure the digest lands on the bytes it describes: if another writer
        replaced the object meanwhile, theirs stays as it is. Until this succeeds the object
        has no recorded sha256 and reads like a foreign one (unverified); if it fails, the
        upload raises, and the object is left alone rather than deleted, since a delete could
        as well remove a newer object another writer just stored.
        """
        full = self._full_key(key)
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=full,
                CopySource={"Bucket": self.bucket, "Key": full},
                CopySourceIfMatch=etag,
                Metadata={"sha256": sha256},
                MetadataDirective="REPLACE",
            )
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "412"):
                raise StorageError(
                    f"upload {self._where(key)}: another writer replaced the object before "
                    "its sha256 was recorded; theirs was kept"
                ) from e
            self._raise("record the sha256 of", key, e)
        except BotoCoreError as e:
            self._raise("record the sha256 of", key, e)

    # ---- reading ----------------------------------------------------------------------------

    def stat_sync(self, key: str) -> ObjectInfo:
        return self._info(key, self._head("stat", key))

    def get_file_sync(self, key: str, dest: str | Path) -> ObjectInfo:
        head = self._head("download", key)
        info = self._info(key, head)
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        try:
            with open(part, "w+b") as out, self._errors("download", key):
                # An object with a recorded sha256 needs no If-Match on every range: a
                # concurrent overwrite that mixed versions fails the hash check anyway, and
                # If-Match cost SeaweedFS ~20 % of download speed. Foreign objects keep it.
                pin = None if info.sha256 else head.get("ETag")
                actual = self._download_to(out.fileno(), key, info.size, pin)
            if info.sha256 is not None and actual != info.sha256:
                raise ChecksumMismatch(
                    f"download {self._where(key)}: the data hashes to sha256 {actual}, but "
                    f"{info.sha256} was recorded at upload; the stored object is corrupt or "
                    "was replaced without the store"
                )
            os.replace(part, dest)
        except BaseException:  # ChecksumMismatch included: never leave a partial file
            part.unlink(missing_ok=True)
            raise
        return info

    def _download_to(self, fd: int, key: str, size: int, etag: str | None) -> str:
        """Fetch ``key`` into the file ``fd`` with concurrent ranged GETs; return its sha256.

        Workers write their ranges in place (``pwrite``) as the bytes arrive, in whatever
        order the ranges finish; this thread hashes the file in order, each range as soon as
        it and every range before it are complete, reading it back from the page cache. So
        hashing overlaps the transfer instead of adding a pass at the end, and memory stays
        at one read per worker plus one hashing buffer. With ``etag`` every GET is pinned to
        that version (If-Match), so a concurrent overwrite fails rather than mixes.
        """
        full = self._full_key(key)
        pinned = {"IfMatch": etag} if etag else {}
        digest = hashlib.sha256()
        if size < self.multipart_threshold:
            response = self.client.get_object(Bucket=self.bucket, Key=full, **pinned)
            while chunk := response["Body"].read(GET_READ_SIZE):
                digest.update(chunk)
                os.write(fd, chunk)
            return digest.hexdigest()

        failed = threading.Event()

        def fetch(start: int, length: int) -> None:
            if failed.is_set():
                return
            response = self.client.get_object(
                Bucket=self.bucket,
                Key=full,
                Range=f"bytes={start}-{start + length - 1}",
                **pinned,
            )
            if response.get("ContentLength") != length:  # a server that ignored Range
                response["Body"].close()
                raise StorageError(
                    f"download {self._where(key)}: asked for {length} bytes at byte {start}, "
                    f"the server answered with {response.get('ContentLength')}"
                )
            body, pos = response["Body"], start
            while chunk := body.read(GET_READ_SIZE):
                if pos + len(chunk) > start + length:
                    raise StorageError(f"download {self._where(key)}: too long a range body")
                os.pwrite(fd, chunk, pos)
                pos += len(chunk)
            if pos != start + length:
                raise StorageError(
                    f"download {self._where(key)}: the range at byte {start} ended after "
                    f"{pos - start} of {length} bytes"
                )

        os.ftruncate(fd, size)
        part = self._part_size(size)
        ranges = [(start, min(part, size - start)) for start in range(0, size, part)]
        buffer = bytearray(HASH_READ_SIZE)
        view = memoryview(buffer)
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="s3-get") as pool:
            futures = [pool.submit(fetch, start, length) for start, length in ranges]
            try:
                for (start, length), future in zip(ranges, futures, strict=True):
                    future.result()  # this range is complete, and so is every one before it
                    pos, end = start, start + length
                    while pos < end:
                        n = os.preadv(fd, [view[: min(len(buffer), end - pos)]], pos)
                        if n <= 0:
                            raise StorageError(f"download {self._where(key)}: short read-back")
                        digest.update(view[:n])
                        pos += n
            except BaseException:
                failed.set()  # the queued ranges return at once; running ones finish
                for future in futures:
                    future.cancel()
                raise
        return digest.hexdigest()

    def open_sync(self, key: str) -> BinaryIO:
        with self._errors("open", key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._full_key(key))
        sha256 = (response.get("Metadata") or {}).get("sha256")
        reader = VerifyingReader(response["Body"], sha256, f"read {self._where(key)}")
        return io.BufferedReader(reader, CHUNK)  # type: ignore[return-value]

    def list_page_sync(
        self, prefix: str = "", page_size: int = 1000, token: str | None = None
    ) -> ListPage:
        validate_prefix(prefix)
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.prefix + prefix,
            "MaxKeys": min(page_size, self.list_page_size),
        }
        if token:
            args["ContinuationToken"] = token
        with self._errors("list", prefix):
            response = self.client.list_objects_v2(**args)
        cut = len(self.prefix)
        objects = [
            ObjectInfo(
                key=item["Key"][cut:],
                size=int(item["Size"]),
                modified=item["LastModified"],
                # Listings carry no user metadata; stat() a key for its sha256.
                sha256=None,
                etag=(item.get("ETag") or "").strip('"') or None,
            )
            for item in response.get("Contents", [])
        ]
        more = response.get("IsTruncated") and response.get("NextContinuationToken")
        return ListPage(objects, response["NextContinuationToken"] if more else None)

    def presigned_url_sync(self, key: str, expires_in: int | None = None) -> str | None:
        with self._errors("presign", key):
            url: str = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._full_key(key)},
                ExpiresIn=expires_in or self.presign_expires,
            )
        return url

    # ---- deleting and copying ---------------------------------------------------------------

    def delete_sync(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._full_key(key))

    def delete_prefix_sync(self, prefix: str) -> int:
        check_delete_prefix(prefix)
        count = 0
        token: str | None = None
        while True:
            # Listing again from the start after each batch would also work, but a token
            # keeps it linear; DeleteObjects takes at most 1000 keys per call.
            page = self.list_page_sync(prefix, 1000, token)
            if page.objects:
                with self._errors("delete_prefix", prefix):
                    response = self.client.delete_objects(
                        Bucket=self.bucket,
                        Delete={
                            "Objects": [{"Key": self.prefix + o.key} for o in page.objects],
                            "Quiet": True,
                        },
                    )
                errors = response.get("Errors") or []
                if errors:
                    first = errors[0]
                    raise StorageError(
                        f"delete_prefix {self._where(prefix)}: {len(errors)} objects were not "
                        f"deleted; first {first.get('Key')!r}: {first.get('Code')} "
                        f"{first.get('Message')}"
                    )
                count += len(page.objects)
            if page.next_token is None:
                return count
            token = page.next_token

    def copy_sync(self, src_key: str, dest_key: str) -> ObjectInfo:
        dest_full = self._full_key(dest_key)
        head = self._head("copy", src_key)
        source = {"Bucket": self.bucket, "Key": self._full_key(src_key)}
        with self._errors(f"copy to {dest_key!r} from", src_key):
            if int(head["ContentLength"]) <= MAX_SINGLE_COPY:
                # Server-side; metadata (the sha256) is copied along by default.
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=dest_full,
                    CopySource=source,
                    CopySourceIfMatch=head["ETag"],
                )
            else:
                self.client.copy(
                    source,
                    self.bucket,
                    dest_full,
                    ExtraArgs={"Metadata": head.get("Metadata") or {}},
                    Config=self._transfer_config(int(head["ContentLength"])),
                )
        return self.stat_sync(dest_key)
