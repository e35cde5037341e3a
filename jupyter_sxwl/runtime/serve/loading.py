"""Loading what is served: the model (merged, or a base with a LoRA adapter merged in at
load), its tokenizer and chat template, on CUDA, an Ascend NPU or the CPU as the fine-tune
runner chooses. Imports torch, so only the server's loading thread imports this module."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..finetune.devices import setup
from ..finetune.errors import FinetuneError
from ..finetune.modeling import load_adapter, load_tokenizer, quiet_libraries
from ..finetune.templates import ChatTemplate, get_template
from .config import ServeConfig
from .errors import RequestError, ServeConfigError


@dataclass
class ServedModel:
    """The model ready to generate, and how requests become token ids."""

    model: Any
    tokenizer: Any
    template: ChatTemplate
    context_len: int
    stop_ids: list[int]
    device_kind: str
    # A fast tokenizer refuses to be used by two threads while one changes its settings: the
    # HTTP side encodes and the engine decodes under this lock.
    tokenizer_lock: threading.Lock = field(default_factory=threading.Lock)

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        system = messages[0]["content"] if messages[0]["role"] == "system" else None
        turns = messages[1:] if system is not None else messages
        try:
            with self.tokenizer_lock:
                return list(self.template.encode_prompt(self.tokenizer, turns, system))
        except FinetuneError as e:
            raise RequestError(str(e), param="messages", code="invalid_value") from None

    def encode_text(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, list):
            vocab = len(self.tokenizer)
            if any(t >= vocab for t in prompt):
                raise RequestError(
                    f"prompt: token ids must be below the vocabulary size {vocab}",
                    param="prompt",
                    code="invalid_value",
                )
            return list(prompt)
        with self.tokenizer_lock:
            return list(self.tokenizer.encode(prompt, add_special_tokens=True))


def _tokenizer_dir(config: ServeConfig) -> Path:
    # A fine-tune saves the tokenizer beside its adapter; use it when it is there.
    adapter = config.adapter_dir
    if adapter is not None and (adapter / "tokenizer_config.json").is_file():
        return adapter
    return config.model_dir


def _dtype(kind: str) -> Any:
    import torch

    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if kind == "npu":
        return torch.float16
    return torch.float32


@dataclass
class Prepared:
    """What can be made ready without the model's weights or a device: the libraries imported,
    the model class imported, the tokenizer and chat template loaded. A standby server stops
    here (holding no accelerator and no weights) until it is woken."""

    config: ServeConfig
    tokenizer: Any
    template: ChatTemplate


def prepare(config: ServeConfig) -> Prepared:
    """Import what loading needs and load the tokenizer; a user's mistake raises
    :class:`ServeConfigError`. Touches no device."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM  # noqa: F401

    quiet_libraries()
    try:
        tokenizer = load_tokenizer(_tokenizer_dir(config))
        template = get_template(config.template, tokenizer)
    except FinetuneError as e:
        raise ServeConfigError(str(e)) from None
    # transformers imports a model's code on first use (about a second for Llama): do it now.
    try:
        architectures = AutoConfig.from_pretrained(config.model_dir).architectures or []
    except (OSError, ValueError) as e:
        raise ServeConfigError(f"model_dir: cannot load {config.model_dir}: {e}") from None
    for name in architectures:
        getattr(transformers, name, None)
    if config.adapter_dir is not None:
        import peft  # noqa: F401
    return Prepared(config, tokenizer, template)


def load_served_model(config: ServeConfig, prepared: Prepared | None = None) -> ServedModel:
    """Load everything the server needs; a user's mistake raises :class:`ServeConfigError`."""
    from transformers import AutoModelForCausalLM

    if prepared is None:
        prepared = prepare(config)
    tokenizer, template = prepared.tokenizer, prepared.template
    placement = setup({})  # one process: never join a process group
    try:
        model = AutoModelForCausalLM.from_pretrained(
            config.model_dir, local_files_only=True, dtype=_dtype(placement.kind)
        )
    except (OSError, ValueError) as e:
        raise ServeConfigError(f"model_dir: cannot load {config.model_dir}: {e}") from None
    if config.adapter_dir is not None:
        try:
            model = load_adapter(model, config.adapter_dir).merge_and_unload()
        except FinetuneError as e:
            raise ServeConfigError(str(e)) from None
        except (OSError, ValueError, RuntimeError) as e:
            raise ServeConfigError(
                f"adapter_dir: the adapter in {config.adapter_dir} does not fit the model in "
                f"{config.model_dir}: {e}"
            ) from None
    model.to(placement.device)
    model.eval()
    context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        context = min(context, limit) if context else limit
    return ServedModel(
        model=model,
        tokenizer=tokenizer,
        template=template,
        context_len=context or 2048,
        stop_ids=list(template.stop_token_ids(tokenizer)),
        device_kind=placement.kind,
    )
