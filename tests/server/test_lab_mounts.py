"""Mounting published datasets and model versions into a lab (L2), through the server
extension: added while the lab runs, listed, removed, and mounted at start (SXWL_MOUNTS)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import requests

from tests.server.conftest import LocalServer, start_local_server


def call(server: LocalServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, server.url + path, headers=server.headers(), timeout=60, **kwargs
    )


def publish_dataset(server: LocalServer, name: str) -> None:
    api = "sxwl/api/v1/"
    r = call(server, "POST", api + "datasets", json={"name": name, "annotation_type": "alpaca"})
    assert r.status_code == 201, r.text
    ds = r.json()["id"]
    data = b'{"instruction": "hi", "output": "hello"}\n'
    body = {"filename": "a.jsonl", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    up = call(server, "POST", api + "uploads", json=body).json()
    assert call(server, "PUT", api + f"uploads/{up['id']}?offset=0", data=data).status_code == 200
    imp = call(server, "POST", api + f"datasets/{ds}/imports", json={"upload_id": up["id"]}).json()
    deadline = time.monotonic() + 30
    while (
        call(server, "GET", api + f"datasets/{ds}/imports/{imp['id']}").json()["status"]
        == "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    op = call(server, "POST", api + f"datasets/{ds}/publish", json={}).json()
    while (got := call(server, "GET", api + f"operations/{op['id']}").json())[
        "status"
    ] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert got["status"] == "succeeded", got


def test_mount_list_unmount_and_mount_at_start(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    with start_local_server(tmp_path, {"SXWL_MOUNT_ROOT": str(mnt)}) as server:
        publish_dataset(server, "greetings")
        r = call(server, "POST", "sxwl/lab/mounts", json={"kind": "dataset", "name": "greetings"})
        assert r.status_code == 201, r.text
        assert r.json()["path"] == str(mnt / "datasets" / "greetings")
        data = mnt / "datasets" / "greetings" / "data.jsonl"
        assert json.loads(data.read_text())["output"] == "hello"
        info = json.loads((data.parent / "dataset_info.json").read_text())
        assert info["greetings"]["formatting"] == "alpaca"
        assert data.stat().st_mode & 0o222 == 0  # read-only
        listed = call(server, "GET", "sxwl/lab/mounts").json()["mounts"]
        assert [(m["kind"], m["name"], m["ok"]) for m in listed] == [("dataset", "greetings", True)]

        # Bad requests name the field; a user's own folder is never replaced.
        r = call(server, "POST", "sxwl/lab/mounts", json={"kind": "dataset", "name": "nope"})
        assert r.status_code == 404
        r = call(server, "POST", "sxwl/lab/mounts", json={"kind": "video", "name": "x"})
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "kind"
        (mnt / "datasets" / "mine").mkdir()
        (mnt / "datasets" / "mine" / "notes.txt").write_text("keep me")
        assert call(server, "DELETE", "sxwl/lab/mounts/dataset/mine").status_code == 409
        assert (mnt / "datasets" / "mine" / "notes.txt").read_text() == "keep me"

        assert call(server, "DELETE", "sxwl/lab/mounts/dataset/greetings").status_code == 204
        assert not os.path.lexists(mnt / "datasets" / "greetings")
        assert call(server, "DELETE", "sxwl/lab/mounts/dataset/greetings").status_code == 404

    # What the spawn page chose is mounted when the lab starts.
    wanted = json.dumps([{"kind": "dataset", "name": "greetings", "version": 1}])
    with start_local_server(
        tmp_path, {"SXWL_MOUNT_ROOT": str(mnt), "SXWL_MOUNTS": wanted}
    ) as server:
        deadline = time.monotonic() + 30
        while not (mnt / "datasets" / "greetings" / "data.jsonl").exists():
            assert time.monotonic() < deadline, server.log_path.read_text()[-2000:]
            time.sleep(0.2)
