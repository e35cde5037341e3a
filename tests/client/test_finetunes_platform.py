"""Fine-tunes through the SDK against the real platform, whose runner trains the tiny Llama the
platform builds at its first start (sxwl-tiny-llama) on a preset dataset, on CPU."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_sxwl.client import Client, SxwlAPIError
from tests.support import Hub, start_tiny_hub, wait_tiny_model

pytestmark = pytest.mark.slow

# Small enough to train in seconds on a CPU: a couple of optimiser steps.
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
output_dir: saves/ignored
"""


@pytest.fixture(scope="module")
def tiny_hub() -> Iterator[Hub]:
    with start_tiny_hub("finetune-sdk") as hub:
        yield hub


@pytest.fixture
def client(tiny_hub: Hub) -> Client:
    """Gwen's client, once the tiny model is ready."""
    wait_tiny_model(tiny_hub, "gwen")
    return Client(url=tiny_hub.platform_url, token=tiny_hub.token_for("gwen"))


def field_errors(error: SxwlAPIError) -> dict[str, str]:
    return {e["field"]: e["message"] for e in error.errors}


def test_bad_specs_are_refused_naming_the_field(client: Client) -> None:
    defaults = client.finetune_defaults()
    fields = {f["name"]: f for f in defaults["fields"]}
    assert fields["learning_rate"]["default"] == defaults["params"]["learning_rate"]
    assert "lora" in defaults["finetuning_types"] and "alpaca" in defaults["templates"]

    parsed = client.parse_finetune_yaml(SPEC)
    assert parsed["model"] == "sxwl-tiny-llama" and parsed["params"]["cutoff_len"] == 48
    assert "output_dir" in parsed["ignored"]

    cases = [
        ({"learning_rate": 3.0}, "params.learning_rate"),
        ({"finetuning_type": "lorra"}, "params.finetuning_type"),
        ({"per_device_train_batch_size": 0}, "params.per_device_train_batch_size"),
        ({"lora_target": "no_such_proj"}, "params.lora_target"),
    ]
    for params, field in cases:
        with pytest.raises(SxwlAPIError) as err:
            client.create_finetune("bad", "sxwl-tiny-llama", "alpaca_en_demo", params=params)
        assert err.value.is_client_error and field in field_errors(err.value), err.value.errors
    with pytest.raises(SxwlAPIError) as err:
        client.create_finetune("bad", "sxwl-tiny-llama", "ranking_demo")
    assert "datasets[0]" in field_errors(err.value)
    with pytest.raises(SxwlAPIError) as err:
        client.create_finetune("bad", yaml=SPEC + "learning_rat: 1\n")
    assert any("learning_rat" in f for f in field_errors(err.value)), err.value.errors
    assert client.finetunes() == []  # nothing was started


def test_lora_from_yaml_to_evaluation_and_an_exported_model_version(
    client: Client, tmp_path: Path
) -> None:
    spec = tmp_path / "lora.yaml"
    spec.write_text(SPEC)
    ft = client.create_finetune("sdk-lora", yaml=spec, resources={"cpu_per_node": 2})
    assert ft["id"].startswith("ft-") and ft["method"] == "LoRA"
    assert ft["model"]["name"] == "sxwl-tiny-llama" and ft["params"]["cutoff_len"] == 48
    seen = []
    ft = client.wait_finetune(ft["id"], timeout=600, progress=seen.append)
    assert ft["status"] == "Succeeded", client.full_log(ft["job_id"])
    assert seen[-1].phase == "done" and seen[-1].done == seen[-1].total > 0

    points = client.finetune_points(ft["id"])
    train = [p for p in points if p["kind"] == "train"]
    assert [p["step"] for p in train] == list(range(1, train[-1]["total_steps"] + 1))
    for key in ("epoch", "loss", "learning_rate", "tokens_per_second", "memory_mb", "eta_seconds"):
        assert key in train[-1], key
    assert points[-1]["kind"] == "done"
    last = train[-1]["step"]
    tail = client.finetune_metrics(ft["id"], after=last - 1)["points"]
    assert {p["kind"] for p in tail} >= {"train", "done"} and {p["step"] for p in tail} == {last}
    assert any(f["id"] == ft["id"] for f in client.finetunes())

    ev = client.evaluate_finetune(ft["id"], max_samples=4, max_new_tokens=8, timeout=600)
    assert ev["status"] == "succeeded", ev
    assert {"rouge-1", "rouge-2", "rouge-l", "bleu-4"} <= set(ev["scores"])
    predictions = client.finetune_predictions(ft["id"])
    assert len(predictions) == 4 and set(predictions[0]) >= {"prompt", "label", "predict"}
    saved = client.download_predictions(ft["id"], dest=tmp_path)
    assert len(saved.read_text().splitlines()) == 4

    ex = client.export_finetune(ft["id"], "sdk-lora-model", notes="from the SDK test", timeout=600)
    assert ex["status"] == "ready" and ex["merge"], ex
    version = client.model_version("sdk-lora-model", ex["model"]["version"])
    assert version["status"] == "ready"
    assert version["lineage"]["finetune"] == ft["id"]
    assert version["lineage"]["base"]["name"] == "sxwl-tiny-llama"
    files = {f["path"] for f in client.model_files("sdk-lora-model")}
    assert "config.json" in files and any(f.endswith(".safetensors") for f in files)

    board = client.download_tensorboard(ft["id"], dest=tmp_path / "tb")
    assert any(p.name.startswith("events.out.tfevents") for p in board.rglob("*"))

    client.delete_finetune(ft["id"])
    assert all(f["id"] != ft["id"] for f in client.finetunes())
    assert client.model_version("sdk-lora-model", ex["model"]["version"])["status"] == "ready"
    with pytest.raises(SxwlAPIError) as err:
        client.finetune(ft["id"])
    assert err.value.status == 404


def test_stopped_finetune_resumes_to_the_same_step_count(client: Client) -> None:
    ft = client.create_finetune(
        "sdk-resume",
        "sxwl-tiny-llama",
        "alpaca_en_demo",
        finetuning_type="lora",
        cutoff_len=32,
        max_samples=80,
        val_size=4,
        per_device_train_batch_size=2,
        # Enough steps that the run cannot end before the stop below takes effect.
        max_steps=300,
        save_steps=20,
        logging_steps=1,
    )
    # A validation loss is written at each checkpoint: stop once there is one.
    deadline = time.monotonic() + 300
    while not any(p["kind"] == "eval" for p in client.finetune_points(ft["id"])):
        state = client.finetune(ft["id"])
        assert state["status"] in ("Queued", "Starting", "Running"), state
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.5)
    stopped = client.stop_finetune(ft["id"])
    assert stopped["status"] in ("Stopping", "Stopped")
    assert client.wait_finetune(ft["id"], timeout=60)["status"] == "Stopped"
    total = client.finetune_points(ft["id"])[0]["total_steps"]

    assert client.resume_finetune(ft["id"])["status"] in ("Queued", "Starting", "Running")
    done = client.wait_finetune(ft["id"], timeout=600)
    assert done["status"] == "Succeeded", client.full_log(done["job_id"])
    points = client.finetune_points(ft["id"])
    assert points[-1]["kind"] == "done" and points[-1]["step"] == total
    assert "resum" in client.full_log(done["job_id"]).lower()
