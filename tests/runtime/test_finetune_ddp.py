"""Data-parallel fine-tuning: two CPU processes under torchrun with the gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_sxwl
from jupyter_sxwl.catalog.presets import get_preset_dataset

PACKAGE_ROOT = Path(jupyter_sxwl.__file__).resolve().parent.parent


@pytest.mark.slow
def test_two_ranks_train_one_run_and_only_rank_0_writes(tmp_path: Path) -> None:
    from tests.conftest import free_port

    model = tmp_path / "tiny"
    subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.catalog.models.tiny", str(model)],
        check=True,
        capture_output=True,
        cwd=PACKAGE_ROOT,
    )
    preset = get_preset_dataset("alpaca_zh_demo")
    config = {
        "params": {
            "template": "alpaca",
            "cutoff_len": 64,
            "max_samples": 16,
            "per_device_train_batch_size": 2,
            "num_train_epochs": 1,
            "val_size": 2,
            "save_steps": 2,
            "logging_steps": 1,
        },
        "model_dir": str(model),
        "datasets": [
            {"name": preset.name, "annotation_type": "instruction", "path": str(preset.path)}
        ],
        "output_dir": str(tmp_path / "out"),
        "metrics_file": str(tmp_path / "metrics.jsonl"),
    }
    run_json = tmp_path / "RUN.json"
    run_json.write_text(json.dumps(config))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={free_port()}",
            "-m",
            "jupyter_sxwl.runtime.finetune",
            "train",
            str(run_json),
        ],
        cwd=PACKAGE_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SXWL_DISTRIBUTED_BACKEND": "gloo", "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on cpu x2" in result.stdout
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [p for p in lines if p["kind"] == "train"]
    # 14 training records over 2 ranks of batch 2: 4 micro-batches per rank, 4 steps, each
    # step reported once.
    assert [p["step"] for p in train] == [1, 2, 3, 4]
    assert [p["kind"] for p in lines].count("done") == 1
    assert [p["step"] for p in lines if p["kind"] == "eval"] == [2, 4]
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "out").glob("checkpoint-*")) == ["checkpoint-2"]
