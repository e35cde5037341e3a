"""Mounts chosen on the hub's spawn page (L2): the page lists what the user can mount, and
what they tick is in ~/mnt when the lab starts. Mounting while the lab runs goes through the
lab's /sxwl/lab/mounts (forwarded to the platform with the lab's token)."""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from pathlib import Path

import requests

from tests.e2e.test_hub_smoke import login
from tests.support import Hub


def publish_dataset(hub: Hub, token: str, name: str) -> None:
    api = hub.platform_url
    headers = {"Authorization": f"token {token}"}
    r = requests.post(
        api + "datasets",
        json={"name": name, "annotation_type": "instruction"},
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    ds = r.json()["id"]
    data = b'{"instruction": "spawn", "output": "mounted"}\n'
    up = requests.post(
        api + "uploads",
        headers=headers,
        timeout=30,
        json={"filename": "a.jsonl", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    ).json()
    requests.put(api + f"uploads/{up['id']}?offset=0", data=data, headers=headers, timeout=30)
    imp = requests.post(
        api + f"datasets/{ds}/imports", json={"upload_id": up["id"]}, headers=headers, timeout=30
    ).json()
    deadline = time.monotonic() + 30
    while (
        requests.get(
            api + f"datasets/{ds}/imports/{imp['id']}", headers=headers, timeout=30
        ).json()["status"]
        == "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    op = requests.post(api + f"datasets/{ds}/publish", json={}, headers=headers, timeout=30).json()
    while (
        (requests.get(api + f"operations/{op['id']}", headers=headers, timeout=30).json()["status"])
        == "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_spawn_page_mounts_and_mounting_while_the_lab_runs(hub: Hub) -> None:
    token = hub.token_for("dora")
    headers = {"Authorization": f"token {token}"}
    publish_dataset(hub, token, "spawn-data")
    session, response = login(hub, "dora", hub.user_password)
    assert response.status_code in (302, 303)
    page = session.get(f"{hub.url}/hub/spawn", timeout=60)
    assert page.status_code == 200, page.text[-2000:]
    assert "spawn-data" in page.text and "~/mnt/datasets/spawn-data" in page.text
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    value = re.search(r'name="sxwl_mount" value="([^"]+)"', page.text)
    assert action and value
    form_value = html.unescape(value.group(1))
    assert json.loads(form_value)["name"] == "spawn-data"
    target = html.unescape(action.group(1))
    r = session.post(
        target if target.startswith("http") else hub.url + target,
        data={"sxwl_mount": form_value},
        allow_redirects=False,
        timeout=60,
    )
    assert r.status_code in (200, 302, 303), r.text[-2000:]
    home = hub.state_dir / "home" / "dora"
    try:
        deadline = time.monotonic() + 90
        mounted = home / "mnt" / "datasets" / "spawn-data" / "data.jsonl"
        while not mounted.exists():
            assert time.monotonic() < deadline, hub.hub_log()[-3000:]
            time.sleep(0.5)
        assert json.loads(mounted.read_text())["output"] == "mounted"

        while (
            not requests.get(f"{hub.api_url}/users/dora", headers=headers, timeout=30)
            .json()["servers"]
            .get("", {})
            .get("ready")
        ):
            assert time.monotonic() < deadline, hub.hub_log()[-3000:]
            time.sleep(0.5)
        # While the lab runs: list, unmount and mount again through the lab server.
        lab = f"{hub.url}/user/dora/sxwl/lab/mounts"
        listed = requests.get(lab, headers=headers, timeout=30).json()["mounts"]
        assert [m["name"] for m in listed] == ["spawn-data"]
        assert (
            requests.delete(lab + "/dataset/spawn-data", headers=headers, timeout=30).status_code
            == 204
        )
        assert not Path(home / "mnt" / "datasets" / "spawn-data").exists()
        r = requests.post(
            lab, json={"kind": "dataset", "name": "spawn-data"}, headers=headers, timeout=60
        )
        assert r.status_code == 201, r.text
        assert mounted.exists()
        r = requests.post(
            lab, json={"kind": "dataset", "name": "nobody"}, headers=headers, timeout=60
        )
        assert r.status_code == 404
    finally:
        requests.delete(f"{hub.api_url}/users/dora/server", headers=headers, timeout=60)
