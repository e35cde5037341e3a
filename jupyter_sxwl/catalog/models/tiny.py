"""The tiny local model: a random-initialised Llama that is built here, not downloaded.

``sxwl-tiny-llama`` lets a person try the whole platform (fine-tuning, evaluation, serving)
on a laptop CPU with no network: about 9 M parameters, a real 32,000-token SentencePiece
tokenizer and a chat template, saved as an ordinary Hugging Face model directory that
``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load offline.
Its weights are random, so what it writes is noise until it is trained.

The tokenizer is Mistral's first SentencePiece model (Llama-style BPE with byte fallback,
Apache-2.0), which the ``mistral-common`` package ships; it is converted to a fast tokenizer.

The build is deterministic: the same seed gives the same bytes on the same library versions.
The platform runs it in a subprocess so its own process never imports torch::

    python -m jupyter_sxwl.catalog.models.tiny DEST [--seed N]

prints the facts of the built model as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

NAME = "sxwl-tiny-llama"
ARCHITECTURE = "LlamaForCausalLM"

# The shape: small enough to fine-tune on two CPU cores in seconds, with the vocabulary of
# the tokenizer so every token id has an embedding.
HIDDEN_SIZE = 128
NUM_LAYERS = 4
NUM_HEADS = 4
NUM_KV_HEADS = 2  # grouped-query attention, as current Llama models use
INTERMEDIATE_SIZE = 352
VOCAB_SIZE = 32_000
MAX_POSITIONS = 2048

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
# Padding reuses <unk> (id 0), as Llama-2 fine-tuning recipes do: padding with </s> would make
# a trainer that masks pad tokens out of the labels also mask the real end of each answer.
PAD = UNK
BOS_ID, EOS_ID, UNK_ID = 1, 2, 0

# The tokenizer inside the mistral-common wheel (package data), and its licence.
TOKENIZER_PACKAGE = "mistral_common"
TOKENIZER_RESOURCE = "data/tokenizer.model.v1"
TOKENIZER_LICENSE = "Apache-2.0"

# Alpaca's prompt shape ("### Instruction" / "### Response"), which the instruction datasets
# train into: a system message comes first as a plain paragraph, each user turn is an
# instruction and each assistant turn a response closed by </s>. add_generation_prompt opens
# the next response.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% if not loop.first %}"
    "{{ raise_exception('the system message must be the first message') }}"
    "{% endif %}"
    "{{ message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'user' %}"
    "{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '### Response:\\n' + message['content'] + eos_token + '\\n\\n' }}"
    "{% else %}"
    "{{ raise_exception('unknown role ' + message['role'] + ': use system, user or assistant') }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}"
)
CHAT_TEMPLATE_NAME = "alpaca"

MODEL_CARD = """\
---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
tags:
  - llama
  - random-init
  - jupyter-sxwl
language:
  - zh
  - en
---

# sxwl-tiny-llama

A tiny **random-initialised** Llama model ({parameters:,} parameters: hidden size {hidden},
{layers} layers, {heads} attention heads, {kv_heads} key/value heads, vocabulary {vocab:,},
context {context} tokens), built locally by jupyter_sxwl with seed {seed}. It has never been
trained: until you fine-tune it, it writes random tokens.

It exists so the platform can be tried end to end on a CPU with no network: fine-tune it on
one of the preset datasets in seconds, evaluate it, serve it. It is not useful for anything
else.

- Architecture: `LlamaForCausalLM`, weights in float32 safetensors.
- Tokenizer: the 32,000-token Llama-style SentencePiece model (BPE with byte fallback) of the
  `mistral-common` package (`mistral_common/data/tokenizer.model.v1`, Apache-2.0), converted to
  a fast tokenizer. `<s>` begins each sequence, `</s>` ends it, padding uses `<unk>`.
- Chat template: Alpaca style (`### Instruction:` / `### Response:`), an optional system
  message first.
- License: Apache-2.0 (the tokenizer's licence; the weights are random).

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("path/to/{name}")
tokenizer = AutoTokenizer.from_pretrained("path/to/{name}")
```
"""


class TinyModelError(RuntimeError):
    """The tiny model could not be built (a missing package, an unusable destination)."""


def tokenizer_model_path() -> Path:
    """The SentencePiece model shipped inside the ``mistral-common`` wheel."""
    from importlib import resources

    try:
        path = Path(str(resources.files(TOKENIZER_PACKAGE).joinpath(TOKENIZER_RESOURCE)))
    except ModuleNotFoundError:
        raise TinyModelError(
            "the tiny model's tokenizer comes from the mistral-common package, which is not "
            "installed: pip install 'jupyter_sxwl[models]'"
        ) from None
    if not path.is_file():
        raise TinyModelError(
            f"{TOKENIZER_PACKAGE} is installed but has no {TOKENIZER_RESOURCE}: install a "
            "mistral-common release that ships it (1.5 or later)"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _prepare_dest(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise TinyModelError(
            f"{dest} already exists and is not an empty directory: choose a new destination "
            "or remove it first"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)


def _write_tokenizer(out: Path) -> None:
    from transformers import LlamaTokenizer

    with tempfile.TemporaryDirectory(prefix="sxwl-spm-") as spm_dir:
        # from_pretrained on a folder holding tokenizer.model converts the SentencePiece model
        # (transformers 5 builds an empty vocabulary from LlamaTokenizer(vocab_file=...)).
        shutil.copyfile(tokenizer_model_path(), Path(spm_dir) / "tokenizer.model")
        tokenizer = LlamaTokenizer.from_pretrained(
            spm_dir,
            bos_token=BOS,
            eos_token=EOS,
            unk_token=UNK,
            pad_token=PAD,
            add_bos_token=True,
            add_eos_token=False,
            model_max_length=MAX_POSITIONS,
            padding_side="right",
            chat_template=CHAT_TEMPLATE,
            local_files_only=True,
        )
        if len(tokenizer) != VOCAB_SIZE:
            raise TinyModelError(
                f"the converted tokenizer has {len(tokenizer)} tokens, not {VOCAB_SIZE}: the "
                "installed transformers/mistral-common do not convert it as expected"
            )
        tokenizer.save_pretrained(out, save_jinja_files=False)
        # The SentencePiece original too: converters (GGUF export) read it.
        shutil.copyfile(Path(spm_dir) / "tokenizer.model", out / "tokenizer.model")

    # Keep only settings that describe the tokenizer, not how this process loaded it.
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("is_local", "local_files_only", "name_or_path", "extra_special_tokens"):
        config.pop(key, None)
    config.update(
        {
            "bos_token": BOS,
            "eos_token": EOS,
            "unk_token": UNK,
            "pad_token": PAD,
            "add_bos_token": True,
            "add_eos_token": False,
            "model_max_length": MAX_POSITIONS,
            "padding_side": "right",
            "chat_template": CHAT_TEMPLATE,
        }
    )
    config_path.write_text(
        json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": UNK, "pad_token": PAD}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def _write_model(out: Path, seed: int) -> int:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN_SIZE,
        intermediate_size=INTERMEDIATE_SIZE,
        num_hidden_layers=NUM_LAYERS,
        num_attention_heads=NUM_HEADS,
        num_key_value_heads=NUM_KV_HEADS,
        max_position_embeddings=MAX_POSITIONS,
        rms_norm_eps=1e-5,
        initializer_range=0.02,
        tie_word_embeddings=False,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=UNK_ID,
        dtype="float32",
    )
    # A private generator state: the caller's global RNG is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.eval()
    model.generation_config = GenerationConfig(
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=UNK_ID,
        max_new_tokens=128,
        do_sample=False,
    )
    # A subprocess's stderr is read as a log: no progress bars in it.
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out, safe_serialization=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return sum(p.numel() for p in model.parameters())


def build_tiny_llama(dest: Path, *, seed: int = 0) -> dict[str, Any]:
    """Write the tiny model's directory at ``dest`` and return its facts.

    ``dest`` must not exist or be an empty directory. The directory is assembled next to it
    and moved into place at the end, so ``dest`` is either complete or absent. The facts are
    ``name``, ``architecture``, ``model_type``, ``parameters``, the shape, ``seed``,
    ``chat_template_name`` and ``files`` (``path``, ``size``, ``sha256`` of each file).
    """
    dest = Path(dest)
    _prepare_dest(dest)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        _write_tokenizer(work)
        parameters = _write_model(work, seed)
        (work / "README.md").write_text(
            MODEL_CARD.format(
                name=NAME,
                parameters=parameters,
                hidden=HIDDEN_SIZE,
                layers=NUM_LAYERS,
                heads=NUM_HEADS,
                kv_heads=NUM_KV_HEADS,
                vocab=VOCAB_SIZE,
                context=MAX_POSITIONS,
                seed=seed,
            ),
            encoding="utf-8",
        )
        # mkdtemp makes a private folder and safetensors a private file; a model directory is
        # meant to be read by the servers and jobs that use it.
        work.chmod(0o755)
        for p in work.iterdir():
            p.chmod(0o644)
        files = [
            {"path": p.name, "size": p.stat().st_size, "sha256": _sha256(p)}
            for p in sorted(work.iterdir())
        ]
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {
        "name": NAME,
        "path": str(dest),
        "architecture": ARCHITECTURE,
        "model_type": "llama",
        "parameters": parameters,
        "hidden_size": HIDDEN_SIZE,
        "num_hidden_layers": NUM_LAYERS,
        "num_attention_heads": NUM_HEADS,
        "num_key_value_heads": NUM_KV_HEADS,
        "intermediate_size": INTERMEDIATE_SIZE,
        "vocab_size": VOCAB_SIZE,
        "max_position_embeddings": MAX_POSITIONS,
        "dtype": "float32",
        "tie_word_embeddings": False,
        "seed": seed,
        "chat_template_name": CHAT_TEMPLATE_NAME,
        "special_tokens": {"bos": BOS, "eos": EOS, "unk": UNK, "pad": PAD},
        "tokenizer_source": f"{TOKENIZER_PACKAGE}/{TOKENIZER_RESOURCE}",
        "license": TOKENIZER_LICENSE,
        "files": files,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m jupyter_sxwl.catalog.models.tiny DEST [--seed N]``: build, print JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_sxwl.catalog.models.tiny",
        description="Build the tiny random-initialised Llama model (sxwl-tiny-llama) at DEST "
        "and print its facts as JSON.",
    )
    parser.add_argument("dest", type=Path, help="a new (or empty) directory to write")
    parser.add_argument("--seed", type=int, default=0, help="the weights' random seed")
    args = parser.parse_args(argv)
    # Everything is local: never let transformers look for a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        facts = build_tiny_llama(args.dest, seed=args.seed)
    except TinyModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(facts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
