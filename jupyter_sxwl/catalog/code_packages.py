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
from typing import IO


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


@dataclass(frozen=True)
class _Member:
    path: str  # normalised, relative
    kind: str  # "file" | "dir" | "link"
    size: int = 0
    reader: IO[bytes] | None = None
    link: str = ""  # a link's target, relative to the link's directory
    executable: bool = False


def _check_link(path: str, target: str) -> str:
    """A link may point only inside the package, by a relative path."""
    if not target or target.startswith("/") or "\\" in target:
        raise ArchiveError(
            f"member {path!r} is a link to {target!r}; only relative links inside the code "
            "package are allowed"
        )
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        raise ArchiveError(f"member {path!r} is a link leading outside the code package")
    return target


def _members(data: IO[bytes], fmt: str) -> Iterator[_Member]:
    """Every member of the archive; raises for hard links, devices and escaping paths."""
    if fmt == "tar.gz":
        with tarfile.open(fileobj=data, mode="r:gz") as tar:
            for info in tar:
                path = _safe_member(info.name)
                if info.islnk() or not (info.isfile() or info.isdir() or info.issym()):
                    raise ArchiveError(
                        f"member {info.name!r} is not a regular file, directory or symbolic link"
                    )
                if path is None:
                    continue
                if info.issym():
                    yield _Member(path, "link", link=_check_link(path, info.linkname))
                elif info.isdir():
                    yield _Member(path, "dir")
                else:
                    executable = bool(info.mode & 0o111)
                    yield _Member(path, "file", info.size, tar.extractfile(info), "", executable)
    else:
        with zipfile.ZipFile(data) as zf:
            for zinfo in zf.infolist():
                path = _safe_member(zinfo.filename)
                if path is None:
                    continue
                if stat.S_ISLNK(zinfo.external_attr >> 16):
                    target = zf.read(zinfo).decode("utf-8", "replace")
                    yield _Member(path, "link", link=_check_link(path, target))
                elif zinfo.is_dir():
                    yield _Member(path, "dir")
                else:
                    executable = bool((zinfo.external_attr >> 16) & 0o111)
                    with zf.open(zinfo) as reader:
                        yield _Member(path, "file", zinfo.file_size, reader, "", executable)


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
            for member in _members(f, fmt):
                if member.kind == "dir":
                    dir_paths.append(member.path)
                    continue
                # A link counts as a file: nothing may be placed through it.
                file_paths.append(member.path)
                files += 1
                size += member.size
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


def _inside(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def unpack_archive(path: Path, dest: Path) -> None:
    """Unpack a checked archive into ``dest`` (created), never writing outside it.

    Each write is checked against the real file system as it is at that moment, so a chain
    of links cannot lead a later member outside; at the end every link is resolved once more
    and the unpacking fails if any of them ends outside ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    links: list[Path] = []
    with path.open("rb") as f:
        fmt = _sniff(f.read(4))
        f.seek(0)
        for member in _members(f, fmt):
            place = root / member.path
            if not _inside(root, place.parent.resolve()):
                raise ArchiveError(f"member {member.path!r} points outside the archive")
            if member.kind == "dir":
                place.mkdir(parents=True, exist_ok=True)
            elif member.kind == "link":
                place.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(member.link, place)
                links.append(place)
            else:
                if place.is_symlink():
                    raise ArchiveError(f"member {member.path!r} would be written through a link")
                place.parent.mkdir(parents=True, exist_ok=True)
                assert member.reader is not None
                with place.open("wb") as out:
                    shutil.copyfileobj(member.reader, out, 1 << 20)
                os.chmod(place, 0o755 if member.executable else 0o644)
    for link in links:
        if not _inside(root, link.resolve()):
            raise ArchiveError(f"member {link.relative_to(root)} is a link leading outside")
