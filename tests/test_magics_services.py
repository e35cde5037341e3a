"""``%sxwl deploy``, ``%sxwl services`` and ``%sxwl chat`` in a real IPython shell against the
real platform, which serves the tiny Llama it builds at its first start: text in a terminal
shell, the services table and the streamed answer as widgets in a kernel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_sxwl import magics
from tests.support import Hub, magics_shell, start_tiny_hub, wait_tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_hub() -> Iterator[Hub]:
    with start_tiny_hub("services-magics") as hub:
        yield hub


@pytest.fixture
def shell(
    tiny_hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    """A real IPython shell with the extension loaded, connected as ``mia``."""
    wait_tiny_model(tiny_hub, "mia")
    with magics_shell(
        tiny_hub, "mia", monkeypatch, tmp_path, XDG_CONFIG_HOME=str(tmp_path / "config")
    ) as sh:
        yield sh


def test_deploy_list_and_chat_as_text_then_as_widgets(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from jupyter_sxwl.widgets import ChatAnswer, ServicesTable

    shell.run_line_magic("sxwl", "deploy magic-tiny --model sxwl-tiny-llama --wait")
    out, err = capsys.readouterr()
    assert out.startswith("deployed magic-tiny (svc-"), (out, err)
    assert "magic-tiny (svc-" in out and ": running at " in out, (out, err)

    shell.run_line_magic("sxwl", "services")
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[0] == "magic-tiny" and "running" in table[1]
    shell.run_line_magic("sxwl", 'chat magic-tiny "Hello there" --max-tokens 8')
    out, err = capsys.readouterr()
    assert out.endswith("\n") and "Traceback" not in err, err

    shell.run_line_magic("sxwl", "deploy magic-bad --model no-such-model")
    assert capsys.readouterr().err.startswith("error: ")

    shown: list[Any] = []
    monkeypatch.setattr(magics, "widgets_available", lambda ip: True)
    monkeypatch.setattr(magics, "_display", shown.append)
    shell.run_line_magic("sxwl", "services")
    services = shown.pop()
    assert isinstance(services, ServicesTable) and "magic-tiny" in services.table.value
    shell.run_line_magic("sxwl", 'chat magic-tiny "Tell me a story" --max-tokens 12')
    answer = shown.pop()
    assert isinstance(answer, ChatAnswer) and answer.error is None
    assert answer.usage and answer.usage["completion_tokens"] >= 1
    assert "tokens" in answer.note.value
    assert "Traceback" not in capsys.readouterr().err

    shell.run_line_magic("sxwl", "service delete magic-tiny")
    assert capsys.readouterr().out == "deleted magic-tiny\n"
