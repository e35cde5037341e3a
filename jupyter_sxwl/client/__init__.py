"""The Python SDK of the sxwl platform: ``from jupyter_sxwl import Client``.

Light on purpose (``requests`` and the standard library only): the magics, widgets and CLI
import it into kernels and shells that must start fast.
"""

from __future__ import annotations

from .client import ACTIVE_STATUSES, FINAL_STATUSES, PRIORITIES, Client, Job
from .connection import Connection, config_path, discover, save_login
from .errors import (
    SxwlAPIError,
    SxwlConfigError,
    SxwlConnectionError,
    SxwlError,
    SxwlTimeoutError,
)
from .mounts import MountError
from .uploads import Progress

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "PRIORITIES",
    "Client",
    "Connection",
    "Job",
    "MountError",
    "Progress",
    "SxwlAPIError",
    "SxwlConfigError",
    "SxwlConnectionError",
    "SxwlError",
    "SxwlTimeoutError",
    "config_path",
    "discover",
    "save_login",
]
