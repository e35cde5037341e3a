"""The model server end to end: a real ``python -m jupyter_sxwl.runtime.serve`` process on the
tiny model, spoken to with the official ``openai`` client (and plain HTTP for what the client
would not send): chat, streaming, completions, models, batching of concurrent requests,
disconnects, sampling settings, and the OpenAI-style errors of malformed requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import requests

import jupyter_sxwl
from tests.support import free_port

PACKAGE_ROOT = Path(jupyter_sxwl.__file__).resolve().parent.parent
SERVER = [sys.executable, "-m", "jupyter_sxwl.runtime.serve"]
NAME = "tiny-chat"
CAP = 1024
HELLO = [{"role": "user", "content": "Say hello."}]


@dataclass
class ModelServer:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0)

    def async_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0)

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/stats", timeout=10).json()  # type: ignore[no-any-return]

    def post(self, path: str, body: Any) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(
            f"{self.url}{path}",
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )


def start_server(config: dict[str, Any], workdir: Path, timeout: float = 120) -> ModelServer:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "SERVE.json"
    path.write_text(json.dumps(config))
    log = workdir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*SERVER, str(path)], cwd=PACKAGE_ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{config['port']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited ({process.returncode}):\n{log.read_text()}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return ModelServer(process, url, log)
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the server was not ready in {timeout} s:\n{log.read_text()}")


def stop_server(server: ModelServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("tiny-model") / "sxwl-tiny-llama"
    subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.catalog.models.tiny", str(dest)],
        check=True,
        capture_output=True,
        cwd=PACKAGE_ROOT,
    )
    return dest


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    config = {
        "model_dir": str(tiny_model),
        "served_model_name": NAME,
        "port": free_port(),
        "max_batch_size": 8,
        "max_new_tokens": CAP,
    }
    running = start_server(config, tmp_path_factory.mktemp("serve"))
    yield running
    stop_server(running)


def test_health_and_models(server: ModelServer) -> None:
    health = requests.get(f"{server.url}/health", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    models = server.client().models.list()
    assert [m.id for m in models.data] == [NAME]


def test_chat_completion_with_usage(server: ModelServer) -> None:
    answer = server.client().chat.completions.create(
        model=NAME,
        messages=HELLO,
        max_tokens=8,
        temperature=0,  # type: ignore[arg-type]
    )
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 3
    assert 1 <= answer.usage.completion_tokens <= 8
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_max_tokens_is_honoured(server: ModelServer) -> None:
    answer = server.client().chat.completions.create(
        model=NAME,
        messages=HELLO,  # type: ignore[arg-type]
        max_tokens=7,
        extra_body={"ignore_eos": True},
    )
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 7


def test_greedy_and_seeded_answers_repeat(server: ModelServer) -> None:
    client = server.client()

    def ask(**kw: Any) -> str:
        out = client.chat.completions.create(
            model=NAME,
            messages=HELLO,  # type: ignore[arg-type]
            max_tokens=12,
            extra_body={"ignore_eos": True},
            **kw,
        )
        return out.choices[0].message.content or ""

    assert ask(temperature=0) == ask(temperature=0)
    assert ask(temperature=1.0, seed=7) == ask(temperature=1.0, seed=7)
    # Different seeds at a high temperature over a 32,000-token vocabulary: different text.
    assert ask(temperature=1.5, seed=1) != ask(temperature=1.5, seed=2)
    # top_p small enough keeps only the most likely token: the greedy answer.
    assert ask(temperature=1.0, top_p=1e-6, seed=3) == ask(temperature=0)


def test_stream_gives_the_same_text_and_usage_at_the_end(server: ModelServer) -> None:
    client = server.client()
    whole = client.chat.completions.create(
        model=NAME,
        messages=HELLO,  # type: ignore[arg-type]
        max_tokens=16,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    chunks = list(
        client.chat.completions.create(
            model=NAME,
            messages=HELLO,  # type: ignore[arg-type]
            max_tokens=16,
            temperature=0,
            stream=True,
            extra_body={"ignore_eos": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "length"
    assert last.usage is not None and last.usage.completion_tokens == 16
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_stream_is_server_sent_events_ending_with_done(server: ModelServer) -> None:
    body = {"model": NAME, "messages": HELLO, "max_tokens": 4, "stream": True}
    response = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    final = json.loads(events[-2][len("data: ") :])
    assert final["usage"]["completion_tokens"] >= 1


def test_stop_strings_cut_the_answer(server: ModelServer) -> None:
    client = server.client()
    kw: dict[str, Any] = {"max_tokens": 24, "temperature": 0, "extra_body": {"ignore_eos": True}}
    full = client.chat.completions.create(model=NAME, messages=HELLO, **kw)  # type: ignore[arg-type]
    text = full.choices[0].message.content or ""
    # The first place where a two-character string occurs for the first time, past the start.
    cut = next(k for k in range(3, len(text) - 2) if text.find(text[k : k + 2]) == k)
    stop = text[cut : cut + 2]
    stopped = client.chat.completions.create(
        model=NAME,
        messages=HELLO,  # type: ignore[arg-type]
        stop=[stop, "\x00never"],
        **kw,
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == text[:cut]
    streamed = client.chat.completions.create(
        model=NAME,
        messages=HELLO,  # type: ignore[arg-type]
        stop=stop,
        stream=True,
        **kw,
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == text[:cut]


def test_text_completions(server: ModelServer) -> None:
    client = server.client()
    answer = client.completions.create(
        model=NAME, prompt="Once upon a time", max_tokens=5, extra_body={"ignore_eos": True}
    )
    assert answer.object == "text_completion"
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 5
    assert answer.usage.prompt_tokens == 5  # <s> and four pieces
    chunks = list(
        client.completions.create(
            model=NAME,
            prompt="Once upon a time",
            max_tokens=5,
            temperature=0,
            stream=True,
            extra_body={"ignore_eos": True},
        )
    )
    assert chunks[-1].choices[0].finish_reason == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_concurrent_requests_share_decoding_steps(server: ModelServer) -> None:
    before = server.stats()

    async def ask_all() -> list[Any]:
        client = server.async_client()
        asks = [
            client.chat.completions.create(
                model=NAME,
                messages=[{"role": "user", "content": f"Question number {i}"}],
                max_tokens=48,
                temperature=0,
                extra_body={"ignore_eos": True},
            )
            for i in range(6)
        ]
        try:
            return list(await asyncio.gather(*asks))
        finally:
            await client.close()

    answers = asyncio.run(ask_all())
    assert all(a.usage.completion_tokens == 48 for a in answers)
    after = server.stats()
    assert after["requests"] - before["requests"] == 6
    # Several requests went through one forward: far fewer steps than tokens written.
    assert after["max_batch"] >= 2
    assert after["batched_steps"] > before["batched_steps"]
    assert after["decode_steps"] - before["decode_steps"] < 6 * 48
    assert after["active"] == 0


def test_batched_answers_equal_answers_alone(server: ModelServer) -> None:
    """Left padding and joining a running batch change nothing in what a request gets."""
    client = server.client()
    prompts = [f"Tell me about the number {i}, please." * (1 + i % 3) for i in range(4)]

    def alone(p: str) -> str:
        out = client.completions.create(
            model=NAME, prompt=p, max_tokens=10, temperature=0, extra_body={"ignore_eos": True}
        )
        return out.choices[0].text

    expected = [alone(p) for p in prompts]

    async def together() -> list[str]:
        aclient = server.async_client()
        try:
            outs = await asyncio.gather(
                *(
                    aclient.completions.create(
                        model=NAME,
                        prompt=p,
                        max_tokens=10,
                        temperature=0,
                        extra_body={"ignore_eos": True},
                    )
                    for p in prompts
                )
            )
        finally:
            await aclient.close()
        return [o.choices[0].text for o in outs]

    assert asyncio.run(together()) == expected


def test_a_client_that_disconnects_frees_its_slot(server: ModelServer) -> None:
    before = server.stats()
    body = {
        "model": NAME,
        "messages": HELLO,
        "max_tokens": CAP,
        "stream": True,
        "ignore_eos": True,
    }
    with requests.post(
        f"{server.url}/v1/chat/completions", json=body, stream=True, timeout=60
    ) as response:
        lines = response.iter_lines()
        assert next(lines).startswith(b"data: ")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = server.stats()
        if stats["cancelled"] > before["cancelled"] and stats["active"] == 0:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the request was not cancelled: {server.stats()}")
    assert stats["generated_tokens"] - before["generated_tokens"] < CAP


BAD_REQUESTS: list[tuple[str, str, Any, str | None]] = [
    ("chat", "not json", b"{not json", None),
    ("chat", "not an object", [1, 2], None),
    ("chat", "no messages", {"model": NAME}, "messages"),
    ("chat", "empty messages", {"model": NAME, "messages": []}, "messages"),
    (
        "chat",
        "a wrong role",
        {"model": NAME, "messages": [{"role": "robot", "content": "hi"}]},
        "messages[0].role",
    ),
    (
        "chat",
        "a system message later",
        {"model": NAME, "messages": [*HELLO, {"role": "system", "content": "x"}, *HELLO]},
        "messages[1].role",
    ),
    (
        "chat",
        "the last message not the user's",
        {"model": NAME, "messages": [*HELLO, {"role": "assistant", "content": "hi"}]},
        "messages[1].role",
    ),
    (
        "chat",
        "content not text",
        {"model": NAME, "messages": [{"role": "user", "content": 3}]},
        "messages[0].content",
    ),
    ("chat", "max_tokens 0", {"model": NAME, "messages": HELLO, "max_tokens": 0}, "max_tokens"),
    (
        "chat",
        "max_tokens over the cap",
        {"model": NAME, "messages": HELLO, "max_tokens": CAP + 1},
        "max_tokens",
    ),
    (
        "chat",
        "max_tokens text",
        {"model": NAME, "messages": HELLO, "max_tokens": "9"},
        "max_tokens",
    ),
    ("chat", "an unknown model", {"model": "gpt-5", "messages": HELLO}, "model"),
    ("chat", "no model", {"messages": HELLO}, "model"),
    ("chat", "n above 1", {"model": NAME, "messages": HELLO, "n": 2}, "n"),
    ("chat", "temperature 3", {"model": NAME, "messages": HELLO, "temperature": 3}, "temperature"),
    ("chat", "top_p 0", {"model": NAME, "messages": HELLO, "top_p": 0}, "top_p"),
    ("chat", "five stops", {"model": NAME, "messages": HELLO, "stop": list("abcde")}, "stop"),
    ("chat", "stream as text", {"model": NAME, "messages": HELLO, "stream": "yes"}, "stream"),
    ("chat", "seed as text", {"model": NAME, "messages": HELLO, "seed": "1"}, "seed"),
    ("chat", "logprobs", {"model": NAME, "messages": HELLO, "logprobs": True}, "logprobs"),
    (
        "chat",
        "a prompt longer than the context",
        {"model": NAME, "messages": [{"role": "user", "content": "hello " * 2100}]},
        "messages",
    ),
    ("completions", "no prompt", {"model": NAME}, "prompt"),
    ("completions", "several prompts", {"model": NAME, "prompt": ["a", "b"]}, "prompt"),
    ("completions", "echo", {"model": NAME, "prompt": "a", "echo": True}, "echo"),
    ("completions", "a prompt too long", {"model": NAME, "prompt": [5] * 2048}, "prompt"),
    (
        "completions",
        "token ids outside the vocabulary",
        {"model": NAME, "prompt": [1, 99_999]},
        "prompt",
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "what", "body", "param"), BAD_REQUESTS, ids=[b[1] for b in BAD_REQUESTS]
)
def test_malformed_requests_get_openai_style_400s(
    server: ModelServer, endpoint: str, what: str, body: Any, param: str | None
) -> None:
    response = server.post(f"/v1/{'chat/completions' if endpoint == 'chat' else endpoint}", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


def test_the_openai_client_sees_bad_requests(server: ModelServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        server.client().chat.completions.create(model="nope", messages=HELLO)  # type: ignore[arg-type]
    assert "tiny-chat" in str(caught.value)
    with pytest.raises(openai.BadRequestError):
        server.client().chat.completions.create(model=NAME, messages=HELLO, n=3)  # type: ignore[arg-type]


def test_unknown_paths_are_json_404s(server: ModelServer) -> None:
    response = requests.get(f"{server.url}/v1/engines", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_base_model_with_an_adapter(tiny_model: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    script = (
        "import sys, torch\n"
        "from peft import LoraConfig, get_peft_model\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "base = AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        "torch.manual_seed(0)\n"
        "config = LoraConfig(r=4, target_modules=['q_proj', 'v_proj'], init_lora_weights=False,"
        " task_type='CAUSAL_LM')\n"
        "model = get_peft_model(base, config)\n"
        "model.save_pretrained(sys.argv[2])\n"
        "AutoTokenizer.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[2])\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tiny_model), str(adapter)],
        check=True,
        capture_output=True,
        cwd=PACKAGE_ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    root = tmp_path / "mnt"
    (root / "models").mkdir(parents=True)
    (root / "models" / "base").symlink_to(tiny_model)
    (root / "models" / "tuned").symlink_to(adapter)
    port = free_port()
    config = {"model_dir": "models/base", "adapter_dir": "models/tuned", "port": port}
    path = tmp_path / "SERVE.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "SXWL_MOUNT_ROOT": str(root)}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*SERVER, str(path)], cwd=PACKAGE_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    running = None
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while running is None and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    running = ModelServer(process, url, log)
            except requests.ConnectionError:
                time.sleep(0.1)
        assert running is not None, log.read_text()
        client = running.client()
        # The served name defaults to the adapter's directory name.
        assert [m.id for m in client.models.list().data] == ["tuned"]
        answer = client.chat.completions.create(
            model="tuned",
            messages=HELLO,  # type: ignore[arg-type]
            max_tokens=4,
            extra_body={"ignore_eos": True},
        )
        assert answer.usage is not None and answer.usage.completion_tokens == 4
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_dir": "/nonexistent/model", "port": 1}, "model_dir: no model directory"),
        ({"port": 1}, "model_dir"),
        ({"model_dir": ".", "port": 1, "max_batch_size": 0}, "max_batch_size"),
        ({"model_dir": ".", "port": 1, "temperature": 1}, "temperature"),
        ({"model_dir": "."}, "port: not set"),
    ],
)
def test_configuration_mistakes_exit_2_with_one_line(
    tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SXWL_PORT", "SXWL_SERVE_CONFIG")}
    result = subprocess.run(
        SERVER,
        cwd=PACKAGE_ROOT,
        capture_output=True,
        text=True,
        env={**env, "SXWL_SERVE_CONFIG": json.dumps(config)},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_starting_does_not_import_torch_before_the_model_loads() -> None:
    code = (
        "import sys\n"
        "import jupyter_sxwl.runtime.serve.__main__ as m\n"
        "import jupyter_sxwl.runtime.serve.app\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PACKAGE_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False False"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"template": "nope"}, "template: 'nope' is not known"),
        ({"adapter_dir": "/nonexistent/adapter"}, "adapter_dir: no LoRA adapter"),
    ],
)
def test_model_mistakes_exit_2_with_one_line(
    tiny_model: Path, settings: dict[str, Any], message: str
) -> None:
    config = {"model_dir": str(tiny_model), "port": free_port(), **settings}
    result = subprocess.run(
        SERVER,
        cwd=PACKAGE_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SXWL_SERVE_CONFIG": json.dumps(config)},
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert message in result.stderr


def test_greedy_answers_equal_transformers_generate(server: ModelServer, tiny_model: Path) -> None:
    """The engine's cache, positions and padding give what plain ``generate`` gives."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    prompt = "Once upon a time, in a quiet village by the sea,"
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(
            **inputs, max_new_tokens=12, min_new_tokens=12, do_sample=False, pad_token_id=0
        )
    expected = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    answer = server.client().completions.create(
        model=NAME, prompt=prompt, max_tokens=12, temperature=0, extra_body={"ignore_eos": True}
    )
    assert answer.choices[0].text == expected


def wait_health(url: str, process: subprocess.Popen[bytes], want: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        status = None
        with contextlib.suppress(requests.ConnectionError):
            status = requests.get(f"{url}/health", timeout=2).json()["status"]
        if status == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"/health never said {want!r}")


def test_a_standby_server_loads_only_when_woken_with_its_secret(
    tiny_model: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = {"model_dir": str(tiny_model), "served_model_name": NAME, "port": port}
    log = tmp_path / "serve.log"
    env = {**os.environ, "SXWL_SERVE_CONFIG": json.dumps(config), "SXWL_SERVE_STANDBY": "s3"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            SERVER, cwd=PACKAGE_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_health(url, process, "standby")
        deadline = time.monotonic() + 120
        while "standby: prepared" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Prepared, and still waiting: no weights are loaded until a wake with the secret.
        assert requests.get(f"{url}/health", timeout=5).json() == {"status": "standby"}
        chat = {"model": NAME, "messages": HELLO, "max_tokens": 2}
        r = requests.post(f"{url}/v1/chat/completions", json=chat, timeout=10)
        assert r.status_code == 503 and r.json()["error"]["code"] == "model_loading"
        for headers in ({}, {"X-Sxwl-Wake": "wrong"}):
            r = requests.post(f"{url}/sxwl/wake", headers=headers, timeout=10)
            assert r.status_code == 403, r.text
        assert requests.get(f"{url}/health", timeout=5).json() == {"status": "standby"}

        r = requests.post(f"{url}/sxwl/wake", headers={"X-Sxwl-Wake": "s3"}, timeout=10)
        assert r.status_code == 202
        wait_health(url, process, "ok")
        r = requests.post(f"{url}/v1/chat/completions", json=chat, timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] >= 1
        text = log.read_text()
        assert text.index("standby: prepared") < text.index("woken: loading") < text.index("ready")
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_standby_reports_a_model_mistake_when_woken(tiny_model: Path) -> None:
    port = free_port()
    config = {"model_dir": str(tiny_model), "port": port, "template": "nope"}
    env = {**os.environ, "SXWL_SERVE_CONFIG": json.dumps(config), "SXWL_SERVE_STANDBY": "s3"}
    process = subprocess.Popen(
        SERVER, cwd=PACKAGE_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    try:
        wait_health(f"http://127.0.0.1:{port}", process, "standby")
        r = requests.post(
            f"http://127.0.0.1:{port}/sxwl/wake", headers={"X-Sxwl-Wake": "s3"}, timeout=10
        )
        assert r.status_code == 202
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 2
    assert err.decode().strip().splitlines()[-1].startswith("error: template: 'nope'")
