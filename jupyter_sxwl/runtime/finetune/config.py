"""Fine-tune parameters, under LLaMA-Factory's names and meanings.

One pydantic model, :class:`FinetuneParams`, holds what a user chooses; the platform checks it
before any compute is spent (a 4xx naming the field) and the runner reads the same model. It
imports neither torch nor transformers, so the platform process and a kernel stay light.

LLaMA-Factory YAML files import through :func:`from_llamafactory`: the keys this platform
understands become parameters, ``model_name_or_path`` and ``dataset`` become references to the
model repository and the user's datasets, keys the platform manages itself (``output_dir``,
``report_to``, …) are listed as ignored, and anything else is refused with the nearest known key.

Methods map onto LLaMA-Factory's switches: LoRA is ``finetuning_type: lora``; LoRA+ adds
``loraplus_lr_ratio``; QLoRA adds ``quantization_bit: 4`` (CUDA only); full is
``finetuning_type: full``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

FINETUNING_TYPES = ("lora", "full")
# Chat templates the runner formats with. "tokenizer" is the model's own chat template.
TEMPLATES = ("tokenizer", "alpaca", "llama3", "qwen", "chatglm3")
TEMPLATE_ALIASES = {"chatglm": "chatglm3", "qwen2": "qwen", "qwen2.5": "qwen"}
# The schedulers of transformers.get_scheduler that need no extra arguments.
LR_SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)
QUANTIZATION_BITS = (4, 8)
# Annotation types whose records can feed supervised fine-tuning, and why the others cannot.
SFT_ANNOTATION_TYPES = ("instruction", "sharegpt", "qa")
NOT_SFT_REASON = {
    "ranking": "ranking data (prompt + ranked candidates) trains a reward model or DPO, not SFT; "
    "choose an instruction, sharegpt or qa dataset",
}
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")
MAX_LR = 1.0


def nearest(value: str, choices: tuple[str, ...] | list[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``value``, else an empty string."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _one_of(value: str, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(
            f"{value!r} is not a known {what}{nearest(value, choices)}; use one of "
            + ", ".join(choices)
        )
    return value


class FinetuneParams(BaseModel):
    """The training parameters of one supervised fine-tune (``stage: sft``)."""

    model_config = ConfigDict(extra="forbid")

    stage: Literal["sft"] = Field("sft", description="training stage; only sft is supported")
    finetuning_type: str = Field("lora", description="lora or full")
    lora_rank: int = Field(8, description="LoRA rank r")
    lora_alpha: int | None = Field(None, description="LoRA alpha; empty: twice the rank")
    lora_dropout: float = Field(0.0, description="dropout on the LoRA path, 0 to < 1")
    lora_target: str = Field(
        "all",
        description="comma-separated module names to adapt (e.g. q_proj,v_proj), or all: "
        "every linear layer but the output head",
    )
    loraplus_lr_ratio: float | None = Field(
        None, description="LoRA+: learning rate of the B matrices as a multiple of A's (e.g. 16)"
    )
    quantization_bit: int | None = Field(
        None, description="QLoRA: load the base model in 4 (or 8) bits; needs CUDA"
    )
    template: str | None = Field(
        None,
        description="chat template: tokenizer (the model's own), alpaca, llama3, qwen or "
        "chatglm3; empty: the model's own when it has one, else alpaca",
    )
    cutoff_len: int = Field(1024, description="maximum tokens of one example after formatting")
    max_samples: int | None = Field(None, description="use at most this many records per dataset")
    val_size: float = Field(
        0.0, description="held out for validation: a fraction below 1, or a number of records"
    )
    packing: bool = Field(False, description="pack several examples into each cutoff_len row")
    learning_rate: float = Field(5e-5, description="peak learning rate (AdamW)")
    num_train_epochs: float = Field(3.0, description="passes over the training data")
    max_steps: int | None = Field(None, description="stop after this many optimiser steps")
    per_device_train_batch_size: int = Field(2, description="examples per device per step")
    per_device_eval_batch_size: int = Field(4, description="examples per device when evaluating")
    gradient_accumulation_steps: int = Field(1, description="micro-batches per optimiser step")
    lr_scheduler_type: str = Field("cosine", description="learning-rate schedule")
    max_grad_norm: float = Field(1.0, description="clip gradients to this norm; 0: no clipping")
    warmup_steps: int = Field(0, description="linear warm-up steps")
    warmup_ratio: float = Field(0.0, description="warm-up as a fraction of all steps")
    weight_decay: float = Field(0.0, description="AdamW weight decay")
    logging_steps: int = Field(10, description="write a log line every this many steps")
    save_steps: int = Field(500, description="save a checkpoint every this many steps")
    save_total_limit: int | None = Field(
        2, description="keep at most this many checkpoints; empty: keep all"
    )
    bf16: bool = Field(False, description="train in bfloat16 mixed precision")
    fp16: bool = Field(False, description="train in float16 mixed precision (CUDA or NPU)")
    seed: int = Field(42, description="random seed (data order, LoRA initialisation)")
    max_new_tokens: int = Field(128, description="tokens generated per example when predicting")

    @field_validator("finetuning_type")
    @classmethod
    def _finetuning_type(cls, v: str) -> str:
        if v == "freeze":
            raise ValueError("freeze is not supported; use lora or full")
        return _one_of(v, FINETUNING_TYPES, "finetuning_type")

    @field_validator("template")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        v = TEMPLATE_ALIASES.get(v, v)
        return _one_of(v, TEMPLATES, "template")

    @field_validator("lr_scheduler_type")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        return _one_of(v, LR_SCHEDULERS, "lr_scheduler_type")

    @field_validator("lora_target")
    @classmethod
    def _lora_target(cls, v: str) -> str:
        names = [n.strip() for n in v.split(",") if n.strip()]
        if not names:
            raise ValueError("is empty; give module names like q_proj,v_proj or all")
        if "all" in names and len(names) > 1:
            raise ValueError("all already names every linear layer; give all alone")
        for name in names:
            if not MODULE_RE.match(name):
                raise ValueError(f"{name[:40]!r} is not a module name like q_proj")
        return ",".join(names)

    @field_validator(
        "lora_rank",
        "cutoff_len",
        "per_device_train_batch_size",
        "per_device_eval_batch_size",
        "gradient_accumulation_steps",
        "logging_steps",
        "save_steps",
        "max_new_tokens",
    )
    @classmethod
    def _positive_int(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1")
        if v > 1_000_000:
            raise ValueError("must be at most 1000000")
        return v

    @field_validator("lora_alpha", "max_samples", "max_steps", "save_total_limit")
    @classmethod
    def _optional_positive_int(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("must be at least 1, or left empty")
        return v

    @field_validator("lora_dropout")
    @classmethod
    def _dropout(cls, v: float) -> float:
        if not 0.0 <= v < 1.0:
            raise ValueError("must be at least 0 and below 1")
        return v

    @field_validator("learning_rate")
    @classmethod
    def _learning_rate(cls, v: float) -> float:
        if not 0.0 < v <= MAX_LR:
            raise ValueError(
                f"{v!r} is out of range; give a positive rate of at most {MAX_LR:g} "
                "(LoRA usually 1e-4 to 5e-4, full fine-tunes 1e-5 to 5e-5)"
            )
        return v

    @field_validator("num_train_epochs")
    @classmethod
    def _epochs(cls, v: float) -> float:
        if not 0.0 < v <= 10_000:
            raise ValueError("must be a positive number of epochs (at most 10000)")
        return v

    @field_validator("val_size")
    @classmethod
    def _val_size(cls, v: float) -> float:
        if v < 0 or (v >= 1 and v != int(v)):
            raise ValueError("must be a fraction from 0 to below 1, or a whole number of records")
        return v

    @field_validator("loraplus_lr_ratio")
    @classmethod
    def _loraplus(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 < v <= 1000:
            raise ValueError("must be a positive ratio (LoRA+ suggests 16)")
        return v

    @field_validator("quantization_bit")
    @classmethod
    def _quantization(cls, v: int | None) -> int | None:
        if v is not None and v not in QUANTIZATION_BITS:
            raise ValueError("must be 4 or 8 (QLoRA), or left empty")
        return v

    @field_validator("max_grad_norm", "weight_decay", "warmup_ratio")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if not v >= 0 or v != v:
            raise ValueError("must not be negative")
        return v

    @field_validator("warmup_steps")
    @classmethod
    def _warmup_steps(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must not be negative")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> FinetuneParams:
        if self.bf16 and self.fp16:
            raise ValueError("bf16 and fp16 exclude each other; choose one")
        if self.warmup_ratio >= 1:
            raise ValueError("warmup_ratio must be below 1")
        if self.finetuning_type != "lora":
            for name in ("loraplus_lr_ratio", "quantization_bit"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} needs finetuning_type lora")
        return self

    # -- derived ------------------------------------------------------------------------------

    @property
    def method(self) -> str:
        """The method as people name it: LoRA, LoRA+, QLoRA or full."""
        if self.finetuning_type == "full":
            return "full"
        if self.quantization_bit is not None:
            return "QLoRA"
        return "LoRA+" if self.loraplus_lr_ratio is not None else "LoRA"

    @property
    def effective_lora_alpha(self) -> int:
        return self.lora_alpha if self.lora_alpha is not None else 2 * self.lora_rank

    @property
    def lora_target_modules(self) -> list[str] | None:
        """The named target modules, or None for ``all``."""
        return None if self.lora_target == "all" else self.lora_target.split(",")

    @property
    def needs_cuda(self) -> bool:
        """QLoRA's bitsandbytes kernels and fp16 training need CUDA (or an NPU for fp16)."""
        return self.quantization_bit is not None


def check_lora_target(params: FinetuneParams, available: set[str] | list[str]) -> None:
    """Raise ``ValueError`` if ``lora_target`` names modules the model lacks, listing its own."""
    wanted = params.lora_target_modules
    if wanted is None:
        return
    have = sorted(set(available))
    missing = [m for m in wanted if m not in have]
    if missing:
        raise ValueError(
            f"the model has no module named {', '.join(missing)}; its linear layers are "
            f"{', '.join(have) or '(none found)'}, or use all"
        )


def check_sft_annotation(annotation_type: str) -> None:
    """Raise ``ValueError`` if records of ``annotation_type`` cannot feed SFT."""
    if annotation_type not in SFT_ANNOTATION_TYPES:
        raise ValueError(
            NOT_SFT_REASON.get(
                annotation_type,
                f"{annotation_type} data cannot feed SFT; choose an instruction, sharegpt or qa "
                "dataset",
            )
        )


# ---- LLaMA-Factory YAML ---------------------------------------------------------------------

# Keys of LLaMA-Factory configurations the platform sets itself or has no use for, with why.
IGNORED_KEYS: dict[str, str] = {
    "output_dir": "the platform chooses the output and checkpoint directories",
    "overwrite_output_dir": "every fine-tune writes to its own directory",
    "logging_dir": "TensorBoard files are written next to the outputs",
    "report_to": "metrics always go to the platform and to TensorBoard files",
    "plot_loss": "the loss curve is always drawn live",
    "overwrite_cache": "nothing is cached between fine-tunes",
    "preprocessing_num_workers": "tokenising runs in the training process",
    "dataloader_num_workers": "data is loaded in the training process",
    "ddp_timeout": "the platform sets distributed timeouts",
    "trust_remote_code": "models load without remote code",
    "do_train": "a fine-tune always trains; evaluate and predict are separate actions",
    "do_eval": "evaluate is a separate action on the fine-tune",
    "do_predict": "predict is a separate action on the fine-tune",
    "eval_strategy": "validation loss is computed at each save",
    "evaluation_strategy": "validation loss is computed at each save",
    "eval_steps": "validation loss is computed at each save",
    "dataset_dir": "datasets come from the platform's published versions",
    "resume_from_checkpoint": "resume a stopped fine-tune with its resume action",
    "save_only_model": "checkpoints always hold what resuming needs",
    "flash_attn": "the attention implementation is the model's default",
    "predict_with_generate": "predict always generates",
    "quantization_method": "QLoRA uses bitsandbytes",
    "export_dir": "export registers a model version in the repository",
    "optim": "the optimiser is AdamW",
}


@dataclass
class ImportedSpec:
    """What a LLaMA-Factory YAML file says, in the platform's terms."""

    params: dict[str, Any]
    model: str | None = None
    datasets: list[str] = field(default_factory=list)
    eval_datasets: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)


class SpecError(ValueError):
    """A YAML spec that cannot be imported: ``errors`` holds (field, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))


def _names(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",") if n.strip()]
    elif isinstance(value, list) and all(isinstance(n, str) for n in value):
        names = [n.strip() for n in value if n.strip()]
    else:
        raise SpecError([(key, "must be a name or a comma-separated list of names")])
    return names


def from_llamafactory(config: Mapping[str, Any]) -> ImportedSpec:
    """Turn a parsed LLaMA-Factory training configuration into an :class:`ImportedSpec`.

    The parameters are validated as :class:`FinetuneParams`; errors name the YAML key.
    """
    if not isinstance(config, Mapping):
        raise SpecError([("yaml", "must be a mapping of LLaMA-Factory keys to values")])
    known = set(FinetuneParams.model_fields)
    spec = ImportedSpec(params={})
    errors: list[tuple[str, str]] = []
    for key, value in config.items():
        if not isinstance(key, str):
            errors.append((str(key), "keys must be text"))
        elif key == "model_name_or_path":
            if not isinstance(value, str) or not value.strip():
                errors.append((key, "must name a model of the repository, e.g. sxwl-tiny-llama"))
            else:
                spec.model = value.strip()
        elif key in ("dataset", "eval_dataset"):
            try:
                names = _names(value, key)
            except SpecError as e:
                errors.extend(e.errors)
                continue
            (spec.datasets if key == "dataset" else spec.eval_datasets).extend(names)
        elif key in known:
            spec.params[key] = value
        elif key in IGNORED_KEYS:
            spec.ignored[key] = IGNORED_KEYS[key]
        else:
            errors.append(
                (
                    key,
                    "is not a LLaMA-Factory key this platform knows"
                    + nearest(key, sorted(known | set(IGNORED_KEYS)))
                    + "; remove it",
                )
            )
    try:
        FinetuneParams.model_validate(spec.params)
    except ValidationError as e:
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "yaml"
            msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
            errors.append((loc, msg))
    if errors:
        raise SpecError(errors)
    return spec


def parse_llamafactory_yaml(text: str) -> ImportedSpec:
    """Parse LLaMA-Factory YAML text (safe loader only) and import it."""
    import yaml  # PyYAML; imported here so that importing this module stays cheap

    if len(text) > 256 * 1024:
        raise SpecError([("yaml", "is longer than 256 KiB")])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(e, "problem", None) or e
        raise SpecError([("yaml", f"is not valid YAML{line}: {problem}")]) from None
    if data is None:
        raise SpecError([("yaml", "is empty; give LLaMA-Factory keys such as finetuning_type")])
    return from_llamafactory(data)
