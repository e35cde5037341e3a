"""``sxwl deploy``, ``sxwl services``, ``sxwl service …`` and ``sxwl chat`` as a user runs them
(a new process each) against the real platform, which serves the tiny Llama it builds at its
first start (sxwl-tiny-llama) on CPU."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Hub, start_tiny_hub, wait_tiny_model
from tests.test_cli import Sxwl

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_hub() -> Iterator[Hub]:
    with start_tiny_hub("services-cli") as hub:
        yield hub


@pytest.fixture
def sxwl(tiny_hub: Hub, tmp_path: Path) -> Sxwl:
    """``sxwl`` as sid, once the tiny model is ready."""
    wait_tiny_model(tiny_hub, "sid")
    return Sxwl.for_hub(tiny_hub, tiny_hub.token_for("sid"), tmp_path)


def test_help_and_bad_input(sxwl: Sxwl) -> None:
    overview = sxwl("--help")
    assert "services:" in overview and "deploy " in overview and "chat " in overview
    help_text = sxwl("deploy", "--help")
    for option in ("--model NAME[:N]", "--adapter NAME[:N]", "--sleep-after MIN", "--port PORT"):
        assert option in help_text, option
    assert "--model" in sxwl("deploy", "nothing", expect=2)
    err = sxwl("deploy", "bad", "--model", "no-such-model", expect=2)
    assert err.startswith("error: ") and "model" in err
    err = sxwl("deploy", "bad", "--model", "sxwl-tiny-llama", "--cpu", "-1", expect=2)
    assert "resources.cpu" in err
    assert sxwl("services").startswith("no services")
    assert sxwl("service", "show", "nope", expect=2).startswith("error: ")


def test_deploy_keys_chat_sleep_update_and_delete(sxwl: Sxwl, tmp_path: Path) -> None:
    out = sxwl("deploy", "cli-tiny", "--model", "sxwl-tiny-llama", "--cpu", "1", "--wait",
               timeout=240)  # fmt: skip
    lines = out.splitlines()
    assert re.match(r"deployed cli-tiny \(svc-\w+\): starting", lines[0]), out
    assert re.match(r"cli-tiny \(svc-\w+\): running at http://.+/endpoints/cli-tiny/$", lines[1])
    table = sxwl("services").splitlines()
    assert table[0].split() == ["NAME", "ID", "STATUS", "MODEL", "ADDRESS", "REQUESTS", "SLEEP"]
    assert table[1].split()[:3] == ["cli-tiny", table[1].split()[1], "running"]
    assert "/services/sxwl/endpoints/cli-tiny/" in table[1]
    assert sxwl("service", "list") == sxwl("services")
    shown = sxwl("service", "show", "cli-tiny")
    assert "status:" in shown and "sxwl-tiny-llama v1" in shown

    key = json.loads(sxwl("service", "keys", "cli-tiny", "--create", "--name", "ci", "--json"))
    assert key["app_secret"] and key["bearer"]
    text = sxwl("service", "keys", "cli-tiny", "--create")
    assert "AppSecret:" in text and "shown this once" in text

    # Streamed to stdout; the first chat makes a key for itself and keeps it.
    answer = sxwl("chat", "cli-tiny", "Hello!", "--max-tokens", "8")
    assert answer.endswith("\n")
    assert (tmp_path / ".config" / "sxwl" / "keys.json").is_file()
    sxwl("chat", "cli-tiny", "Again", "--max-tokens", "4", "--no-stream")
    sxwl("chat", "cli-tiny", "Signed?", "--key", key["bearer"], "--max-tokens", "2")
    keys = sxwl("service", "keys", "cli-tiny").splitlines()
    assert keys[0].split()[:3] == ["ID", "NAME", "APP"]
    assert sum("sxwl chat" in line for line in keys) == 1
    err = sxwl("chat", "cli-tiny", "x", "--max-tokens", "0", expect=2)
    assert "max-tokens" in err or "must be 1 or more" in err

    sxwl("service", "keys", "cli-tiny", "--revoke", key["id"])
    err = sxwl("chat", "cli-tiny", "x", "--key", key["bearer"], expect=2)
    assert err.startswith("error: ")

    out = sxwl("service", "sleep", "cli-tiny", "--wait", timeout=120)
    assert out.splitlines()[-1].endswith(": sleeping"), out
    sxwl("chat", "cli-tiny", "Wake up", "--max-tokens", "2", timeout=120)
    events = sxwl("service", "events", "cli-tiny")
    assert "sleeping" in events and "woken" in events

    out = sxwl("service", "update", "cli-tiny", "--sleep-after", "10", "--wait", timeout=240)
    assert out.startswith("updated cli-tiny (svc-") and "revision 2" in out
    revisions = sxwl("service", "revisions", "cli-tiny")
    assert "sleep_after_minutes" in revisions
    assert sxwl("service", "logs", "cli-tiny")  # the model server wrote something

    out = sxwl("service", "stop", "cli-tiny", "--wait", timeout=120)
    assert "): stopped: stopped by the user" in out.splitlines()[-1], out
    assert sxwl("service", "delete", "cli-tiny") == "deleted cli-tiny\n"
    assert sxwl("services").startswith("no services")


APP = """\
import http.server, json, os

class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "greeting": os.environ["GREETING"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("127.0.0.1", int(os.environ["SXWL_PORT"])), Hello).serve_forever()
"""


def test_deploy_any_app_from_a_folder_and_its_mistakes(sxwl: Sxwl, tmp_path: Path) -> None:
    import requests

    from jupyter_sxwl.client.services import sign

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text(APP)
    out = sxwl("deploy", "cli-app", "--code-dir", "app", "--command", "python app.py",
               "--env", "GREETING=hello", "--queue", "default", "--wait", timeout=240)  # fmt: skip
    url = re.search(r"running at (\S+)$", out, re.M)
    assert url, out
    key = json.loads(sxwl("service", "keys", "cli-app", "--create", "--json"))
    reply = requests.get(
        url.group(1) + "some/path", headers=sign(key["app_key"], key["app_secret"]), timeout=60
    )
    assert reply.status_code == 200 and reply.json() == {"path": "/some/path", "greeting": "hello"}
    assert "python app.py" in sxwl("services")
    shown = sxwl("service", "show", "cli-app")
    assert "queue default" in shown and re.search(r"placement:\s+node \d", shown), shown

    # A start command that exits at once: failed, with the last lines of its log.
    proc = sxwl.run("deploy", "cli-crash", "--command", "python -c 'raise SystemExit(\"boom\")'",
                    "--wait", timeout=240)  # fmt: skip
    assert proc.returncode == 1 and "failed" in proc.stderr and "boom" in proc.stderr, proc
    assert "boom" in sxwl("service", "show", "cli-crash")
    # A port outside the allowed range is refused, naming the field.
    err = sxwl("deploy", "cli-port", "--command", "python app.py", "--port", "80", expect=2)
    assert "port" in err
    err = sxwl("deploy", "cli-q", "--command", "python app.py", "--queue", "nope", expect=2)
    assert "resources.queue" in err and "unknown queue 'nope'" in err
    for name in ("cli-app", "cli-crash"):
        sxwl("service", "delete", name)
