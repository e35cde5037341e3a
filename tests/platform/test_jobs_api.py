"""The jobs REST API through a real hub: identity, isolation, admission, bad input."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.platform.conftest import Api
from tests.support import tgz


def upload(api: Api, files: dict[str, str]) -> str:
    r = api.call(
        "POST", "code-packages", data=tgz(files), headers={"Content-Type": "application/gzip"}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]


def job_count(api: Api) -> int:
    return api.get("jobs")["total"]  # type: ignore[no-any-return]


def test_info_reports_identity_and_catalogue(alice: Api, admin: Api) -> None:
    info = alice.get("info")
    assert info["user"] == {"name": "alice", "admin": False}
    assert {f["name"] for f in info["flavours"]} == {"cpu", "gpu-a100"}
    # carol's private queue is not shown to alice
    assert {q["name"] for q in info["queues"]} == {"default", "gpu"}
    assert admin.get("info")["user"] == {"name": "admin", "admin": True}


def test_openapi_document(alice: Api) -> None:
    doc = alice.get("openapi.json")
    assert doc["openapi"].startswith("3.")
    assert "/jobs" in doc["paths"] and "JobSubmit" in doc["components"]["schemas"]


def test_someone_elses_job_is_a_404_and_stays_untouched(alice: Api, bob: Api, admin: Api) -> None:
    job = alice.submit(name="private", command="sleep 30")
    for method, path in [
        ("GET", f"jobs/{job['id']}"),
        ("GET", f"jobs/{job['id']}/logs"),
        ("GET", f"jobs/{job['id']}/artifacts"),
        ("POST", f"jobs/{job['id']}/stop"),
        ("POST", f"jobs/{job['id']}/restart"),
        ("DELETE", f"jobs/{job['id']}"),
    ]:
        r = bob.call(method, path)
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["Content-Type"] == "application/problem+json"
    assert job["id"] not in {j["id"] for j in bob.get("jobs")["items"]}
    seen = alice.get(f"jobs/{job['id']}")
    assert seen["status"] in ("Queued", "Starting", "Running")
    # admins see everyone's jobs with all=1
    assert job["id"] in {j["id"] for j in admin.get("jobs", params={"all": "1"})["items"]}
    assert admin.call("POST", f"jobs/{job['id']}/stop").status_code == 200
    assert alice.wait(job["id"])["status"] == "Stopped"


def test_job_lifecycle_logs_search_usage_artifacts(alice: Api) -> None:
    code = upload(
        alice,
        {
            "train.py": (
                "import os, time\n"
                "print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'], flush=True)\n"
                "print('devices', os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True)\n"
                "time.sleep(2.5)\n"
                "open('output/model.bin', 'wb').write(b'weights')\n"
                "print('saved', flush=True)\n"
            )
        },
    )
    job = alice.submit(
        name="gpu-job",
        command="python train.py",
        code_package=code,
        flavour="gpu-a100",
        accelerators_per_node=2,
        queue="gpu",
    )
    done = alice.wait(job["id"])
    assert done["status"] == "Succeeded", alice.call("GET", f"jobs/{job['id']}/logs").text
    assert done["duration_seconds"] >= 2
    log = alice.call("GET", f"jobs/{job['id']}/logs").text
    assert "rank 0 of 1" in log
    assert "devices 0,1" in log  # the cards the scheduler placed it on
    found = alice.get(f"jobs/{job['id']}/logs", params={"q": "SAVED"})
    assert found["total"] == 1 and found["matches"][0]["text"] == "saved"
    assert alice.get(f"jobs/{job['id']}/usage")["samples"], "no hardware samples"
    files = alice.get(f"jobs/{job['id']}/artifacts")["items"]
    assert [f["path"] for f in files] == ["model.bin"]
    r = alice.call("GET", f"jobs/{job['id']}/artifacts/model.bin")
    assert r.content == b"weights"
    assert alice.call("GET", f"jobs/{job['id']}/artifacts/..%2F..%2Fjob.json").status_code == 404


def test_follow_streams_the_log_until_the_end(alice: Api) -> None:
    job = alice.submit(name="ticker", command="for i in 1 2 3; do echo tick $i; sleep 0.5; done")
    r = alice.call("GET", f"jobs/{job['id']}/logs", params={"follow": "1"}, stream=True)
    text = b"".join(r.iter_content(None)).decode()
    assert [line for line in text.splitlines() if line.startswith("tick")] == [
        "tick 1",
        "tick 2",
        "tick 3",
    ]
    assert alice.wait(job["id"])["status"] == "Succeeded"


def test_stop_resume_and_restart(alice: Api) -> None:
    code = upload(
        alice,
        {
            "train.py": (
                "import os, time\n"
                "ckpt = os.path.join('checkpoints', 'step.txt')\n"
                "start = int(open(ckpt).read()) if os.path.exists(ckpt) else 0\n"
                "print('resume' if os.environ.get('SXWL_RESUME') == '1' else 'fresh', start,"
                " flush=True)\n"
                "for step in range(start, start + 100):\n"
                "    open(ckpt, 'w').write(str(step + 1))\n"
                "    time.sleep(0.1)\n"
            )
        },
    )
    job = alice.submit(name="resumable", command="python train.py", code_package=code)
    alice.wait(job["id"], "Running")
    time.sleep(1.5)
    assert alice.call("POST", f"jobs/{job['id']}/stop").status_code == 200
    assert alice.wait(job["id"])["status"] == "Stopped"
    r = alice.call("POST", f"jobs/{job['id']}/restart", json={"resume": True})
    assert r.status_code == 200 and r.json()["attempt"] == 2
    alice.wait(job["id"], "Running")
    time.sleep(1.0)
    log = alice.call("GET", f"jobs/{job['id']}/logs").text
    first = log.split()[0:2]
    assert first[0] == "resume" and int(first[1]) > 0, log
    assert alice.call("POST", f"jobs/{job['id']}/stop").status_code == 200
    alice.wait(job["id"])
    r = alice.call("POST", f"jobs/{job['id']}/restart", json={"resume": False})
    alice.wait(job["id"], "Running")
    time.sleep(1.0)
    assert alice.call("GET", f"jobs/{job['id']}/logs").text.startswith("fresh 0")
    # the first attempt's log is still there
    assert alice.call("GET", f"jobs/{job['id']}/logs", params={"attempt": 1}).text.startswith(
        "fresh 0"
    )
    r = alice.call("DELETE", f"jobs/{job['id']}")
    assert r.status_code == 204
    assert alice.call("GET", f"jobs/{job['id']}").status_code == 404


def test_queue_position_reason_and_admin_priority(alice: Api, bob: Api, admin: Api) -> None:
    holder = alice.submit(
        name="holder", command="sleep 60", flavour="gpu-a100", accelerators_per_node=4, queue="gpu"
    )
    alice.wait(holder["id"], "Running")
    waiting = alice.submit(
        name="waiter", command="true", flavour="gpu-a100", accelerators_per_node=2, queue="gpu"
    )
    bob_holder = bob.submit(
        name="bob-holder",
        command="sleep 60",
        flavour="gpu-a100",
        accelerators_per_node=4,
        queue="gpu",
    )
    bob.wait(bob_holder["id"], "Running")
    bob_waiting = bob.submit(
        name="bob-waiter",
        command="true",
        flavour="gpu-a100",
        accelerators_per_node=1,
        queue="gpu",
    )
    time.sleep(1.5)
    job = alice.get(f"jobs/{waiting['id']}")
    assert job["status"] == "Queued"
    assert job["queue_position"] == 1
    assert "you use 4 of your 4" in job["wait_reason"], job["wait_reason"]
    assert "queue gpu has 0 of 8 gpu-a100 cards free" in job["wait_reason"], job["wait_reason"]
    assert bob.get(f"jobs/{bob_waiting['id']}")["queue_position"] == 2
    # an ordinary user cannot reorder the queue; an admin can
    r = bob.call("PATCH", f"jobs/{bob_waiting['id']}", json={"priority": "high"})
    assert r.status_code == 403
    r = admin.call("PATCH", f"jobs/{bob_waiting['id']}", json={"priority": "high"})
    assert r.status_code == 200 and r.json()["priority"] == "high"
    time.sleep(1.5)
    assert bob.get(f"jobs/{bob_waiting['id']}")["queue_position"] == 1
    assert alice.get(f"jobs/{waiting['id']}")["queue_position"] == 2
    # a running job's priority cannot change
    r = admin.call("PATCH", f"jobs/{holder['id']}", json={"priority": "low"})
    assert r.status_code == 409
    for api, jid in [(alice, holder["id"]), (bob, bob_holder["id"])]:
        api.call("POST", f"jobs/{jid}/stop")
    assert alice.wait(waiting["id"])["status"] == "Succeeded"
    assert bob.wait(bob_waiting["id"])["status"] == "Succeeded"


def test_admin_manages_queues_and_limits(alice: Api, admin: Api) -> None:
    r = alice.call("POST", "queues", json={"name": "mine"})
    assert r.status_code == 403
    r = admin.call(
        "POST", "queues", json={"name": "research", "quotas": {"gpu-a100": {"accelerators": 2}}}
    )
    assert r.status_code == 201, r.text
    r = admin.call("POST", "queues", json={"name": "bad", "quotas": {"tpu": {}}})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "quotas.tpu"
    r = admin.call("PATCH", "queues/research", json={"users": ["alice"]})
    assert r.status_code == 200 and r.json()["users"] == ["alice"]
    # alice's limit rises above the default of 4 cards
    r = admin.call("PUT", "admin/users/alice/limits", json={"max_accelerators": 8})
    assert r.status_code == 200 and r.json()["max_accelerators"] == 8
    assert alice.get("admin/users/alice/limits")["max_accelerators"] == 8
    r = admin.call("PUT", "admin/users/alice/limits", json={"max_accelerators": 4})
    assert admin.call("DELETE", "queues/research").status_code == 204
    assert admin.call("GET", "queues/research").status_code == 404


# -- bad input: each gets a 4xx naming the field, and nothing stored changes -------------------

BAD_SUBMITS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown flavour", {"flavour": "tpu-v5"}, "flavour"),
    (
        "more cards than a node has",
        {"flavour": "gpu-a100", "accelerators_per_node": 16, "queue": "gpu"},
        "accelerators_per_node",
    ),
    (
        "more cards than the queue",
        {
            "flavour": "gpu-a100",
            "accelerators_per_node": 8,
            "nodes": 2,
            "job_type": "pytorch",
            "queue": "gpu",
        },
        "accelerators_per_node",
    ),
    ("more nodes than exist", {"job_type": "pytorch", "nodes": 9}, "nodes"),
    ("cards on a CPU flavour", {"accelerators_per_node": 1}, "accelerators_per_node"),
    ("empty command", {"command": "   "}, "command"),
    ("negative max run time", {"max_run_minutes": -5}, "max_run_minutes"),
    ("absurd max run time", {"max_run_minutes": 10**9}, "max_run_minutes"),
    ("checkpoint path with ..", {"checkpoint_path": "../../etc"}, "checkpoint_path"),
    ("absolute model path", {"model_path": "/etc/cron.d"}, "model_path"),
    ("shell metacharacters in name", {"name": "x; rm -rf /"}, "name"),
    ("10 kB name", {"name": "a" * 10_000}, "name"),
    ("queue not open to the user", {"queue": "team-x"}, "queue"),
    ("unknown queue", {"queue": "nope"}, "queue"),
    ("unknown field", {"gpus": 3}, "gpus"),
    ("reserved env var", {"env": {"RANK": "3"}}, "env"),
    ("high priority as a user", {"priority": "high"}, "priority"),
    ("code package that is not yours", {"code_package": "code-0000000000"}, "code_package"),
]


@pytest.mark.parametrize(
    ("fields", "field"), [c[1:] for c in BAD_SUBMITS], ids=[c[0] for c in BAD_SUBMITS]
)
def test_bad_submit_names_the_field(alice: Api, fields: dict[str, Any], field: str) -> None:
    before = job_count(alice)
    body = {"name": "bad", "command": "true", **fields}
    r = alice.call("POST", "jobs", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    problem = r.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    assert problem["detail"]
    assert job_count(alice) == before


def test_symlink_out_of_the_work_dir_is_refused(alice: Api) -> None:
    r = alice.call(
        "POST",
        "code-packages",
        data=tgz({"train.py": "print(1)"}, links={"checkpoints": "/etc"}),
        headers={"Content-Type": "application/gzip"},
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "body"
    assert "link" in r.json()["detail"]


def test_checkpoint_path_that_exists_in_the_code_is_refused(alice: Api) -> None:
    code = upload(alice, {"train.py": "print(1)", "ckpt/keep.txt": "x"})
    before = job_count(alice)
    r = alice.call(
        "POST",
        "jobs",
        json={"name": "x", "command": "true", "code_package": code, "checkpoint_path": "ckpt"},
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "checkpoint_path"
    assert job_count(alice) == before


def test_non_utf8_name_is_refused(alice: Api) -> None:
    before = job_count(alice)
    body = b'{"name": "caf\xe9", "command": "true"}'
    r = alice.call("POST", "jobs", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "name"
    r = alice.call("POST", "jobs", json={"name": "caf\udce9", "command": "true"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "name"
    assert job_count(alice) == before


def test_malformed_json_is_refused(alice: Api) -> None:
    before = job_count(alice)
    r = alice.call("POST", "jobs", data=b'{"name": "x", "command": ', headers={})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "body"
    r = alice.call("POST", "jobs", json=["not", "an", "object"])
    assert r.status_code == 400
    assert job_count(alice) == before


def test_expired_and_missing_tokens_are_refused(alice: Api) -> None:
    token = alice.hub.token_for("alice", expires_in=1)
    time.sleep(2.5)
    r = requests.get(
        alice.hub.platform_url + "jobs", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert r.status_code == 401
    assert r.json()["errors"][0]["field"] == "Authorization"
    r = requests.get(alice.hub.platform_url + "jobs", timeout=30)
    assert r.status_code in (401, 403)
    assert r.headers["Content-Type"] == "application/problem+json"


def test_token_without_the_service_scope_is_refused(alice: Api) -> None:
    token = alice.hub.token_for("alice", scopes=["read:users:name!user=alice"])
    r = requests.get(
        alice.hub.platform_url + "jobs", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert r.status_code == 403
