"""Safe unpacking of uploaded dataset and model archives (zip and tar, plain or compressed).

An uploaded archive is treated as hostile. Every member name is checked before anything is
written (no absolute paths, no ``..``, no links, devices or duplicates), sizes and the
compression ratio are enforced on the bytes actually written rather than on what the headers
declare, and the files land in a temporary directory next to the destination that is renamed
into place only once everything succeeded, so a failed unpacking leaves nothing behind.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ZIP_BASED_FORMATS",
    "ArchiveError",
    "ArchiveLimits",
    "ExtractedFile",
    "archive_kind",
    "extract_archive",
    "is_archive",
]

_KiB = 1 << 10
_MiB = 1 << 20
_GiB = 1 << 30
_CHUNK = _MiB
# Enough of a member's first bytes to recognise any packed format (tar's magic sits at 257).
_HEAD = 512
# Below this many bytes a compression ratio means nothing (a few KiB of zeros compress
# 1000:1), so ratios are enforced only once a member, or the whole archive, has grown past it.
_RATIO_FLOOR = _MiB

# Extensions of whole archives, as uploaded (for help texts and upload dialogs too).
ARCHIVE_SUFFIXES = (
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz2",
    ".tbz",
    ".tar.xz",
    ".txz",
)
# Extensions of packed or compressed files that may not sit inside an archive.
_NESTED_SUFFIXES = frozenset(
    {
        ".zip",
        ".tar",
        ".gz",
        ".tgz",
        ".bz2",
        ".tbz",
        ".tbz2",
        ".xz",
        ".txz",
        ".zst",
        ".tzst",
        ".7z",
        ".rar",
    }
)
# File formats that are zip containers by design (PyTorch checkpoints, NumPy .npz, Keras,
# office documents): their zip magic is not a nested archive the user forgot to unpack.
ZIP_BASED_FORMATS = frozenset(
    {
        ".pt",
        ".pth",
        ".bin",
        ".ckpt",
        ".npz",
        ".keras",
        ".xlsx",
        ".docx",
        ".pptx",
        ".odt",
        ".ods",
        ".odp",
        ".epub",
    }
)
_JUNK_DIRS = frozenset({"__MACOSX"})
_JUNK_FILES = frozenset({".DS_Store", "Thumbs.db"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# bzip2 streams start "BZh<level>" and then a block (pi) or end-of-stream (sqrt pi) magic.
_BZ2_MAGICS = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")
# Errors the standard library raises for a damaged or truncated archive while reading it.
# (zipfile raises NotImplementedError for a compression method it cannot decode, e.g. a
# member packed with a proprietary method; that is a bad archive too, not missing code here.)
_READ_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    OSError,
)


class ArchiveError(ValueError):
    """The archive cannot be unpacked; the message names the member and says what to do.

    ``member`` is the offending member's name as stored in the archive, or None when the
    problem concerns the archive as a whole.
    """

    def __init__(self, message: str, *, member: str | None = None) -> None:
        super().__init__(message)
        self.member = member


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds that keep a hostile archive from filling the disk.

    ``max_ratio`` bounds both the whole archive (bytes unpacked / archive file size) and each
    zip member (its bytes / its compressed bytes). ``max_member_bytes`` defaults to
    ``max_total_bytes``.
    """

    max_total_bytes: int = 20 * _GiB
    max_files: int = 100_000
    max_ratio: float = 200.0
    max_member_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_member_bytes is None:
            object.__setattr__(self, "max_member_bytes", self.max_total_bytes)
        if self.max_total_bytes <= 0 or self.max_files <= 0 or self.member_limit <= 0:
            raise ValueError("archive limits must be positive")
        if self.max_ratio < 1:
            raise ValueError("max_ratio must be at least 1")

    @property
    def member_limit(self) -> int:
        """The largest one member may unpack to."""
        return self.max_total_bytes if self.max_member_bytes is None else self.max_member_bytes


@dataclass(frozen=True)
class ExtractedFile:
    """One regular file written by :func:`extract_archive`."""

    relative_path: str  # "/"-separated, relative to the destination
    size: int
    sha256: str


def is_archive(filename: str) -> bool:
    """Whether ``filename`` has the extension of an archive :func:`extract_archive` unpacks."""
    return filename.lower().endswith(ARCHIVE_SUFFIXES)


def _is_tar_header(block: bytes) -> bool:
    """Whether ``block`` is a tar header: the ustar magic, or an old-style valid checksum."""
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    if block[0] == 0:
        return False
    field = block[148:156].rstrip(b"\x00 ")
    if not field or any(c not in b"01234567" for c in field):
        return False
    return int(field, 8) == sum(block[:148]) + 8 * 32 + sum(block[156:512])


def _packed_format(head: bytes) -> str | None:
    """The packed or compressed format whose magic bytes ``head`` starts with, if any."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:3] == b"\x1f\x8b\x08" and head[3] & 0xE0 == 0:  # deflate, no reserved flags
        return "gzip"
    if len(head) >= 10 and head[:3] == b"BZh" and head[4:10] in _BZ2_MAGICS:
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if head[:6] == b"Rar!\x1a\x07":
        return "rar"
    if _is_tar_header(head):
        return "tar"
    return None


def _decompressed_head(path: Path, fmt: str) -> bytes:
    if fmt == "gzip":
        with gzip.open(path, "rb") as gz:
            return gz.read(_HEAD)
    if fmt == "bzip2":
        with bz2.open(path, "rb") as bz:
            return bz.read(_HEAD)
    with lzma.open(path, "rb") as xz:
        return xz.read(_HEAD)


def archive_kind(path: Path) -> str | None:
    """What ``path`` holds, judged by its bytes, not its name.

    Returns ``"zip"``, ``"tar"``, ``"tar.gz"``, ``"tar.bz2"`` or ``"tar.xz"``, or None for
    anything else (including a compressed file that is not a tar, such as ``data.csv.gz``).
    """
    with path.open("rb") as f:
        head = f.read(_HEAD)
    fmt = _packed_format(head)
    if fmt == "zip":
        return "zip"
    if fmt == "tar" or (len(head) == _HEAD and not any(head)):  # an empty tar is all zeros
        return "tar"
    if fmt not in ("gzip", "bzip2", "xz"):
        return None
    try:
        inner = _decompressed_head(path, fmt)
    except _READ_ERRORS:
        return None
    if _is_tar_header(inner) or (len(inner) == _HEAD and not any(inner)):
        return {"gzip": "tar.gz", "bzip2": "tar.bz2", "xz": "tar.xz"}[fmt]
    return None


def _size(n: float) -> str:
    for unit, scale in (("GiB", _GiB), ("MiB", _MiB), ("KiB", _KiB)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


@dataclass
class _Entry:
    name: str  # as stored, for messages
    kind: str  # "file" | "dir" | "symlink" | "hardlink" | "special" | "other"
    size: int  # declared unpacked size
    packed: int | None = None  # compressed size, where the format records one per member
    target: str = ""  # a link's target
    encrypted: bool = False


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member's name: UTF-8 when the zip says so; otherwise UTF-8 if the bytes are valid
    UTF-8 (many tools omit the flag), else code page 437 as the zip format specifies."""
    if info.flag_bits & 0x800:
        return info.orig_filename
    raw = info.orig_filename.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return info.orig_filename


def _zip_entry(info: zipfile.ZipInfo) -> _Entry:
    name = _zip_name(info)
    mode = info.external_attr >> 16
    fmt = stat.S_IFMT(mode)
    if fmt == stat.S_IFLNK:
        kind = "symlink"
    elif fmt in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
        kind = "special"
    elif name.endswith(("/", "\\")) or fmt == stat.S_IFDIR:
        kind = "dir"
    else:
        kind = "file"
    return _Entry(
        name,
        kind,
        info.file_size,
        packed=info.compress_size,
        encrypted=bool(info.flag_bits & 0x1),
    )


def _tar_entry(info: tarfile.TarInfo) -> _Entry:
    if info.issym():
        kind = "symlink"
    elif info.islnk():
        kind = "hardlink"
    elif info.ischr() or info.isblk() or info.isfifo():
        kind = "special"
    elif info.isdir():
        kind = "dir"
    elif info.isreg():
        kind = "file"
    else:
        kind = "other"
    return _Entry(info.name, kind, info.size, target=info.linkname)


class _Extraction:
    """The state of one extraction: what has been claimed, written and counted so far."""

    def __init__(self, archive: Path, root: Path, limits: ArchiveLimits, label: str) -> None:
        self.root = root
        self.limits = limits
        self.label = label
        self.archive_size = max(archive.stat().st_size, 1)
        self.members = 0
        self.declared = 0
        self.written = 0
        self.inflated = 0  # bytes decompressed: those written plus skipped junk in a tar stream
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        self.made: set[str] = set()
        self.results: list[ExtractedFile] = []

    def error(self, message: str, member: str | None = None) -> ArchiveError:
        return ArchiveError(f"{self.label}: {message}", member=member)

    def damaged(self, exc: BaseException, member: str | None = None) -> ArchiveError:
        where = f" at member {member!r}" if member else ""
        return self.error(
            f"the archive is damaged or truncated{where} ({exc}); create it again and upload "
            "it again",
            member,
        )

    # Checks on a member's header, before any of its bytes are read.

    def path_of(self, entry: _Entry) -> tuple[str, ...] | None:
        """The member's path components, or None for the root entry."""
        name = entry.name
        if _SURROGATE.search(name):
            raise self.error(
                f"member {name!r} has a name that is not valid UTF-8; rename it, or create the "
                "archive with a tool that writes UTF-8 names",
                name,
            )
        if _CONTROL.search(name):
            raise self.error(f"member {name!r} has control characters in its name; rename it", name)
        path = name.replace("\\", "/")
        if path.startswith("/") or _DRIVE.match(path):
            raise self.error(
                f"member {name!r} has an absolute path; create the archive with paths "
                "relative to its top folder",
                name,
            )
        parts = tuple(p for p in path.split("/") if p not in ("", "."))
        if ".." in parts:
            raise self.error(
                f"member {name!r} contains '..' and would be written outside the destination; "
                "create the archive without '..' in its paths",
                name,
            )
        return parts or None

    def admit(self, entry: _Entry) -> tuple[str, ...] | None:
        """Check one member; its path components, or None when it is skipped."""
        name = entry.name
        self.members += 1
        if self.members > self.limits.max_files:
            raise self.error(
                f"the archive has more than {self.limits.max_files} members (files and "
                "folders); split it into several archives",
                name,
            )
        parts = self.path_of(entry)
        if parts is None or _JUNK_DIRS.intersection(parts) or _is_junk_file(parts[-1]):
            if entry.kind == "file" and entry.packed is None:
                self.inflated += entry.size  # a tar stream decompresses it to skip it
            return None
        target = f" (to {entry.target!r})" if entry.target else ""
        if entry.kind == "symlink":
            raise self.error(
                f"member {name!r} is a symbolic link{target}; links are not supported: put "
                "the file itself in the archive (zip without -y, tar -h)",
                name,
            )
        if entry.kind == "hardlink":
            raise self.error(
                f"member {name!r} is a hard link{target}; links are not supported: create the "
                "archive with tar --hard-dereference",
                name,
            )
        if entry.kind == "special":
            raise self.error(
                f"member {name!r} is a device or a pipe; only regular files and folders can "
                "be unpacked: leave it out of the archive",
                name,
            )
        if entry.kind == "other":
            raise self.error(
                f"member {name!r} is of a type that cannot be unpacked; only regular files "
                "and folders are supported",
                name,
            )
        if entry.encrypted:
            raise self.error(
                f"member {name!r} is encrypted; upload an archive without a password", name
            )
        rel = "/".join(parts)
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in self.files:
                raise self.error(
                    f"member {name!r} would be placed inside {parent!r}, which is a file in "
                    "this archive; rename one of them",
                    name,
                )
            self.dirs.add(parent)
        if entry.kind == "dir":
            if rel in self.files:
                raise self.error(
                    f"member {name!r} is a folder with the name of a file in this archive; "
                    "rename one of them",
                    name,
                )
            self.dirs.add(rel)
            return parts
        if rel in self.files or rel in self.dirs:
            raise self.error(
                f"member {name!r} appears more than once in the archive and would overwrite "
                "itself; remove the duplicate",
                name,
            )
        self.files.add(rel)
        if _suffix(parts[-1]) in _NESTED_SUFFIXES:
            raise self.nested(name)
        self.check_declared(entry)
        return parts

    def check_declared(self, entry: _Entry) -> None:
        """Refuse early what the headers already show to be too big (they may understate)."""
        limits = self.limits
        self.declared += entry.size
        if self.declared > limits.max_total_bytes:
            raise self.too_big_total(entry.name)
        if entry.size > limits.member_limit:
            raise self.too_big_member(entry.name)
        if entry.packed is not None and _over_ratio(entry.size, entry.packed, limits.max_ratio):
            raise self.bomb(entry.name)

    def nested(self, name: str) -> ArchiveError:
        return self.error(
            f"an archive inside an archive is not supported: unpack {name!r} first and put "
            "its files into the archive instead",
            name,
        )

    def too_big_member(self, name: str) -> ArchiveError:
        return self.error(
            f"member {name!r} unpacks to more than {_size(self.limits.member_limit)}, the "
            "most one file may hold; split it or ask an administrator to raise the limit",
            name,
        )

    def too_big_total(self, name: str) -> ArchiveError:
        return self.error(
            f"the archive unpacks to more than {_size(self.limits.max_total_bytes)} (reached "
            f"at member {name!r}); split it into several archives",
            name,
        )

    def bomb(self, name: str) -> ArchiveError:
        return self.error(
            f"member {name!r} expands more than {self.limits.max_ratio:g} times its "
            "compressed size, which is how zip bombs work; if the data is genuine, upload it "
            "uncompressed or ask an administrator to raise the limit",
            name,
        )

    # Writing.

    def make_dirs(self, parts: tuple[str, ...]) -> Path:
        """Create the folders ``parts`` (relative to the root) and return the deepest one."""
        path = self.root
        for i, part in enumerate(parts):
            path = path / part
            rel = "/".join(parts[: i + 1])
            if rel in self.made:
                continue
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    raise self.error(f"{rel!r} is both a file and a folder", rel) from None
            os.chmod(path, 0o755, follow_symlinks=False)
            self.made.add(rel)
        return path

    def write(self, entry: _Entry, parts: tuple[str, ...], reader: IO[bytes]) -> None:
        """Copy one member from ``reader``, counting every byte against the limits."""
        name = entry.name
        head = self.read(reader, name)
        while head and len(head) < _HEAD:
            more = self.read(reader, name)
            if not more:
                break
            head += more
        fmt = _packed_format(head)
        if fmt is not None and not (fmt == "zip" and _suffix(parts[-1]) in ZIP_BASED_FORMATS):
            raise self.nested(name)
        folder = self.make_dirs(parts[:-1])
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(folder / parts[-1], flags, 0o644)
        digest = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            os.fchmod(fd, 0o644)
            chunk = head
            while chunk:
                self.count(entry, done + len(chunk), len(chunk))
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                chunk = self.read(reader, name)
        self.results.append(ExtractedFile("/".join(parts), done, digest.hexdigest()))

    def read(self, reader: IO[bytes], name: str) -> bytes:
        try:
            return reader.read(_CHUNK)
        except _READ_ERRORS as e:
            raise self.damaged(e, name) from e

    def count(self, entry: _Entry, member_total: int, n: int) -> None:
        """Account for ``n`` more bytes of ``entry`` before they are written."""
        limits = self.limits
        if self.written + n > limits.max_total_bytes:
            raise self.too_big_total(entry.name)
        if member_total > limits.member_limit:
            raise self.too_big_member(entry.name)
        if entry.packed is not None and _over_ratio(member_total, entry.packed, limits.max_ratio):
            raise self.bomb(entry.name)
        if _over_ratio(self.inflated + n, self.archive_size, limits.max_ratio):
            raise self.error(
                f"the archive expands more than {limits.max_ratio:g} times its own size "
                f"(reached at member {entry.name!r}), which is how zip bombs work; if the data "
                "is genuine, upload it uncompressed or ask an administrator to raise the limit",
                entry.name,
            )
        self.written += n
        self.inflated += n

    # The two formats.

    def run_zip(self, archive: Path) -> None:
        try:
            zf = zipfile.ZipFile(archive)
        except UnicodeDecodeError as e:
            raw = e.object[:200] if isinstance(e.object, bytes) else b""
            raise self.error(
                f"a member name is marked as UTF-8 but is not valid UTF-8 ({raw!r}); create "
                "the archive with a tool that writes UTF-8 names"
            ) from e
        except _READ_ERRORS as e:
            raise self.damaged(e) from e
        with zf:
            infos = zf.infolist()
            if len(infos) > self.limits.max_files:
                raise self.error(
                    f"the archive has {len(infos)} members (files and folders), more than the "
                    f"{self.limits.max_files} allowed; split it into several archives"
                )
            # Every header is checked before the first byte is written.
            planned = []
            for info in infos:
                entry = _zip_entry(info)
                parts = self.admit(entry)
                if parts is not None:
                    planned.append((info, entry, parts))
            if _over_ratio(self.declared, self.archive_size, self.limits.max_ratio):
                raise self.error(
                    f"the archive declares {_size(self.declared)} of content, more than "
                    f"{self.limits.max_ratio:g} times its own size, which is how zip bombs "
                    "work; if the data is genuine, upload it uncompressed"
                )
            for info, entry, parts in planned:
                if entry.kind == "dir":
                    self.make_dirs(parts)
                    continue
                try:
                    reader = zf.open(info)
                except RuntimeError as e:  # encrypted without the flag zipfile expects
                    raise self.error(f"member {entry.name!r} cannot be read ({e})") from e
                except _READ_ERRORS as e:
                    raise self.damaged(e, entry.name) from e
                with reader:
                    self.write(entry, parts, reader)

    def open_tar(self, raw: IO[bytes], kind: str) -> tarfile.TarFile:
        # Stream mode reads members strictly in order and never seeks back.
        try:
            if kind == "tar.gz":
                return tarfile.open(fileobj=raw, mode="r|gz")
            if kind == "tar.bz2":
                return tarfile.open(fileobj=raw, mode="r|bz2")
            if kind == "tar.xz":
                return tarfile.open(fileobj=raw, mode="r|xz")
            return tarfile.open(fileobj=raw, mode="r|")
        except _READ_ERRORS as e:
            raise self.damaged(e) from e

    def run_tar(self, archive: Path, kind: str) -> None:
        with archive.open("rb") as raw, self.open_tar(raw, kind) as tar:
            while True:
                try:
                    info = tar.next()
                except _READ_ERRORS as e:
                    raise self.damaged(e) from e
                if info is None:
                    break
                entry = _tar_entry(info)
                parts = self.admit(entry)
                if parts is None:
                    continue
                if entry.kind == "dir":
                    self.make_dirs(parts)
                    continue
                try:
                    reader = tar.extractfile(info)
                except _READ_ERRORS as e:
                    raise self.damaged(e, entry.name) from e
                if reader is None:  # not reachable for regular files
                    raise self.error(f"member {entry.name!r} cannot be read", entry.name)
                with reader:
                    self.write(entry, parts, reader)


def _is_junk_file(name: str) -> bool:
    # "._name" files are macOS resource forks (AppleDouble) that tar and zip pick up.
    return name in _JUNK_FILES or name.startswith("._")


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _over_ratio(unpacked: int, packed: int, ratio: float) -> bool:
    return unpacked > _RATIO_FLOOR and unpacked > ratio * max(packed, 1)


def extract_archive(
    archive: Path,
    dest: Path,
    *,
    limits: ArchiveLimits,
    name: str | None = None,
) -> list[ExtractedFile]:
    """Unpack the zip or tar archive ``archive`` into the new directory ``dest``.

    ``dest`` must not exist yet (or be an empty directory); it appears complete or not at all.
    ``name`` is the archive's name as the user knows it (the upload's file name), used in
    messages; it defaults to the file's name. Returns the regular files written, in archive
    order; folders are created, and macOS/Windows junk (``__MACOSX/``, ``.DS_Store``,
    ``Thumbs.db``, ``._*``) is skipped. Raises :class:`ArchiveError` for anything unsafe or
    over ``limits``, and :class:`FileExistsError` when ``dest`` is taken.
    """
    label = name or archive.name
    kind = archive_kind(archive)
    if kind is None:
        raise ArchiveError(
            f"{label}: not a zip or tar archive (.zip, .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz); "
            "upload one of those"
        )
    if os.path.lexists(dest) and (dest.is_symlink() or not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} already exists and is not an empty directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", suffix=".unpacking", dir=dest.parent))
    try:
        job = _Extraction(archive, tmp, limits, label)
        if kind == "zip":
            job.run_zip(archive)
        else:
            job.run_tar(archive, kind)
        os.chmod(tmp, 0o755)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return job.results
