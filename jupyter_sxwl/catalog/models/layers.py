"""The linear layers a model has, read from its safetensors headers without loading weights.

A safetensors file starts with an 8-byte little-endian length and that many bytes of JSON
naming every tensor with its dtype and shape. The 2-D ``.weight`` tensors inside the numbered
decoder blocks (``model.layers.3.self_attn.q_proj.weight``) are the linear layers LoRA can
adapt; their last name part (``q_proj``) is what ``lora_target`` names. Embeddings and the
output head sit outside the blocks, so they are never listed.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable
from typing import IO, Any

MAX_HEADER_BYTES = 100 << 20
# A numbered block somewhere before the module: "layers.3.", "h.0.", "blocks.11.".
_BLOCK = re.compile(r"(^|\.)\d+\.")
EXCLUDED = frozenset({"lm_head", "output_layer", "embed_tokens", "wte", "word_embeddings"})


class HeaderError(ValueError):
    """A file that is not safetensors, or whose header cannot be read."""


def read_header(stream: IO[bytes]) -> dict[str, Any]:
    """The JSON header of a safetensors file open at its start."""
    raw = stream.read(8)
    if len(raw) != 8:
        raise HeaderError("the file is shorter than a safetensors header")
    (length,) = struct.unpack("<Q", raw)
    if not 2 <= length <= MAX_HEADER_BYTES:
        raise HeaderError(f"a header of {length} bytes is not plausible")
    data = b""
    while len(data) < length:
        chunk = stream.read(length - len(data))
        if not chunk:
            raise HeaderError("the file ends inside its header")
        data += chunk
    try:
        header = json.loads(data)
    except ValueError as e:
        raise HeaderError(f"the header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise HeaderError("the header is not a JSON object")
    return header


def linear_modules(headers: Iterable[dict[str, Any]]) -> list[str]:
    """Sorted names of the linear layers inside the decoder blocks of these headers."""
    names: set[str] = set()
    for header in headers:
        for key, info in header.items():
            if key == "__metadata__" or not key.endswith(".weight") or not isinstance(info, dict):
                continue
            shape = info.get("shape")
            if not isinstance(shape, list) or len(shape) != 2:
                continue
            module_path = key[: -len(".weight")]
            if not _BLOCK.search(module_path + "."):
                continue
            name = module_path.rsplit(".", 1)[-1]
            if name in EXCLUDED or name.isdigit():
                continue
            names.add(name)
    return sorted(names)
