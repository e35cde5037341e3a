"""What ships with the package to start from: preset datasets and preset base models,
including the tiny model that is built locally and must load, generate and chat offline."""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_sxwl.catalog.datasets import AnnotationType, iter_records, validate_file
from jupyter_sxwl.catalog.models.hub_source import validate_repo_id
from jupyter_sxwl.catalog.models.presets import get_preset, preset_models
from jupyter_sxwl.catalog.presets import (
    PRESETS_DIR,
    get_preset_dataset,
    preset_datasets,
)

# The least each preset must hold: the demos are only useful with enough records to train on.
MIN_RECORDS = {
    "alpaca_zh_demo": 220,
    "alpaca_en_demo": 220,
    "sharegpt_zh_demo": 40,
    "ranking_demo": 30,
    "qa_demo": 30,
}


# ---------------------------------------------------------------------------------------------
# datasets


def test_presets_json_lists_exactly_the_shipped_files() -> None:
    presets = preset_datasets()
    names = [p.name for p in presets]
    assert len(names) == len(set(names))
    assert sorted(p.file for p in presets) == sorted(
        f.name for f in PRESETS_DIR.iterdir() if f.suffix == ".jsonl"
    )
    assert set(names) == set(MIN_RECORDS)
    for p in presets:
        assert p.license == "Apache-2.0"
        assert p.language in ("zh", "en")
        assert p.description
        AnnotationType.parse(p.annotation_type)  # a known type


@pytest.mark.parametrize("name", sorted(MIN_RECORDS))
def test_every_preset_file_is_valid_for_its_type(name: str) -> None:
    preset = get_preset_dataset(name)
    report = validate_file(preset.path, preset.annotation_type)
    assert report.ok, [str(e) for e in report.errors[:5]]
    assert report.records == report.valid >= MIN_RECORDS[name]
    records = [r.data for r in iter_records(preset.path, preset.annotation_type)]
    assert len(records) == report.records


def test_instruction_presets_have_no_repeated_tasks() -> None:
    for name in ("alpaca_zh_demo", "alpaca_en_demo"):
        preset = get_preset_dataset(name)
        keys = [
            (r.data["instruction"], r.data["input"])
            for r in iter_records(preset.path, preset.annotation_type)
        ]
        assert len(keys) == len(set(keys)), name


def test_ranking_preset_ranks_every_candidate() -> None:
    preset = get_preset_dataset("ranking_demo")
    for rec in iter_records(preset.path, preset.annotation_type):
        n = len(rec.data["candidates"])
        for field in ("relevance_rank", "safety_rank"):
            assert sorted(c[field] for c in rec.data["candidates"]) == list(range(1, n + 1))


def test_unknown_preset_dataset_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="alpaca_zh_demo"):
        get_preset_dataset("nope")


# ---------------------------------------------------------------------------------------------
# models


def test_preset_model_names_are_unique_and_sources_complete() -> None:
    models = preset_models()
    names = [m.name for m in models]
    assert len(names) == len(set(names))
    assert {"sxwl-tiny-llama", "Qwen2.5-0.5B-Instruct", "glm-4-9b-chat"} <= set(names)
    for m in models:
        assert m.source in ("huggingface", "local")
        assert m.context_length > 0 and m.parameters and m.license
        if m.source == "huggingface":
            assert m.repo_id is not None and m.modelscope_id is not None
            validate_repo_id(m.repo_id)
            validate_repo_id(m.modelscope_id)
            assert m.local_builder is None
        else:
            assert m.repo_id is None and m.local_builder is not None
    assert get_preset("Qwen2.5-7B-Instruct").repo_id == "Qwen/Qwen2.5-7B-Instruct"
    with pytest.raises(KeyError, match="sxwl-tiny-llama"):
        get_preset("gpt-5")


def test_model_modules_do_not_import_torch() -> None:
    code = (
        "import sys, jupyter_sxwl.catalog.models.tiny, jupyter_sxwl.catalog.models.presets, "
        "jupyter_sxwl.catalog.models.hub_source, jupyter_sxwl.catalog.presets; "
        "print(sorted(m for m in ('torch', 'transformers', 'huggingface_hub') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def _build(dest: Path, seed: int = 0) -> dict[str, Any]:
    """Build the tiny model the way the platform does: in a subprocess."""
    builder = get_preset("sxwl-tiny-llama").local_builder
    assert builder is not None
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-m", builder, str(dest), "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    facts: dict[str, Any] = json.loads(result.stdout)
    return facts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    dest = tmp_path_factory.mktemp("tiny") / "sxwl-tiny-llama"
    return dest, _build(dest)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_tiny_model_facts_describe_the_directory(tiny: tuple[Path, dict[str, Any]]) -> None:
    dest, facts = tiny
    assert facts["architecture"] == "LlamaForCausalLM"
    assert 8_000_000 < facts["parameters"] < 10_000_000
    assert facts["vocab_size"] == 32000
    files = {f["path"]: f for f in facts["files"]}
    for name in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "README.md",
    ):
        assert (dest / name).is_file(), name
        assert files[name]["size"] == (dest / name).stat().st_size
    assert files["model.safetensors"]["sha256"] == _sha256(dest / "model.safetensors")
    assert "Apache-2.0" in (dest / "README.md").read_text()


@pytest.mark.slow
def test_tiny_model_loads_generates_and_chats_offline(
    tiny: tuple[Path, dict[str, Any]],
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dest, _ = tiny
    model = AutoModelForCausalLM.from_pretrained(dest, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(dest, local_files_only=True)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) == (
        "<s>",
        "</s>",
        "<unk>",
    )
    assert tokenizer.pad_token == "<unk>" and len(tokenizer) == 32000

    for text in (
        "你好，世界！机器学习很有趣。",
        "The quick brown fox jumps over the lazy dog.",
        "混合 text 123",
    ):
        ids = tokenizer(text).input_ids
        assert ids[0] == tokenizer.bos_token_id and tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text

    messages = [
        {"role": "system", "content": "你是一个乐于助人的助手。"},
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "你好！"},
        {"role": "user", "content": "1+1等于几？"},
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == (
        "<s>你是一个乐于助人的助手。\n\n### Instruction:\n你好\n\n### Response:\n你好！</s>\n\n"
        "### Instruction:\n1+1等于几？\n\n### Response:\n"
    )
    no_prompt = tokenizer.apply_chat_template(messages[:3], tokenize=False)
    assert no_prompt.endswith("你好！</s>\n\n")

    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 5


@pytest.mark.slow
def test_tiny_model_build_is_deterministic(
    tiny: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    dest, facts = tiny
    again = _build(tmp_path / "again")
    assert again["files"] == facts["files"]  # same names, sizes and sha256, README included
    other = _build(tmp_path / "other-seed", seed=1)
    shas = {f["path"]: f["sha256"] for f in other["files"]}
    assert shas["model.safetensors"] != _sha256(dest / "model.safetensors")
    assert shas["tokenizer.json"] == _sha256(dest / "tokenizer.json")


def test_tiny_model_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.catalog.models.tiny", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "not an empty directory" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
