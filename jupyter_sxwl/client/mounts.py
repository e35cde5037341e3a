"""Mounts in a lab (L2): published dataset versions and model versions, read-only, at
``~/mnt/datasets/<name>`` and ``~/mnt/models/<name>``.

The platform makes a read-only local copy of the version (the accelerated one when there is
one) and says where it is (``POST mounts/resolve``); the lab links it into the mount folder.
The SDK, the magics, the CLI and the server extension (for the panel and the spawn page) all
mount through :func:`mount`, so the paths are the same whichever way a user chose.
``SXWL_MOUNT_ROOT`` moves the mount folder (default ``~/mnt``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

KINDS = ("dataset", "model")
_NAME = re.compile(r"^[^/\\\x00]{1,128}$")


class MountError(ValueError):
    """A mount that cannot be made or removed; the message says why and what to do."""


def mount_root() -> Path:
    """The folder mounts appear under: ``$SXWL_MOUNT_ROOT`` or ``~/mnt``."""
    root = os.environ.get("SXWL_MOUNT_ROOT")
    return Path(root).expanduser() if root else Path.home() / "mnt"


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise MountError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


def mount_path(kind: str, name: str, root: Path | None = None) -> Path:
    """Where a mount of ``kind`` called ``name`` lives."""
    if not _NAME.match(name) or name in (".", ".."):
        raise MountError(f"{name!r} cannot be a mount name; use the dataset or model name")
    return (root or mount_root()) / f"{_kind(kind)}s" / name


def link(kind: str, name: str, target: str | os.PathLike[str], root: Path | None = None) -> Path:
    """Make (or re-point) the mount ``kind``/``name`` at ``target``; returns its path.

    Refuses to replace anything that is not a mount (a real file or folder of the user's).
    """
    path = mount_path(kind, name, root)
    target = Path(target)
    if not target.is_dir():
        raise MountError(
            f"{target} is not a folder this lab can read; the platform and the lab "
            "must share a file system for local mounts"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not path.is_symlink():
        raise MountError(
            f"{path} exists and is not a mount; move it away or mount under another name"
        )
    tmp = path.with_name(f".{path.name}.mounting")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, path)  # atomic: a reader sees the old mount or the new one
    return path


def unlink(kind: str, name: str, root: Path | None = None) -> bool:
    """Remove the mount; False when there was none. Never removes a user's own files."""
    path = mount_path(kind, name, root)
    if path.is_symlink():
        path.unlink()
        return True
    if path.exists():
        raise MountError(f"{path} is not a mount; it was left alone")
    return False


def list_mounts(root: Path | None = None) -> list[dict[str, Any]]:
    """The mounts in this lab: kind, name, path, target and whether the target still exists."""
    base = root or mount_root()
    out = []
    for kind in KINDS:
        folder = base / f"{kind}s"
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.is_symlink() and not entry.name.startswith("."):
                target = os.readlink(entry)
                out.append(
                    {
                        "kind": kind,
                        "name": entry.name,
                        "path": str(entry),
                        "target": target,
                        "ok": entry.exists(),
                    }
                )
    return out
