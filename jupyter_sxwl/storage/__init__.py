"""Object storage: where datasets, models and other large bytes live.

``make_object_store("local" | "s3", parent=…)`` builds the configured backend; both implement
:class:`~.base.ObjectStore`. The S3 backend (and boto3 with it) is imported only when asked for,
so importing this package stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from traitlets.config import Config, Configurable

from .base import (
    ChecksumMismatch,
    ListPage,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    validate_key,
)
from .local import LocalObjectStore

if TYPE_CHECKING:
    from .s3 import S3ObjectStore

__all__ = [
    "OBJECT_STORE_KINDS",
    "ChecksumMismatch",
    "ListPage",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "S3ObjectStore",
    "StorageError",
    "make_object_store",
    "validate_key",
]

OBJECT_STORE_KINDS = ("local", "s3")


def make_object_store(
    kind: str,
    *,
    parent: Configurable | None = None,
    config: Config | None = None,
    **traits: Any,
) -> ObjectStore:
    """The object store of ``kind`` ("local" or "s3"), configured from ``parent``'s config.

    With ``parent`` (the platform app), ``c.LocalObjectStore.…`` / ``c.S3ObjectStore.…`` apply;
    ``traits`` set options directly (``root=…`` for local, ``bucket=…`` for s3) and win over
    configuration.
    """
    kind = (kind or "").strip().lower()
    cls: type[ObjectStore]
    if kind == "local":
        cls = LocalObjectStore
    elif kind == "s3":
        from .s3 import S3ObjectStore

        cls = S3ObjectStore
    else:
        raise ValueError(
            f"object_store {kind!r} is not known; choose one of {', '.join(OBJECT_STORE_KINDS)}"
        )
    kwargs: dict[str, Any] = dict(traits)
    if parent is not None:
        kwargs["parent"] = parent
    if config is not None:
        kwargs["config"] = config
    return cls(**kwargs)


def __getattr__(name: str) -> Any:
    # Lazy: importing boto3 costs ~0.3 s, which `%load_ext jupyter_sxwl` must not pay.
    if name == "S3ObjectStore":
        from .s3 import S3ObjectStore

        return S3ObjectStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
