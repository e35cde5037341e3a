"""S3ObjectStore's own multipart transfers against a real S3 server (SeaweedFS): digests
computed while uploading, bounded memory, ranged downloads that finish in any order, and
failures that leave nothing behind.

Where a test needs a slow or failing request it wraps the store's real boto3 client method,
so every request that does go out still reaches the real server."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from jupyter_sxwl.storage import ChecksumMismatch, StorageError
from jupyter_sxwl.storage.s3 import S3ObjectStore
from tests.support import SeaweedFS

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part size: several parts from small files


def _store(server: SeaweedFS, bucket: str, **kwargs: Any) -> S3ObjectStore:
    options: dict[str, Any] = dict(
        endpoint_url=server.endpoint_url,
        bucket=bucket,
        path_style=True,
        region="us-east-1",
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
        multipart_threshold=PART,
        multipart_chunksize=PART,
        max_concurrency=3,
    )
    options.update(kwargs)
    return S3ObjectStore(**options)


def _write(path: Path, size: int, seed: int = 0) -> str:
    """Write ``size`` pseudo-random bytes; return their sha256."""
    data = hashlib.shake_256(str(seed).encode()).digest(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _wrap(store: S3ObjectStore, method: str, around: Callable[..., Any]) -> list[dict[str, Any]]:
    """Route the store's client ``method`` through ``around(real, **kwargs)``; return the list
    of the keyword arguments of every call."""
    real = getattr(store.client, method)
    calls: list[dict[str, Any]] = []

    def wrapper(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return around(real, **kwargs)

    setattr(store.client, method, wrapper)
    return calls


def _pending_uploads(server: SeaweedFS, bucket: str) -> list[Any]:
    return server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_digest_computed_while_uploading_is_recorded(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(s3_server, s3_bucket)
    assert store.record_sha256_after_upload  # a custom endpoint: SeaweedFS, MinIO, Ceph
    src = tmp_path / "big.bin"
    sha = _write(src, 4 * PART + 123, seed=1)
    info = store.put_file_sync("data/big.bin", src)
    assert (info.size, info.sha256) == (4 * PART + 123, sha)
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="data/big.bin")
    assert head["Metadata"] == {"sha256": sha}
    assert head["ETag"].strip('"').endswith("-5")  # really a multipart upload of five parts
    dest = tmp_path / "back.bin"
    store.get_file_sync("data/big.bin", dest)
    assert dest.read_bytes() == src.read_bytes()


def test_digest_hashed_first_when_configured(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    # As for AWS S3, where an in-place copy would move every byte again.
    assert not S3ObjectStore(bucket="b").record_sha256_after_upload
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        S3ObjectStore(bucket="b", max_concurrency=0)
    store = _store(s3_server, s3_bucket, record_sha256_after_upload=False)

    def no_copies(real: Callable[..., Any], **kwargs: Any) -> Any:
        raise AssertionError("the digest must be set when the upload starts")

    _wrap(store, "copy_object", no_copies)
    src = tmp_path / "big.bin"
    sha = _write(src, 3 * PART + 7, seed=2)
    assert store.put_file_sync("big.bin", src).sha256 == sha
    assert s3_server.client().head_object(Bucket=s3_bucket, Key="big.bin")["Metadata"] == {
        "sha256": sha
    }


def test_upload_holds_a_bounded_number_of_parts_in_memory(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(s3_server, s3_bucket, max_concurrency=2)
    src = tmp_path / "big.bin"
    size = 12 * PART
    sha = _write(src, size, seed=3)
    store.exists_sync("warm-up")  # the client and its connections exist before measuring
    tracemalloc.start()
    try:
        info = store.put_file_sync("big.bin", src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.sha256 == sha
    # (max_concurrency + 1) part buffers, plus room for botocore's bookkeeping.
    assert peak < 3 * PART + 4 * MiB < size


def test_failed_part_aborts_the_upload(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(s3_server, s3_bucket)
    src = tmp_path / "big.bin"
    _write(src, 4 * PART, seed=4)

    def fail_part_two(real: Callable[..., Any], **kwargs: Any) -> Any:
        if kwargs["PartNumber"] == 2:
            raise EndpointConnectionError(endpoint_url=s3_server.endpoint_url)
        return real(**kwargs)

    _wrap(store, "upload_part", fail_part_two)
    with pytest.raises(StorageError, match=r"upload .*big\.bin"):
        store.put_file_sync("big.bin", src)
    assert not store.exists_sync("big.bin")
    assert _pending_uploads(s3_server, s3_bucket) == []


def test_file_shrinking_during_upload_stores_nothing(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    # One sender, so the reader is at most two parts ahead when the file is cut short.
    store = _store(s3_server, s3_bucket, max_concurrency=1)
    src = tmp_path / "big.bin"
    _write(src, 6 * PART, seed=5)

    def truncate_first(real: Callable[..., Any], **kwargs: Any) -> Any:
        if kwargs["PartNumber"] == 1:
            os.truncate(src, PART + 10)
        return real(**kwargs)

    _wrap(store, "upload_part", truncate_first)
    with pytest.raises(StorageError, match="changed while it was being uploaded"):
        store.put_file_sync("big.bin", src)
    assert not store.exists_sync("big.bin")
    assert _pending_uploads(s3_server, s3_bucket) == []


def test_object_replaced_before_its_digest_is_recorded_keeps_the_newer_one(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(s3_server, s3_bucket)
    src = tmp_path / "big.bin"
    _write(src, 2 * PART, seed=6)
    other = s3_server.client()

    def another_writer_wins(real: Callable[..., Any], **kwargs: Any) -> Any:
        done = real(**kwargs)
        other.put_object(Bucket=s3_bucket, Key="big.bin", Body=b"theirs")
        return done

    _wrap(store, "complete_multipart_upload", another_writer_wins)
    with pytest.raises(StorageError, match="another writer replaced the object"):
        store.put_file_sync("big.bin", src)
    body = other.get_object(Bucket=s3_bucket, Key="big.bin")
    assert body["Body"].read() == b"theirs" and body["Metadata"] == {}


def test_download_ranges_finishing_out_of_order_still_verify(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(s3_server, s3_bucket, max_concurrency=4)
    src = tmp_path / "big.bin"
    sha = _write(src, 4 * PART + 99, seed=7)
    store.put_file_sync("big.bin", src, sha256=sha)
    finished: list[int] = []
    lock = threading.Lock()

    def first_range_last(real: Callable[..., Any], **kwargs: Any) -> Any:
        start = int(kwargs.get("Range", "bytes=0-").split("=")[1].split("-")[0])
        if start == 0:
            time.sleep(0.5)  # the ranges after it arrive (and are written) first
        response = real(**kwargs)
        with lock:
            finished.append(start)
        return response

    calls = _wrap(store, "get_object", first_range_last)
    dest = tmp_path / "out" / "big.bin"
    dest.parent.mkdir()
    assert store.get_file_sync("big.bin", dest).sha256 == sha
    assert len(calls) == 5 and finished[-1] == 0
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
    assert os.listdir(dest.parent) == ["big.bin"]


def test_corrupt_multipart_object_fails_its_download_and_leaves_no_file(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(s3_server, s3_bucket)
    src = tmp_path / "big.bin"
    sha = _write(src, 3 * PART, seed=8)
    store.put_file_sync("big.bin", src)
    # Same size, one byte flipped in the middle range, the recorded sha256 kept.
    data = bytearray(src.read_bytes())
    data[PART + 12345] ^= 0x01
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="big.bin", Body=bytes(data), Metadata={"sha256": sha})
    dest = tmp_path / "out" / "big.bin"
    dest.parent.mkdir()
    with pytest.raises(ChecksumMismatch, match=r"big\.bin"):
        store.get_file_sync("big.bin", dest)
    assert os.listdir(dest.parent) == []


def test_failed_range_fails_the_download_and_leaves_no_file(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    store = _store(s3_server, s3_bucket)
    src = tmp_path / "big.bin"
    _write(src, 4 * PART, seed=9)
    store.put_file_sync("big.bin", src)

    def fail_second_range(real: Callable[..., Any], **kwargs: Any) -> Any:
        if kwargs.get("Range", "").startswith(f"bytes={PART}-"):
            raise EndpointConnectionError(endpoint_url=s3_server.endpoint_url)
        return real(**kwargs)

    _wrap(store, "get_object", fail_second_range)
    dest = tmp_path / "out" / "big.bin"
    dest.parent.mkdir()
    with pytest.raises(StorageError, match=r"download .*big\.bin"):
        store.get_file_sync("big.bin", dest)
    assert os.listdir(dest.parent) == []


def test_payload_signing_is_off_by_default_and_can_be_turned_on(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    assert not S3ObjectStore(bucket="b", endpoint_url="http://s3.local:8333").sign_payload
    assert not S3ObjectStore(bucket="b").sign_payload  # AWS S3, over HTTPS
    src = tmp_path / "big.bin"
    sha = _write(src, 2 * PART + 1, seed=10)
    for sign in (True, False):
        store = _store(s3_server, s3_bucket, sign_payload=sign)
        sent: list[str] = []

        def capture(request: Any, sent: list[str] = sent, **kwargs: Any) -> None:
            sent.append(request.headers["X-Amz-Content-SHA256"].decode())

        store.client.meta.events.register("before-send.s3.UploadPart", capture)
        assert store.put_file_sync(f"signed-{sign}.bin", src).sha256 == sha
        assert len(sent) == 3
        assert all((s == "UNSIGNED-PAYLOAD") != sign for s in sent)
        store.get_file_sync(f"signed-{sign}.bin", tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
