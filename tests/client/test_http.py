"""How the SDK reads the platform's answers: errors, streamed logs, downloads, uploads."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from jupyter_sxwl.client import (
    Client,
    SxwlAPIError,
    SxwlConnectionError,
    SxwlError,
    SxwlTimeoutError,
)
from jupyter_sxwl.client.client import safe_destination

from .conftest import FakePlatform, Request, json_reply, problem


def job(status: str = "Running", attempt: int = 1, **kw: object) -> dict[str, object]:
    return {"id": "job-1", "name": "demo", "status": status, "attempt": attempt, **kw}


@pytest.fixture
def client(fake_platform: FakePlatform) -> Client:
    return Client(url=fake_platform.url, token="tok", timeout=5)


def test_token_is_sent_in_the_authorization_header(
    client: Client, fake_platform: FakePlatform
) -> None:
    fake_platform.route("GET", "info", json_reply({"version": "0.1", "user": {"name": "a"}}))
    assert client.info()["user"]["name"] == "a"
    assert fake_platform.requests[0].headers["Authorization"] == "token tok"


def test_problem_json_becomes_an_api_error_with_fields(
    client: Client, fake_platform: FakePlatform
) -> None:
    errors = [{"field": "nodes", "message": "must be at least 1; set --nodes to 1 or more"}]
    fake_platform.route(
        "POST", "jobs", problem(400, "nodes: must be at least 1; set --nodes to 1 or more", errors)
    )
    with pytest.raises(SxwlAPIError) as info:
        client.submit_job(name="x", command="true", nodes=0)
    e = info.value
    assert e.status == 400 and e.is_client_error
    assert e.detail == "nodes: must be at least 1; set --nodes to 1 or more"
    assert e.errors == errors
    assert str(e) == e.detail
    sent = json.loads(fake_platform.requests[0].body)
    assert sent == {"name": "x", "command": "true", "nodes": 0}  # None fields are not sent


def test_404_and_500_map_to_api_errors(client: Client, fake_platform: FakePlatform) -> None:
    with pytest.raises(SxwlAPIError) as info:
        client.job("job-nope")
    assert info.value.status == 404
    fake_platform.route("GET", "jobs/job-1", problem(500, "internal error; see the admin log"))
    with pytest.raises(SxwlAPIError) as info:
        client.job("job-1")
    assert info.value.status == 500 and not info.value.is_client_error


def test_an_html_error_page_keeps_status_but_not_markup(
    client: Client, fake_platform: FakePlatform
) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    fake_platform.route("GET", "jobs", (502, {"Content-Type": "text/html"}, page))
    with pytest.raises(SxwlAPIError) as info:
        client.jobs()
    assert info.value.status == 502
    assert "<html>" not in str(info.value) and "502" in str(info.value)


def test_a_refused_token_says_where_the_token_came_from(
    client: Client, fake_platform: FakePlatform
) -> None:
    fake_platform.route("GET", "info", problem(403, "Forbidden"))
    with pytest.raises(SxwlAPIError) as info:
        client.info()
    assert "refused the token" in str(info.value) and "sxwl login" in str(info.value)


def test_an_unreachable_platform_is_a_connection_error(tmp_path: Path) -> None:
    client = Client(url="http://127.0.0.1:9/", token="t", connect_timeout=2)
    with pytest.raises(SxwlConnectionError, match="cannot reach the platform"):
        client.info()


def test_logs_return_text_and_the_next_offset(client: Client, fake_platform: FakePlatform) -> None:
    def logs(r: Request) -> tuple[int, dict[str, str], bytes]:
        offset = int(r.query.get("offset", 0))
        data = "héllo\nworld\n".encode()[offset:]
        return 200, {"Content-Type": "text/plain", "X-Log-Offset": str(offset + len(data))}, data

    fake_platform.route("GET", "jobs/job-1/logs", logs)
    text, offset = client.logs("job-1")
    assert text == "héllo\nworld\n" and offset == len("héllo\nworld\n".encode())
    assert client.logs("job-1", offset=offset) == ("", offset)


def test_full_log_reads_every_chunk_and_decodes_once(
    client: Client, fake_platform: FakePlatform
) -> None:
    whole = "é".encode() * 5  # 10 bytes; 3-byte chunks split every character

    def logs(r: Request) -> tuple[int, dict[str, str], bytes]:
        offset = int(r.query.get("offset", 0))
        data = whole[offset : offset + 3]
        return 200, {"Content-Type": "text/plain", "X-Log-Offset": str(offset + len(data))}, data

    fake_platform.route("GET", "jobs/job-1/logs", logs)
    assert client.full_log("job-1") == "ééééé"


def test_follow_logs_streams_chunks_then_reads_what_came_after(
    client: Client, fake_platform: FakePlatform
) -> None:
    log = "step 1 ✓\nstep 2 ✓\nfinal line\n".encode()
    cut = log.index("✓".encode()) + 1  # the stream splits a character in two
    statuses = iter(["Running", "Succeeded"])
    fake_platform.route("GET", "jobs/job-1", lambda r: json_reply(job(next(statuses, "Succeeded"))))

    def logs(r: Request) -> tuple[int, dict[str, str], bytes | list[bytes]]:
        if r.query.get("follow") == "1":
            assert r.query["attempt"] == "1"
            # The stream breaks off before the end of the log (e.g. a proxy timeout).
            return 200, {"Content-Type": "text/plain"}, [log[:cut], log[cut:20]]
        offset = int(r.query.get("offset", 0))
        return 200, {"X-Log-Offset": str(len(log))}, log[offset:]

    fake_platform.route("GET", "jobs/job-1/logs", logs)
    chunks = list(client.follow_logs("job-1", poll=0.01))
    assert "".join(chunks) == log.decode()
    assert all("\ufffd" not in c for c in chunks)


def test_wait_returns_the_final_job_or_times_out(
    client: Client, fake_platform: FakePlatform
) -> None:
    statuses = iter(["Queued", "Running", "Succeeded"])
    fake_platform.route("GET", "jobs/job-1", lambda r: json_reply(job(next(statuses))))
    assert client.wait("job-1", poll=0.01)["status"] == "Succeeded"
    fake_platform.route("GET", "jobs/job-1", json_reply(job("Running")))
    with pytest.raises(SxwlTimeoutError, match="still Running"):
        client.wait("job-1", timeout=0.05, poll=0.01)


def test_submit_with_code_dir_uploads_a_tarball_first(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text("print(1)")
    (tmp_path / "__pycache__").mkdir()
    fake_platform.route(
        "POST", "code-packages", json_reply({"id": "code-9", "name": "x", "size": 1}, 201)
    )
    fake_platform.route(
        "POST", "jobs", lambda r: json_reply({**json.loads(r.body), "id": "j"}, 201)
    )
    submitted = client.submit_job(code_dir=tmp_path, name="n", command="python train.py")
    upload, create = fake_platform.requests
    assert upload.headers["Content-Type"] == "application/gzip"
    assert upload.query["name"] == tmp_path.name
    with tarfile.open(fileobj=io.BytesIO(upload.body), mode="r:gz") as tar:
        assert tar.getnames() == ["train.py"]
    assert submitted["code_package"] == "code-9"
    assert json.loads(create.body)["code_package"] == "code-9"


def test_actions_send_what_the_api_expects(client: Client, fake_platform: FakePlatform) -> None:
    fake_platform.route("POST", "jobs/job-1/restart", lambda r: json_reply(json.loads(r.body)))
    fake_platform.route("PATCH", "jobs/job-1", lambda r: json_reply(json.loads(r.body)))
    fake_platform.route("DELETE", "jobs/job-1", (204, {}, b""))
    fake_platform.route("GET", "jobs", lambda r: json_reply({"items": [r.query], "total": 1}))
    assert client.restart("job-1", resume=True) == {"resume": True}
    assert client.set_priority("job-1", "high") == {"priority": "high"}
    assert client.delete("job-1") is None
    assert client.jobs(status="Running", all_users=True) == [{"status": "Running", "all": "1"}]


@pytest.mark.parametrize(
    "bad", ["../evil.py", "/etc/passwd", "a/../../b", "a//b", "", "a\\..\\b", "C:/x", "."]
)
def test_download_paths_that_escape_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SxwlError):
        safe_destination(tmp_path, bad)


def test_download_through_a_symlink_out_of_dest_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(tmp_path, dest / "up")
    with pytest.raises(SxwlError, match="outside"):
        safe_destination(dest, "up/file")
    assert safe_destination(dest, "sub/model.pt") == (dest / "sub" / "model.pt").resolve()


def test_download_all_keeps_relative_paths(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    files = {"model.pt": b"\x00weights", "tokenizer/vocab.txt": b"a\nb\n"}
    fake_platform.route(
        "GET",
        "jobs/job-1/artifacts",
        json_reply({"items": [{"path": p, "size": len(b)} for p, b in files.items()]}),
    )
    for path, data in files.items():
        fake_platform.route("GET", f"jobs/job-1/artifacts/{path}", (200, {}, data))
    written = client.download("job-1", dest=tmp_path / "out")
    assert sorted(p.relative_to((tmp_path / "out").resolve()).as_posix() for p in written) == [
        "model.pt",
        "tokenizer/vocab.txt",
    ]
    for path, data in files.items():
        assert (tmp_path / "out" / path).read_bytes() == data
    assert not list((tmp_path / "out").rglob("*.part"))
    one = client.download("job-1", "model.pt", dest=tmp_path / "one")
    assert [p.name for p in one] == ["model.pt"]


def test_a_hostile_artifact_list_writes_nothing(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    items = [{"path": "ok.txt", "size": 1}, {"path": "../escape.txt", "size": 1}]
    fake_platform.route("GET", "jobs/job-1/artifacts", json_reply({"items": items}))
    fake_platform.route("GET", "jobs/job-1/artifacts/ok.txt", (200, {}, b"x"))
    dest = tmp_path / "dest"
    with pytest.raises(SxwlError, match="escapes"):
        client.download("job-1", dest=dest)
    assert not (tmp_path / "escape.txt").exists()
    assert not dest.exists() or not any(dest.iterdir())


def test_a_failed_download_leaves_no_partial_file(
    client: Client, fake_platform: FakePlatform, tmp_path: Path
) -> None:
    with pytest.raises(SxwlAPIError):
        client.download("job-1", "model.pt", dest=tmp_path)
    assert list(tmp_path.iterdir()) == []
