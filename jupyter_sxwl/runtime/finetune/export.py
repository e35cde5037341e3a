"""Export (``python -m jupyter_sxwl.runtime.finetune export``): a Hugging Face model directory.

With ``export.merge`` (the default) the LoRA adapter is merged into the base weights and the
whole model is saved (safetensors) with the tokenizer, ready to serve without peft. Without it,
the adapter alone is copied. A full fine-tune (no adapter) is copied as it is.
``sxwl-lineage.json`` records where the model came from.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from . import modeling
from .errors import FinetuneError
from .evaluate import TOKENIZER_FILES, tokenizer_dir
from .runconfig import ResolvedRun

LINEAGE_FILE = "sxwl-lineage.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
# Besides weights: what a model directory needs to load and generate.
MODEL_SIDE_FILES = (
    "config.json",
    "generation_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "README.md",
)


def _copy_files(src: Path, dest: Path, names: tuple[str, ...]) -> list[str]:
    copied = []
    for name in names:
        if (src / name).is_file():
            shutil.copy2(src / name, dest / name)
            copied.append(name)
    return copied


def _finetune_description(run: ResolvedRun) -> dict[str, Any]:
    for where in (run.adapter_dir, run.model_dir):
        if where is not None and (where / "finetune.json").is_file():
            try:
                found: dict[str, Any] = json.loads((where / "finetune.json").read_text())
                return found
            except ValueError:
                pass
    return {}


def write_lineage(run: ResolvedRun, output_dir: Path, merged: bool) -> None:
    trained = _finetune_description(run)
    lineage = {
        **run.config.lineage,
        "base": run.config.lineage.get("base", trained.get("base_model", run.config.model_dir)),
        "method": trained.get("method", run.params.method),
        "params": trained.get("params", run.params.model_dump()),
        "datasets": run.config.lineage.get("datasets", trained.get("datasets", [])),
        "merged": merged,
    }
    (output_dir / LINEAGE_FILE).write_text(
        json.dumps(lineage, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def run_export(run: ResolvedRun) -> int:
    modeling.quiet_libraries()
    output_dir = run.require_output_dir()
    merge = run.config.export.merge
    if not (run.model_dir / "config.json").is_file():
        raise FinetuneError(f"model: no Hugging Face model at {run.model_dir}")
    if run.adapter_dir is not None and not (run.adapter_dir / "adapter_config.json").is_file():
        raise FinetuneError(f"adapter_dir: no LoRA adapter at {run.adapter_dir}")
    output_dir.mkdir(parents=True, exist_ok=True)
    if run.adapter_dir is None:
        # A full fine-tune's output is already a whole model.
        for p in run.model_dir.iterdir():
            if p.is_file() and p.name != LINEAGE_FILE:
                shutil.copy2(p, output_dir / p.name)
        merged = False
    elif not merge:
        _copy_files(run.adapter_dir, output_dir, ADAPTER_FILES)
        _copy_files(tokenizer_dir(run), output_dir, (*TOKENIZER_FILES, "special_tokens_map.json"))
        merged = False
    else:
        _merge(run, output_dir)
        merged = True
    write_lineage(run, output_dir, merged)
    what = "the merged model" if merged else "the adapter" if run.adapter_dir else "the model"
    print(f"exported {what} to {output_dir}", flush=True)
    return 0


def _merge(run: ResolvedRun, output_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    assert run.adapter_dir is not None
    # The base's own dtype ("auto"): the merged model is stored like the model it came from.
    model = AutoModelForCausalLM.from_pretrained(run.model_dir, dtype="auto", local_files_only=True)
    merged = modeling.load_adapter(model, run.adapter_dir).merge_and_unload()
    merged.save_pretrained(output_dir, safe_serialization=True)
    tokenizer = modeling.load_tokenizer(tokenizer_dir(run))
    tokenizer.save_pretrained(output_dir)
    _copy_files(run.model_dir, output_dir, ("generation_config.json",))
