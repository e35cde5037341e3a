"""The fine-tune runner end to end on the tiny model: train, progress, checkpoints and resume,
evaluate, export, and the errors a user can cause."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import jupyter_sxwl
from jupyter_sxwl.catalog.presets import get_preset_dataset

PACKAGE_ROOT = Path(jupyter_sxwl.__file__).resolve().parent.parent
RUNNER = [sys.executable, "-m", "jupyter_sxwl.runtime.finetune"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("tiny-model") / "sxwl-tiny-llama"
    subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.catalog.models.tiny", str(dest)],
        check=True,
        capture_output=True,
        cwd=PACKAGE_ROOT,
    )
    return dest


def alpaca_ref() -> dict[str, Any]:
    preset = get_preset_dataset("alpaca_en_demo")
    return {
        "name": preset.name,
        "version": 1,
        "annotation_type": "instruction",
        "path": str(preset.path),
    }


def make_config(model: Path, out: Path, **params: Any) -> dict[str, Any]:
    base = {
        "template": "alpaca",
        "cutoff_len": 96,
        "max_samples": 24,
        "per_device_train_batch_size": 2,
        "max_steps": 4,
        "learning_rate": 1e-3,
        "logging_steps": 2,
        "save_steps": 100,
    }
    return {
        "params": {**base, **params},
        "model_dir": str(model),
        "datasets": [alpaca_ref()],
        "output_dir": str(out / "model"),
        "checkpoint_dir": str(out / "checkpoints"),
        "metrics_file": str(out / "metrics.jsonl"),
    }


def write_config(out: Path, config: dict[str, Any], name: str = "RUN.json") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(config))
    return path


def run_action(
    action: str, config: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUNNER, action, str(config)],
        cwd=PACKAGE_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=240,
    )


def points(metrics: Path, kind: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return [p for p in lines if p["kind"] == kind]


@pytest.fixture(scope="module")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One LoRA run with a validation split and checkpoints every 2 steps, at most 1 kept."""
    out = tmp_path_factory.mktemp("lora")
    config = make_config(tiny_model, out, max_steps=5, val_size=4, save_steps=2, save_total_limit=1)
    result = run_action("train", write_config(out, config))
    assert result.returncode == 0, result.stderr
    return {"out": out, "config": config, "result": result}


def test_help_does_not_import_torch() -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['finetune', '--help']\n"
        "try:\n"
        "    runpy.run_module('jupyter_sxwl.runtime.finetune', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PACKAGE_ROOT, capture_output=True, text=True, check=True
    )
    assert "train" in out.stdout and "evaluate" in out.stdout and "export" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_lora_train_writes_the_adapter_and_results(trained: dict[str, Any]) -> None:
    model_dir = trained["out"] / "model"
    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer_config.json",
        "train_results.json",
        "finetune.json",
    ):
        assert (model_dir / name).is_file(), name
    results = json.loads((model_dir / "train_results.json").read_text())
    assert results["total_steps"] == 5 and results["train_loss"] > 0
    assert "eval_loss" in results
    described = json.loads((model_dir / "finetune.json").read_text())
    assert described["method"] == "LoRA" and described["params"]["lora_rank"] == 8


def test_metric_points_every_step_with_eval_and_done(trained: dict[str, Any]) -> None:
    metrics = trained["out"] / "metrics.jsonl"
    train = points(metrics, "train")
    assert [p["step"] for p in train] == [1, 2, 3, 4, 5]
    keys = {
        "step", "total_steps", "epoch", "loss", "learning_rate", "grad_norm",
        "tokens_per_second", "samples_per_second", "memory_mb", "eta_seconds",
        "elapsed_seconds", "time",
    }  # fmt: skip
    assert all(keys <= set(p) for p in train)
    assert all(p["total_steps"] == 5 and p["tokens_per_second"] > 0 for p in train)
    assert train[-1]["eta_seconds"] == 0
    assert [p["step"] for p in points(metrics, "eval")] == [2, 4, 5]
    (done,) = points(metrics, "done")
    assert done["step"] == 5 and done["peak_memory_mb"] > 0 and done["train_tokens_per_second"] > 0


def test_log_lines_every_logging_steps(trained: dict[str, Any]) -> None:
    lines = [line for line in trained["result"].stdout.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines if "loss" in line and "eval" not in line] == [
        "2/5",
        "4/5",
        "5/5",
    ]
    assert all("tokens/s" in line and "eta" in line for line in lines if "lr" in line)


def test_checkpoints_are_pruned_to_save_total_limit(trained: dict[str, Any]) -> None:
    ckpts = sorted(p.name for p in (trained["out"] / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-4"]
    held = {p.name for p in (trained["out"] / "checkpoints" / "checkpoint-4").iterdir()}
    assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pt"} <= held
    state = json.loads((trained["out"] / "checkpoints/checkpoint-4/trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["total_steps"] == 5


def test_tensorboard_reads_the_event_files(trained: dict[str, Any]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = trained["out"] / "model" / "runs"
    acc = EventAccumulator(str(runs))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/loss", "train/learning_rate", "eval/loss"} <= set(tags)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4, 5]


def test_evaluate_writes_predictions_and_scores(trained: dict[str, Any], tiny_model: Path) -> None:
    out = trained["out"] / "eval"
    config = {
        **trained["config"],
        "adapter_dir": str(trained["out"] / "model"),
        "output_dir": str(out),
        "evaluate": {"max_new_tokens": 8},
    }
    result = run_action("evaluate", write_config(out, config))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 4  # the validation split train held out
    assert set(lines[0]) == {"prompt", "label", "predict"}
    assert "### Instruction:" in lines[0]["prompt"]
    scores = json.loads((out / "eval_results.json").read_text())
    assert set(scores) == {"rouge-1", "rouge-2", "rouge-l", "bleu-4", "samples", "runtime_seconds"}
    assert scores["samples"] == 4
    assert all(0 <= scores[k] <= 100 for k in ("rouge-1", "rouge-2", "rouge-l", "bleu-4"))


@pytest.mark.parametrize("merge", [True, False])
def test_export_merged_or_adapter(trained: dict[str, Any], merge: bool) -> None:
    out = trained["out"] / f"export-{merge}"
    config = {
        **trained["config"],
        "adapter_dir": str(trained["out"] / "model"),
        "output_dir": str(out),
        "export": {"merge": merge},
        "lineage": {"finetune": "ft-1"},
    }
    result = run_action("export", write_config(out, config))
    assert result.returncode == 0, result.stderr
    lineage = json.loads((out / "sxwl-lineage.json").read_text())
    assert lineage["finetune"] == "ft-1" and lineage["merged"] is merge
    assert lineage["params"]["lora_rank"] == 8
    if merge:
        assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
        assert not (out / "adapter_config.json").exists()
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(out)
        assert not any("lora" in name for name, _ in model.named_parameters())
    else:
        assert (out / "adapter_model.safetensors").is_file()
        assert not (out / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"quantization_bit": 4}, "quantization_bit: QLoRA"),
        ({"lora_target": "q_proj,wq"}, "no module named wq; its linear layers are"),
        ({"cutoff_len": 1}, "raise cutoff_len"),
        ({"fp16": True}, "fp16"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    tiny_model: Path, tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    if params.get("quantization_bit") or params.get("fp16"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    result = run_action(
        "train", write_config(tmp_path, make_config(tiny_model, tmp_path, **params))
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_dataset_and_config_errors(tiny_model: Path, tmp_path: Path) -> None:
    config = make_config(tiny_model, tmp_path)
    config["datasets"][0]["path"] = str(tmp_path / "nowhere.jsonl")
    result = run_action("train", write_config(tmp_path, config))
    assert result.returncode == 2 and "is the dataset mounted?" in result.stderr
    result = run_action("train", write_config(tmp_path, {"model_dir": "x", "params": {"lr": 1}}))
    assert result.returncode == 2 and result.stderr.startswith("error: ")


def test_full_finetune_and_loraplus(tiny_model: Path, tmp_path: Path) -> None:
    config = make_config(tiny_model, tmp_path, finetuning_type="full", max_steps=2)
    result = run_action("train", write_config(tmp_path, config))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert "full on cpu" in result.stdout


def test_loraplus_gives_b_matrices_the_ratio(tiny_model: Path) -> None:
    import torch

    from jupyter_sxwl.runtime.finetune import modeling
    from jupyter_sxwl.runtime.finetune.config import FinetuneParams
    from jupyter_sxwl.runtime.finetune.devices import Placement

    params = FinetuneParams(learning_rate=1e-4, loraplus_lr_ratio=16, lora_target="q_proj,v_proj")
    model = modeling.load_base_model(tiny_model, params, Placement(torch.device("cpu"), "cpu"))
    model = modeling.add_lora(model, params)
    optimizer = modeling.build_optimizer(model, params)
    ids = {id(p): name for name, p in model.named_parameters()}
    for group in optimizer.param_groups:
        names = [ids[id(p)] for p in group["params"]]
        if all("lora_B" in n for n in names):
            assert group["lr"] == pytest.approx(16e-4)
        else:
            assert all("lora_A" in n for n in names) and group["lr"] == pytest.approx(1e-4)


def wait_for(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.mark.slow
def test_resume_after_sigkill_ends_at_the_same_step_and_loss(
    tiny_model: Path, tmp_path: Path
) -> None:
    # Enough steps after checkpoint-4 that the run cannot finish before it is killed.
    steps = 40
    whole = tmp_path / "whole"
    config = make_config(tiny_model, whole, max_steps=steps, save_steps=2, lora_dropout=0.1)
    assert run_action("train", write_config(whole, config)).returncode == 0
    expected = points(whole / "metrics.jsonl", "train")

    cut = tmp_path / "cut"
    config = make_config(tiny_model, cut, max_steps=steps, save_steps=2, lora_dropout=0.1)
    path = write_config(cut, config)
    proc = subprocess.Popen(
        [*RUNNER, "train", str(path)],
        cwd=PACKAGE_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (cut / "checkpoints" / "checkpoint-4").is_dir() or proc.poll() is not None)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (cut / "checkpoints" / "checkpoint-4").is_dir() or (
        cut / "checkpoints" / "checkpoint-2"
    ).is_dir()

    result = run_action("train", path, env={"SXWL_RESUME": "1"})
    assert result.returncode == 0, result.stderr
    assert "resuming from checkpoint-" in result.stdout
    resumed = points(cut / "metrics.jsonl", "train")
    assert resumed[-1]["step"] == steps and resumed[-1]["total_steps"] == steps
    # Same data order, weights, optimiser and RNG states: the same losses after the cut.
    by_step = {p["step"]: p["loss"] for p in resumed}
    for p in expected[-2:]:
        assert by_step[p["step"]] == pytest.approx(p["loss"], rel=1e-5)
    (done,) = points(cut / "metrics.jsonl", "done")
    assert done["step"] == steps


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_at_the_end_of_the_step(
    tiny_model: Path, tmp_path: Path
) -> None:
    config = make_config(tiny_model, tmp_path, max_steps=200, save_steps=1000)
    path = write_config(tmp_path, config)
    metrics = tmp_path / "metrics.jsonl"
    proc = subprocess.Popen(
        [*RUNNER, "train", str(path)], cwd=PACKAGE_ROOT, stdout=subprocess.PIPE, text=True
    )
    wait_for(lambda: metrics.is_file() and bool(points(metrics, "train")))
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143
    last = points(metrics, "train")[-1]["step"]
    assert (tmp_path / "checkpoints" / f"checkpoint-{last}").is_dir()
    assert f"stopped at step {last} of 200" in stdout
    assert not points(metrics, "done")


def test_bf16_packing_and_gradient_accumulation(tiny_model: Path, tmp_path: Path) -> None:
    config = make_config(
        tiny_model,
        tmp_path,
        bf16=True,
        packing=True,
        gradient_accumulation_steps=2,
        max_steps=None,
        num_train_epochs=1,
        lr_scheduler_type="linear",
        warmup_ratio=0.5,
    )
    result = run_action("train", write_config(tmp_path, config))
    assert result.returncode == 0, result.stderr
    assert "24 records packed into" in result.stdout
    train = points(tmp_path / "metrics.jsonl", "train")
    # One epoch: the packed rows in micro-batches of 2, two micro-batches a step.
    assert train[-1]["epoch"] == 1.0
    assert train[0]["samples_per_second"] > 0
    # Linear warm-up over the first half: the rate climbs, then falls.
    rates = [p["learning_rate"] for p in train]
    assert rates[0] < max(rates) and rates[-1] < max(rates)
