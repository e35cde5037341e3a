"""The training loop (``python -m jupyter_sxwl.runtime.finetune train``).

A plain loop over :class:`~.data.StepPlan` rather than a generic trainer, so that nothing is
computed that the step does not need: batches are padded to their own length, the output head
runs only at positions whose next token is learnt, and the loss of a step is the sum over its
answer tokens divided by their number across all micro-batches and ranks (what
``gradient_accumulation_steps`` micro-batches of one big batch would give).

Data-parallel ranks each run their share of every step and add up their gradients with one
all-reduce per step. Rank 0 alone writes metric points, TensorBoard events, checkpoints and
the outputs.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import signal
import time
from pathlib import Path
from typing import Any

from . import checkpoints, data, modeling
from .devices import Placement, setup, teardown
from .errors import FinetuneError
from .progress import Clock, Reporter
from .runconfig import ResolvedRun
from .templates import get_template

STOPPED_EXIT = 143  # 128 + SIGTERM: stopped on request, a checkpoint saved


class StopRequest:
    """Set by SIGTERM (the launcher's stop); the loop saves and leaves at the end of the step."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.requested = True

        signal.signal(signal.SIGTERM, handler)


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class LossComputer:
    """Sum of next-token cross entropy over learnt positions of one micro-batch.

    Runs the decoder, then the output head only on positions with a label: prompt and padding
    positions never reach the (vocabulary-sized) head.
    """

    def __init__(self, model: Any) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.model = model
        self.decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
        self.head = base.get_output_embeddings()
        # Models that post-process logits (soft-capping, scaling) go through their own forward.
        config = getattr(base, "config", None)
        if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
            self.decoder = None

    def __call__(self, input_ids: Any, attention_mask: Any, labels: Any) -> Any:
        import torch.nn.functional as F

        shift_labels = labels[:, 1:]
        keep = shift_labels != data.IGNORE_INDEX
        targets = shift_labels[keep]
        if self.decoder is not None and self.head is not None:
            hidden = self.decoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            logits = self.head(hidden[:, :-1][keep])
        else:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask)
            logits = out.logits[:, :-1][keep]
        return F.cross_entropy(logits.float(), targets, reduction="sum")


def all_reduce_sum(placement: Placement, values: list[float]) -> list[float]:
    if not placement.distributed:
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=placement.device)
    dist.all_reduce(t)
    return t.tolist()


def all_reduce_gradients(placement: Placement, parameters: list[Any]) -> None:
    """Sum every rank's gradients, in buckets of about 32 MB."""
    import torch
    import torch.distributed as dist

    grads = [p.grad for p in parameters if p.grad is not None]
    bucket: list[Any] = []
    size = 0

    def flush() -> None:
        if not bucket:
            return
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat)
        offset = 0
        for g in bucket:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        bucket.clear()

    for g in grads:
        bucket.append(g)
        size += g.numel() * g.element_size()
        if size >= 32 * 2**20:
            flush()
            size = 0
    flush()


def evaluation_loss(
    loss_of: LossComputer,
    examples: list[data.Example],
    placement: Placement,
    batch_size: int,
    pad_id: int,
    autocast: Any,
) -> float:
    """Mean cross entropy per answer token over the validation examples (all ranks share)."""
    import torch

    mine = examples[placement.rank :: placement.world_size]
    total = tokens = 0.0
    was_training = loss_of.model.training
    loss_of.model.eval()
    with torch.no_grad():
        for i in range(0, len(mine), batch_size):
            batch = data.collate(mine[i : i + batch_size], pad_id)
            with autocast():
                loss = loss_of(
                    batch.input_ids.to(placement.device),
                    batch.attention_mask.to(placement.device),
                    batch.labels.to(placement.device),
                )
            total += float(loss)
            tokens += batch.label_tokens
    if was_training:
        loss_of.model.train()
    total, tokens = all_reduce_sum(placement, [total, tokens])
    return total / max(tokens, 1.0)


def prepare_data(
    run: ResolvedRun, tokenizer: Any
) -> tuple[list[data.Example], list[data.Example], int]:
    """(train examples, validation examples, train records) from the run's datasets."""
    params = run.params
    if not run.datasets:
        raise FinetuneError("datasets: give at least one dataset to train on")
    run.check_datasets(run.datasets, "datasets")
    template = get_template(params.template, tokenizer)
    convos = data.load_conversations(run.datasets, params.max_samples)
    if not convos:
        raise FinetuneError(
            "datasets: no usable records (each needs a question and a non-empty answer)"
        )
    train_convos, val_convos = data.split(convos, params.val_size, params.seed)
    train = data.encode_all(train_convos, template, tokenizer, params.cutoff_len)
    val = data.encode_all(val_convos, template, tokenizer, params.cutoff_len)
    if not train:
        raise FinetuneError(
            f"datasets: no example keeps an answer token within cutoff_len {params.cutoff_len}; "
            "raise cutoff_len"
        )
    records = len(train)
    if params.packing:
        train = data.pack(train, params.cutoff_len)
    return train, val, records


def run_train(run: ResolvedRun) -> int:
    """Train as ``run`` says; returns the exit code."""
    modeling.quiet_libraries()
    placement = setup()
    try:
        return _train(run, placement)
    finally:
        teardown(placement)


def _train(run: ResolvedRun, placement: Placement) -> int:
    import torch

    params = run.params
    modeling.check_method(params, placement)
    output_dir = run.require_output_dir()
    checkpoint_dir = run.checkpoint_dir or output_dir
    stop = StopRequest()
    stop.install()
    seed_everything(params.seed)

    tokenizer = modeling.load_tokenizer(run.model_dir)
    train_examples, val_examples, train_records = prepare_data(run, tokenizer)
    pad_id = tokenizer.pad_token_id

    model = modeling.load_base_model(run.model_dir, params, placement)
    lora = params.finetuning_type == "lora"
    if lora:
        model = modeling.add_lora(model, params)
    model.train()
    optimizer = modeling.build_optimizer(model, params)
    plan = data.StepPlan(
        num_examples=len(train_examples),
        batch_size=params.per_device_train_batch_size,
        world_size=placement.world_size,
        accumulation=params.gradient_accumulation_steps,
        num_train_epochs=params.num_train_epochs,
        max_steps=params.max_steps,
        seed=params.seed,
    )
    total_steps = plan.total_steps

    state: dict[str, Any] = {"global_step": 0, "loss_sum": 0.0, "tokens": 0, "records": 0}
    resume_from = checkpoints.latest_checkpoint(checkpoint_dir) if run.resume else None
    if resume_from is not None:
        state = checkpoints.load_state(resume_from)
        if state.get("num_examples") != plan.num_examples:
            raise FinetuneError(
                f"cannot resume from {resume_from.name}: it trained on {state.get('num_examples')} "
                f"examples and the data now gives {plan.num_examples}; the datasets or data "
                "parameters changed"
            )
        total_steps = int(state["total_steps"])
        plan = data.StepPlan(**{**plan.__dict__, "max_steps": total_steps})
    scheduler = modeling.build_scheduler(optimizer, params, total_steps)
    if resume_from is not None:
        checkpoints.load_trainable_weights(model, resume_from, lora)
        checkpoints.load_training_state(
            resume_from, optimizer=optimizer, scheduler=scheduler, device=placement.device
        )

    reporter = Reporter(
        enabled=placement.is_main,
        metrics_file=run.metrics_file,
        tensorboard_dir=output_dir / "runs",
        logging_steps=params.logging_steps,
    )
    trainable, total_params = modeling.trainable_parameters(model)
    reporter.log(
        f"{params.method} on {placement.kind} x{placement.world_size}: {train_records} records"
        + (f" packed into {len(train_examples)} rows" if params.packing else "")
        + f", {len(val_examples)} for validation, {total_steps} steps "
        f"({plan.steps_per_epoch} per epoch), trainable parameters {trainable:,} of "
        f"{total_params:,}"
    )
    if resume_from is not None:
        reporter.log(f"resuming from {resume_from.name} at step {state['global_step']}")

    loss_of = LossComputer(model)
    trainable_params = [p for p in model.parameters() if p.requires_grad]
    mixed = params.bf16 or params.fp16
    dtype = modeling.compute_dtype(params)

    def autocast() -> Any:
        if not mixed:
            return contextlib.nullcontext()
        return torch.autocast(device_type=placement.kind, dtype=dtype)

    scaler = torch.amp.GradScaler(placement.kind) if params.fp16 else None

    def save(step: int) -> None:
        ckpt_state = {
            **state,
            "total_steps": total_steps,
            "epoch": plan.epoch_of(step),
            "num_examples": plan.num_examples,
            "world_size": placement.world_size,
            "seed": params.seed,
            "next_step": step,
        }
        if placement.is_main:
            path = checkpoints.save_checkpoint(
                checkpoint_dir,
                step,
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                state=ckpt_state,
                save_total_limit=params.save_total_limit,
            )
            reporter.log(f"saved {path.name}")
        if val_examples:
            eval_loss = evaluation_loss(
                loss_of,
                val_examples,
                placement,
                params.per_device_eval_batch_size,
                pad_id,
                autocast,
            )
            reporter.eval_step(step, eval_loss)
        if placement.distributed:
            import torch.distributed as dist

            dist.barrier()

    if stop.requested:  # stopped while loading: nothing new to save
        reporter.log("stopped before the first step")
        reporter.close()
        return STOPPED_EXIT
    clock = Clock()
    start_step = int(state["global_step"])
    run_tokens = run_records = 0.0
    stopped = False
    for step in range(start_step, total_steps):
        batches = [
            data.collate([train_examples[i] for i in mb], pad_id)
            for mb in plan.micro_batches(step, placement.rank)
        ]
        label_tokens, tokens, records = all_reduce_sum(
            placement,
            [
                float(sum(b.label_tokens for b in batches)),
                float(sum(b.tokens for b in batches)),
                float(sum(b.records for b in batches)),
            ],
        )
        step_loss = 0.0
        for batch in batches:
            with autocast():
                loss = loss_of(
                    batch.input_ids.to(placement.device),
                    batch.attention_mask.to(placement.device),
                    batch.labels.to(placement.device),
                )
            step_loss += float(loss.detach())
            scaled = loss / max(label_tokens, 1.0)
            if scaler is not None:
                scaler.scale(scaled).backward()
            else:
                scaled.backward()
        if placement.distributed:
            all_reduce_gradients(placement, trainable_params)
        if scaler is not None:
            scaler.unscale_(optimizer)
        clip = params.max_grad_norm if params.max_grad_norm > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable_params, clip))
        learning_rate = scheduler.get_last_lr()[0]
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        loss_total, stop_votes = all_reduce_sum(
            placement, [step_loss, 1.0 if stop.requested else 0.0]
        )
        step_mean = loss_total / max(label_tokens, 1.0)
        done = step + 1
        state["global_step"] = done
        state["loss_sum"] = float(state["loss_sum"]) + step_mean
        state["tokens"] = int(state["tokens"]) + int(tokens)
        state["records"] = int(state["records"]) + int(records)
        run_tokens += tokens
        run_records += records
        elapsed = clock.elapsed()
        per_step = elapsed / (done - start_step)
        reporter.train_step(
            {
                "step": done,
                "total_steps": total_steps,
                "epoch": round(plan.epoch_of(done), 4),
                "loss": round(step_mean, 6),
                "learning_rate": learning_rate,
                "grad_norm": round(grad_norm, 6) if math.isfinite(grad_norm) else None,
                "tokens_per_second": round(run_tokens / elapsed, 2),
                "samples_per_second": round(run_records / elapsed, 3),
                "memory_mb": round(placement.memory_mb(), 1),
                "eta_seconds": round(per_step * (total_steps - done), 1),
                "elapsed_seconds": round(elapsed, 3),
            }
        )
        if stop_votes > 0:
            save(done)
            stopped = True
            break
        if done % params.save_steps == 0 and done < total_steps:
            save(done)

    runtime = clock.elapsed()
    if stopped:
        reporter.log(f"stopped at step {state['global_step']} of {total_steps}; resume to go on")
        reporter.close()
        return STOPPED_EXIT

    steps_done = int(state["global_step"])
    results = {
        "train_loss": float(state["loss_sum"]) / max(steps_done, 1),
        "train_runtime": round(runtime, 3),
        "train_samples_per_second": round(run_records / runtime, 3) if runtime else 0.0,
        "train_tokens_per_second": round(run_tokens / runtime, 2) if runtime else 0.0,
        "epoch": round(plan.epoch_of(steps_done), 4),
        "total_steps": total_steps,
        "total_tokens": state["tokens"],
        "peak_memory_mb": round(placement.peak_memory_mb(), 1),
    }
    if val_examples:
        eval_loss = evaluation_loss(
            loss_of, val_examples, placement, params.per_device_eval_batch_size, pad_id, autocast
        )
        results["eval_loss"] = eval_loss
        reporter.eval_step(steps_done, eval_loss)
    if placement.is_main:
        write_outputs(run, output_dir, model, tokenizer, results)
    reporter.done(
        {
            "step": steps_done,
            "total_steps": total_steps,
            "train_loss": results["train_loss"],
            "train_runtime": results["train_runtime"],
            "train_samples_per_second": results["train_samples_per_second"],
            "train_tokens_per_second": results["train_tokens_per_second"],
            "peak_memory_mb": results["peak_memory_mb"],
        }
    )
    reporter.close()
    return 0


def write_outputs(
    run: ResolvedRun, output_dir: Path, model: Any, tokenizer: Any, results: dict[str, Any]
) -> None:
    """The adapter (or model), tokenizer, train_results.json and finetune.json."""
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir, safe_serialization=True)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "train_results.json").write_text(json.dumps(results, indent=2) + "\n")
    params = run.params
    description = {
        "method": params.method,
        "params": params.model_dump(),
        "base_model": str(run.model_dir),
        "datasets": [d.model_dump() for d in run.config.datasets],
        "lineage": run.config.lineage,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (output_dir / "finetune.json").write_text(
        json.dumps(description, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
