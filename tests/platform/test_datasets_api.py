"""Datasets through the REST API (D1 to D6): once on SQLite + a local object store, once on
PostgreSQL + a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.platform.conftest import PLATFORM_CONFIG, Api, catalogue_store_args
from tests.support import Hub, start_hub

EXTRA_CONFIG = """
c.SxwlPlatform.url_import_allowed_hosts = ["127.0.0.2"]
c.SxwlPlatform.max_dataset_upload_gb = 0.001
c.SxwlPlatform.max_archive_ratio = 50.0
"""

GOOD = [
    {"instruction": "Translate to French", "input": "cat", "output": "chat"},
    {"instruction": "2 + 2 = ?", "input": "", "output": "4"},
    {"instruction": "Name a colour", "output": "blue"},
]


def jsonl(records: list[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


@pytest.fixture(scope="module", params=["sqlite-local", "postgres-s3"])
def api_hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    args: list[str] = []
    args += catalogue_store_args(request, "ds")
    with start_hub(
        name=f"datasets-{request.param}",
        platform_config_text=PLATFORM_CONFIG + EXTRA_CONFIG,
        platform_args=args,
    ) as hub:
        yield hub


@pytest.fixture(scope="module")
def carol(api_hub: Hub) -> Api:
    return Api(api_hub, api_hub.token_for("carol"), "carol")


def upload(api: Api, name: str, data: bytes, chunk: int = 1 << 20) -> str:
    return upload_as(api, name, data, chunk)


def upload_as(
    api: Api, name: str, data: bytes, chunk: int = 1 << 20, purpose: str = "dataset"
) -> str:
    """Upload ``data`` in chunks; returns the complete upload's id."""
    r = api.call(
        "POST",
        "uploads",
        json={
            "filename": name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "purpose": purpose,
        },
    )
    assert r.status_code == 201, r.text
    up = r.json()
    for start in range(0, len(data), chunk):
        r = api.call("PUT", f"uploads/{up['id']}?offset={start}", data=data[start : start + chunk])
        assert r.status_code == 200, r.text
    assert api.get(f"uploads/{up['id']}")["status"] == "complete"
    return str(up["id"])


def create(api: Api, name: str, annotation_type: str = "instruction") -> dict[str, Any]:
    r = api.call("POST", "datasets", json={"name": name, "annotation_type": annotation_type})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_import(api: Api, ds: str, imp: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        got: dict[str, Any] = api.get(f"datasets/{ds}/imports/{imp['id']}")
        if got["status"] != "running":
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.2)


def import_bytes(api: Api, ds: str, name: str, data: bytes) -> dict[str, Any]:
    up = upload(api, name, data)
    r = api.call("POST", f"datasets/{ds}/imports", json={"upload_id": up})
    assert r.status_code == 202, r.text
    return wait_import(api, ds, r.json())


def wait_op(api: Api, op: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        got: dict[str, Any] = api.get(f"operations/{op['id']}")
        if got["status"] != "running":
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.2)


def publish(api: Api, ds: str) -> dict[str, Any]:
    r = api.call("POST", f"datasets/{ds}/publish", json={})
    assert r.status_code == 202, r.text
    return wait_op(api, r.json())


def problem(r: Any, status: int, field: str | None = None) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = r.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return str(body["detail"])


def test_import_annotate_publish_and_read_back(alice: Api, bob: Api) -> None:
    ds = create(alice, "faq")
    broken = (
        jsonl(GOOD[:1])
        + b'{"instruction": "oops", "output": \n'
        + jsonl([{"instruction": "no answer"}, *GOOD[1:]])
    )
    imp = import_bytes(alice, ds["id"], "train.jsonl", broken)
    assert imp["status"] == "succeeded", imp
    assert imp["records"] == 5 and imp["invalid"] == 2
    where = {(p["file"], p["line"]) for p in imp["problems"]}
    assert ("train.jsonl", 2) in where and ("train.jsonl", 3) in where

    # Publishing refuses while records are invalid, naming them.
    r = alice.call("POST", f"datasets/{ds['id']}/publish", json={})
    assert "train.jsonl line 2" in problem(r, 400, "dataset")

    bad = alice.get(f"datasets/{ds['id']}/records?only=invalid")
    assert bad["total"] == 2
    first, second = bad["records"]
    assert first["raw"].startswith('{"instruction": "oops"') and first["data"] is None
    assert second["issues"][0]["field"] == "output"
    # Fix one in the annotation view, delete the other; navigation follows.
    r = alice.call(
        "PUT",
        f"datasets/{ds['id']}/records/{first['id']}",
        json={"data": {"instruction": "oops", "output": "fixed"}, "reviewed": True},
    )
    assert r.status_code == 200, r.text
    fixed = r.json()
    assert fixed["issues"] == [] and fixed["reviewed"] and fixed["edited"]
    assert fixed["previous"] is not None and fixed["next"] == second["id"]
    assert alice.call("DELETE", f"datasets/{ds['id']}/records/{second['id']}").status_code == 204
    r = alice.call(
        "POST", f"datasets/{ds['id']}/records", json={"data": {"instruction": "hi", "output": "yo"}}
    )
    assert r.status_code == 201 and r.json()["added"]
    page = alice.get(f"datasets/{ds['id']}/records?offset=0&limit=50")
    assert page["total"] == 5
    assert [r["data"]["output"] for r in page["records"]] == ["chat", "fixed", "4", "blue", "yo"]

    op = publish(alice, ds["id"])
    assert op["status"] == "succeeded", op
    assert op["result"]["version"] == 1 and not op["result"]["unchanged"]
    # An unchanged publish costs nothing: no new version.
    again = publish(alice, ds["id"])
    assert again["result"] == {**op["result"], "unchanged": True}
    got = alice.get(f"datasets/{ds['id']}")
    assert got["latest_version"] == 1 and len(got["versions"]) == 1
    r = alice.call("GET", f"datasets/{ds['id']}/versions/1/data")
    assert r.status_code == 200
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert (
        lines[1]
        == {"instruction": "oops", "input": "", "output": "fixed", "system": "", "history": []}
        or lines[1]["output"] == "fixed"
    )
    assert hashlib.sha256(r.content).hexdigest() == got["versions"][0]["sha256"]

    # Someone else sees nothing of it.
    assert bob.call("GET", f"datasets/{ds['id']}").status_code == 404
    assert bob.call("GET", f"datasets/{ds['id']}/records").status_code == 404
    assert bob.call("GET", f"datasets/{ds['id']}/versions/1/data").status_code == 404
    assert ds["id"] not in [d["id"] for d in bob.get("datasets")["datasets"]]


def test_share_token_adds_a_read_only_dataset(alice: Api, bob: Api, carol: Api) -> None:
    ds = create(alice, "shared-one")
    assert import_bytes(alice, ds["id"], "a.jsonl", jsonl(GOOD))["status"] == "succeeded"
    assert publish(alice, ds["id"])["status"] == "succeeded"
    r = alice.call("POST", f"datasets/{ds['id']}/shares", json={"expires_in_days": 2})
    assert r.status_code == 201, r.text
    share = r.json()
    assert share["token"].startswith("sxds_") and len(share["token"]) > 30
    assert "token" not in alice.get(f"datasets/{ds['id']}/shares")["shares"][0]

    problem(bob.call("POST", "datasets/shared", json={"token": share["token"] + "x"}), 404, "token")
    r = bob.call("POST", "datasets/shared", json={"token": share["token"]})
    assert r.status_code == 201, r.text
    assert r.json()["read_only"] and r.json()["owner"] == "alice"
    listed = {d["id"]: d for d in bob.get("datasets")["datasets"]}
    assert listed[ds["id"]]["access"] == "shared"
    assert bob.call("GET", f"datasets/{ds['id']}/versions/1/data").status_code == 200
    # Read, never change.
    problem(bob.call("PATCH", f"datasets/{ds['id']}", json={"description": "mine"}), 403)
    problem(bob.call("POST", f"datasets/{ds['id']}/publish", json={}), 403)
    problem(bob.call("DELETE", f"datasets/{ds['id']}"), 403)

    # Revoked: the receiver loses access and the token opens nothing.
    assert alice.call("DELETE", f"shares/{share['id']}").status_code == 200
    assert bob.call("GET", f"datasets/{ds['id']}").status_code == 404
    problem(carol.call("POST", "datasets/shared", json={"token": share["token"]}), 410, "token")
    # An expired token opens nothing either.
    r = alice.call("POST", f"datasets/{ds['id']}/shares", json={"expires_in_days": 0.00001})
    time.sleep(1.2)
    assert "expired" in problem(
        carol.call("POST", "datasets/shared", json={"token": r.json()["token"]}), 410, "token"
    )
    problem(
        alice.call("POST", f"datasets/{ds['id']}/shares", json={"expires_in_days": 0}),
        400,
        "expires_in_days",
    )
    # Someone else cannot revoke alice's shares.
    share2 = alice.call("POST", f"datasets/{ds['id']}/shares", json={}).json()
    assert bob.call("DELETE", f"shares/{share2['id']}").status_code == 404


def test_archive_and_url_imports(alice: Api, api_hub: Hub, tmp_path: Path) -> None:
    ds = create(alice, "from-archives")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data/part1.jsonl", jsonl(GOOD))
        z.writestr("data/part2.csv", 'instruction,input,output\nSay hi,,hi\n"Quote, me",x,y\n')
        z.writestr("README.md", "about")
    imp = import_bytes(alice, ds["id"], "bundle.zip", buf.getvalue())
    assert imp["status"] == "succeeded", imp
    assert imp["files"] == 2 and imp["records"] == 5

    # A URL import from a host the admin allowed (127.0.0.2), and a refused loopback one.
    served = tmp_path / "www"
    served.mkdir()
    (served / "more.zip").write_bytes(buf.getvalue())
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        port = httpd.server_address[1]
        r = alice.call(
            "POST",
            f"datasets/{ds['id']}/imports",
            json={"url": f"http://127.0.0.2:{port}/more.zip"},
        )
        assert r.status_code == 202, r.text
        done = wait_import(alice, ds["id"], r.json())
        assert done["status"] == "succeeded", done
        for url in (
            f"http://127.0.0.1:{port}/more.zip",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/x.zip",
            "file:///etc/passwd",
            "ftp://example.org/x.zip",
        ):
            r = alice.call("POST", f"datasets/{ds['id']}/imports", json={"url": url})
            problem(r, 400, "url")
    finally:
        httpd.shutdown()
    assert alice.get(f"datasets/{ds['id']}")["draft"]["records"] == 10


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("bad.jsonl", b'{"instruction": "a", "output": "b"}\n\xff\xfe oops\n', "UTF-8"),
        ("slip.zip", None, ".."),
        ("nested.zip", None, "archive inside an archive"),
        ("bomb.zip", None, "zip bomb"),
        ("empty.jsonl", b"\n\n", "no records"),
    ],
)
def test_bad_imports_fail_whole_and_keep_what_was_there(
    alice: Api, name: str, data: bytes | None, says: str
) -> None:
    ds = create(alice, f"bad-{name.replace('.', '-')}")
    assert import_bytes(alice, ds["id"], "ok.jsonl", jsonl(GOOD))["status"] == "succeeded"
    assert publish(alice, ds["id"])["status"] == "succeeded"
    if data is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            if name == "slip.zip":
                z.writestr("../evil.jsonl", jsonl(GOOD))
            elif name == "nested.zip":
                inner = io.BytesIO()
                with zipfile.ZipFile(inner, "w") as zi:
                    zi.writestr("x.jsonl", jsonl(GOOD))
                z.writestr("inner.zip", inner.getvalue())
            else:
                z.writestr("zeros.jsonl", b"0" * (5 << 20))
        data = buf.getvalue()
    imp = import_bytes(alice, ds["id"], name, data)
    assert imp["status"] == "failed"
    assert says in imp["message"], imp
    got = alice.get(f"datasets/{ds['id']}")
    assert got["draft"]["records"] == 3 and len(got["files"]) == 1
    assert got["latest_version"] == 1


def test_bad_requests_name_the_field(alice: Api, bob: Api) -> None:
    problem(alice.call("POST", "datasets", json={"annotation_type": "instruction"}), 400, "name")
    problem(
        alice.call("POST", "datasets", json={"name": "x", "annotation_type": "poetry"}),
        400,
        "annotation_type",
    )
    problem(
        alice.call(
            "POST", "datasets", json={"name": "x", "annotation_type": "qa", "data_type": "video"}
        ),
        400,
        "data_type",
    )
    create(alice, "twice")
    problem(alice.call("POST", "datasets", json={"name": "twice", "annotation_type": "qa"}), 409)
    # Over the upload limit (this hub allows about 1 MiB).
    r = alice.call("POST", "uploads", json={"filename": "big.jsonl", "size": 5 << 20})
    problem(r, 413, "size")
    # Chunks must follow on; a wrong digest fails the upload.
    r = alice.call("POST", "uploads", json={"filename": "x.jsonl", "size": 10, "sha256": "0" * 64})
    up = r.json()
    problem(alice.call("PUT", f"uploads/{up['id']}?offset=3", data=b"abc"), 409, "offset")
    problem(alice.call("PUT", f"uploads/{up['id']}?offset=0", data=b"0123456789"), 400, "sha256")
    # Publishing an empty dataset; someone else's dataset and upload.
    empty = create(alice, "empty")
    problem(alice.call("POST", f"datasets/{empty['id']}/publish", json={}), 400, "dataset")
    assert bob.call("POST", f"datasets/{empty['id']}/publish", json={}).status_code == 404
    up2 = upload(alice, "a.jsonl", jsonl(GOOD))
    r = bob.call("POST", "datasets", json={"name": "bobs", "annotation_type": "instruction"})
    problem(
        bob.call("POST", f"datasets/{r.json()['id']}/imports", json={"upload_id": up2}),
        400,
        "upload_id",
    )
    # A record that is not an object.
    ds = create(alice, "records")
    problem(alice.call("POST", f"datasets/{ds['id']}/records", json={"data": [1, 2]}), 400, "data")


def test_ranking_restore_default_order_and_acceleration(alice: Api) -> None:
    ds = create(alice, "ranked", "ranking")
    rec = {
        "prompt": "Best greeting?",
        "candidates": [
            {"text": "hello", "relevance_rank": 1, "safety_rank": 1},
            {"text": "yo", "relevance_rank": 2, "safety_rank": 2},
        ],
    }
    assert import_bytes(alice, ds["id"], "r.jsonl", jsonl([rec]))["status"] == "succeeded"
    rid = alice.get(f"datasets/{ds['id']}/records")["records"][0]["id"]
    swapped = {"prompt": "Best greeting!", "candidates": rec["candidates"][::-1]}
    r = alice.call("PUT", f"datasets/{ds['id']}/records/{rid}", json={"data": swapped})
    assert r.json()["data"]["candidates"][0]["text"] == "yo"
    r = alice.call("POST", f"datasets/{ds['id']}/records/{rid}/restore", json={"what": "order"})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"prompt": "Best greeting!", "candidates": rec["candidates"]}

    assert publish(alice, ds["id"])["status"] == "succeeded"
    r = alice.call("POST", f"datasets/{ds['id']}/versions/1/accelerate")
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30
    while (v := alice.get(f"datasets/{ds['id']}/versions/1"))["acceleration"][
        "status"
    ] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert v["acceleration"]["status"] == "ready", v
    assert v["acceleration"]["done"] == v["size"]


def test_presets_are_listed_and_read_only(alice: Api) -> None:
    deadline = time.monotonic() + 60
    while True:
        presets = [d for d in alice.get("datasets")["datasets"] if d["preset"]]
        if presets and all(d["latest_version"] for d in presets):
            break
        assert time.monotonic() < deadline, presets
        time.sleep(0.5)
    names = {d["name"] for d in presets}
    assert {"alpaca_zh_demo", "alpaca_en_demo"} <= names
    zh = next(d for d in presets if d["name"] == "alpaca_zh_demo")
    assert zh["latest"]["records"] >= 200 and zh["read_only"]
    problem(alice.call("POST", f"datasets/{zh['id']}/publish", json={}), 403)


def test_jobs_mount_published_versions(alice: Api, bob: Api) -> None:
    ds = create(alice, "for-jobs")
    assert import_bytes(alice, ds["id"], "a.jsonl", jsonl(GOOD))["status"] == "succeeded"
    r = alice.call(
        "POST",
        "jobs",
        json={"name": "m", "command": "true", "mounts": [{"kind": "dataset", "name": "for-jobs"}]},
    )
    assert "publish it first" in problem(r, 400, "mounts.0.name")
    assert publish(alice, ds["id"])["status"] == "succeeded"
    job = alice.submit(
        command='wc -l < "$SXWL_MOUNT_ROOT/datasets/for-jobs/data.jsonl" && '
        "head -c 60 mnt/datasets/for-jobs/data.jsonl",
        mounts=[{"kind": "dataset", "name": "for-jobs"}],
    )
    assert job["mounts"] == [
        {
            "kind": "dataset",
            "id": ds["id"],
            "name": "for-jobs",
            "version": 1,
            "path": "mnt/datasets/for-jobs",
        }
    ]
    done = alice.wait(job["id"])
    assert done["status"] == "Succeeded", done
    log = alice.call("GET", f"jobs/{job['id']}/logs").text
    assert log.splitlines()[0].strip() == "3" and "Translate to French" in log
    # Someone else's dataset cannot be mounted.
    r = bob.call(
        "POST",
        "jobs",
        json={"name": "x", "command": "true", "mounts": [{"kind": "dataset", "name": ds["id"]}]},
    )
    problem(r, 400, "mounts.0.name")
