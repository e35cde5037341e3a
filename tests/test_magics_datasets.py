"""``%sxwl datasets``, ``%sxwl publish`` and ``%sxwl mount`` in a real IPython shell against
the real platform (the ``hub`` fixture): text in a terminal shell, widgets in a kernel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_sxwl import magics
from jupyter_sxwl.client import Client
from tests.support import Hub, magics_shell

pytestmark = pytest.mark.slow

RECORDS = [
    {"instruction": "Say hi", "output": "hi"},
    {"instruction": "Say bye", "output": "bye"},
]


@pytest.fixture
def shell(hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[InteractiveShell]:
    """A real IPython shell with the extension loaded, connected as ``erin``."""
    with magics_shell(
        hub, "erin", monkeypatch, tmp_path, SXWL_MOUNT_ROOT=str(tmp_path / "mnt")
    ) as sh:
        yield sh


def imported(name: str, tmp_path: Path) -> Client:
    """A dataset ``name`` of erin's with two valid records imported."""
    client = Client()
    client.create_dataset(name, "instruction")
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    assert client.import_dataset(name, path)["status"] == "succeeded"
    return client


def test_datasets_publish_and_mount_as_text(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    imported("magic-faq", tmp_path)
    shell.run_line_magic("sxwl", "datasets")
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "RECORDS", "INVALID", "LATEST", "ACCESS"]
    assert next(r for r in table if r.startswith("magic-faq ")).split()[2:5] == ["2", "0", "-"]

    shell.run_line_magic("sxwl", "publish magic-faq --notes 'from a notebook'")
    out, err = capsys.readouterr()
    assert out.startswith("published magic-faq v1: 2 records"), (out, err)
    assert "publishing" in err and "Traceback" not in err

    shell.run_line_magic("sxwl", "mount dataset magic-faq")
    mounted = tmp_path / "mnt" / "datasets" / "magic-faq"
    assert capsys.readouterr().out == f"mounted dataset magic-faq at {mounted}\n"
    assert len((mounted / "data.jsonl").read_text().splitlines()) == 2
    shell.run_line_magic("sxwl", "mounts")
    assert "magic-faq" in capsys.readouterr().out

    shell.run_line_magic("sxwl", "publish no-such-dataset")
    assert capsys.readouterr().err.startswith("error: ")


def test_in_a_kernel_tables_and_progress_bars_are_widgets(
    shell: InteractiveShell,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from jupyter_sxwl.widgets import DatasetsTable, ModelsTable, ProgressBar

    shown: list[Any] = []
    monkeypatch.setattr(magics, "widgets_available", lambda ip: True)
    monkeypatch.setattr(magics, "_display", shown.append)
    imported("widget-faq", tmp_path)

    shell.run_line_magic("sxwl", "datasets")
    table = shown.pop()
    assert isinstance(table, DatasetsTable) and "widget-faq" in table.table.value

    (tmp_path / "more.jsonl").write_text(json.dumps(RECORDS[0]) + "\n")
    shell.run_line_magic("sxwl", "dataset import widget-faq more.jsonl")
    bar = shown.pop()
    assert isinstance(bar, ProgressBar) and bar.bar.bar_style == "success"
    assert "succeeded" in capsys.readouterr().out  # the report, below the bar

    shell.run_line_magic("sxwl", "publish widget-faq")
    bar = shown.pop()
    assert isinstance(bar, ProgressBar) and (bar.bar.value, bar.bar.bar_style) == (100, "success")
    out, err = capsys.readouterr()
    assert out.startswith("published widget-faq v1: 3 records") and err == ""

    shell.run_line_magic("sxwl", "publish widget-faq --notes again")
    assert "unchanged" in capsys.readouterr().out and shown.pop().bar.bar_style == "success"

    shell.run_line_magic("sxwl", "models")
    assert isinstance(shown.pop(), ModelsTable)
    shell.run_line_magic("sxwl", "dataset import no-such-dataset more.jsonl")
    assert shown.pop().bar.bar_style == "danger"
    assert capsys.readouterr().err.startswith("error: ")
