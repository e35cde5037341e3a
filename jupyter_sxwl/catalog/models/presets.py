"""The preset base models a person can start from (data only, no I/O).

Each entry names where the weights come from: ``huggingface`` models are downloaded from a
Hugging Face compatible endpoint (huggingface.co or a mirror) by :mod:`.hub_source`, with the
ModelScope id given for sites that mirror ModelScope instead; the ``local`` model is built on
the machine by the module named in ``local_builder`` (run as ``python -m MODULE DEST``).

``chat_template_name`` is the prompt format fine-tuning uses for the model, named as
LLaMA-Factory names its templates (``alpaca``, ``qwen``, ``llama3``, ``chatglm3``, ``glm4``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModelSource = Literal["huggingface", "local"]


@dataclass(frozen=True, kw_only=True)
class PresetModel:
    """One preset base model.

    ``parameters`` is the size as people say it (``"0.5B"``); ``context_length`` the number of
    tokens the model was trained to attend over (its config's ``max_position_embeddings`` or
    ``seq_length``). ``gated`` models need a Hugging Face token of an account that accepted
    the licence; ``trust_remote_code`` models run Python code from their repository.
    """

    name: str
    family: str
    description: str
    source: ModelSource
    repo_id: str | None = None
    revision: str = "main"
    modelscope_id: str | None = None
    license: str
    parameters: str
    context_length: int
    chat_template_name: str | None = None
    local_builder: str | None = None
    gated: bool = False
    trust_remote_code: bool = False


_PRESETS: tuple[PresetModel, ...] = (
    PresetModel(
        name="sxwl-tiny-llama",
        family="llama",
        description=(
            "A tiny random-initialised Llama (9 M parameters, 32k SentencePiece tokenizer), "
            "built locally in seconds with no download: for trying fine-tuning, evaluation "
            "and serving on a CPU. It writes noise until trained."
        ),
        source="local",
        license="apache-2.0",
        parameters="9M",
        context_length=2048,
        chat_template_name="alpaca",
        local_builder="jupyter_sxwl.catalog.models.tiny",
    ),
    PresetModel(
        name="Qwen2.5-0.5B-Instruct",
        family="qwen2.5",
        description="Qwen2.5 instruction model, 0.5B: the smallest real chat model; CPU-friendly.",
        source="huggingface",
        repo_id="Qwen/Qwen2.5-0.5B-Instruct",
        modelscope_id="qwen/Qwen2.5-0.5B-Instruct",
        license="apache-2.0",
        parameters="0.5B",
        context_length=32768,
        chat_template_name="qwen",
    ),
    PresetModel(
        name="Qwen2.5-1.5B-Instruct",
        family="qwen2.5",
        description="Qwen2.5 instruction model, 1.5B: Chinese and English chat on one small GPU.",
        source="huggingface",
        repo_id="Qwen/Qwen2.5-1.5B-Instruct",
        modelscope_id="qwen/Qwen2.5-1.5B-Instruct",
        license="apache-2.0",
        parameters="1.5B",
        context_length=32768,
        chat_template_name="qwen",
    ),
    PresetModel(
        name="Qwen2.5-7B-Instruct",
        family="qwen2.5",
        description="Qwen2.5 instruction model, 7B: strong Chinese and English chat and code.",
        source="huggingface",
        repo_id="Qwen/Qwen2.5-7B-Instruct",
        modelscope_id="qwen/Qwen2.5-7B-Instruct",
        license="apache-2.0",
        parameters="7B",
        context_length=32768,
        chat_template_name="qwen",
    ),
    PresetModel(
        name="Llama-3.2-1B-Instruct",
        family="llama3.2",
        description="Meta Llama 3.2 instruction model, 1B: multilingual chat, long context.",
        source="huggingface",
        repo_id="meta-llama/Llama-3.2-1B-Instruct",
        modelscope_id="LLM-Research/Llama-3.2-1B-Instruct",
        license="llama3.2",
        parameters="1B",
        context_length=131072,
        chat_template_name="llama3",
        gated=True,
    ),
    PresetModel(
        name="Llama-3.2-3B-Instruct",
        family="llama3.2",
        description="Meta Llama 3.2 instruction model, 3B: multilingual chat, long context.",
        source="huggingface",
        repo_id="meta-llama/Llama-3.2-3B-Instruct",
        modelscope_id="LLM-Research/Llama-3.2-3B-Instruct",
        license="llama3.2",
        parameters="3B",
        context_length=131072,
        chat_template_name="llama3",
        gated=True,
    ),
    PresetModel(
        name="Meta-Llama-3-8B-Instruct",
        family="llama3",
        description="Meta Llama 3 instruction model, 8B: English-first chat.",
        source="huggingface",
        repo_id="meta-llama/Meta-Llama-3-8B-Instruct",
        modelscope_id="LLM-Research/Meta-Llama-3-8B-Instruct",
        license="llama3",
        parameters="8B",
        context_length=8192,
        chat_template_name="llama3",
        gated=True,
    ),
    PresetModel(
        name="chatglm3-6b",
        family="chatglm3",
        description="ChatGLM3 6B from Zhipu AI and Tsinghua KEG: Chinese-first bilingual chat.",
        source="huggingface",
        repo_id="THUDM/chatglm3-6b",
        modelscope_id="ZhipuAI/chatglm3-6b",
        license="chatglm3-6b model license",
        parameters="6B",
        context_length=8192,
        chat_template_name="chatglm3",
        trust_remote_code=True,
    ),
    PresetModel(
        name="glm-4-9b-chat",
        family="glm4",
        description="GLM-4 9B chat from Zhipu AI: multilingual chat with 128k context.",
        source="huggingface",
        repo_id="THUDM/glm-4-9b-chat",
        modelscope_id="ZhipuAI/glm-4-9b-chat",
        license="glm-4 model license",
        parameters="9B",
        context_length=131072,
        chat_template_name="glm4",
        trust_remote_code=True,
    ),
)


def preset_models() -> list[PresetModel]:
    """Every preset base model, the local tiny one first, then by family and size."""
    return list(_PRESETS)


def get_preset(name: str) -> PresetModel:
    """The preset called ``name``; KeyError naming the presets that exist otherwise."""
    for preset in _PRESETS:
        if preset.name == name:
            return preset
    names = ", ".join(p.name for p in _PRESETS)
    raise KeyError(f"no preset model named {name!r}: choose one of {names}")
