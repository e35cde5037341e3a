"""Loading the base model and tokenizer, adding LoRA adapters, and the optimiser.

LoRA wraps the chosen linear layers (``all``: every linear layer but the output head); LoRA+
gives the B matrices ``loraplus_lr_ratio`` times the learning rate; QLoRA loads the base in 4
or 8 bits through bitsandbytes (CUDA only); full trains every weight.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .config import FinetuneParams, check_lora_target
from .devices import Placement
from .errors import FinetuneError


def quiet_libraries() -> None:
    """No progress bars or deprecation chatter from the libraries: the job log is read by
    people, line by line."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)


def check_method(params: FinetuneParams, placement: Placement) -> None:
    """Refuse what this machine cannot run, before anything is loaded."""
    if params.quantization_bit is not None:
        if placement.kind != "cuda":
            raise FinetuneError(
                f"quantization_bit: QLoRA ({params.quantization_bit}-bit) needs a CUDA GPU and "
                f"this job runs on {placement.kind}; use plain LoRA (leave quantization_bit "
                "empty) or request a GPU"
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise FinetuneError(
                "quantization_bit: QLoRA needs the bitsandbytes package in the job's image"
            )
    if params.fp16 and placement.kind == "cpu":
        raise FinetuneError("fp16: float16 training needs a GPU or NPU; on CPU use bf16 or neither")


def load_tokenizer(model_dir: Path) -> Any:
    """The tokenizer saved in ``model_dir`` (a model or a trained adapter's directory)."""
    from transformers import AutoTokenizer

    if not model_dir.is_dir():
        raise FinetuneError(f"model: no model directory at {model_dir}; is the model mounted?")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as e:
        raise FinetuneError(f"model: cannot load the tokenizer in {model_dir}: {e}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def compute_dtype(params: FinetuneParams) -> Any:
    import torch

    if params.bf16:
        return torch.bfloat16
    if params.fp16:
        return torch.float16
    return torch.float32


def load_base_model(model_dir: Path, params: FinetuneParams, placement: Placement) -> Any:
    """The base model on the device: fp32 weights (autocast does mixed precision), except that
    LoRA on an accelerator keeps the frozen base in the compute dtype, and QLoRA quantises it."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": torch.float32}
    lora = params.finetuning_type == "lora"
    if lora and placement.kind != "cpu" and (params.bf16 or params.fp16):
        kwargs["dtype"] = compute_dtype(params)
    if params.quantization_bit is not None:
        from transformers import BitsAndBytesConfig

        if params.quantization_bit == 4:
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_compute_dtype=compute_dtype(params)
                if (params.bf16 or params.fp16)
                else torch.float32,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
            )
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["device_map"] = {"": placement.device}
        kwargs["dtype"] = compute_dtype(params) if (params.bf16 or params.fp16) else torch.float32
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    except (OSError, ValueError) as e:
        raise FinetuneError(f"model: cannot load {model_dir}: {e}") from None
    if params.quantization_bit is None:
        model.to(placement.device)
    model.config.use_cache = False
    return model


def linear_module_names(model: Any) -> set[str]:
    """Last name parts of the model's linear layers, the output head left out."""
    import torch

    head = model.get_output_embeddings()
    names = set()
    for name, module in model.named_modules():
        if module is head:
            continue
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in (
            "Linear4bit",
            "Linear8bitLt",
        ):
            names.add(name.rsplit(".", 1)[-1])
    return names


def add_lora(model: Any, params: FinetuneParams) -> Any:
    from peft import LoraConfig, get_peft_model

    available = linear_module_names(model)
    try:
        check_lora_target(params, available)
    except ValueError as e:
        raise FinetuneError(f"lora_target: {e}") from None
    targets = params.lora_target_modules or sorted(available)
    if params.quantization_bit is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = LoraConfig(
        r=params.lora_rank,
        lora_alpha=params.effective_lora_alpha,
        lora_dropout=params.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
        bias="none",
    )
    return get_peft_model(model, config)


def load_adapter(model: Any, adapter_dir: Path, trainable: bool = False) -> Any:
    from peft import PeftModel

    if not (adapter_dir / "adapter_config.json").is_file():
        raise FinetuneError(
            f"adapter_dir: no LoRA adapter at {adapter_dir} (adapter_config.json missing)"
        )
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)


def build_optimizer(model: Any, params: FinetuneParams) -> Any:
    """AdamW; with LoRA+ the B matrices learn ``loraplus_lr_ratio`` times faster.

    Weight decay applies to matrices only, never to biases and norms (as transformers does).
    """
    import torch

    lr = params.learning_rate
    ratio = params.loraplus_lr_ratio
    groups: dict[str, dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = p.ndim >= 2
        fast = ratio is not None and "lora_B" in name
        key = ("b" if fast else "a") + ("_decay" if decay else "_nodecay")
        group = groups.setdefault(
            key,
            {
                "params": [],
                "lr": lr * ratio if fast and ratio is not None else lr,
                "weight_decay": params.weight_decay if decay else 0.0,
            },
        )
        group["params"].append(p)
    if not groups:
        raise FinetuneError("nothing to train: the model has no trainable parameters")
    return torch.optim.AdamW(list(groups.values()), lr=lr, betas=(0.9, 0.999), eps=1e-8)


def build_scheduler(optimizer: Any, params: FinetuneParams, total_steps: int) -> Any:
    from transformers import get_scheduler

    warmup = params.warmup_steps or int(-(-params.warmup_ratio * total_steps // 1))
    return get_scheduler(
        params.lr_scheduler_type,
        optimizer,
        num_warmup_steps=warmup,
        num_training_steps=total_steps,
    )


def trainable_parameters(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
