"""Services through the SDK against the real platform behind a real hub: the tiny Llama the
platform builds at its first start is deployed, called through the gateway with a key (bearer,
signed, streamed), updated (to another model version while requests keep coming), put to
sleep and woken, and deleted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from jupyter_sxwl.client import Client, SxwlAPIError
from jupyter_sxwl.client.services import sign
from tests.support import TINY_MODEL, Hub, start_tiny_hub, wait_tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_hub() -> Iterator[Hub]:
    with start_tiny_hub("services-sdk") as hub:
        yield hub


@pytest.fixture
def client(tiny_hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Client:
    """Sven's client, once the tiny model is ready; chat keys kept under tmp_path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    wait_tiny_model(tiny_hub, "sven")
    return Client(url=tiny_hub.platform_url, token=tiny_hub.token_for("sven"))


def test_deploy_call_sleep_wake_update_and_delete(client: Client, tiny_hub: Hub) -> None:
    service = client.deploy("sdk-tiny", TINY_MODEL, resources={"cpu": 1}, wait=True, timeout=180)
    assert service["status"] == "running" and service["kind"] == "llm"
    assert service["address"] == "/services/sxwl/endpoints/sdk-tiny/"
    assert client.endpoint_url(service) == f"{tiny_hub.url}/services/sxwl/endpoints/sdk-tiny/"
    assert any(s["id"] == service["id"] for s in client.services())
    text, offset = client.service_logs("sdk-tiny")  # what the model server printed
    assert text and offset == len(text.encode()), (text, offset)
    assert client.service_logs("sdk-tiny", offset) == ("", offset)

    # A key of our own, used three ways.
    key = client.create_service_key("sdk-tiny", name="test")
    assert key["app_secret"] and key["bearer"]
    url = client.endpoint_url(service) + "v1/chat/completions"
    body = {"model": "sdk-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    signed = requests.post(
        url, json=body, headers=sign(key["app_key"], key["app_secret"]), timeout=60
    )
    assert signed.status_code == 200, signed.text
    answer = client.chat("sdk-tiny", "hello", key=key["bearer"], max_tokens=6)
    assert isinstance(answer, str)
    stream = client.chat("sdk-tiny", "tell me more", key=key["bearer"], stream=True, max_tokens=8)
    pieces = list(stream)
    assert len(pieces) >= 1 and stream.text == "".join(pieces)
    assert stream.usage and stream.usage["completion_tokens"] >= 1
    # Without a key the SDK makes one for itself, once.
    client.chat("sdk-tiny", "again", max_tokens=2)
    client.chat("sdk-tiny", "and again", max_tokens=2)
    keys = {k["name"]: k for k in client.service_keys("sdk-tiny")}
    assert set(keys) == {"test", "sxwl chat"} and keys["test"]["requests"] >= 3
    assert "app_secret" not in keys["test"] and "bearer" not in keys["test"]

    # Malformed requests: the model server's OpenAI-style 400, naming the parameter.
    with pytest.raises(SxwlAPIError) as err:
        client.chat("sdk-tiny", "x", key=key["bearer"], max_tokens=-1)
    assert err.value.status == 400
    # A revoked key is refused.
    client.revoke_service_key("sdk-tiny", keys["test"]["id"])
    with pytest.raises(SxwlAPIError) as err:
        client.chat("sdk-tiny", "x", key=key["bearer"])
    assert err.value.status == 401

    # Sleep, then a request wakes it.
    assert client.sleep_service("sdk-tiny")["status"] in ("running", "sleeping")
    assert client.wait_service("sdk-tiny", "sleeping", timeout=60)["status"] == "sleeping"
    assert isinstance(client.chat("sdk-tiny", "wake up", max_tokens=2), str)
    assert client.service("sdk-tiny")["status"] == "running"
    kinds = [e["kind"] for e in client.service_events("sdk-tiny")]
    assert {"started", "ready", "sleeping", "woken"} <= set(kinds), kinds

    # An update is a new revision with its changes.
    updated = client.update_service("sdk-tiny", sleep_after_minutes=5)
    assert updated["revision"] == 2
    revisions = client.service_revisions("sdk-tiny")
    assert revisions[0]["number"] == 2
    assert any(c["field"] == "sleep_after_minutes" for c in revisions[0]["changes"])

    client.delete_service("sdk-tiny")
    with pytest.raises(SxwlAPIError) as err:
        client.service(service["id"])
    assert err.value.status == 404


def test_update_to_another_model_version_answers_every_request_meanwhile(
    client: Client, tmp_path: Path
) -> None:
    folder = client.download_model(TINY_MODEL, dest=tmp_path)
    client.create_model("tiny-copy")
    for _ in range(2):
        client.import_model("tiny-copy", lab_dir=folder, timeout=300)
    client.deploy("sdk-update", "tiny-copy:1", wait=True, timeout=180)
    key = client.create_service_key("sdk-update")["bearer"]

    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def ask() -> None:
        nonlocal answered
        asker = client.clone()
        while not stop.is_set():
            try:
                asker.chat("sdk-update", "hi", key=key, model="sdk-update", max_tokens=2)
                answered += 1
            except SxwlAPIError as e:
                failures.append(str(e))

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    try:
        updated = client.update_service("sdk-update", model="tiny-copy:2")
        assert updated["revision"] == 2 and updated["model"]["version"] == 2
        deadline = time.monotonic() + 180
        while client.service("sdk-update").get("serving_revision") != 2:
            assert time.monotonic() < deadline, client.service("sdk-update")
            time.sleep(0.5)
        before = answered
        while answered < before + 2:  # the new revision answers too
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(60)
    assert not failures, failures
    change = client.service_revisions("sdk-update")[0]["changes"]
    assert any(c["field"].startswith("model") for c in change), change
    client.delete_service("sdk-update")
