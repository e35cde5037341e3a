"""Queues, flavours, quotas, priorities and admission: pure logic, no I/O.

``model`` holds the plain data (Kueue's terms); ``admission`` decides what starts and why the
rest waits.
"""

from .admission import admit, check_feasible
from .model import (
    PRIORITY_CLASSES,
    AdmissionResult,
    Flavour,
    FlavourQuota,
    Infeasible,
    NodeSlot,
    Placement,
    QueueSpec,
    UserLimit,
    Waiting,
    Workload,
)

__all__ = [
    "PRIORITY_CLASSES",
    "AdmissionResult",
    "Flavour",
    "FlavourQuota",
    "Infeasible",
    "NodeSlot",
    "Placement",
    "QueueSpec",
    "UserLimit",
    "Waiting",
    "Workload",
    "admit",
    "check_feasible",
]
