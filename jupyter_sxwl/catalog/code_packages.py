"""Code packages (T5): a user's code as a .tar.gz or .zip, checked once and unpacked per job.

Archives come from users, so every member is checked before anything is written: no absolute
paths, no ``..``, no links or devices, bounded size and file count. Unpacking repeats the
checks, so a stored archive can never write outside the directory it is unpacked into.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


class ArchiveError(ValueError):
    """The archive is unusable; the message names the member and the fix."""


@dataclass(frozen=True)
class ArchiveSummary:
    format: str  # "tar.gz" | "zip"
    files: int
    size: int  # unpacked bytes
    sha256: str
    file_paths: tuple[str, ...] = ()  # normalised relative paths of the regular files
    dir_paths: tuple[str, ...] = ()  # and of the directories the archive lists


def _sniff(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "zip"
    raise ArchiveError("is neither a .tar.gz nor a .zip archive; upload one of those")


def _safe_member(name: str) -> str | None:
    """The normalised relative path of a member, or None for the archive's root entry."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"member {name!r} has an absolute path; archive relative paths")
    norm = posixpath.normpath(name.replace("\\", "/"))
    if norm in (".", ""):
        return None
    if norm == ".." or norm.startswith("../"):
        raise ArchiveError(f"member {name!r} points outside the archive; remove the '..' parts")
    return norm


def _members(data: BinaryIO, fmt: str) -> Iterator[tuple[str, bool, int, BinaryIO | None]]:
    """(path, is_dir, size, reader) per member; raises for links and special files."""
    if fmt == "tar.gz":
        with tarfile.open(fileobj=data, mode="r:gz") as tar:
            for info in tar:
                path = _safe_member(info.name)
                if info.issym() or info.islnk():
                    raise ArchiveError(
                        f"member {info.name!r} is a link; links are not allowed in code packages"
                    )
                if not (info.isfile() or info.isdir()):
                    raise ArchiveError(f"member {info.name!r} is not a regular file or directory")
                if path is None:
                    continue
                reader = tar.extractfile(info) if info.isfile() else None
                yield path, info.isdir(), info.size, reader
    else:
        with zipfile.ZipFile(data) as zf:
            for zinfo in zf.infolist():
                path = _safe_member(zinfo.filename)
                mode = zinfo.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise ArchiveError(
                        f"member {zinfo.filename!r} is a link; "
                        "links are not allowed in code packages"
                    )
                if path is None:
                    continue
                if zinfo.is_dir():
                    yield path, True, 0, None
                else:
                    with zf.open(zinfo) as reader:
                        yield path, False, zinfo.file_size, reader  # type: ignore[misc]


def inspect_archive(path: Path, max_bytes: int, max_files: int) -> ArchiveSummary:
    """Check every member of the archive at ``path`` and summarise it."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
        f.seek(0)
        fmt = _sniff(f.read(4))
        f.seek(0)
        files = 0
        size = 0
        file_paths: list[str] = []
        dir_paths: list[str] = []
        try:
            for name, is_dir, member_size, _reader in _members(f, fmt):
                if is_dir:
                    dir_paths.append(name)
                    continue
                file_paths.append(name)
                files += 1
                size += member_size
                if files > max_files:
                    raise ArchiveError(
                        f"has more than {max_files} files; leave data and caches out of the code"
                    )
                if size > max_bytes:
                    raise ArchiveError(
                        f"unpacks to more than {max_bytes // (1 << 20)} MiB; leave data, "
                        "checkpoints and caches out of the code (mount datasets instead)"
                    )
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
            raise ArchiveError(f"is damaged or truncated ({e}); upload it again") from e
    return ArchiveSummary(
        format=fmt,
        files=files,
        size=size,
        sha256=digest.hexdigest(),
        file_paths=tuple(file_paths),
        dir_paths=tuple(dir_paths),
    )


def unpack_archive(path: Path, dest: Path) -> None:
    """Unpack a checked archive into ``dest`` (created), never writing outside it."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with path.open("rb") as f:
        fmt = _sniff(f.read(4))
        f.seek(0)
        for name, is_dir, _size, reader in _members(f, fmt):
            target = (root / name).resolve()
            if target != root and root not in target.parents:
                raise ArchiveError(f"member {name!r} points outside the archive")
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            assert reader is not None
            with target.open("wb") as out:
                shutil.copyfileobj(reader, out, 1 << 20)
            os.chmod(target, 0o644)
