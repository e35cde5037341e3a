"""jupyter_sxwl: a Jupyter-native AI compute platform.

Only entry points live here; nothing heavy is imported at import time, so a kernel doing
``%load_ext jupyter_sxwl`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter_sxwl"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import SxwlServerExtension

    return [{"module": "jupyter_sxwl", "app": SxwlServerExtension}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_sxwl``: register the ``%sxwl`` magics."""
    from .magics import register

    register(ipython)


def __getattr__(name: str) -> Any:
    # ``from jupyter_sxwl import Client`` without importing the SDK on ``import jupyter_sxwl``.
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(name)
