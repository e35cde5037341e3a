"""Datasets, models and mounts through the ``sxwl`` command and the SDK, against the real
platform behind a real JupyterHub (the ``hub`` fixture)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import requests

from jupyter_sxwl.client import Client
from jupyter_sxwl.client.uploads import Progress
from tests.support import Hub
from tests.test_cli import Sxwl

pytestmark = pytest.mark.slow

GOOD = [
    {"instruction": "Translate to French", "input": "cat", "output": "chat"},
    {"instruction": "2 + 2 = ?", "output": "4"},
    {"instruction": "Name a colour", "output": "blue"},
]


def jsonl(records: list[dict[str, str]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def waits(sxwl: Sxwl, *args: str) -> tuple[str, str]:
    """Run a command that reports progress on stderr; its stdout and stderr."""
    proc = sxwl.run(*args)
    assert proc.returncode == 0, f"sxwl {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    assert "error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout, proc.stderr


def test_dataset_from_import_to_a_mount_in_another_users_lab(hub: Hub, tmp_path: Path) -> None:
    alice_token, bob_token = hub.token_for("alice"), hub.token_for("bob")
    alice = Sxwl.for_hub(hub, alice_token, tmp_path)
    bob = Sxwl.for_hub(hub, bob_token, tmp_path)
    assert "created dataset cli-faq (instruction)" in alice.sh(
        "dataset create cli-faq --type instruction --description 'for the CLI test'"
    )
    # Line 3 is broken JSON: the import keeps it, and the report says where it is.
    (tmp_path / "train.jsonl").write_text(
        jsonl(GOOD[:2]) + '{"instruction": "oops", "output": \n' + jsonl(GOOD[2:])
    )
    report, progress = waits(alice, "dataset", "import", "cli-faq", "train.jsonl")
    assert "uploading 100%" in progress
    assert "succeeded" in report.splitlines()[0], report
    assert "4 records, 1 invalid" in report and "  train.jsonl:3: " in report

    row = next(line for line in alice("datasets").splitlines() if line.startswith("cli-faq "))
    assert row.split() == ["cli-faq", "instruction", "4", "1", "-", "owner"]
    err = alice("publish", "cli-faq", expect=2)
    assert err.startswith("error: ") and "train.jsonl line 3" in err

    # Fix the record with the SDK, as a notebook would.
    client = Client(url=hub.platform_url, token=alice_token)
    bad = json.loads(alice("dataset", "records", "cli-faq", "--invalid", "--json"))
    assert bad["total"] == 1 and bad["records"][0]["line"] == 3
    fixed = client.update_record(
        "cli-faq", bad["records"][0]["id"], {"instruction": "oops", "output": "fixed"}, True
    )
    assert fixed["issues"] == [] and fixed["reviewed"]
    assert "1-4 of 4" in alice("dataset", "records", "cli-faq")

    out, progress = waits(alice, "publish", "cli-faq", "--notes", "first cut")
    assert out.startswith("published cli-faq v1: 4 records, sha256 "), out
    assert "publishing" in progress
    assert "unchanged since v1" in waits(alice, "publish", "cli-faq")[0]
    versions = alice("dataset", "versions", "cli-faq")
    assert versions.splitlines()[1].split()[:2] == ["v1", "4"] and "first cut" in versions
    assert "4 records, 0 invalid, 1 reviewed, 1 edited" in alice("dataset", "show", "cli-faq")

    path = Path(alice("dataset", "download", "cli-faq", "-v", "1", "-o", "dl").strip())
    assert path == tmp_path / "dl" / "cli-faq-v1.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["output"] for r in lines] == ["chat", "4", "fixed", "blue"]

    # A job reads the version where --mount put it.
    out = alice(
        "submit", "single", "--no-code", "--mount", "dataset:cli-faq:1", "--follow", "--",
        "wc -l < $SXWL_MOUNT_ROOT/datasets/cli-faq/data.jsonl",
    )  # fmt: skip
    assert out.splitlines()[1].strip() == "4" and "Succeeded" in out.splitlines()[-1], out

    # Shared with bob, who adds it and mounts it read-only in his lab.
    share = json.loads(alice("dataset", "share", "cli-faq", "--days", "2", "--json"))
    assert share["token"] and "sxwl dataset add-shared" in alice("dataset", "share", "cli-faq")
    added = bob("dataset", "add-shared", share["token"])
    assert "added cli-faq (shared by alice, read-only" in added
    assert "shared by alice" in bob("datasets")
    bob.env["SXWL_MOUNT_ROOT"] = str(tmp_path / "bob-mnt")
    out = bob("mount", "dataset", "cli-faq")
    mounted = tmp_path / "bob-mnt" / "datasets" / "cli-faq"
    assert out == f"mounted dataset cli-faq at {mounted}\n"
    assert (mounted / "data.jsonl").read_bytes() == path.read_bytes()
    assert json.loads((mounted / "manifest.json").read_text())["version"] == 1
    assert str(mounted) in bob("mounts")
    assert bob("unmount", "dataset", "cli-faq") == "unmounted dataset cli-faq\n"
    assert not mounted.exists() and path.exists()

    # Revoked: bob loses it; deleting it is alice's alone.
    assert "revoked" in alice("dataset", "revoke-share", share["id"])
    assert bob("dataset", "show", "cli-faq", expect=2).startswith("error: ")
    assert alice("dataset", "delete", "cli-faq") == "deleted dataset cli-faq\n"


def test_an_interrupted_upload_resumes_where_it_stopped(hub: Hub, tmp_path: Path) -> None:
    token = hub.token_for("alice")
    chunk = 64 << 10
    path = tmp_path / "big.jsonl"
    line = jsonl(GOOD[:1]).encode()
    path.write_bytes(line * (3 * chunk // len(line) + 5))
    data = path.read_bytes()
    # A first attempt sent one chunk, then died.
    headers = {"Authorization": f"token {token}"}
    r = requests.post(
        hub.platform_url + "uploads",
        json={"filename": path.name, "size": len(data), "purpose": "dataset",
              "sha256": hashlib.sha256(data).hexdigest()},
        headers=headers,
        timeout=30,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    upload_id = r.json()["id"]
    r = requests.put(
        hub.platform_url + f"uploads/{upload_id}?offset=0",
        data=data[:chunk],
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["received"] == chunk, r.text

    client = Client(url=hub.platform_url, token=token)
    reports: list[Progress] = []
    up = client.upload_file(path, chunk_size=chunk, upload_id=upload_id, progress=reports.append)
    assert up["status"] == "complete" and up["sha256"] == hashlib.sha256(data).hexdigest()
    sent = [r.done for r in reports if r.phase == "uploading"]
    assert sent[0] == chunk and sent[-1] == len(data)  # the first chunk was not sent again

    # A folder is zipped and imported; the SDK waits for the report.
    (tmp_path / "folder" / "part").mkdir(parents=True)
    (tmp_path / "folder" / "a.jsonl").write_text(jsonl(GOOD))
    (tmp_path / "folder" / "part" / "b.jsonl").write_text(jsonl(GOOD[:1]))
    client.create_dataset("sdk-folder", "instruction")
    imp = client.import_dataset("sdk-folder", tmp_path / "folder")
    assert (imp["status"], imp["files"], imp["records"], imp["invalid"]) == (
        "succeeded", 2, 4, 0,
    )  # fmt: skip
    op = client.publish("sdk-folder")
    assert op["result"]["version"] == 1
    version = client.accelerate("sdk-folder", 1, wait=True, timeout=60)
    assert version["acceleration"]["status"] == "ready"
    client.delete_dataset("sdk-folder")


def test_model_from_a_lab_folder_to_a_mount(hub: Hub, tmp_path: Path) -> None:
    alice = Sxwl.for_hub(hub, hub.token_for("alice"), tmp_path)
    lab = tmp_path / "out"
    (lab / "weights").mkdir(parents=True)
    (lab / "config.json").write_text('{"model_type": "llama"}')
    weights = os.urandom(200_000)
    (lab / "weights" / "model.safetensors").write_bytes(weights)
    assert "created model cli-llama" in alice("model", "create", "cli-llama", "--family", "llama")
    out, progress = waits(alice, "model", "import", "cli-llama", "--lab-dir", "out")
    assert out.startswith("cli-llama v1: ready (2 files, "), out
    assert "packing" in progress and "uploading" in progress

    row = next(line for line in alice("models").splitlines() if line.startswith("cli-llama "))
    assert row.split() == ["cli-llama", "llama", "v1", "1", "owner"]
    files = alice("model", "files", "cli-llama")
    assert "config.json" in files and "weights/model.safetensors" in files
    assert "lab" in alice("model", "versions", "cli-llama")
    folder = Path(alice("model", "download", "cli-llama", "-o", "dl").strip())
    assert folder == tmp_path / "dl" / "cli-llama-v1"
    assert (folder / "weights" / "model.safetensors").read_bytes() == weights

    alice.env["SXWL_MOUNT_ROOT"] = str(tmp_path / "mnt")
    alice("mount", "model", "cli-llama", "-v", "1")
    mounted = tmp_path / "mnt" / "models" / "cli-llama"
    assert json.loads((mounted / "config.json").read_text()) == {"model_type": "llama"}
    err = alice("mount", "model", "no-such-model", expect=2)
    assert err.startswith("error: ") and "no-such-model" in err

    # Bob copies it into his own repository with a share token.
    share = json.loads(alice("model", "share", "cli-llama", "-v", "1", "--json"))
    bob = Sxwl.for_hub(hub, hub.token_for("bob"), tmp_path)
    out, _ = waits(bob, "model", "import-shared", share["token"], "--name", "from-alice")
    assert out.startswith("from-alice v1: ready (2 files"), out
    assert "share alice/cli-llama v1" in bob("model", "versions", "from-alice")
    assert alice("model", "delete", "cli-llama") == "deleted model cli-llama\n"
    assert "weights/model.safetensors" in bob("model", "files", "from-alice")
