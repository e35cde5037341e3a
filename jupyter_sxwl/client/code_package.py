"""Packing a code directory into the ``.tar.gz`` that ``POST code-packages`` takes.

Left out always: ``.git``, ``__pycache__``, ``.ipynb_checkpoints``, ``node_modules``, ``.venv``
(they are large and useless to a job), plus whatever a ``.sxwlignore`` file at the top of the
directory lists. ``.sxwlignore`` takes one pattern a line, ``#`` starts a comment:

- ``data/`` (trailing slash): directories only;
- ``*.ckpt`` (no slash): any file or directory with that name, at any depth;
- ``/notes.txt`` or ``out/*.bin`` (a slash inside): matched against the path from the top.

Symbolic links are kept as links when they point inside the directory, and left out (listed
in ``CodePackage.skipped``) when they point outside, since the job could not follow them.
"""

from __future__ import annotations

import fnmatch
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .errors import SxwlError

# Past this many bytes (before compression) packing stops: a code folder that big is almost
# always a data set or an environment by mistake, and the platform would refuse it anyway.
MAX_CODE_BYTES = 1 << 30

ALWAYS_EXCLUDED = frozenset({".git", "__pycache__", ".ipynb_checkpoints", "node_modules", ".venv"})
IGNORE_FILE = ".sxwlignore"


@dataclass(frozen=True)
class IgnorePattern:
    """One line of ``.sxwlignore``."""

    pattern: str
    dir_only: bool
    anchored: bool  # matched against the whole relative path rather than one name

    @classmethod
    def parse(cls, line: str) -> IgnorePattern | None:
        line = line.strip()
        if not line or line.startswith("#"):
            return None
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if not line:
            return None
        return cls(line, dir_only, anchored)

    def matches(self, rel_path: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.anchored:
            return fnmatch.fnmatchcase(rel_path, self.pattern)
        return fnmatch.fnmatchcase(rel_path.rsplit("/", 1)[-1], self.pattern)


def read_ignore_file(root: Path) -> list[IgnorePattern]:
    """The patterns of ``root/.sxwlignore`` (none when it does not exist)."""
    try:
        text = (root / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [p for p in map(IgnorePattern.parse, text.splitlines()) if p is not None]


def is_excluded(rel_path: str, is_dir: bool, patterns: list[IgnorePattern]) -> bool:
    """Whether a path (relative, ``/``-separated) stays out of the package."""
    if rel_path.rsplit("/", 1)[-1] in ALWAYS_EXCLUDED:
        return True
    return any(p.matches(rel_path, is_dir) for p in patterns)


def iter_package_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Every file, directory and inner symlink that goes into the package, as
    ``(absolute path, relative path)``, sorted so the same tree gives the same archive."""
    root = root.resolve()
    patterns = read_ignore_file(root)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        kept_dirs = []
        for name in sorted(dirnames):
            full = here / name
            rel = prefix + name
            if is_excluded(rel, True, patterns):
                continue
            if full.is_symlink():
                # os.walk does not descend into linked directories; report them as files.
                filenames.append(name)
                continue
            kept_dirs.append(name)
            yield full, rel
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            rel = prefix + name
            if not is_excluded(rel, (here / name).is_dir(), patterns):
                yield here / name, rel


def _inside(root: Path, link: Path) -> bool:
    try:
        link.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


@dataclass
class CodePackage:
    """A packed code directory: the archive (a temporary file, at position 0) and what is in it."""

    file: IO[bytes]
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    size: int = 0

    def close(self) -> None:
        self.file.close()


def pack_directory(root: str | os.PathLike[str], max_bytes: int = MAX_CODE_BYTES) -> CodePackage:
    """Pack ``root`` into a gzipped tar in a temporary file; paths inside are relative to it.

    Raises SxwlError when ``root`` is not a folder or holds more than ``max_bytes`` of files.
    """
    base = Path(root)
    if not base.is_dir():
        raise SxwlError(f"code_dir: {str(base)!r} is not a directory; give the folder to upload")
    base = base.resolve()
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, closed by it
    package = CodePackage(out)

    def anonymise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        # The job runs as the platform's user; local owners mean nothing there.
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    total = 0
    try:
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            for full, rel in iter_package_files(base):
                if full.is_symlink() and not _inside(base, full):
                    package.skipped.append(rel)
                    continue
                if not full.is_dir() or full.is_symlink():
                    total += full.lstat().st_size
                    if total > max_bytes:
                        raise SxwlError(
                            f"code_dir: {base} holds more than {max_bytes >> 20} MiB of files "
                            f"(reached at {rel}); list data and outputs in {IGNORE_FILE}, "
                            "point --code-dir at the code only, or use --no-code"
                        )
                    package.files.append(rel)
                tar.add(full, arcname=rel, recursive=False, filter=anonymise)
    except BaseException:
        out.close()
        raise
    package.size = out.tell()
    out.seek(0)
    return package
