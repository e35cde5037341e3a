"""The model repository through the REST API (M1 to M5, L2 resolve): once on SQLite + a local
object store, once on PostgreSQL + a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.platform.conftest import PLATFORM_CONFIG, Api, catalogue_store_args
from tests.platform.test_datasets_api import problem, upload_as, wait_op
from tests.support import Hub, SeaweedFS, start_hub

EXTRA_CONFIG = """
c.SxwlPlatform.url_import_allowed_hosts = ["127.0.0.1"]
c.SxwlPlatform.max_model_upload_gb = 0.01
"""


@pytest.fixture(scope="module", params=["sqlite-local", "postgres-s3"])
def api_hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    args: list[str] = ["--SxwlPlatform.build_tiny_model=True"]
    args += catalogue_store_args(request, "md")
    with start_hub(
        name=f"models-{request.param}",
        platform_config_text=PLATFORM_CONFIG + EXTRA_CONFIG,
        platform_args=args,
    ) as hub:
        yield hub


def model_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("config.json", b'{"model_type": "llama"}'),
            ("weights/model.safetensors", os.urandom(300_000)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def wait_version(api: Api, model: str, number: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        v: dict[str, Any] = api.get(f"models/{model}/versions/{number}")
        if v["status"] != "importing":
            return v
        assert time.monotonic() < deadline, v
        time.sleep(0.3)


def create(api: Api, name: str) -> dict[str, Any]:
    r = api.call("POST", "models", json={"name": name, "family": "llama"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_presets_listed_and_tiny_model_built(alice: Api) -> None:
    models = {m["name"]: m for m in alice.get("models")["models"]}
    assert {"sxwl-tiny-llama", "Qwen2.5-0.5B-Instruct", "chatglm3-6b"} <= set(models)
    qwen = models["Qwen2.5-0.5B-Instruct"]
    assert qwen["preset"] and qwen["source"]["repo_id"] == "Qwen/Qwen2.5-0.5B-Instruct"
    tiny = models["sxwl-tiny-llama"]
    v = wait_version(alice, tiny["id"], 1, timeout=180)
    assert v["status"] == "ready", v
    files = {f["path"] for f in alice.get(f"models/{tiny['id']}/versions/1/files")["files"]}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    # Read-only for users; fetching presets from the internet is for admins.
    problem(alice.call("POST", f"models/{tiny['id']}/versions", json={"source": "preset"}), 403)
    problem(alice.call("DELETE", f"models/{tiny['id']}/versions/1"), 403)


def test_upload_files_archive_mount_and_share(alice: Api, bob: Api, api_hub: Hub) -> None:
    m = create(alice, "my-llama")
    data = model_tar()
    up = upload_as(alice, "model.tar", data, purpose="model")
    r = alice.call("POST", f"models/{m['id']}/versions", json={"source": "upload", "upload_id": up})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "importing"
    v = wait_version(alice, m["id"], 1)
    assert v["status"] == "ready" and v["files"] == 2, v
    files = alice.get(f"models/{m['id']}/versions/1/files")["files"]
    assert [f["path"] for f in files] == ["config.json", "weights/model.safetensors"]
    r = alice.call("GET", f"models/{m['id']}/versions/1/files/weights/model.safetensors")
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == files[1]["sha256"]
    r = alice.call("GET", f"models/{m['id']}/versions/1/archive")
    assert r.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        assert sorted(tar.getnames()) == [
            "my-llama-v1/config.json",
            "my-llama-v1/weights/model.safetensors",
        ]

    # Mount: a read-only local folder with the files.
    r = alice.call("POST", "mounts/resolve", json={"kind": "model", "name": "my-llama"})
    assert r.status_code == 200, r.text
    path = Path(r.json()["path"])
    assert json.loads((path / "config.json").read_text()) == {"model_type": "llama"}
    assert not os.access(path / "config.json", os.W_OK) or os.geteuid() == 0
    assert (path / "config.json").stat().st_mode & 0o222 == 0

    # Bob cannot see it; with a share token he imports his own copy.
    assert bob.call("GET", f"models/{m['id']}").status_code == 404
    problem(bob.call("POST", "mounts/resolve", json={"kind": "model", "name": m["id"]}), 404)
    r = alice.call("POST", f"models/{m['id']}/shares", json={"version": 1})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token.startswith("sxmd_")
    problem(bob.call("POST", "datasets/shared", json={"token": token}), 400, "token")
    r = bob.call("POST", "models/import-shared", json={"token": token, "name": "from-alice"})
    assert r.status_code == 202, r.text
    copy = r.json()
    v = wait_version(bob, copy["model"]["id"], 1)
    assert v["status"] == "ready" and v["source"] == "share" and v["files"] == 2
    assert bob.get(f"models/{copy['model']['id']}/versions/1/files")["files"] == files
    # Revoked: the token no longer imports.
    share_id = alice.get(f"models/{m['id']}/shares")["shares"][0]["id"]
    assert alice.call("DELETE", f"shares/{share_id}").status_code == 200
    problem(bob.call("POST", "models/import-shared", json={"token": token}), 410, "token")


def test_import_from_a_finished_job_and_export_to_s3(
    alice: Api, s3_server: SeaweedFS, s3_bucket: str
) -> None:
    job = alice.submit(
        name="trainer",
        flavour="cpu",
        command="mkdir -p output && echo '{\"ok\": 1}' > output/config.json",
        model_path="output",
    )
    problem(alice.call("POST", "models", json={"name": "bad name!"}), 400, "name")
    m = create(alice, "from-job")
    done = alice.wait(job["id"])
    assert done["status"] == "Succeeded", done
    r = alice.call(
        "POST", f"models/{m['id']}/versions", json={"source": "job", "job_id": job["id"]}
    )
    assert r.status_code == 202, r.text
    v = wait_version(alice, m["id"], 1)
    assert v["status"] == "ready" and v["source_detail"]["job_id"] == job["id"], v

    r = alice.call(
        "POST",
        f"models/{m['id']}/versions/1/export",
        json={
            "bucket": s3_bucket,
            "prefix": "exports/from-job",
            "endpoint_url": s3_server.endpoint_url,
            "access_key_id": s3_server.access_key,
            "secret_access_key": s3_server.secret_key,
            "path_style": True,
        },
    )
    assert r.status_code == 202, r.text
    op = wait_op(alice, r.json())
    assert op["status"] == "succeeded", op
    got = s3_server.client().get_object(Bucket=s3_bucket, Key="exports/from-job/config.json")
    assert json.loads(got["Body"].read()) == {"ok": 1}


def test_bad_model_requests(alice: Api, bob: Api) -> None:
    m = create(alice, "bad-inputs")
    for url in ("file:///etc/passwd", "ftp://example.org/m.tar", "http://169.254.169.254/x"):
        r = alice.call("POST", f"models/{m['id']}/versions", json={"source": "url", "url": url})
        problem(r, 400, "url")
    problem(
        alice.call("POST", f"models/{m['id']}/versions", json={"source": "magic"}), 400, "source"
    )
    r = alice.call(
        "POST", "uploads", json={"filename": "big.bin", "size": 50 << 20, "purpose": "model"}
    )
    problem(r, 413, "size")
    problem(
        alice.call(
            "POST", f"models/{m['id']}/versions", json={"source": "job", "job_id": "job-nope"}
        ),
        404,
        "job_id",
    )
    assert bob.call("GET", f"models/{m['id']}").status_code == 404
    assert (
        bob.call(
            "POST", f"models/{m['id']}/versions", json={"source": "url", "url": "https://x.org/a"}
        ).status_code
        == 404
    )
    problem(alice.call("POST", "models/import-shared", json={"token": "sxmd_nope"}), 404, "token")
    problem(
        alice.call("POST", "mounts/resolve", json={"kind": "model", "name": m["id"]}),
        404,
        "version",
    )
    # A failed import (a broken archive) leaves a failed version with its reason, nothing else.
    up = upload_as(alice, "broken.tar.gz", b"\x1f\x8b\x08\x00broken", purpose="model")
    r = alice.call("POST", f"models/{m['id']}/versions", json={"source": "upload", "upload_id": up})
    v = wait_version(alice, m["id"], r.json()["number"])
    assert v["status"] == "failed" and v["message"], v
    problem(alice.call("GET", f"models/{m['id']}/versions/{v['number']}/files"), 409, "version")
