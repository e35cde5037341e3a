"""The ObjectStore contract, run against both backends: a local directory and a real S3 server
(SeaweedFS, started once per session by the ``s3_server`` fixture)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from jupyter_sxwl.storage import (
    ChecksumMismatch,
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    make_object_store,
)
from jupyter_sxwl.storage.s3 import S3ObjectStore
from tests.support import SeaweedFS

MiB = 1024 * 1024


@dataclass
class StoreCase:
    """A store under test and a way to corrupt an object behind its back."""

    store: ObjectStore
    tamper: Callable[[str], None]  # replace the stored bytes, keep the recorded sha256


def _s3_store(server: SeaweedFS, bucket: str, **kwargs: object) -> S3ObjectStore:
    # Small parts keep the multipart tests fast while still exercising several parts.
    options: dict[str, object] = dict(
        endpoint_url=server.endpoint_url,
        bucket=bucket,
        path_style=True,
        region="us-east-1",
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
        multipart_threshold=5 * MiB,
        multipart_chunksize=5 * MiB,
        max_concurrency=4,
    )
    options.update(kwargs)
    return S3ObjectStore(**options)


@pytest.fixture(params=["local", "s3"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """Each test runs once per backend."""
    if request.param == "local":
        store = LocalObjectStore(tmp_path / "store")

        def tamper_local(key: str) -> None:
            path = tmp_path / "store" / "objects" / key
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF  # flip one byte in place
            path.write_bytes(bytes(data))

        yield StoreCase(store, tamper_local)
    else:
        server: SeaweedFS = request.getfixturevalue("s3_server")
        bucket: str = request.getfixturevalue("s3_bucket")
        s3 = _s3_store(server, bucket, prefix="tenant")
        client = server.client()

        def tamper_s3(key: str) -> None:
            full = "tenant/" + key
            head = client.head_object(Bucket=bucket, Key=full)
            body = client.get_object(Bucket=bucket, Key=full)["Body"].read()
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
            client.put_object(Bucket=bucket, Key=full, Body=body, Metadata=head["Metadata"])

        yield StoreCase(s3, tamper_s3)


def _write(path: Path, size: int, seed: int = 0) -> str:
    """Write ``size`` pseudo-random bytes; return their sha256."""
    data = hashlib.shake_256(str(seed).encode()).digest(size) if size else b""
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_small_round_trip(case: StoreCase, tmp_path: Path) -> None:
    store = case.store
    src = tmp_path / "src.bin"
    sha = _write(src, 1000)
    info = store.put_file_sync("a/b/small.bin", src)
    assert (info.key, info.size, info.sha256) == ("a/b/small.bin", 1000, sha)
    stat = store.stat_sync("a/b/small.bin")
    assert (stat.size, stat.sha256) == (1000, sha)
    assert stat.modified.tzinfo is not None
    assert store.exists_sync("a/b/small.bin")
    assert not store.exists_sync("a/b/other.bin")
    dest = tmp_path / "out" / "small.bin"
    dest.parent.mkdir()
    store.get_file_sync("a/b/small.bin", dest)
    assert dest.read_bytes() == src.read_bytes()
    assert os.listdir(dest.parent) == ["small.bin"]  # no .part left
    with store.open_sync("a/b/small.bin") as reader:
        assert reader.read() == src.read_bytes()


def test_put_file_with_known_sha256(case: StoreCase, tmp_path: Path) -> None:
    src = tmp_path / "k.bin"
    sha = _write(src, 6 * MiB, seed=5)
    assert case.store.put_file_sync("known.bin", src, sha256=sha).sha256 == sha
    # A wrong digest never yields wrong data: the local store refuses it at once (and keeps
    # the previous object); S3 cannot check before the upload, so every read refuses it.
    wrong = "0" * 64
    if isinstance(case.store, LocalObjectStore):
        with pytest.raises(ChecksumMismatch, match="nothing was stored"):
            case.store.put_file_sync("known.bin", src, sha256=wrong)
        assert case.store.stat_sync("known.bin").sha256 == sha
    else:
        case.store.put_file_sync("known.bin", src, sha256=wrong)
        with pytest.raises(ChecksumMismatch):
            case.store.get_file_sync("known.bin", tmp_path / "k.out")
        assert not (tmp_path / "k.out").exists()


def test_empty_object(case: StoreCase, tmp_path: Path) -> None:
    info = case.store.put_stream_sync("empty", iter([]))
    assert info.size == 0 and info.sha256 == hashlib.sha256(b"").hexdigest()
    case.store.get_file_sync("empty", tmp_path / "e")
    assert (tmp_path / "e").read_bytes() == b""


def test_multipart_round_trip(case: StoreCase, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    sha = _write(src, 20 * MiB + 123, seed=1)
    info = case.store.put_file_sync("big/big.bin", src)
    assert (info.size, info.sha256) == (20 * MiB + 123, sha)
    dest = tmp_path / "big.out"
    case.store.get_file_sync("big/big.bin", dest)
    assert dest.stat().st_size == 20 * MiB + 123
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
    digest = hashlib.sha256()
    with case.store.open_sync("big/big.bin") as reader:
        while chunk := reader.read(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == sha


def test_put_stream_from_generator_and_file_object(case: StoreCase) -> None:
    def chunks() -> Iterator[bytes]:
        for i in range(7):
            yield bytes([i]) * (MiB + i)

    expected = b"".join(chunks())
    info = case.store.put_stream_sync("gen.bin", chunks())
    assert info.size == len(expected)
    assert info.sha256 == hashlib.sha256(expected).hexdigest()
    with case.store.open_sync("gen.bin") as reader:
        assert reader.read() == expected

    info = case.store.put_stream_sync("stream.bin", io.BytesIO(b"hello stream"))
    assert info.sha256 == hashlib.sha256(b"hello stream").hexdigest()
    with pytest.raises(TypeError, match="bytes"):
        case.store.put_stream_sync("bad.bin", iter(["text, not bytes"]))  # type: ignore[list-item]
    assert not case.store.exists_sync("bad.bin")


def test_list_by_prefix_with_pagination(case: StoreCase) -> None:
    store = case.store
    keys = [f"data/{i:03d}.txt" for i in range(23)]
    for key in [*keys, "data-other.txt", "model/w.bin", "data/sub/deep.txt"]:
        store.put_stream_sync(key, [key.encode()])
    listed = [o.key for o in store.list_sync("data/", page_size=5)]
    assert listed == sorted([*keys, "data/sub/deep.txt"])
    # Pages are at most page_size long and chain through their tokens.
    first = store.list_page_sync("data/", page_size=10)
    assert len(first.objects) == 10 and first.next_token is not None
    second = store.list_page_sync("data/", page_size=10, token=first.next_token)
    assert [o.key for o in second.objects] == listed[10:20]
    # A prefix is a string prefix, as on S3: "data" also matches "data-other.txt".
    assert "data-other.txt" in [o.key for o in store.list_sync("data")]
    assert [o.key for o in store.list_sync("model/")] == ["model/w.bin"]
    assert [o.key for o in store.list_sync("nothing/")] == []
    everything = [o.key for o in store.list_sync()]
    assert len(everything) == 26  # no sidecars, temp files or metadata show up
    assert all(o.size == len(o.key) for o in store.list_sync("data/"))


def test_delete_and_delete_prefix(case: StoreCase) -> None:
    store = case.store
    for key in ["x/1", "x/2", "x/y/3", "xz", "keep/1"]:
        store.put_stream_sync(key, [b"1"])
    store.delete_sync("x/1")
    assert not store.exists_sync("x/1")
    store.delete_sync("x/1")  # deleting a missing key is not an error
    assert store.delete_prefix_sync("x/") == 2
    assert [o.key for o in store.list_sync()] == ["keep/1", "xz"]
    # The key of a deleted folder's object is free again for a plain object.
    store.put_stream_sync("x", [b"now a file"])
    assert store.exists_sync("x")
    with pytest.raises(ValueError, match="non-empty prefix"):
        store.delete_prefix_sync("")


def test_delete_prefix_more_than_one_page(case: StoreCase) -> None:
    for i in range(1010):
        if isinstance(case.store, LocalObjectStore) or i % 101 == 0:
            case.store.put_stream_sync(f"many/{i:04d}", [b""])
    expected = len(list(case.store.list_sync("many/")))
    assert case.store.delete_prefix_sync("many/") == expected
    assert list(case.store.list_sync("many/")) == []


def test_copy_keeps_checksum(case: StoreCase, tmp_path: Path) -> None:
    src = tmp_path / "c.bin"
    sha = _write(src, 6 * MiB, seed=2)
    case.store.put_file_sync("orig/c.bin", src)
    info = case.store.copy_sync("orig/c.bin", "copies/c.bin")
    assert (info.key, info.size, info.sha256) == ("copies/c.bin", 6 * MiB, sha)
    case.store.get_file_sync("copies/c.bin", tmp_path / "c.out")
    assert (tmp_path / "c.out").read_bytes() == src.read_bytes()
    with pytest.raises(ObjectNotFound, match="nope"):
        case.store.copy_sync("nope", "copies/nope")


def test_corrupted_object_raises_and_leaves_no_file(case: StoreCase, tmp_path: Path) -> None:
    src = tmp_path / "v.bin"
    _write(src, 7 * MiB, seed=3)
    case.store.put_file_sync("victim.bin", src)
    case.tamper("victim.bin")
    dest = tmp_path / "out" / "victim.bin"
    dest.parent.mkdir()
    with pytest.raises(ChecksumMismatch, match=r"victim\.bin"):
        case.store.get_file_sync("victim.bin", dest)
    assert os.listdir(dest.parent) == []  # neither the file nor its .part
    with pytest.raises(ChecksumMismatch), case.store.open_sync("victim.bin") as reader:
        reader.read()


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a/../b", "..", "a//b", "a/./b", "dir/", "nul\x00byte", "k" * 1025],
)
def test_bad_keys_rejected_with_the_key_named(case: StoreCase, key: str, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    shown = repr(key)[:40]
    for call in (
        lambda: case.store.put_file_sync(key, src),
        lambda: case.store.put_stream_sync(key, [b"x"]),
        lambda: case.store.stat_sync(key),
        lambda: case.store.get_file_sync(key, tmp_path / "d"),
        lambda: case.store.copy_sync("f", key),
        lambda: case.store.delete_sync(key),
    ):
        with pytest.raises(ValueError) as err:
            call()
        assert shown[:30] in str(err.value)


def test_missing_key_is_a_clear_not_found(case: StoreCase, tmp_path: Path) -> None:
    for call in (
        lambda: case.store.stat_sync("no/such.bin"),
        lambda: case.store.get_file_sync("no/such.bin", tmp_path / "d"),
        lambda: case.store.open_sync("no/such.bin"),
    ):
        with pytest.raises(KeyError) as err:
            call()
        assert isinstance(err.value, ObjectNotFound)
        assert "no/such.bin" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_presigned_url(case: StoreCase) -> None:
    case.store.put_stream_sync("shared/p.txt", [b"presigned body"])
    url = case.store.presigned_url_sync("shared/p.txt", expires_in=60)
    if isinstance(case.store, LocalObjectStore):
        assert url is None
        return
    assert url is not None
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"presigned body"


@pytest.mark.asyncio
async def test_async_api(case: StoreCase, tmp_path: Path) -> None:
    store = case.store
    src = tmp_path / "a.bin"
    sha = _write(src, 300_000, seed=4)
    # Several operations at once: each runs in a thread, the loop stays free.
    infos = await asyncio.gather(*(store.put_file(f"async/{i}.bin", src) for i in range(4)))
    assert {i.sha256 for i in infos} == {sha}
    await store.put_stream("async/s.bin", io.BytesIO(b"abc"))
    assert (await store.stat("async/s.bin")).size == 3
    assert await store.exists("async/0.bin")
    assert [o.key async for o in store.list("async/", page_size=2)] == [
        *(f"async/{i}.bin" for i in range(4)),
        "async/s.bin",
    ]
    await store.copy("async/0.bin", "async2/0.bin")
    await store.get_file("async2/0.bin", tmp_path / "a.out")
    assert (tmp_path / "a.out").read_bytes() == src.read_bytes()
    async with await store.open_reader("async/s.bin") as reader:
        assert await reader.read() == b"abc"
        assert await reader.read() == b""
    await store.delete("async/s.bin")
    assert await store.delete_prefix("async/") == 4
    with pytest.raises(ObjectNotFound):
        await store.stat("async/0.bin")
    url = await store.presigned_url("async2/0.bin")
    assert (url is None) == isinstance(store, LocalObjectStore)


def test_s3_wrong_credentials_say_what_failed(s3_server: SeaweedFS, s3_bucket: str) -> None:
    store = _s3_store(s3_server, s3_bucket, secret_access_key="wrong-secret")
    with pytest.raises(StorageError) as err:
        store.put_stream_sync("k.txt", [b"x"])
    message = str(err.value)
    assert "credentials" in message and s3_bucket in message and "k.txt" in message
    with pytest.raises(StorageError, match="credentials"):
        store.stat_sync("k.txt")


def test_s3_missing_bucket_says_so(s3_server: SeaweedFS) -> None:
    store = _s3_store(s3_server, "no-such-bucket-here")
    # (SeaweedFS creates a missing bucket on upload for an admin identity; listing does not.)
    with pytest.raises(StorageError, match="'no-such-bucket-here' does not exist"):
        store.list_page_sync("k/")


def test_s3_foreign_object_without_checksum_still_reads(
    s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="foreign.txt", Body=b"from elsewhere")
    store = _s3_store(s3_server, s3_bucket)
    assert store.stat_sync("foreign.txt").sha256 is None
    store.get_file_sync("foreign.txt", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"from elsewhere"


def test_factory(tmp_path: Path, s3_server: SeaweedFS) -> None:
    from traitlets.config import Config

    local = make_object_store("local", root=tmp_path)
    assert isinstance(local, LocalObjectStore) and local.root == str(tmp_path)
    c = Config()
    c.S3ObjectStore.bucket = "b-from-config"
    c.S3ObjectStore.endpoint_url = s3_server.endpoint_url
    c.S3ObjectStore.prefix = "/pre/"
    s3 = make_object_store("s3", config=c)
    assert isinstance(s3, S3ObjectStore)
    assert (s3.bucket, s3.prefix) == ("b-from-config", "pre/")
    with pytest.raises(ValueError, match="'ftp'"):
        make_object_store("ftp")
