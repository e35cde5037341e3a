"""``sxwl finetune`` as a user runs it (a new process) against the real platform, which trains
the tiny Llama it builds at its first start (sxwl-tiny-llama) on a preset dataset, on CPU."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Hub, start_tiny_hub, wait_tiny_model
from tests.test_cli import Sxwl

pytestmark = pytest.mark.slow

SPEC = """\
### a LLaMA-Factory training config
model_name_or_path: sxwl-tiny-llama
dataset: alpaca_en_demo
stage: sft
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
report_to: none
"""


@pytest.fixture(scope="module")
def tiny_hub() -> Iterator[Hub]:
    with start_tiny_hub("finetune-cli") as hub:
        yield hub


@pytest.fixture
def sxwl(tiny_hub: Hub, tmp_path: Path) -> Sxwl:
    """``sxwl`` as hana, once the tiny model is ready."""
    wait_tiny_model(tiny_hub, "hana")
    return Sxwl.for_hub(tiny_hub, tiny_hub.token_for("hana"), tmp_path)


def test_help_and_defaults(sxwl: Sxwl) -> None:
    overview = sxwl("--help")
    assert "fine-tunes:" in overview and "finetune " in overview
    help_text = sxwl("finetune", "create", "--help")
    for option in ("-f SPEC.yaml", "--dataset NAME[:N]", "--set KEY=VALUE", "--cpu", "--follow"):
        assert option in help_text, option
    table = sxwl("finetune", "defaults").splitlines()
    assert table[0].split() == ["PARAMETER", "DEFAULT", "MEANING"]
    rate = next(line for line in table if line.startswith("learning_rate "))
    assert "peak learning rate" in rate
    assert "alpaca" in next(line for line in table if line.startswith("template "))
    assert "learning_rate" in json.loads(sxwl("finetune", "defaults", "--json"))["params"]


def test_bad_input_exits_2_naming_the_field(sxwl: Sxwl) -> None:
    err = sxwl("finetune", "create", "--name", "x", expect=2)
    assert "-f spec.yaml" in err
    base = "finetune create --name bad --model sxwl-tiny-llama --dataset alpaca_en_demo "
    err = sxwl.sh(base + "--set learning_rate=5", expect=2)
    assert err.startswith("error: params.learning_rate: 5.0 is out of range"), err
    err = sxwl.sh(base + "--set lora_target=q_proj,nope", expect=2)
    assert "params.lora_target" in err and "q_proj" in err, err  # it lists what the model has
    err = sxwl.sh("finetune create --name bad --model sxwl-tiny-llama --dataset no-such", 2)
    assert "datasets[0]" in err
    err = sxwl("finetune", "create", "--dataset", "faq:latest", expect=2)
    assert "NAME:VERSION" in err
    assert sxwl("finetunes").startswith("no fine-tunes")


def test_create_follow_evaluate_export_and_delete(sxwl: Sxwl, tmp_path: Path) -> None:
    (tmp_path / "tiny lora.yaml").write_text(SPEC)
    out = sxwl(
        "finetune", "create", "-f", "tiny lora.yaml", "--set", "lora_rank=4", "--cpu", "2",
        "--follow", timeout=600,
    )  # fmt: skip
    first = out.splitlines()[0]
    match = re.match(
        r"created (ft-[0-9a-z]+) \(tiny-lora\): Queued; LoRA of sxwl-tiny-llama", first
    )
    assert match, out
    ft_id = match.group(1)
    assert re.search(r"^step 1/\d+ \(\d+%\)  epoch [\d.]+  loss [\d.]+  lr ", out, re.M), out
    assert re.search(r"^step \d+: eval_loss [\d.]+$", out, re.M), out
    assert re.search(r"^done after \d+ steps: train_loss [\d.]+", out, re.M), out
    assert out.splitlines()[-1].startswith(f"{ft_id} (tiny-lora): Succeeded"), out

    listed = sxwl("finetunes").splitlines()
    assert listed[0].split()[:4] == ["ID", "NAME", "STATUS", "METHOD"]
    assert listed[1].split()[:4] == [ft_id, "tiny-lora", "Succeeded", "LoRA"]
    assert sxwl("finetune", "list") == sxwl("finetunes")
    shown = sxwl("finetune", "show", ft_id)
    assert "status:" in shown and "lora_rank: 4" in shown and "alpaca_en_demo v1" in shown
    metrics = sxwl("finetune", "metrics", ft_id).splitlines()
    assert metrics[0].split()[:3] == ["STEP", "EPOCH", "LOSS"] and metrics[1].split()[0] == "1"
    assert "done after" in metrics[-1]
    assert "train" in sxwl("finetune", "metrics", ft_id, "--after", "1", "--json")
    assert "step" in sxwl("finetune", "logs", ft_id)

    out = sxwl("finetune", "evaluate", ft_id, "--max-samples", "4", "--max-new-tokens", "8",
               timeout=600)  # fmt: skip
    assert re.match(rf"evaluation ev-\w+ of {ft_id}: ROUGE-1 [\d.]+  ROUGE-2 [\d.]+  "
                    r"ROUGE-L [\d.]+  BLEU-4 [\d.]+  \(4 samples\)", out), out  # fmt: skip
    rows = sxwl("finetune", "predictions", ft_id, "--limit", "2").splitlines()
    assert rows[0].split() == ["PROMPT", "LABEL", "PREDICT"] and len(rows) == 3
    saved = Path(sxwl("finetune", "predictions", ft_id, "-o", "preds").strip())
    assert saved.parent == tmp_path / "preds" and len(saved.read_text().splitlines()) == 4

    out = sxwl("finetune", "export", ft_id, "--model-name", "cli-tiny-lora", timeout=600)
    assert out.startswith(f"exported {ft_id} as cli-tiny-lora v1 (merged model)"), out
    assert "config.json" in sxwl("model", "files", "cli-tiny-lora")
    assert "cli-tiny-lora v1" in sxwl("finetune", "show", ft_id)

    out = sxwl("finetune", "tensorboard", ft_id, "-o", "tb").splitlines()
    assert out[0] == str(tmp_path / "tb" / ft_id) and out[1].startswith("open it with: ")
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").rglob("*"))

    err = sxwl("finetune", "resume", ft_id, expect=2)
    assert err.startswith("error: ") and "Succeeded" in err
    assert sxwl("finetune", "delete", ft_id) == f"deleted {ft_id}\n"
    assert sxwl("finetune", "show", ft_id, expect=2).startswith("error: ")
    assert "cli-tiny-lora" in sxwl("models")  # the exported version stays


def test_stop_then_resume_with_wait(sxwl: Sxwl) -> None:
    out = sxwl.sh(
        "finetune create --name cli-stop --model sxwl-tiny-llama --dataset alpaca_en_demo:1 "
        "--set cutoff_len=32 --set max_samples=80 --set per_device_train_batch_size=2 "
        "--set max_steps=300 --set save_steps=20 --set val_size=4 --json"
    )
    ft = json.loads(out)
    deadline = time.monotonic() + 300
    while not any(
        p["kind"] == "eval" for p in json.loads(sxwl("finetune", "metrics", ft["id"], "--json"))
    ):
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.5)
    assert sxwl("finetune", "stop", ft["id"]).startswith(f"{ft['id']} (cli-stop): Stop")
    deadline = time.monotonic() + 60
    while json.loads(sxwl("finetune", "show", ft["id"], "--json"))["status"] != "Stopped":
        assert time.monotonic() < deadline, "not stopped after 60 s"
        time.sleep(0.5)
    proc = sxwl.run("finetune", "resume", ft["id"], "--wait", timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"resumed {ft['id']} (cli-stop)")
    assert proc.stdout.splitlines()[-1].startswith(f"{ft['id']} (cli-stop): Succeeded")
    assert "training" in proc.stderr  # the progress, on stderr
