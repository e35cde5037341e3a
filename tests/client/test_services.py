"""The services SDK, command line and widgets where the point is the client's own logic: what
it sends, how it signs, how it reads a stream of answers and keeps its chat key. The tiny HTTP
server stands in for the platform and its gateway; what the platform decides is tested against
the real one in tests/client/test_services_platform.py and tests/test_cli_services.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
import time
from pathlib import Path

import pytest

from jupyter_sxwl import cli
from jupyter_sxwl.client import Client, SxwlAPIError, SxwlError
from jupyter_sxwl.client.services import iter_sse, keys_path, model_ref, sign
from jupyter_sxwl.widgets import ChatAnswer
from jupyter_sxwl.widgets.services import services_html

from .conftest import FakePlatform, Request, json_reply

SERVICE = {
    "id": "svc-1",
    "name": "tiny",
    "owner": "ann",
    "kind": "llm",
    "status": "running",
    "address": "/services/sxwl/endpoints/tiny/",
    "model": {"name": "sxwl-tiny-llama", "version": 1},
    "adapter": None,
    "revision": 1,
    "resources": {"cpu": 2},
    "sleep_after_minutes": 30,
    "requests": 1234,
    "message": "",
}


def client_for(fake_platform: FakePlatform) -> Client:
    return Client(url=fake_platform.url, token="t", timeout=5)


def sse(*events: object) -> list[bytes]:
    """A server-sent event stream, one event a chunk, ending with [DONE]."""
    chunks = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
    return [*chunks, b"data: [DONE]\n\n"]


def delta(text: str) -> dict[str, object]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Chat keys go to a folder of this test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def test_sign_is_hex_hmac_sha1_of_key_secret_and_timestamp() -> None:
    headers = sign("ak-1", "s3cret", timestamp=1700000000123)
    expected = hmac.new(b"s3cret", b"ak-1s3cret1700000000123", hashlib.sha1).hexdigest()
    assert headers == {"AppKey": "ak-1", "Timestamp": "1700000000123", "Sign": expected}
    now = sign("ak-1", "s3cret")
    assert abs(int(now["Timestamp"]) - time.time() * 1000) < 60_000
    assert len(now["Sign"]) == 40 and now["Sign"] == now["Sign"].lower()


def test_model_refs_and_sse_parsing() -> None:
    assert model_ref("sxwl-tiny-llama") == {"name": "sxwl-tiny-llama"}
    assert model_ref("lora:2") == {"name": "lora", "version": 2}
    assert model_ref({"name": "x", "version": None}, version=3) == {"name": "x", "version": 3}
    lines = b'data: {"a": 1}\n\n: comment\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n'.split(b"\n")
    assert list(iter_sse(iter(lines))) == [{"a": 1}, {"b": 2}]
    with pytest.raises(SxwlError, match="too long"):
        list(iter_sse(iter([b'data: {"error": {"message": "too long"}}', b""])))


def test_deploy_sends_the_api_body_and_checks_what_it_can(fake_platform: FakePlatform) -> None:
    fake_platform.route(
        "POST", "services", lambda r: json_reply({**SERVICE, **json.loads(r.body)}, 201)
    )
    client = client_for(fake_platform)
    client.deploy(
        "tiny",
        "sxwl-tiny-llama:1",
        adapter="my-lora",
        resources={"cpu": 2, "replicas": None},
        sleep_after_minutes=30,
    )
    assert json.loads(fake_platform.requests[-1].body) == {
        "name": "tiny",
        "kind": "llm",
        "model": {"name": "sxwl-tiny-llama", "version": 1},
        "adapter": {"name": "my-lora"},
        "resources": {"cpu": 2},
        "sleep_after_minutes": 30,
    }
    client.deploy(
        "app",
        image="python:3.12",
        code_package="code-1",
        requirements=["gradio", "numpy<3"],
        env={"A": "1"},
        command="python app.py",
        port=7860,
    )
    assert json.loads(fake_platform.requests[-1].body) == {
        "name": "app",
        "kind": "custom",
        "image": "python:3.12",
        "code_package": "code-1",
        "requirements": "gradio\nnumpy<3",
        "env": {"A": "1"},
        "command": "python app.py",
        "port": 7860,
    }
    sent = len(fake_platform.requests)
    with pytest.raises(SxwlError, match=r"resources\.gpus"):
        client.deploy("x", "m", resources={"gpus": 1})
    with pytest.raises(SxwlError, match="model"):
        client.deploy("x", kind="llm")
    assert len(fake_platform.requests) == sent  # refused before asking


def test_services_by_name_and_their_keys(fake_platform: FakePlatform) -> None:
    fake_platform.route("GET", "services/tiny", json_reply(SERVICE))
    fake_platform.route(
        "POST", "services/tiny/sleep", json_reply({**SERVICE, "status": "sleeping"})
    )
    fake_platform.route("GET", "services/svc-1/keys", json_reply({"items": [{"id": "key-1"}]}))
    fake_platform.route("DELETE", "services/tiny/keys/key-1", (204, {}, b""))
    fake_platform.route(
        "GET",
        "services/tiny/logs",
        lambda r: (200, {"X-Log-Offset": "11"}, b"ready\n"[int(r.query.get("offset", 0)) :]),
    )
    client = client_for(fake_platform)
    assert client.service("tiny")["id"] == "svc-1"
    assert client.sleep_service("tiny")["status"] == "sleeping"
    assert client.service_keys("svc-1") == [{"id": "key-1"}]
    client.revoke_service_key("tiny", "key-1")
    assert fake_platform.requests[-1].method == "DELETE"
    assert client.service_logs("tiny") == ("ready\n", 11)
    assert client.endpoint_url(SERVICE) == fake_platform.url.removesuffix("api/v1/") + (
        "endpoints/tiny/"
    )
    assert cli.format_services([SERVICE]).splitlines()[1].split() == [
        "tiny", "svc-1", "running", "sxwl-tiny-llama", "v1", "/services/sxwl/endpoints/tiny/",
        "1,234", "after", "30", "min",
    ]  # fmt: skip
    table = services_html([{**SERVICE, "name": "<b>x</b>"}])
    assert "&lt;b&gt;x&lt;/b&gt;" in table and "1,234" in table


def gateway(fake_platform: FakePlatform, answer: list[bytes] | None = None) -> list[Request]:
    """Routes of a service ``tiny`` behind the gateway; returns the requests that reached it."""
    reached: list[Request] = []
    fake_platform.route("GET", "services/tiny", json_reply(SERVICE))
    fake_platform.route("GET", "services/svc-1", json_reply(SERVICE))
    keys = iter(range(1, 100))
    fake_platform.route(
        "POST",
        "services/svc-1/keys",
        lambda r: json_reply({"id": "key-x", "app_key": "ak", "bearer": f"sk-{next(keys)}"}, 201),
    )
    fake_platform.route(
        "GET", "/endpoints/tiny/v1/models", json_reply({"data": [{"id": "tiny-model"}]})
    )

    def chat(r: Request) -> tuple[int, dict[str, str], bytes | list[bytes]]:
        reached.append(r)
        if r.headers.get("Authorization") == "Bearer sk-revoked":
            return 401, {"Content-Type": "application/problem+json"}, b'{"detail": "revoked"}'
        body = json.loads(r.body)
        if not body.get("messages"):
            error = {"message": "must not be empty", "param": "messages",
                     "type": "invalid_request_error", "code": None}  # fmt: skip
            return 400, {"Content-Type": "application/json"}, json.dumps({"error": error}).encode()
        if body.get("stream"):
            return 200, {"Content-Type": "text/event-stream"}, answer or []
        message = {"role": "assistant", "content": "hello there"}
        return json_reply({"choices": [{"message": message}], "usage": {"prompt_tokens": 3}})

    fake_platform.route("POST", "/endpoints/tiny/v1/chat/completions", chat)
    return reached


def test_chat_streams_with_a_key_it_makes_once_and_keeps(
    fake_platform: FakePlatform, config_home: Path
) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 3}
    reached = gateway(
        fake_platform,
        sse(delta("Hel"), delta("lo"), delta("!"), {"choices": [], "usage": usage}),
    )
    client = client_for(fake_platform)
    stream = client.chat("tiny", "hi", stream=True, max_tokens=8)
    assert list(stream) == ["Hel", "lo", "!"]
    assert stream.text == "Hello!" and stream.usage == usage
    body = json.loads(reached[-1].body)
    assert body == {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "tiny",
        "max_tokens": 8,
        "stream": True,
    }
    assert reached[-1].headers["Authorization"] == "Bearer sk-1"
    path = keys_path()
    assert path.parent == config_home / "sxwl" and stat.S_IMODE(path.stat().st_mode) == 0o600

    # The kept key is used again, not a new one made.
    assert client.chat("tiny", [{"role": "user", "content": "again"}], model="m") == "hello there"
    assert reached[-1].headers["Authorization"] == "Bearer sk-1"
    assert sum(1 for r in fake_platform.requests if r.path.endswith("/keys")) == 1

    # A revoked kept key: a new one is made once and the request repeated.
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({k: "sk-revoked" for k in stored}))
    assert client.chat("tiny", "third", model="m") == "hello there"
    assert reached[-1].headers["Authorization"] == "Bearer sk-2"

    # A key given explicitly is used as it is, and its refusal reported.
    with pytest.raises(SxwlAPIError) as err:
        client.chat("tiny", "x", model="m", key="sk-revoked")
    assert err.value.status == 401 and "revoked" in str(err.value)
    # OpenAI-style errors of the model server name the parameter.
    with pytest.raises(SxwlAPIError) as err:
        client.chat("tiny", [], model="m")
    assert err.value.status == 400 and str(err.value) == "messages: must not be empty"


def test_chat_command_and_widget_stream_the_answer(
    fake_platform: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway(fake_platform, sse(delta("Bon"), delta("jour")))
    argv = ["--url", fake_platform.url, "--token", "t", "chat", "tiny", "hi", "--max-tokens", "4"]
    assert cli.run(cli.parse_args(argv)) == 0
    assert capsys.readouterr().out == "Bonjour\n"
    assert cli.run(cli.parse_args([*argv, "--no-stream"])) == 0
    assert capsys.readouterr().out == "hello there\n"

    answer = ChatAnswer(client_for(fake_platform), "tiny", "hi", flush_interval=0.01)
    assert answer.wait(timeout=60) == "Bonjour"
    assert "Bonjour" in answer.answer.value
    assert cli.run(cli.parse_args([*argv[:4], "chat", "tiny", "x", "--key", "sk-revoked"])) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_deploy_and_keys_commands_print_what_a_user_needs(
    fake_platform: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_platform.route("POST", "services", lambda r: json_reply(SERVICE, 201))
    fake_platform.route(
        "POST",
        "services/tiny/keys",
        json_reply({"id": "key-1", "app_key": "ak-1", "app_secret": "as-1", "bearer": "sk-1"}),
    )
    base = ["--url", fake_platform.url, "--token", "t"]
    assert cli.run(cli.parse_args([*base, "deploy", "tiny", "--model", "sxwl-tiny-llama"])) == 0
    out = capsys.readouterr().out
    assert out.startswith("deployed tiny (svc-1): running") and "service keys tiny" in out
    assert cli.run(cli.parse_args([*base, "deploy", "nothing"])) == 2
    assert "--model" in capsys.readouterr().err
    assert cli.run(cli.parse_args([*base, "service", "keys", "tiny", "--create"])) == 0
    out = capsys.readouterr().out
    assert "AppSecret: as-1" in out and "bearer:    sk-1" in out and "this once" in out
