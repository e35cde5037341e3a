"""Checkpoints: ``checkpoint-<step>/`` with what resuming needs, written atomically.

A checkpoint holds the trainable weights (the LoRA adapter, or the whole model for full
fine-tunes), the optimiser and scheduler states, the random generators' states and
``trainer_state.json`` (step, epoch, the data plan, the running loss). It is written under a
hidden temporary name and renamed into place, so a directory called ``checkpoint-<step>`` is
always complete; older ones beyond ``save_total_limit`` are removed afterwards.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

from .errors import FinetuneError

STATE_FILE = "trainer_state.json"
NAME_RE = re.compile(r"^checkpoint-(\d+)$")


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = NAME_RE.match(p.name)
        if m and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def rng_states() -> dict[str, Any]:
    import numpy as np
    import torch

    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    root: Path,
    step: int,
    *,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    state: dict[str, Any],
    save_total_limit: int | None,
) -> Path:
    """Write ``root/checkpoint-<step>`` atomically and prune old ones; returns its path."""
    import torch

    root.mkdir(parents=True, exist_ok=True)
    final = root / f"checkpoint-{step}"
    work = root / f".checkpoint-{step}.tmp-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    try:
        model.save_pretrained(work, safe_serialization=True)
        torch.save(optimizer.state_dict(), work / "optimizer.pt")
        torch.save(scheduler.state_dict(), work / "scheduler.pt")
        torch.save(rng_states(), work / "rng_state.pt")
        (work / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        for p in work.iterdir():
            with p.open("rb") as f:
                os.fsync(f.fileno())
        if final.exists():  # the same step saved before (a resumed run): replace it
            shutil.rmtree(final)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    prune(root, save_total_limit)
    return final


def prune(root: Path, save_total_limit: int | None) -> None:
    if save_total_limit is None:
        return
    found = list_checkpoints(root)
    for _step, path in found[: max(0, len(found) - save_total_limit)]:
        shutil.rmtree(path, ignore_errors=True)


def load_state(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FinetuneError(f"cannot resume from {path.name}: {e}") from None
    return state


def load_training_state(path: Path, *, optimizer: Any, scheduler: Any, device: Any) -> None:
    import torch

    optimizer.load_state_dict(
        torch.load(path / "optimizer.pt", map_location=device, weights_only=True)
    )
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    restore_rng_states(torch.load(path / "rng_state.pt", weights_only=False))


def load_trainable_weights(model: Any, path: Path, lora: bool) -> None:
    """Put a checkpoint's weights into ``model`` (an adapter into a PEFT model, or all)."""
    from safetensors.torch import load_file

    if lora:
        from peft import set_peft_model_state_dict

        weights = load_file(str(path / "adapter_model.safetensors"))
        set_peft_model_state_dict(model, weights)
        return
    files = sorted(path.glob("model*.safetensors"))
    if not files:
        raise FinetuneError(f"cannot resume from {path.name}: it holds no model weights")
    for f in files:
        model.load_state_dict(load_file(str(f)), strict=False)
