"""Chunked uploads, folder packing and waiting on imports and operations, against the tiny
HTTP server: what the client does when chunks fail, answers are lost or offsets disagree."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from jupyter_sxwl.client import Client, SxwlAPIError, SxwlError
from jupyter_sxwl.client.uploads import Progress, pack_tar, pack_zip

from .conftest import FakePlatform, Reply, Request, json_reply, problem

CHUNK = 64 << 10


@pytest.fixture
def client(fake_platform: FakePlatform) -> Client:
    return Client(url=fake_platform.url, token="tok", timeout=5)


class FakeUpload:
    """An upload as the platform keeps it; ``faults`` script what the next PUTs meet."""

    def __init__(self, platform: FakePlatform, upload_id: str = "up-1") -> None:
        self.id = upload_id
        self.data = bytearray()
        self.size = 0
        self.sha256: str | None = None
        self.faults: list[str] = []
        self.chunks: list[tuple[int, int]] = []  # (offset, length) of every PUT
        platform.route("POST", "uploads", self.create)
        platform.route("PUT", f"uploads/{upload_id}", self.put)
        platform.route("GET", f"uploads/{upload_id}", lambda _r: json_reply(self.out()))

    def out(self) -> dict[str, Any]:
        done = len(self.data) == self.size
        return {
            "id": self.id,
            "filename": "f",
            "size": self.size,
            "received": len(self.data),
            "sha256": self.sha256,
            "purpose": "dataset",
            "status": "complete" if done else "open",
        }

    def create(self, r: Request) -> Reply:
        body = json.loads(r.body)
        self.size, self.sha256 = body["size"], body["sha256"]
        return json_reply(self.out(), 201)

    def put(self, r: Request) -> Reply:
        offset = int(r.query["offset"])
        self.chunks.append((offset, len(r.body)))
        fault = self.faults.pop(0) if self.faults else ""
        if fault == "502":
            return problem(502, "bad gateway")
        if offset != len(self.data):
            return problem(
                409,
                f"offset: must be {len(self.data)}",
                [{"field": "offset", "message": f"must be {len(self.data)}"}],
            )
        self.data += r.body
        if fault == "lost":  # stored, but the answer never reaches the client
            return problem(503, "proxy timeout")
        if len(self.data) == self.size:
            assert hashlib.sha256(self.data).hexdigest() == self.sha256
        return json_reply(self.out())


def test_upload_recovers_from_lost_answers_and_stale_offsets(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    content = os.urandom(5 * CHUNK + 123)
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    upload = FakeUpload(fake_platform)
    # Chunk 2's answer is lost after it was stored; chunk 3 first meets a gateway error.
    upload.faults = ["", "lost", "502"]
    reports: list[Progress] = []
    up = client.upload_file(path, chunk_size=CHUNK, progress=reports.append)
    assert up["status"] == "complete" and bytes(upload.data) == content
    sent = json.loads(fake_platform.requests[0].body)
    assert sent == {
        "filename": "train.jsonl",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "purpose": "dataset",
    }
    # Never more than one chunk in one request; the stored chunk is not sent twice.
    assert all(length <= CHUNK for _, length in upload.chunks)
    assert [o for o, _ in upload.chunks] == [
        0,
        CHUNK,
        2 * CHUNK,
        2 * CHUNK,
        3 * CHUNK,
        4 * CHUNK,
        5 * CHUNK,
    ]
    phases = [r.phase for r in reports]
    assert phases[0] == "hashing" and phases[-1] == "uploading"
    assert reports[-1].done == reports[-1].total == len(content)


def test_a_409_on_the_offset_continues_from_what_the_platform_received(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    content = os.urandom(3 * CHUNK)
    path = tmp_path / "w.bin"
    path.write_bytes(content)
    upload = FakeUpload(fake_platform)

    def create_with_a_stale_view(r: Request) -> Reply:
        FakeUpload.create(upload, r)
        upload.data += content[:CHUNK]  # someone else's first chunk arrived meanwhile
        return json_reply({**upload.out(), "received": 0}, 201)

    fake_platform.route("POST", "uploads", create_with_a_stale_view)
    assert client.upload_file(path, chunk_size=CHUNK)["status"] == "complete"
    assert [o for o, _ in upload.chunks] == [0, CHUNK, 2 * CHUNK]
    assert bytes(upload.data) == content


def test_resuming_checks_the_upload_is_for_this_file(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"x" * 100)
    upload = FakeUpload(fake_platform)
    upload.size, upload.sha256 = 99, "0" * 64
    with pytest.raises(SxwlError, match="upload_id: upload up-1 is for another file"):
        client.upload_file(path, upload_id="up-1")


def test_an_upload_gives_up_after_its_retries(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"x" * 100)
    upload = FakeUpload(fake_platform)
    upload.faults = ["502"] * 10
    with pytest.raises(SxwlAPIError, match="bad gateway"):
        client.upload_file(path, retries=1)
    assert len(upload.chunks) == 2
    # Mistakes are not retried.
    fake_platform.route(
        "POST", "uploads", problem(413, "size: too big", [{"field": "size", "message": "too big"}])
    )
    with pytest.raises(SxwlAPIError, match="size: too big"):
        client.upload_file(path)
    with pytest.raises(SxwlError, match=r"path: .* is not a file"):
        client.upload_file(tmp_path)


def make_folder(root: Path) -> Path:
    folder = root / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / "train.jsonl").write_text('{"a": 1}\n')
    (folder / "sub" / "extra.csv").write_text("a,b\n1,2\n")
    (folder / "README.md").write_text("about")
    (folder / ".git" / "HEAD").write_text("ref")
    (folder / ".DS_Store").write_bytes(b"junk")
    (root / "outside.json").write_text("[]")
    (folder / "linked.json").symlink_to(root / "outside.json")
    (folder / "linked-dir").symlink_to(folder / "sub", target_is_directory=True)
    return folder


def test_folders_pack_without_links_vcs_or_junk(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    zipped = tmp_path / "d.zip"
    assert sorted(pack_zip(folder, zipped)) == ["linked.json", "sub/extra.csv", "train.jsonl"]
    with zipfile.ZipFile(zipped) as zf:
        assert zf.read("linked.json") == b"[]"  # the link's file, not the link
    tarred = tmp_path / "m.tar"
    names = pack_tar(folder, tarred)
    assert sorted(names) == ["README.md", "linked.json", "sub/extra.csv", "train.jsonl"]
    with tarfile.open(tarred) as tar:  # plain tar: weights do not compress
        assert all(m.isfile() for m in tar.getmembers())
        assert tar.extractfile("linked.json").read() == b"[]"  # type: ignore[union-attr]
    assert tarred.read_bytes()[257:262] == b"ustar"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SxwlError, match="holds no data files"):
        pack_zip(empty, tmp_path / "e.zip")


def test_importing_a_folder_zips_uploads_and_waits_for_the_report(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path)
    upload = FakeUpload(fake_platform)
    states = iter(
        [
            {"status": "running", "phase": "unpacking", "bytes_done": 0, "bytes_total": 0},
            {"status": "running", "phase": "validating", "bytes_done": 5, "bytes_total": 10},
            {"status": "succeeded", "phase": "done", "records": 2, "invalid": 0},
        ]
    )
    fake_platform.route("GET", "datasets/faq", json_reply({"id": "ds-1", "name": "faq"}))
    fake_platform.route(
        "POST", "datasets/ds-1/imports", json_reply({"id": "imp-1", "status": "running"}, 202)
    )
    fake_platform.route(
        "GET", "datasets/ds-1/imports/imp-1", lambda _r: json_reply({"id": "imp-1", **next(states)})
    )
    reports: list[Progress] = []
    imp = client.import_dataset("faq", folder, progress=reports.append)
    assert imp["status"] == "succeeded"
    with zipfile.ZipFile(io.BytesIO(bytes(upload.data))) as zf:
        assert sorted(zf.namelist()) == ["linked.json", "sub/extra.csv", "train.jsonl"]
    posted = [r for r in fake_platform.requests if r.path == "datasets/ds-1/imports"]
    assert json.loads(posted[0].body) == {"upload_id": "up-1"}
    phases = list(dict.fromkeys(r.phase for r in reports))
    assert phases == ["packing", "hashing", "uploading", "unpacking", "validating", "done"]
    with pytest.raises(SxwlError, match="either path"):
        client.import_dataset("faq")


def test_publish_waits_for_the_operation_and_raises_when_it_failed(
    client: Client, fake_platform: FakePlatform
) -> None:
    fake_platform.route(
        "POST",
        "datasets/faq/publish",
        json_reply(
            {"id": "op-1", "kind": "publish", "status": "running", "done": 0, "total": 3}, 202
        ),
    )
    ops = iter(
        [
            {"status": "running", "done": 2},
            {"status": "succeeded", "done": 3, "result": {"version": 2}},
        ]
    )
    fake_platform.route(
        "GET",
        "operations/op-1",
        lambda _r: json_reply({"id": "op-1", "kind": "publish", "total": 3, **next(ops)}),
    )
    reports: list[Progress] = []
    op = client.publish("faq", notes="n", progress=reports.append)
    assert op["result"] == {"version": 2}
    assert json.loads(fake_platform.requests[0].body) == {"notes": "n"}
    assert [(r.phase, r.done, r.unit) for r in reports][:2] == [
        ("publishing", 0, "records"),
        ("publishing", 2, "records"),
    ]
    fake_platform.route(
        "GET",
        "operations/op-1",
        json_reply({"id": "op-1", "kind": "publish", "status": "failed", "message": "disk full"}),
    )
    with pytest.raises(SxwlError, match="publishing faq failed: disk full"):
        client.publish("faq")


def test_downloads_are_checked_against_their_sha256(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    data = b'{"instruction": "a", "output": "b"}\n'
    version = {"number": 1, "sha256": hashlib.sha256(data).hexdigest()}
    fake_platform.route(
        "GET",
        "datasets/faq",
        json_reply({"id": "ds-1", "name": "faq", "latest_version": 1, "versions": [version]}),
    )
    fake_platform.route("GET", "datasets/ds-1/versions/1/data", (200, {}, data))
    path = client.download_dataset("faq", dest=tmp_path / "out")
    assert path == tmp_path / "out" / "faq-v1.jsonl" and path.read_bytes() == data
    fake_platform.route("GET", "datasets/ds-1/versions/1/data", (200, {}, data + b"tampered"))
    path.unlink()
    with pytest.raises(SxwlError, match="does not match its sha256"):
        client.download_dataset("faq", version=1, dest=tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_model_downloads_go_file_by_file_into_name_and_version(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    files = {"config.json": b"{}", "weights/model.safetensors": os.urandom(1000)}
    listing = [
        {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
        for p, d in files.items()
    ]
    fake_platform.route(
        "GET", "models/llama", json_reply({"id": "m-1", "name": "llama", "latest_version": 2})
    )
    fake_platform.route("GET", "models/llama/versions/2/files", json_reply({"files": listing}))
    for p, d in files.items():
        fake_platform.route("GET", f"models/llama/versions/2/files/{p}", (200, {}, d))
    folder = client.download_model("llama", dest=tmp_path)
    assert folder == tmp_path / "llama-v2"
    assert {p: (folder / p).read_bytes() for p in files} == files
    fake_platform.route(
        "GET",
        "models/llama/versions/2/files",
        json_reply({"files": [{"path": "../evil", "size": 1, "sha256": "0" * 64}]}),
    )
    with pytest.raises(SxwlError, match="escapes the download folder"):
        client.download_model("llama", 2, dest=tmp_path / "again")
    assert not (tmp_path / "evil").exists()
    with pytest.raises(SxwlError, match="exactly one source"):
        client.import_model("llama", url="https://x.org/m.tar", job_id="job-1")


def test_a_wrong_dataset_fails_before_the_upload_and_a_refused_one_frees_it(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n')
    upload = FakeUpload(fake_platform)
    theirs = {"id": "ds-2", "name": "theirs", "read_only": True, "access": "shared"}
    fake_platform.route("GET", "datasets/theirs", json_reply(theirs))
    with pytest.raises(SxwlError, match="'theirs' is read-only for you"):
        client.import_dataset("theirs", path)
    with pytest.raises(SxwlAPIError):
        client.import_dataset("missing", path)
    assert not upload.chunks
    fake_platform.route("GET", "datasets/faq", json_reply({"id": "ds-1", "name": "faq"}))
    fake_platform.route("POST", "datasets/ds-1/imports", problem(409, "being published"))
    fake_platform.route("DELETE", "uploads/up-1", (204, {}, b""))
    with pytest.raises(SxwlAPIError, match="being published"):
        client.import_dataset("faq", path)
    assert fake_platform.requests[-1].method == "DELETE"
