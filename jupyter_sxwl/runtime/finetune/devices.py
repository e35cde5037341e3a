"""Where training runs: CUDA when present, an Ascend NPU through torch_npu, else the CPU; and
the data-parallel group when the job starts more than one process (``WORLD_SIZE`` > 1).

The launcher starts one process per device with torchrun's variables (``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); the process group's backend
is ``$SXWL_DISTRIBUTED_BACKEND``, by default nccl on CUDA, hccl on NPUs and gloo on CPUs.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BACKEND_ENV = "SXWL_DISTRIBUTED_BACKEND"


def npu_available() -> bool:
    """Whether torch_npu is importable and sees an Ascend device."""
    if importlib.util.find_spec("torch_npu") is None:
        return False
    import torch
    import torch_npu  # noqa: F401  (registers torch.npu)

    npu = getattr(torch, "npu", None)
    return bool(npu is not None and npu.is_available())


@dataclass
class Placement:
    """The device of this process and its place in the data-parallel group."""

    device: Any  # torch.device
    kind: str  # "cuda", "npu" or "cpu"
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def memory_mb(self) -> float:
        """Memory this process holds now: device memory on accelerators, else resident RAM."""
        import torch

        if self.kind == "cuda":
            return torch.cuda.memory_allocated(self.device) / 2**20
        if self.kind == "npu":
            return float(torch.npu.memory_allocated(self.device)) / 2**20  # type: ignore[attr-defined]
        return current_rss_mb()

    def peak_memory_mb(self) -> float:
        import torch

        if self.kind == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        if self.kind == "npu":
            return float(torch.npu.max_memory_allocated(self.device)) / 2**20  # type: ignore[attr-defined]
        return peak_rss_mb()

    def synchronize(self) -> None:
        import torch

        if self.kind == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.kind == "npu":
            torch.npu.synchronize(self.device)  # type: ignore[attr-defined]


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def pick_device_kind() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if npu_available():
        return "npu"
    return "cpu"


def setup(env: Mapping[str, str] | None = None) -> Placement:
    """Choose the device and join the process group when there is more than one process."""
    import torch

    env = os.environ if env is None else env
    world_size = int(env.get("WORLD_SIZE", "1") or 1)
    rank = int(env.get("RANK", "0") or 0)
    local_rank = int(env.get("LOCAL_RANK", "0") or 0)
    kind = pick_device_kind()
    if kind == "cuda":
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    elif kind == "npu":
        device = torch.device("npu", local_rank % torch.npu.device_count())  # type: ignore[attr-defined]
        torch.npu.set_device(device)  # type: ignore[attr-defined]
    else:
        device = torch.device("cpu")
    placement = Placement(device, kind, rank, local_rank, world_size)
    if world_size > 1:
        import torch.distributed as dist

        default = {"cuda": "nccl", "npu": "hccl"}.get(kind, "gloo")
        backend = env.get(BACKEND_ENV) or default
        if not dist.is_initialized():
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return placement


def teardown(placement: Placement) -> None:
    if placement.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
