"""Plain data the scheduler decides on. No I/O, no SQL, no configuration reading.

The terms follow Kueue so admins meet familiar ones: a ``Flavour`` is a ResourceFlavor plus
its capacity on this site, a ``QueueSpec`` a ClusterQueue with nominal quotas per flavour,
``PRIORITY_CLASSES`` the WorkloadPriorityClasses, a ``Workload`` one job's demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# WorkloadPriorityClass names and values: higher is admitted first.
PRIORITY_CLASSES: dict[str, int] = {"low": 100, "normal": 500, "high": 1000}


@dataclass(frozen=True)
class Flavour:
    """One kind of node: the accelerator catalogue entry and how many such nodes exist."""

    name: str
    # Kubernetes extended resource name, e.g. "nvidia.com/gpu" or "huawei.com/Ascend910";
    # None for a CPU-only flavour.
    resource_name: str | None = None
    accelerators_per_node: int = 0
    cpu_per_node: float = 1.0
    memory_gb_per_node: float = 1.0
    nodes: int = 1
    node_labels: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)
    # Variable that selects devices for a process, e.g. CUDA_VISIBLE_DEVICES,
    # ASCEND_RT_VISIBLE_DEVICES; None for CPU.
    device_env: str | None = None
    distributed_backend: str = "gloo"  # nccl | hccl | gloo
    price_per_card_hour: float = 0.0  # for CPU flavours: price per core-hour
    description: str = ""

    @property
    def is_accelerated(self) -> bool:
        return self.accelerators_per_node > 0

    @property
    def total_accelerators(self) -> int:
        return self.accelerators_per_node * self.nodes

    @property
    def total_cpu(self) -> float:
        return self.cpu_per_node * self.nodes


@dataclass(frozen=True)
class FlavourQuota:
    """A queue's nominal quota for one flavour (None: no limit beyond the flavour's capacity)."""

    accelerators: int | None = None
    cpu: float | None = None


@dataclass(frozen=True)
class QueueSpec:
    """A ClusterQueue: nominal quotas per flavour and who may submit to it."""

    name: str
    quotas: dict[str, FlavourQuota] = field(default_factory=dict)  # flavour name -> quota
    users: frozenset[str] | None = None  # None: every user may use the queue
    # BestEffortFIFO lets a later job that fits pass one that does not; StrictFIFO does not.
    strategy: Literal["BestEffortFIFO", "StrictFIFO"] = "BestEffortFIFO"
    description: str = ""


@dataclass(frozen=True)
class UserLimit:
    """Per-user ceiling on what their running jobs hold at once (None: no ceiling)."""

    max_accelerators: int | None = None
    max_cpu: float | None = None


@dataclass(frozen=True)
class Workload:
    """One job's demand, as the scheduler sees it."""

    id: str
    owner: str
    queue: str
    flavour: str
    priority: int  # value of its priority class
    seq: int  # submission order: smaller is earlier (FIFO within a priority)
    nodes: int = 1
    accelerators_per_node: int = 0
    cpu_per_node: float = 1.0
    memory_gb_per_node: float = 1.0

    @property
    def accelerators(self) -> int:
        return self.nodes * self.accelerators_per_node

    @property
    def cpu(self) -> float:
        return self.nodes * self.cpu_per_node


@dataclass(frozen=True)
class NodeSlot:
    """Where one node of a workload lands: node index in its flavour and the card indices."""

    node: int
    cards: tuple[int, ...] = ()


@dataclass(frozen=True)
class Placement:
    """An admitted (or running) workload and the nodes/cards it holds."""

    workload: Workload
    slots: tuple[NodeSlot, ...]


@dataclass(frozen=True)
class Waiting:
    """Why a pending workload was not admitted this cycle."""

    position: int  # 1-based position in its queue (priority first, then FIFO)
    reason: str  # in words, e.g. "queue gpu-a100 has 0 of 8 cards free; you use 4 of your 4"


@dataclass
class AdmissionResult:
    admitted: list[Placement] = field(default_factory=list)
    waiting: dict[str, Waiting] = field(default_factory=dict)  # workload id -> why it waits


@dataclass(frozen=True)
class Infeasible:
    """A demand that can never be met, found at submit time: the field and the fix."""

    field: str
    message: str
