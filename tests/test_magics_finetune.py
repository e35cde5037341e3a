"""``%%sxwl finetune`` and ``%sxwl finetune …`` in a real IPython shell against the real
platform, which trains the tiny Llama it builds at its first start: text in a terminal shell,
the live view (with its loss curve) and tables in a kernel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_sxwl import magics
from tests.support import Hub, magics_shell, start_tiny_hub, wait_tiny_model

pytestmark = pytest.mark.slow

SPEC = """\
model_name_or_path: sxwl-tiny-llama
dataset: alpaca_en_demo
finetuning_type: lora
lora_target: all
template: alpaca
cutoff_len: 48
max_samples: 24
val_size: 8
per_device_train_batch_size: 8
learning_rate: 1.0e-3
num_train_epochs: 1
logging_steps: 1
"""


@pytest.fixture(scope="module")
def tiny_hub() -> Iterator[Hub]:
    with start_tiny_hub("finetune-magics") as hub:
        yield hub


@pytest.fixture
def shell(
    tiny_hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    """A real IPython shell with the extension loaded, connected as ``ines``, once the tiny
    model is ready."""
    wait_tiny_model(tiny_hub, "ines")
    with magics_shell(
        tiny_hub, "ines", monkeypatch, tmp_path, SXWL_MOUNT_ROOT=str(tmp_path / "mnt")
    ) as sh:
        yield sh


def test_cell_magic_trains_from_yaml_then_evaluate_and_export_as_text(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    ft_id = shell.run_cell_magic("sxwl", "finetune --name magic-lora --wait", SPEC)
    out, err = capsys.readouterr()
    assert ft_id and ft_id.startswith("ft-"), (out, err)
    assert out.startswith(f"created {ft_id} (magic-lora): Queued")
    assert out.splitlines()[-1].startswith(f"{ft_id} (magic-lora): Succeeded"), (out, err)
    assert "training" in err and "Traceback" not in err

    shell.run_line_magic("sxwl", "finetunes")
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:3] == [ft_id, "magic-lora", "Succeeded"]
    shell.run_line_magic("sxwl", f"finetune evaluate {ft_id} --max-samples 2 --max-new-tokens 4")
    assert "ROUGE-1 " in capsys.readouterr().out
    shell.run_line_magic("sxwl", f"finetune export {ft_id} --model-name magic-model")
    assert capsys.readouterr().out.startswith(f"exported {ft_id} as magic-model v1")
    shell.run_line_magic("sxwl", "mount model magic-model")
    assert "mounted model magic-model" in capsys.readouterr().out

    # Mistakes: one-line errors naming the field, nothing started.
    assert shell.run_cell_magic("sxwl", "finetune --name bad", SPEC + "lora_rank: 0\n") is None
    assert "lora_rank" in capsys.readouterr().err
    shell.run_cell_magic("sxwl", "finetune stop x", SPEC)
    assert "takes a cell" in capsys.readouterr().err
    shell.run_line_magic("sxwl", "finetune show ft-nope")
    assert capsys.readouterr().err.startswith("error: ")


def test_in_a_kernel_the_finetune_shows_a_live_view_with_the_loss_curve(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from jupyter_sxwl.widgets import FinetunesTable, FinetuneView

    shown: list[Any] = []
    monkeypatch.setattr(magics, "widgets_available", lambda ip: True)
    monkeypatch.setattr(magics, "_display", shown.append)

    ft_id = shell.run_cell_magic("sxwl", "finetune --name widget-lora --wait --cpu 2", SPEC)
    view = shown.pop()
    assert isinstance(view, FinetuneView) and view.ft_id == ft_id
    assert view.status == "Succeeded", capsys.readouterr()
    total = view.bar.max
    assert total > 1 and view.bar.value == total and view.bar.bar_style == "success"
    assert sorted(view.train) == list(range(1, total + 1)) and view.done is not None
    assert f"step {total}/{total} (100%)" in view.stats.value
    for word in ("epoch", "loss", "lr", "tokens/s", "MB", "ETA"):
        assert word in view.stats.value, word
    assert 'class="train-loss"' in view.curve.value and 'class="eval-loss"' in view.curve.value

    shell.run_line_magic("sxwl", f"finetune show {ft_id}")
    again = shown.pop()
    assert isinstance(again, FinetuneView) and len(again.train) == total
    shell.run_line_magic("sxwl", "finetunes")
    table = shown.pop()
    assert isinstance(table, FinetunesTable) and ft_id in table.table.value
    assert "Traceback" not in capsys.readouterr().err
