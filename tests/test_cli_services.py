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
