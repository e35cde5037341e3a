"""The endpoint gateway: AppKey/Timestamp/Sign and bearer keys, refusals, streaming, and the
tiny model served end to end (the official ``openai`` client through the gateway, sleep and
wake)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from tests.platform.conftest import PLATFORM_CONFIG, Api
from tests.platform.test_datasets_api import upload_as
from tests.platform.test_jobs_api import upload
from tests.platform.test_models_api import wait_version
from tests.platform.test_services_api import (
    APP,
    bearer,
    deploy,
    events,
    gateway,
    new_key,
    wait_status,
)
from tests.support import TINY_MODEL, Hub, start_hub, wait_tiny_model

GATEWAY_CONFIG = (
    PLATFORM_CONFIG
    + """
c.SxwlPlatform.service_ports = "27000-27999"
c.SxwlPlatform.service_check_interval = 0.5
c.SxwlPlatform.service_wake_timeout = 60
c.SxwlPlatformApp.stop_jobs_on_exit = True
"""
)


@pytest.fixture(scope="module")
def api_hub() -> Iterator[Hub]:
    serve = importlib.util.find_spec("jupyter_sxwl.runtime.serve.__main__") is not None
    args = ["--SxwlPlatform.build_tiny_model=True"] if serve else []
    with start_hub(name="gateway", platform_config_text=GATEWAY_CONFIG, platform_args=args) as hub:
        yield hub


@pytest.fixture(scope="module")
def app(alice: Api) -> dict[str, Any]:
    package = upload(alice, {"app.py": APP})
    deploy(alice, "echo", package)
    deploy(alice, "other", package)
    wait_status(alice, "echo", "running")
    wait_status(alice, "other", "running")
    return {"key": new_key(alice, "echo"), "other_key": new_key(alice, "other")}


def signed(
    key: dict[str, Any], stamp: int | None = None, secret: str | None = None
) -> dict[str, str]:
    """The AppKey headers of seed 002 4.5.3, computed here independently of the platform."""
    ts = str(int(time.time() * 1000) if stamp is None else stamp)
    secret = key["app_secret"] if secret is None else secret
    message = (key["app_key"] + secret + ts).encode()
    sign = hmac.new(secret.encode(), message, hashlib.sha1).hexdigest()
    return {"AppKey": key["app_key"], "Timestamp": ts, "Sign": sign}


def call(api: Api, headers: dict[str, str], name: str = "echo") -> requests.Response:
    return requests.get(gateway(api, name), headers=headers, timeout=60)


def refused(r: requests.Response, *secrets: str) -> str:
    assert r.status_code == 401, (r.status_code, r.text)
    message: str = r.json()["error"]["message"]
    for secret in secrets:
        assert secret not in r.text
    return message


def test_app_key_and_sign(alice: Api, app: dict[str, Any]) -> None:
    key = app["key"]
    r = call(alice, signed(key))
    assert r.status_code == 200, r.text
    assert {"appkey", "sign", "timestamp"}.isdisjoint(r.json()["headers"])


def test_refusals_say_why_and_nothing_about_the_keys(alice: Api, app: dict[str, Any]) -> None:
    key = app["key"]
    hidden = (key["app_secret"], key["bearer"], app["other_key"]["app_key"])
    now = int(time.time() * 1000)
    assert "no credentials" in refused(call(alice, {}), *hidden)
    assert "missing header" in refused(call(alice, {"AppKey": key["app_key"]}), *hidden)
    wrong = signed(key, secret="not-the-secret")
    assert "Sign does not match" in refused(call(alice, wrong), *hidden)
    stale = signed(key, now - 6 * 60 * 1000)
    assert "old" in refused(call(alice, stale), *hidden)
    future = signed(key, now + 6 * 60 * 1000)
    assert "future" in refused(call(alice, future), *hidden)
    bad_stamp = {**signed(key), "Timestamp": "yesterday"}
    assert "milliseconds" in refused(call(alice, bad_stamp), *hidden)
    once = signed(key)
    assert call(alice, once).status_code == 200
    assert "already used" in refused(call(alice, once), *hidden)
    unknown = {**signed(key), "AppKey": "0" * 20}
    assert "Sign does not match" in refused(call(alice, unknown), *hidden)
    assert "not valid" in refused(call(alice, {"Authorization": "Bearer sk-sxwl-nope"}), *hidden)
    assert "Bearer" in refused(call(alice, {"Authorization": "Basic eDp5"}), *hidden)
    # A key of another service of the same user.
    other = call(alice, bearer(app["other_key"]))
    assert "not a key of" in refused(other, *hidden)


def test_revoked_bearer_key_and_counts_per_key(alice: Api, app: dict[str, Any]) -> None:
    extra = new_key(alice, "echo")
    for _ in range(3):
        assert call(alice, bearer(extra)).status_code == 200
    counts = {k["id"]: k["requests"] for k in alice.get("services/echo/keys")["items"]}
    assert counts[extra["id"]] == 3
    r = alice.call("DELETE", f"services/echo/keys/{extra['id']}")
    assert r.status_code == 204
    assert "not valid" in refused(call(alice, bearer(extra)))
    assert "Sign does not match" in refused(call(alice, signed(extra)))
    assert extra["id"] not in {k["id"] for k in alice.get("services/echo/keys")["items"]}


def test_server_sent_events_are_streamed_through(alice: Api, app: dict[str, Any]) -> None:
    # The app sends one event, then waits for /release before the rest: a gateway that
    # buffered the answer would deliver nothing until the app gave up waiting.
    headers = bearer(app["key"])
    with requests.get(
        gateway(alice, "echo") + "stream", headers=headers, stream=True, timeout=60
    ) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        lines = r.iter_lines()
        assert next(lines) == b"data: first"
        assert call(alice, headers).status_code == 200
        assert requests.get(gateway(alice, "echo") + "release", headers=headers, timeout=30).ok
        rest = [line for line in lines if line]
    assert rest == [b"data: released=True", b"data: [DONE]"]


# -- the tiny model, served -------------------------------------------------------------------


def test_llm_service_with_the_openai_client_sleep_and_wake(alice: Api) -> None:
    if importlib.util.find_spec("jupyter_sxwl.runtime.serve.__main__") is None:
        pytest.skip("the model server (jupyter_sxwl.runtime.serve) is not in this checkout")
    import openai

    wait_tiny_model(alice.hub, "alice")
    r = alice.call(
        "POST",
        "services",
        json={
            "name": "tiny-chat",
            "kind": "llm",
            "model": {"name": TINY_MODEL},
            "max_new_tokens": 16,
        },
    )
    assert r.status_code == 201, r.text
    svc = wait_status(alice, "tiny-chat", "running", "failed", timeout=180)
    assert svc["status"] == "running", svc
    assert svc["model"]["name"] == TINY_MODEL and svc["model"]["version"] >= 1
    key = new_key(alice, "tiny-chat")
    client = openai.OpenAI(
        base_url=f"{alice.hub.url}/services/sxwl/endpoints/tiny-chat/v1",
        api_key=key["bearer"],
        max_retries=0,
    )
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny-chat"]
    answer = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "hello"}], max_tokens=8
    )
    assert answer.usage is not None and answer.usage.completion_tokens >= 1
    chunks = list(
        client.chat.completions.create(
            model="tiny-chat",
            messages=[{"role": "user", "content": "hello"}],
            max_tokens=8,
            stream=True,
        )
    )
    assert len(chunks) >= 2
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="tiny-chat", messages=[], max_tokens=8)

    # AppKey/Sign with plain requests.
    r = requests.post(
        f"{alice.hub.url}/services/sxwl/endpoints/tiny-chat/v1/completions",
        json={"model": "tiny-chat", "prompt": "once upon", "max_tokens": 4},
        headers=signed(key),
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] >= 1

    # Sleep: the serving process stops and a standby (libraries imported, no weights) waits.
    asleep = alice.call("POST", "services/tiny-chat/sleep").json()
    assert asleep["status"] == "sleeping" and asleep["standby"] is True
    assert asleep["usage"]["replicas"] == 0
    # The next request wakes it and is answered; the standby loaded the model, no new process.
    answer = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "again"}], max_tokens=4
    )
    assert answer.choices[0].message is not None
    awake = alice.get("services/tiny-chat")
    assert awake["status"] == "running" and awake["standby"] is False
    kinds = events(alice, "tiny-chat")
    assert kinds.index("sleeping") < kinds.index("woken") < len(kinds) - 1
    log = alice.call("GET", "services/tiny-chat/logs").text
    assert log.index("standby on") < log.index("woken: loading") < log.index("ready: serving")

    # A standby made for an older revision is not used: the wake starts the new revision cold.
    alice.call("POST", "services/tiny-chat/sleep")
    r = alice.call("PATCH", "services/tiny-chat", json={"max_new_tokens": 12})
    assert r.status_code == 200 and r.json()["status"] == "sleeping", r.text
    answer = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "third"}], max_tokens=4
    )
    assert answer.choices[0].message is not None
    awake = alice.get("services/tiny-chat")
    assert awake["serving_revision"] == awake["revision"] == 2
    assert "standby on" not in alice.call("GET", "services/tiny-chat/logs").text

    # A standby that died is not used either.
    assert alice.call("POST", "services/tiny-chat/sleep").json()["standby"] is True
    (standby,) = serving_processes(awake["id"])
    assert standby.environ().get("SXWL_SERVE_STANDBY")
    standby.kill()
    answer = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "fourth"}], max_tokens=4
    )
    assert answer.choices[0].message is not None
    (serving,) = serving_processes(awake["id"])
    assert serving.pid != standby.pid and not serving.environ().get("SXWL_SERVE_STANDBY")

    # Stopping a sleeping service stops its standby too.
    alice.call("POST", "services/tiny-chat/sleep")
    stopped = alice.call("POST", "services/tiny-chat/stop").json()
    assert stopped["status"] == "stopped" and stopped["standby"] is False
    assert serving_processes(awake["id"], expect=0) == []
    alice.call("DELETE", "services/tiny-chat")


def serving_processes(service_id: str, expect: int = 1) -> list[psutil.Process]:
    """The model server processes (serving or standby) of one service, once there are
    ``expect`` of them (a process just launched may not have started Python yet)."""
    deadline = time.monotonic() + 30
    while True:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                serve = "jupyter_sxwl.runtime.serve" in (p.info["cmdline"] or [])
                alive = serve and p.status() != psutil.STATUS_ZOMBIE
                if alive and p.environ().get("SXWL_SERVICE_ID") == service_id:
                    found.append(p)
        if len(found) == expect or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def lora_adapter_tar(model_dir: Path) -> bytes:
    """A LoRA adapter (peft, random init) for the model in ``model_dir``, as a .tar."""
    import peft
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    wrapped = peft.get_peft_model(model, config)
    out = model_dir.parent.parent / "adapter"
    wrapped.save_pretrained(out)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(out.iterdir()):
            tar.add(path, arcname=path.name)
    return buf.getvalue()


MODEL_APP = """
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        model = os.environ["SXWL_SERVICE_MODEL_DIR"]
        body = json.dumps({"model_dir": model, "files": sorted(os.listdir(model))}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(os.environ["SXWL_PORT"])), Handler).serve_forever()
"""


def test_an_app_service_finds_its_model_mounted(alice: Api) -> None:
    """A web app deployed with a model version (S2, S7) reads it where an LLM service would."""
    wait_tiny_model(alice.hub, "alice")
    package = upload(alice, {"app.py": MODEL_APP})
    deploy(alice, "model-app", package, model={"name": TINY_MODEL})
    svc = wait_status(alice, "model-app", "running", "failed")
    assert svc["status"] == "running", svc
    r = requests.get(gateway(alice, "model-app"), headers=bearer(new_key(alice, "model-app")))
    assert r.status_code == 200, r.text
    assert r.json()["model_dir"].endswith(f"/mnt/models/{TINY_MODEL}")
    assert {"config.json", "model.safetensors"} <= set(r.json()["files"])
    assert alice.call("DELETE", "services/model-app").status_code == 204


def test_llm_service_from_a_base_model_and_an_adapter(alice: Api, tmp_path: Path) -> None:
    if importlib.util.find_spec("jupyter_sxwl.runtime.serve.__main__") is None:
        pytest.skip("the model server (jupyter_sxwl.runtime.serve) is not in this checkout")
    wait_tiny_model(alice.hub, "alice")
    tiny = next(m for m in alice.get("models")["models"] if m["name"] == TINY_MODEL)
    r = alice.call("GET", f"models/{tiny['id']}/versions/{tiny['latest_version']}/archive")
    assert r.status_code == 200, r.text
    base = tmp_path / "base"
    base.mkdir()
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        tar.extractall(base, filter="data")
    r = alice.call("POST", "models", json={"name": "tiny-lora", "family": "llama"})
    assert r.status_code == 201, r.text
    adapter = r.json()
    (folder,) = base.iterdir()  # the archive holds one folder, <name>-v<version>
    up = upload_as(alice, "adapter.tar", lora_adapter_tar(folder), purpose="model")
    r = alice.call(
        "POST", f"models/{adapter['id']}/versions", json={"source": "upload", "upload_id": up}
    )
    assert r.status_code == 202, r.text
    assert wait_version(alice, adapter["id"], 1)["status"] == "ready", alice.get(
        f"models/{adapter['id']}/versions/1"
    )

    body = {
        "name": "tiny-lora-chat",
        "kind": "llm",
        "model": {"name": TINY_MODEL},
        "adapter": {"name": "tiny-lora", "version": 1},
    }
    r = alice.call("POST", "services", json=body)
    assert r.status_code == 201, r.text
    svc = wait_status(alice, "tiny-lora-chat", "running", "failed", timeout=180)
    assert svc["status"] == "running", svc
    assert svc["adapter"] == {"id": adapter["id"], "name": "tiny-lora", "version": 1}
    key = new_key(alice, "tiny-lora-chat")
    r = requests.post(
        gateway(alice, "tiny-lora-chat") + "v1/chat/completions",
        json={
            "model": "tiny-lora-chat",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 4,
        },
        headers=bearer(key),
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] >= 1
    alice.call("DELETE", "services/tiny-lora-chat")
