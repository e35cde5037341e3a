"""The accelerator catalogue: flavours from configuration, turned into scheduler data.

One list of dictionaries (``c.SxwlPlatform.flavours``) describes every kind of node; it drives
the scheduler's capacity, the job launch (device variable, distributed backend) and prices.
Resource names differ per cluster, so they are data here, never literals in code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .model import Flavour, FlavourQuota, QueueSpec, UserLimit

_FLAVOUR_KEYS = {
    "name",
    "resource_name",
    "accelerators_per_node",
    "cpu_per_node",
    "memory_gb_per_node",
    "nodes",
    "node_labels",
    "tolerations",
    "device_env",
    "distributed_backend",
    "price_per_card_hour",
    "description",
}


class CatalogueError(ValueError):
    """The flavour configuration is wrong; the message says which entry and key."""


def flavour_from_config(entry: Mapping[str, Any]) -> Flavour:
    """Validate one flavour entry of the configuration."""
    unknown = set(entry) - _FLAVOUR_KEYS
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise CatalogueError(f"flavour entry {dict(entry)!r}: 'name' is required")
    if unknown:
        raise CatalogueError(
            f"flavour {name!r}: unknown keys {sorted(unknown)}; allowed: {sorted(_FLAVOUR_KEYS)}"
        )
    try:
        flavour = Flavour(
            name=name,
            resource_name=entry.get("resource_name"),
            accelerators_per_node=int(entry.get("accelerators_per_node", 0)),
            cpu_per_node=float(entry.get("cpu_per_node", 1)),
            memory_gb_per_node=float(entry.get("memory_gb_per_node", 1)),
            nodes=int(entry.get("nodes", 1)),
            node_labels=dict(entry.get("node_labels") or {}),
            tolerations=list(entry.get("tolerations") or []),
            device_env=entry.get("device_env"),
            distributed_backend=str(entry.get("distributed_backend", "gloo")),
            price_per_card_hour=float(entry.get("price_per_card_hour", 0)),
            description=str(entry.get("description", "")),
        )
    except (TypeError, ValueError) as e:
        raise CatalogueError(f"flavour {name!r}: {e}") from e
    if flavour.nodes < 1 or flavour.cpu_per_node <= 0 or flavour.memory_gb_per_node <= 0:
        raise CatalogueError(
            f"flavour {name!r}: nodes, cpu_per_node, memory_gb_per_node must be > 0"
        )
    if flavour.accelerators_per_node < 0:
        raise CatalogueError(f"flavour {name!r}: accelerators_per_node must be >= 0")
    if flavour.accelerators_per_node and not flavour.resource_name:
        raise CatalogueError(
            f"flavour {name!r}: an accelerated flavour needs resource_name, e.g. nvidia.com/gpu"
        )
    if flavour.distributed_backend not in ("nccl", "hccl", "gloo"):
        raise CatalogueError(f"flavour {name!r}: distributed_backend must be nccl, hccl or gloo")
    return flavour


def catalogue_from_config(entries: Iterable[Mapping[str, Any]]) -> dict[str, Flavour]:
    """Validate the whole catalogue; names must be unique."""
    flavours: dict[str, Flavour] = {}
    for entry in entries:
        flavour = flavour_from_config(entry)
        if flavour.name in flavours:
            raise CatalogueError(f"flavour {flavour.name!r} is defined twice")
        flavours[flavour.name] = flavour
    if not flavours:
        raise CatalogueError("the flavour catalogue is empty; define at least a 'cpu' flavour")
    return flavours


def quotas_from_json(data: Mapping[str, Mapping[str, Any]] | None) -> dict[str, FlavourQuota]:
    """``{"gpu-a100": {"accelerators": 8, "cpu": 64}}`` as scheduler quotas."""
    quotas: dict[str, FlavourQuota] = {}
    for flavour, quota in (data or {}).items():
        acc = quota.get("accelerators")
        cpu = quota.get("cpu")
        quotas[flavour] = FlavourQuota(
            accelerators=None if acc is None else int(acc),
            cpu=None if cpu is None else float(cpu),
        )
    return quotas


def queue_spec(
    name: str,
    quotas: Mapping[str, Mapping[str, Any]] | None,
    users: Iterable[str] | None,
    strategy: str = "BestEffortFIFO",
    description: str = "",
) -> QueueSpec:
    """A scheduler ``QueueSpec`` from stored queue fields."""
    return QueueSpec(
        name=name,
        quotas=quotas_from_json(quotas),
        users=None if users is None else frozenset(users),
        strategy="StrictFIFO" if strategy == "StrictFIFO" else "BestEffortFIFO",
        description=description,
    )


def user_limit_from_json(data: Mapping[str, Any] | None) -> UserLimit:
    data = data or {}
    acc = data.get("max_accelerators")
    cpu = data.get("max_cpu")
    return UserLimit(
        max_accelerators=None if acc is None else int(acc),
        max_cpu=None if cpu is None else float(cpu),
    )
