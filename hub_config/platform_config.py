"""Configuration of the sxwl platform service for the embedded (one machine) deployment.

JupyterHub starts the platform with ``--config <this file>`` (see jupyterhub_config.py) and
passes ``SXWL_STATE_DIR``. The accelerator catalogue is read from this machine: a ``cpu``
flavour always, one flavour per NVIDIA GPU model that ``nvidia-smi -L`` lists, and an Ascend
flavour where ``npu-smi`` is installed. Edit the lists below, or point SXWL_PLATFORM_CONFIG at
your own file, to describe another site.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (provided by traitlets)

STATE_DIR = Path(
    os.environ.get("SXWL_STATE_DIR", Path(__file__).resolve().parent.parent / ".sxwl-demo")
).resolve()

# Jobs' run directories, logs, checkpoints, saved models and the SQLite database live here.
c.SxwlPlatform.data_dir = str(STATE_DIR / "platform")
# c.SxwlPlatform.db_url stays at its default (SQLite in data_dir); pass
# --SxwlPlatform.db_url=postgresql+psycopg://user@host/db (SXWL_PLATFORM_ARGS) for PostgreSQL.


def _memory_gb() -> float:
    """Total memory of this host in GiB (from /proc/meminfo; 1.0 where it cannot be read)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 1.0


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


CPUS = os.cpu_count() or 1
MEMORY_GB = _memory_gb()

# The local backend plays several "virtual" nodes on this one host, so multi-node jobs (PyTorch
# DDP over 2 nodes, MPI over 4) run and are scheduled exactly as on a cluster. Each virtual node
# is given the whole host's CPUs and memory: the quota is a scheduling budget, and the processes
# share the machine's real cores.
flavours: list[dict] = [
    {
        "name": "cpu",
        "resource_name": None,
        "accelerators_per_node": 0,
        "cpu_per_node": float(CPUS),
        "memory_gb_per_node": MEMORY_GB,
        "nodes": 4,
        "node_labels": {},
        "tolerations": [],
        "device_env": None,
        "distributed_backend": "gloo",
        "price_per_card_hour": 0.0,  # CPU flavours: price per core-hour
        "description": f"CPU only: 4 virtual nodes of {CPUS} CPUs and {MEMORY_GB} GiB on this host",
    }
]

# NVIDIA: "GPU 0: NVIDIA A100-SXM4-80GB (UUID: GPU-…)". One flavour per model, all of its cards on
# one node (this host). A host mixing models would need the local backend to map card indices
# per model; one model per host is the usual case.
if shutil.which("nvidia-smi"):
    models = Counter(
        m.group(1).strip()
        for m in re.finditer(r"^GPU \d+: (.+?) \(UUID", _run(["nvidia-smi", "-L"]), re.M)
    )
    for model, count in sorted(models.items()):
        flavours.append(
            {
                "name": "gpu-" + _slug(model.removeprefix("NVIDIA ")),
                "resource_name": "nvidia.com/gpu",
                "accelerators_per_node": count,
                "cpu_per_node": float(CPUS),
                "memory_gb_per_node": MEMORY_GB,
                "nodes": 1,
                "node_labels": {"nvidia.com/gpu.product": model.replace(" ", "-")},
                "tolerations": [],
                "device_env": "CUDA_VISIBLE_DEVICES",
                "distributed_backend": "nccl",
                "price_per_card_hour": 0.0,
                "description": f"{count} x {model} on this host",
            }
        )

# Ascend: npu-smi's table format varies between driver versions, so count the chips from the
# device files the driver creates (/dev/davinci0, /dev/davinci1, …), else from `npu-smi info -l`.
if shutil.which("npu-smi"):
    npus = [p for p in Path("/dev").glob("davinci*") if p.name.removeprefix("davinci").isdigit()]
    if not npus:
        total = re.search(r"Total Count\s*:\s*(\d+)", _run(["npu-smi", "info", "-l"]))
        npus = [Path(f"/dev/davinci{i}") for i in range(int(total.group(1)) if total else 0)]
    if npus:
        flavours.append(
            {
                "name": "npu-ascend910",
                "resource_name": "huawei.com/Ascend910",
                "accelerators_per_node": len(npus),
                "cpu_per_node": float(CPUS),
                "memory_gb_per_node": MEMORY_GB,
                "nodes": 1,
                "node_labels": {"accelerator": "huawei-Ascend910"},
                "tolerations": [],
                "device_env": "ASCEND_RT_VISIBLE_DEVICES",
                "distributed_backend": "hccl",
                "price_per_card_hour": 0.0,
                "description": f"{len(npus)} x Ascend 910 on this host",
            }
        )

c.SxwlPlatform.flavours = flavours

# One queue open to everyone with no quota beyond what the flavours hold; seeded into the
# database at first start, after which admins manage queues from the admin pages.
c.SxwlPlatform.queues = [
    {
        "name": "default",
        "quotas": {},
        "users": None,
        "strategy": "BestEffortFIFO",
        "description": "Everyone's queue; limited only by this machine",
    }
]

# What one user's running jobs may hold at once: all the host's CPUs of two virtual nodes and
# every accelerator, so one user cannot fill all four CPU nodes alone in a shared demo.
c.SxwlPlatform.default_user_limit = {
    "max_accelerators": max([f["accelerators_per_node"] * f["nodes"] for f in flavours]),
    "max_cpu": float(CPUS * 2),
}
