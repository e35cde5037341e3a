"""Fine-tunes through the REST API (F1 to F4, T4): checked before compute, run as jobs,
progress from their metrics, evaluated and exported into the model repository.

One hub on SQLite + the local object store. Most tests use a made-up model (a safetensors
file with the shapes of a small Llama and no real weights): checking a request needs only
its layer names. The end-to-end test trains the real tiny model on CPU.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from jupyter_sxwl.platform.finetunes import MetricsIndex
from tests.platform.conftest import PLATFORM_CONFIG, Api
from tests.platform.test_datasets_api import (
    GOOD,
    create,
    import_bytes,
    jsonl,
    problem,
    publish,
    upload_as,
)
from tests.platform.test_models_api import wait_version
from tests.platform.test_services_api import bearer, gateway, new_key
from tests.support import Hub, start_hub

# The end-to-end fine-tune: enough steps that it cannot end between the test seeing step 5
# and its stop taking effect (the tiny model runs several steps a second).
STEPS = 60
LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@pytest.fixture(scope="module")
def api_hub() -> Iterator[Hub]:
    with start_hub(
        name="finetunes",
        platform_config_text=PLATFORM_CONFIG,
        platform_args=["--SxwlPlatform.build_tiny_model=True"],
    ) as hub:
        yield hub


def safetensors(shapes: dict[str, list[int]]) -> bytes:
    """A safetensors file of zeros with these tensor shapes (float32)."""
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in shapes.items():
        size = 4
        for n in shape:
            size *= n
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def fake_llama_tar() -> bytes:
    shapes: dict[str, list[int]] = {"model.embed_tokens.weight": [8, 4], "lm_head.weight": [8, 4]}
    for layer in range(2):
        for module in LINEAR:
            part = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            shapes[f"model.layers.{layer}.{part}.{module}.weight"] = [4, 4]
        shapes[f"model.layers.{layer}.input_layernorm.weight"] = [4]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("config.json", b'{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}'),
            ("model.safetensors", safetensors(shapes)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_model(api: Api, name: str) -> dict[str, Any]:
    r = api.call("POST", "models", json={"name": name, "family": "llama"})
    assert r.status_code == 201, r.text
    m = r.json()
    up = upload_as(api, "m.tar", fake_llama_tar(), purpose="model")
    r = api.call("POST", f"models/{m['id']}/versions", json={"source": "upload", "upload_id": up})
    assert r.status_code == 202, r.text
    assert wait_version(api, m["id"], 1)["status"] == "ready"
    return m  # type: ignore[no-any-return]


def make_dataset(api: Api, name: str, published: bool = True) -> dict[str, Any]:
    ds = create(api, name)
    assert import_bytes(api, ds["id"], "a.jsonl", jsonl(GOOD))["status"] == "succeeded"
    if published:
        assert publish(api, ds["id"])["status"] == "succeeded"
    return ds


def wait_preset_dataset(api: Api, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [d for d in api.get("datasets")["datasets"] if d["name"] == name]
        if found and found[0]["latest_version"]:
            return found[0]
        assert time.monotonic() < deadline, f"preset {name} not published"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def fixtures(alice: Api, bob: Api) -> dict[str, Any]:
    return {
        "model": make_model(alice, "fake-llama"),
        "data": make_dataset(alice, "sft-data"),
        "draft": make_dataset(alice, "draft-only", published=False),
        "bob_model": make_model(bob, "bobs-llama"),
        "bob_data": make_dataset(bob, "bobs-data"),
        "ranking": wait_preset_dataset(alice, "ranking_demo"),
    }


def body(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": "ft-test",
        "model": "fake-llama",
        "datasets": [{"name": "sft-data"}],
        "params": {"lora_target": "q_proj,v_proj", "max_steps": 2},
        "resources": {"cpu_per_node": 1, "memory_gb_per_node": 1},
    }
    for key, value in changes.items():
        if key.startswith("params."):
            out["params"] = {**out["params"], key.removeprefix("params."): value}
        else:
            out[key] = value
    return out


def finetune_count(api: Api) -> int:
    return api.get("finetunes")["total"]  # type: ignore[no-any-return]


def test_defaults_and_yaml_import(alice: Api) -> None:
    d = alice.get("finetunes/defaults")
    assert d["params"]["finetuning_type"] == "lora" and d["params"]["lora_target"] == "all"
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["learning_rate"]["type"] == "number" and fields["learning_rate"]["description"]
    assert "cosine" in fields["lr_scheduler_type"]["choices"] and "qwen" in d["templates"]
    assert fields["quantization_bit"]["nullable"] and fields["lora_rank"]["type"] == "integer"
    doc = alice.get("openapi.json")
    assert {"/finetunes", "/finetunes/{finetune}/metrics"} <= set(doc["paths"])
    assert {"FinetuneCreate", "FinetuneParams"} <= set(doc["components"]["schemas"])

    text = (
        "model_name_or_path: fake-llama\nstage: sft\nfinetuning_type: lora\n"
        "lora_target: all\ndataset: sft-data,alpaca_en_demo\noutput_dir: saves/x\n"
        "learning_rate: 1.0e-4\n"
    )
    r = alice.call("POST", "finetunes/parse-yaml", json={"yaml": text})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["model"] == "fake-llama" and got["params"]["learning_rate"] == 1e-4
    assert [d["name"] for d in got["datasets"]] == ["sft-data", "alpaca_en_demo"]
    assert "output_dir" in got["ignored"]
    problem(alice.call("POST", "finetunes/parse-yaml", json={"yaml": "a: [1"}), 400, "yaml")
    problem(
        alice.call("POST", "finetunes/parse-yaml", json={"yaml": "lora_rnk: 8"}), 400, "lora_rnk"
    )


def test_bad_input_is_refused_before_any_job(
    alice: Api, fixtures: dict[str, Any], api_hub: Hub
) -> None:
    jobs_before = alice.get("jobs")["total"]
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        (body(**{"params.finetuning_type": "lorra"}), 400, "params.finetuning_type", "lora"),
        (body(**{"params.template": "vicuna9"}), 400, "params.template", "alpaca"),
        (body(**{"params.lr_scheduler_type": "cosinus"}), 400, "params.lr_scheduler_type", ""),
        (
            body(**{"params.per_device_train_batch_size": 0}),
            400,
            "params.per_device_train_batch_size",
            "",
        ),
        (
            body(**{"params.per_device_train_batch_size": -4}),
            400,
            "params.per_device_train_batch_size",
            "",
        ),
        (body(**{"params.learning_rate": 0}), 400, "params.learning_rate", "range"),
        (body(**{"params.learning_rate": 3.0}), 400, "params.learning_rate", "range"),
        (body(**{"params.lora_rnk": 8}), 400, "params.lora_rnk", ""),
        # lora_target naming modules the model lacks: the error lists what it has.
        (
            body(**{"params.lora_target": "q_proj,query_key_value"}),
            400,
            "params.lora_target",
            "down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj",
        ),
        # Ranking data cannot feed SFT.
        (body(datasets=[{"name": "ranking_demo"}]), 400, "datasets[0]", "ranking"),
        # QLoRA and fp16 need CUDA: refused on the CPU flavour and on a GPU flavour without cards.
        (body(**{"params.quantization_bit": 4}), 400, "params.quantization_bit", "gpu-a100"),
        (
            body(
                **{"params.quantization_bit": 4},
                resources={"flavour": "gpu-a100", "accelerators_per_node": 0},
            ),
            400,
            "params.quantization_bit",
            "CUDA",
        ),
        (body(**{"params.fp16": True}), 400, "params.fp16", "bf16"),
        # A dataset without a published version.
        (body(datasets=[{"name": "draft-only"}]), 400, "datasets[0]", "publish"),
        (body(datasets=[{"name": "sft-data", "version": 9}]), 404, "datasets[0].version", ""),
        (body(datasets=[]), 400, "datasets", ""),
        # Someone else's model or dataset: a 404 that does not say it exists.
        (body(model="bobs-llama"), 404, "model", ""),
        (body(model=fixtures["bob_model"]["id"]), 404, "model", ""),
        (body(datasets=[{"name": fixtures["bob_data"]["id"]}]), 404, "datasets[0]", ""),
        (body(datasets=[{"name": "bobs-data"}]), 404, "datasets[0]", ""),
        (body(model="no-such-model"), 404, "model", ""),
        (body(model_version=7), 404, "model_version", ""),
        # Resources, name and unknown fields.
        (body(resources={"nodes": 0}), 400, "resources.nodes", ""),
        (body(resources={"flavour": "tpu-v9"}), 400, "resources.flavour", ""),
        (body(resources={"cpu_per_node": 1000}), 400, "resources.cpu_per_node", ""),
        (body(resources={"gpus": 1}), 400, "resources.gpus", ""),
        (body(name="bad name!"), 400, "name", ""),
        (body(colour="red"), 400, "colour", ""),
        # YAML that does not parse, or names a key nobody knows.
        ({"name": "y", "yaml": "model_name_or_path: [fake"}, 400, "yaml", "YAML"),
        (
            {"name": "y", "yaml": "model_name_or_path: fake-llama\nlora_rnk: 8\n"},
            400,
            "lora_rnk",
            "",
        ),
    ]
    for request, status, field, text in cases:
        detail = problem(alice.call("POST", "finetunes", json=request), status, field)
        assert text in detail, (field, detail)
    # Nothing was queued, nothing was created.
    assert alice.get("jobs")["total"] == jobs_before
    assert finetune_count(alice) == 0
    # Bob's model is answered exactly like a model that does not exist.
    theirs = alice.call("POST", "finetunes", json=body(model="bobs-llama")).json()
    none = alice.call("POST", "finetunes", json=body(model="no-such-model")).json()
    assert theirs["detail"].replace("bobs-llama", "X") == none["detail"].replace(
        "no-such-model", "X"
    )


def test_a_finetune_is_a_job_others_cannot_see(
    alice: Api, bob: Api, admin: Api, fixtures: dict[str, Any]
) -> None:
    # QLoRA on a GPU flavour with a card is accepted (this machine has no GPU: it fails).
    r = alice.call(
        "POST",
        "finetunes",
        json=body(
            name="qlora",
            **{"params.quantization_bit": 4},
            resources={"flavour": "gpu-a100", "accelerators_per_node": 1, "queue": "gpu"},
        ),
    )
    assert r.status_code == 201, r.text
    qlora = r.json()
    assert qlora["method"] == "QLoRA"
    r = alice.call(
        "POST",
        "finetunes",
        json={
            "name": "from-yaml",
            "yaml": "model_name_or_path: fake-llama\ndataset: sft-data\nlora_target: q_proj\n"
            "learning_rate: 2.0e-4\nlora_rank: 4\nloraplus_lr_ratio: 16\n",
            "params": {"lora_rank": 2},
            "resources": {"cpu_per_node": 1, "memory_gb_per_node": 1},
        },
    )
    assert r.status_code == 201, r.text
    ft = r.json()
    assert ft["id"].startswith("ft-") and ft["owner"] == "alice" and ft["method"] == "LoRA+"
    assert ft["params"]["lora_rank"] == 2 and ft["params"]["learning_rate"] == 2e-4
    assert ft["model"] == {"id": fixtures["model"]["id"], "name": "fake-llama", "version": 1}
    assert ft["datasets"] == [
        {
            "id": fixtures["data"]["id"],
            "name": "sft-data",
            "version": 1,
            "annotation_type": "instruction",
            "records": 3,
        }
    ]
    assert ft["resources"]["cpu_per_node"] == 1 and ft["status"] in (
        "Queued",
        "Starting",
        "Running",
        "Failed",
    )
    # It is a job of the foundation: the runner, its configuration and pinned mounts.
    job = alice.get(f"jobs/{ft['job_id']}")
    assert job["command"] == "python -m jupyter_sxwl.runtime.finetune train"
    assert job["job_type"] == "single" and job["name"] == "from-yaml"
    config = json.loads(job["env"]["SXWL_FINETUNE_CONFIG"])
    assert config["model_dir"] == "models/fake-llama"
    assert config["datasets"] == [
        {
            "name": "sft-data",
            "version": 1,
            "annotation_type": "instruction",
            "path": "datasets/sft-data/data.jsonl",
        }
    ]
    assert config["params"]["lora_target"] == "q_proj" and config["lineage"]["finetune"] == ft["id"]
    assert {(m["kind"], m["name"], m["version"]) for m in job["mounts"]} == {
        ("model", "fake-llama", 1),
        ("dataset", "sft-data", 1),
    }
    # Users cannot set the platform's variable themselves.
    r = alice.call(
        "POST", "jobs", json={"name": "x", "command": "true", "env": {"SXWL_FINETUNE_CONFIG": "{}"}}
    )
    problem(r, 400, "env")
    # More than one process: a PyTorch (DDP) job.
    r = alice.call(
        "POST",
        "finetunes",
        json=body(name="ddp", resources={"nodes": 2, "cpu_per_node": 1, "memory_gb_per_node": 1}),
    )
    assert r.status_code == 201, r.text
    ddp = r.json()
    assert alice.get(f"jobs/{ddp['job_id']}")["job_type"] == "pytorch"

    # Nobody else sees them; admins do.
    for path in (ft["id"], f"{ft['id']}/metrics", f"{ft['id']}/tensorboard"):
        assert bob.call("GET", f"finetunes/{path}").status_code == 404
    for verb, path in (
        ("POST", "stop"),
        ("POST", "resume"),
        ("POST", "evaluate"),
        ("POST", "export"),
        ("DELETE", ""),
    ):
        assert (
            bob.call(verb, f"finetunes/{ft['id']}/{path}".rstrip("/"), json={}).status_code == 404
        )
    assert bob.get("finetunes")["total"] == 0
    assert alice.get("finetunes")["total"] == 3
    assert admin.get(f"finetunes/{ft['id']}")["owner"] == "alice"
    assert {f["id"] for f in admin.get("finetunes?all=1")["items"]} >= {ft["id"], qlora["id"]}
    assert admin.get("finetunes")["total"] == 0

    # The failed ones say why, from their log.
    deadline = time.monotonic() + 120
    while True:
        got = alice.get(f"finetunes/{qlora['id']}")
        if got["status"] == "Failed" and got["message"]:
            break
        assert got["status"] in ("Queued", "Starting", "Running"), got
        assert time.monotonic() < deadline, got
        time.sleep(0.5)
    assert "exit" in got["message"] or "rror" in got["message"], got["message"]
    # Not trained: nothing to evaluate or export yet.
    problem(alice.call("POST", f"finetunes/{qlora['id']}/evaluate", json={}), 409)
    problem(alice.call("POST", f"finetunes/{qlora['id']}/export", json={"model_name": "x"}), 409)
    # Stop and resume are the job's: a failed fine-tune resumes as a new attempt.
    r = alice.call("POST", f"finetunes/{ddp['id']}/stop")
    assert r.status_code == 200, r.text
    assert r.json()["status"] in ("Stopped", "Stopping", "Failed", "Succeeded")
    r = alice.call("POST", f"finetunes/{qlora['id']}/resume")
    assert r.status_code == 200, r.text
    assert r.json()["attempt"] == 2 and r.json()["status"] == "Queued"
    assert alice.get(f"jobs/{qlora['job_id']}")["attempt"] == 2

    # Stop and delete: the jobs go with them.
    for item in (ft, qlora, ddp):
        r = alice.call("DELETE", f"finetunes/{item['id']}")
        assert r.status_code == 204, r.text
        assert alice.call("GET", f"finetunes/{item['id']}").status_code == 404
        assert alice.call("GET", f"jobs/{item['job_id']}").status_code == 404
    assert finetune_count(alice) == 0


def test_metrics_index_reads_on_and_keeps_a_resumed_curve_continuous(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"

    def write(*points: dict[str, Any], partial: str = "") -> None:
        with path.open("a") as f:
            for p in points:
                f.write(json.dumps(p) + "\n")
            f.write(partial)

    index = MetricsIndex(path)
    index.refresh()
    assert index.points(None) == [] and index.progress is None
    write(*({"kind": "train", "step": s, "loss": 10 - s} for s in range(1, 5)))
    write({"kind": "eval", "step": 4, "eval_loss": 1.0}, {"kind": "train", "step": 5, "loss": 5})
    write(partial='{"kind": "train", "st')
    index.refresh()
    assert [p["step"] for p in index.points(None)] == [1, 2, 3, 4, 4, 5]
    assert index.progress is not None and index.progress["step"] == 5
    assert [p["step"] for p in index.points(3)] == [4, 4, 5]
    # The partial line is completed; then a resume from the checkpoint at step 4 repeats 5, 6.
    with path.open("a") as f:
        f.write('ep": 6, "loss": 3}\n')
    index.refresh()
    assert index.progress == {"kind": "train", "step": 6, "loss": 3}
    write({"kind": "train", "step": 5, "loss": 4.5}, {"kind": "train", "step": 6, "loss": 4})
    write({"kind": "done", "step": 6, "train_loss": 5})
    index.refresh()
    points = index.points(None)
    assert [(p["kind"], p["step"]) for p in points] == [
        ("train", 1),
        ("train", 2),
        ("train", 3),
        ("train", 4),
        ("eval", 4),
        ("train", 5),
        ("train", 6),
        ("done", 6),
    ]
    assert points[5]["loss"] == 4.5 and index.progress == {"kind": "train", "step": 6, "loss": 4}
    # Paging never splits a step.
    assert [p["step"] for p in index.points(3, limit=1)] == [4, 4]
    # A fresh start (the file replaced) is read anew.
    path.unlink()
    write({"kind": "train", "step": 1, "loss": 9})
    index.refresh()
    assert [p["loss"] for p in index.points(None)] == [9]


def wait_finetune(api: Api, ft_id: str, *statuses: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        ft: dict[str, Any] = api.get(f"finetunes/{ft_id}")
        if ft["status"] in statuses:
            return ft
        assert ft["status"] not in ("Failed", "TimedOut") or "Failed" in statuses, ft
        assert time.monotonic() < deadline, ft
        time.sleep(0.5)


def wait_status(api: Api, path: str, pending: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got: dict[str, Any] = api.get(path)
        if got["status"] != pending:
            return got
        assert time.monotonic() < deadline, got
        time.sleep(0.5)


def exported(api: Api, finetune: str, export: str) -> dict[str, Any]:
    return next(e for e in api.get(f"finetunes/{finetune}")["exports"] if e["id"] == export)


def test_train_stop_resume_evaluate_export_and_mount(alice: Api, api_hub: Hub) -> None:
    """The whole path on the tiny local model, on CPU, through real jobs."""
    tiny = next(m for m in alice.get("models")["models"] if m["name"] == "sxwl-tiny-llama")
    assert wait_version(alice, tiny["id"], 1, timeout=300)["status"] == "ready"
    wait_preset_dataset(alice, "alpaca_en_demo")
    r = alice.call(
        "POST",
        "finetunes",
        json={
            "name": "tiny-lora",
            "model": "sxwl-tiny-llama",
            "datasets": [{"name": "alpaca_en_demo"}],
            "params": {
                "lora_target": "all",
                "max_samples": 64,
                "cutoff_len": 128,
                "per_device_train_batch_size": 4,
                "max_steps": STEPS,
                "save_steps": 4,
                "logging_steps": 1,
                "learning_rate": 1e-3,
                "val_size": 8,
            },
            "resources": {"cpu_per_node": 2, "memory_gb_per_node": 4},
        },
    )
    assert r.status_code == 201, r.text
    ft = r.json()

    # Progress streams from metrics.jsonl; stop after the first checkpoint, then resume.
    deadline = time.monotonic() + 300
    while True:
        got = alice.get(f"finetunes/{ft['id']}")
        assert got["status"] in ("Queued", "Starting", "Running"), got
        if got["progress"] and got["progress"]["step"] >= 5:
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
    progress = got["progress"]
    assert progress["total_steps"] == STEPS and progress["loss"] > 0
    assert {"epoch", "learning_rate", "tokens_per_second", "memory_mb", "eta_seconds"} <= set(
        progress
    )
    r = alice.call("POST", f"finetunes/{ft['id']}/stop")
    assert r.status_code == 200, r.text
    wait_finetune(alice, ft["id"], "Stopped")
    first = alice.get(f"finetunes/{ft['id']}/metrics")["points"]
    stopped_at = max(p["step"] for p in first if p["kind"] == "train")
    assert 5 <= stopped_at < STEPS
    r = alice.call("POST", f"finetunes/{ft['id']}/resume")
    assert r.status_code == 200, r.text
    assert r.json()["attempt"] == 2
    problem(alice.call("POST", f"finetunes/{ft['id']}/resume"), 409)
    done = wait_finetune(alice, ft["id"], "Succeeded")

    # One continuous curve: every step once, ending at the total.
    metrics = alice.get(f"finetunes/{ft['id']}/metrics")
    train = [p["step"] for p in metrics["points"] if p["kind"] == "train"]
    assert train == list(range(1, STEPS + 1)), train
    assert metrics["points"][-1]["kind"] == "done" and metrics["progress"]["step"] == STEPS
    assert any(p["kind"] == "eval" for p in metrics["points"])
    newer = alice.get(f"finetunes/{ft['id']}/metrics?after=20")["points"]
    assert newer and min(p["step"] for p in newer) == 21
    assert done["progress"]["step"] == STEPS

    # TensorBoard event files.
    r = alice.call("GET", f"finetunes/{ft['id']}/tensorboard")
    assert r.status_code == 200, r.text
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        names = tar.getnames()
    assert names and all(n.startswith("runs/") for n in names)
    assert any("tfevents" in n for n in names), names

    # Evaluate on the validation split: scores and predictions.
    r = alice.call(
        "POST", f"finetunes/{ft['id']}/evaluate", json={"max_samples": 4, "max_new_tokens": 8}
    )
    assert r.status_code == 202, r.text
    ev = r.json()
    assert ev["id"].startswith("ev-") and ev["status"] == "running" and ev["dataset"] is None
    ev = wait_status(alice, f"finetunes/{ft['id']}/evaluations/{ev['id']}", "running")
    assert ev["status"] == "succeeded", ev
    assert {"rouge-1", "rouge-2", "rouge-l", "bleu-4"} <= set(ev["scores"])
    assert ev["scores"]["samples"] == 4
    r = alice.call("GET", f"finetunes/{ft['id']}/evaluations/{ev['id']}/predictions")
    assert r.status_code == 200
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 4 and {"prompt", "label", "predict"} <= set(lines[0])

    # Export: a new model version with its lineage, which mounts and downloads.
    r = alice.call(
        "POST",
        f"finetunes/{ft['id']}/export",
        json={"model_name": "tiny-tuned", "merge": True, "notes": "first try"},
    )
    assert r.status_code == 202, r.text
    ex = r.json()
    assert ex["status"] == "running"
    deadline = time.monotonic() + 300
    while (ex := exported(alice, ft["id"], ex["id"]))["status"] == "running":
        assert time.monotonic() < deadline, ex
        time.sleep(0.5)
    assert ex["status"] == "ready", ex
    assert ex["model"]["name"] == "tiny-tuned" and ex["model"]["version"] == 1
    v = alice.get("models/tiny-tuned/versions/1")
    assert v["source"] == "finetune" and v["notes"] == "first try"
    lineage = v["lineage"]
    assert lineage["finetune"] == ft["id"] and lineage["base"]["name"] == "sxwl-tiny-llama"
    assert lineage["datasets"][0]["name"] == "alpaca_en_demo"
    assert lineage["params"]["max_steps"] == STEPS and lineage["scores"] == ev["scores"]
    files = {f["path"] for f in alice.get("models/tiny-tuned/versions/1/files")["files"]}
    assert "config.json" in files and any(f.endswith(".safetensors") for f in files)
    r = alice.call("POST", "mounts/resolve", json={"kind": "model", "name": "tiny-tuned"})
    assert r.status_code == 200, r.text
    assert (Path(r.json()["path"]) / "config.json").is_file()
    r = alice.call("GET", "models/tiny-tuned/versions/1/archive")
    assert r.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        assert "tiny-tuned-v1/config.json" in tar.getnames()

    # The merged model fine-tunes again like any model (its layers are read from it too).
    r = alice.call(
        "POST",
        "finetunes",
        json=body(
            name="again",
            model="tiny-tuned",
            datasets=[{"name": "alpaca_en_demo"}],
            **{"params.lora_target": "nope_proj"},
        ),
    )
    assert "q_proj" in problem(r, 400, "params.lora_target")

    # The adapter exported alone deploys alone: its base comes from its lineage.
    r = alice.call(
        "POST", f"finetunes/{ft['id']}/export", json={"model_name": "tiny-lora", "merge": False}
    )
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 300
    while (ex := exported(alice, ft["id"], r.json()["id"]))["status"] == "running":
        assert time.monotonic() < deadline, ex
        time.sleep(0.5)
    assert ex["status"] == "ready" and ex["model"]["name"] == "tiny-lora", ex
    r = alice.call(
        "POST",
        "services",
        json={"name": "lora-alone", "kind": "llm", "model": {"name": "tiny-lora"}},
    )
    assert r.status_code == 201, r.text
    svc = r.json()
    assert svc["model"]["name"] == "sxwl-tiny-llama" and svc["adapter"]["name"] == "tiny-lora"
    svc = wait_status(alice, "services/lora-alone", "starting", timeout=180)
    assert svc["status"] == "running", svc
    key = new_key(alice, "lora-alone")
    chat = {"model": "lora-alone", "messages": [{"role": "user", "content": "hi"}]}
    r = requests.post(
        gateway(alice, "lora-alone") + "v1/chat/completions",
        json={**chat, "max_tokens": 4},
        headers=bearer(key),
        timeout=120,
    )
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] >= 1, r.text
    assert alice.call("DELETE", "services/lora-alone").status_code == 204

    # Deleting the fine-tune keeps the exported model.
    assert alice.call("DELETE", f"finetunes/{ft['id']}").status_code == 204
    assert alice.get("models/tiny-tuned/versions/1")["status"] == "ready"


def test_two_processes_train_data_parallel_through_a_pytorch_job(alice: Api) -> None:
    """procs_per_node 2: a pytorch job (torchrun, gloo on CPU); each step is reported once."""
    tiny = next(m for m in alice.get("models")["models"] if m["name"] == "sxwl-tiny-llama")
    assert wait_version(alice, tiny["id"], 1, timeout=300)["status"] == "ready"
    wait_preset_dataset(alice, "alpaca_en_demo")
    r = alice.call(
        "POST",
        "finetunes",
        json={
            "name": "tiny-ddp",
            "model": "sxwl-tiny-llama",
            "datasets": [{"name": "alpaca_en_demo"}],
            "params": {
                "max_samples": 32,
                "cutoff_len": 64,
                "per_device_train_batch_size": 2,
                "max_steps": 6,
                "save_steps": 3,
                "logging_steps": 1,
            },
            "resources": {"procs_per_node": 2, "cpu_per_node": 2, "memory_gb_per_node": 4},
        },
    )
    assert r.status_code == 201, r.text
    ft = r.json()
    assert alice.get(f"jobs/{ft['job_id']}")["job_type"] == "pytorch"
    done = wait_finetune(alice, ft["id"], "Succeeded")
    assert done["progress"]["step"] == 6
    points = alice.get(f"finetunes/{ft['id']}/metrics")["points"]
    assert [p["step"] for p in points if p["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [p["kind"] for p in points].count("done") == 1
    log = alice.call("GET", f"jobs/{ft['job_id']}/logs").text
    assert "x2:" in log, log[-2000:]
    assert alice.call("DELETE", f"finetunes/{ft['id']}").status_code == 204
