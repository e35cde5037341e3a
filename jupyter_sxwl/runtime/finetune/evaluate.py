"""Evaluate and predict (``python -m jupyter_sxwl.runtime.finetune evaluate``).

Greedy generation on ``eval_datasets``, or when there are none on the validation split of
``datasets`` (the same split training held out). Writes ``predictions.jsonl`` (``prompt``,
``label``, ``predict`` per line, as LLaMA-Factory's generated_predictions.jsonl) and
``eval_results.json`` (ROUGE-1/2/L and BLEU-4 as percentages, ``samples``,
``runtime_seconds``) into output_dir.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from . import data, modeling
from .devices import Placement, setup, teardown
from .errors import FinetuneError
from .runconfig import ResolvedRun
from .scores import average_scores
from .templates import get_template

TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model")


def tokenizer_dir(run: ResolvedRun) -> Path:
    """The trained run's tokenizer when the adapter directory has one, else the model's."""
    adapter = run.adapter_dir
    if adapter is not None and any((adapter / f).is_file() for f in TOKENIZER_FILES):
        return adapter
    return run.model_dir


def evaluation_conversations(run: ResolvedRun) -> list[data.Conversation]:
    params = run.params
    limit = run.config.evaluate.max_samples
    if run.eval_datasets:
        run.check_datasets(run.eval_datasets, "eval_datasets")
        convos = data.load_conversations(run.eval_datasets, limit)
    else:
        if not run.datasets:
            raise FinetuneError("eval_datasets: give a dataset to evaluate on")
        run.check_datasets(run.datasets, "datasets")
        everything = data.load_conversations(run.datasets, params.max_samples)
        _train, convos = data.split(everything, params.val_size, params.seed)
        if not convos:
            raise FinetuneError(
                "eval_datasets: the fine-tune held out no validation split (val_size is 0); "
                "choose a dataset to evaluate on"
            )
    if limit is not None:
        convos = convos[:limit]
    if not convos:
        raise FinetuneError("eval_datasets: no usable records to evaluate on")
    return convos


def load_model_for_inference(run: ResolvedRun, placement: Placement) -> Any:
    """The base model with the adapter merged in (or the trained model itself), in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.float32
    if placement.kind != "cpu" and (run.params.bf16 or run.params.fp16):
        dtype = modeling.compute_dtype(run.params)
    if not (run.model_dir / "config.json").is_file():
        raise FinetuneError(f"model: no Hugging Face model at {run.model_dir}")
    model = AutoModelForCausalLM.from_pretrained(run.model_dir, dtype=dtype, local_files_only=True)
    if run.adapter_dir is not None:
        model = modeling.load_adapter(model, run.adapter_dir).merge_and_unload()
    model.to(placement.device)
    model.eval()
    return model


def run_evaluate(run: ResolvedRun) -> int:
    modeling.quiet_libraries()
    placement = setup()
    try:
        if not placement.is_main:
            return 0  # generation is not sharded: rank 0 does it all
        return _evaluate(run, placement)
    finally:
        teardown(placement)


def _evaluate(run: ResolvedRun, placement: Placement) -> int:
    import torch

    params = run.params
    output_dir = run.require_output_dir()
    convos = evaluation_conversations(run)
    tokenizer = modeling.load_tokenizer(tokenizer_dir(run))
    template = get_template(params.template, tokenizer)
    model = load_model_for_inference(run, placement)
    max_new_tokens = run.config.evaluate.max_new_tokens or params.max_new_tokens
    stop_ids = template.stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id

    started = time.perf_counter()
    prompts: list[list[int]] = []
    for convo in convos:
        ids = template.encode_prompt(tokenizer, convo.prompt, convo.system)
        label_len = len(tokenizer.encode(convo.answer, add_special_tokens=False))
        keep, _ = data.infer_seqlen(len(ids), label_len, params.cutoff_len)
        prompts.append(ids[:keep])
    # Similar lengths side by side: less left padding to generate over.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    predictions: dict[int, str] = {}
    batch_size = params.per_device_eval_batch_size
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(prompts[i]) for i in idx)
            input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                n = len(prompts[i])
                input_ids[row, width - n :] = torch.tensor(prompts[i])
                mask[row, width - n :] = 1
            out = model.generate(
                input_ids=input_ids.to(placement.device),
                attention_mask=mask.to(placement.device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                eos_token_id=stop_ids or None,
                pad_token_id=pad_id,
            )
            texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
            for i, text in zip(idx, texts, strict=True):
                predictions[i] = text.strip()
            print(f"generated {min(start + batch_size, len(order))}/{len(order)}", flush=True)

    pairs = [(predictions[i], convos[i].answer) for i in range(len(convos))]
    scores = average_scores(pairs)
    runtime = time.perf_counter() - started
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for i, convo in enumerate(convos):
            prompt = tokenizer.decode(prompts[i], skip_special_tokens=False)
            line = {"prompt": prompt, "label": convo.answer, "predict": predictions[i]}
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    results = {
        **{k: round(v, 4) for k, v in scores.items()},
        "samples": len(convos),
        "runtime_seconds": round(runtime, 3),
    }
    (output_dir / "eval_results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        "scores: "
        + ", ".join(f"{k} {results[k]:.2f}" for k in ("rouge-1", "rouge-2", "rouge-l", "bleu-4"))
        + f" over {len(convos)} samples",
        flush=True,
    )
    return 0
