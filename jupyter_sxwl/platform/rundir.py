"""A job's run directory: its code, and the managed volumes at the paths the program uses.

Submit only *checks* (against the code package's stored member list), so it stays a quick
database write; the directory is built when the job is admitted, off the event loop.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..catalog.code_packages import unpack_archive

VOLUMES = {"checkpoint_path": "checkpoint", "model_path": "model"}


def _parents(path: str) -> list[str]:
    out = []
    parent = posixpath.dirname(path)
    while parent:
        out.append(parent)
        parent = posixpath.dirname(parent)
    return out


def check_layout(
    files: Iterable[str], dirs: Iterable[str], working_dir: str, volume_paths: dict[str, str]
) -> list[tuple[str, str]]:
    """Field errors for volume paths that collide with the code, and a missing working dir.

    ``files`` and ``dirs`` are the code package's normalised relative paths; ``volume_paths``
    maps a field name (checkpoint_path, model_path) to its relative path.
    """
    files = set(files)
    all_dirs = set(dirs)
    for path in files | set(dirs):
        all_dirs.update(_parents(path))
    errors = []
    for field, rel in volume_paths.items():
        if rel in files or rel in all_dirs:
            errors.append(
                (
                    field,
                    f"{rel!r} already exists in the code package; the platform mounts its "
                    "volume there, so choose a path the code does not contain",
                )
            )
        elif any(p in files for p in _parents(rel)):
            errors.append((field, f"{rel!r} goes through a file of the code package"))
    if working_dir != "." and working_dir not in all_dirs:
        errors.append(
            (
                "working_dir",
                f"{working_dir!r} is not a directory of the code package; create it or "
                "leave working_dir empty",
            )
        )
    return errors


def prepare(
    run_dir: Path,
    archive: Path | None,
    volume_paths: dict[str, str],
    capacities: dict[str, float],
) -> None:
    """Build ``run_dir/work`` (the unpacked code) and link the volumes into it. Idempotent."""
    work = run_dir / "work"
    if work.exists():
        return  # a restart: the code and volumes are already there
    staging = run_dir / "work.partial"
    staging.mkdir(parents=True, exist_ok=True)
    if archive is not None:
        unpack_archive(archive, staging)
    for field, rel in volume_paths.items():
        target = run_dir / "volumes" / VOLUMES[field]
        target.mkdir(parents=True, exist_ok=True)
        link = staging / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        # Relative links keep working if the data directory moves or is mounted elsewhere.
        link.symlink_to(os.path.relpath(target, run_dir / "work" / posixpath.dirname(rel)))
    (run_dir / "volumes" / "capacity.json").write_text(json.dumps(capacities))
    staging.rename(work)


def link_mount(run_dir: Path, mount: dict[str, Any], target: Path) -> None:
    """Link a mounted dataset or model version at ``run_dir/mnt/<kind>s/<name>``.

    The job reads ``$SXWL_MOUNT_ROOT`` (= ``run_dir/mnt``); ``work/mnt`` points there too
    unless the code has a ``mnt`` of its own.
    """
    root = run_dir / "mnt"
    link = root / f"{mount['kind']}s" / mount["name"]
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target, target_is_directory=True)
    work_link = run_dir / "work" / "mnt"
    if not work_link.exists() and not work_link.is_symlink():
        work_link.symlink_to(os.path.relpath(root, run_dir / "work"), target_is_directory=True)
