"""Unpacking uploaded archives: real zip and tar files built in a temporary directory."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import tarfile
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from jupyter_sxwl.catalog.archives import (
    ArchiveError,
    ArchiveLimits,
    ExtractedFile,
    archive_kind,
    extract_archive,
    is_archive,
)

MiB = 1 << 20
TAR_MODES = {"tar": "w", "tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}
CONTENT = {
    "top.txt": b"hello\n",
    "data/empty.txt": b"",
    "data/train.csv": b"a,b\n1,2\n" * 1000,
    "data/deep/nested/weights.bin": os.urandom(3 * MiB + 17),
}


def make_zip(path: Path, members: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates some tests make
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def set_zip_flag(archive: Path, bit: int) -> None:
    """Set a general purpose flag bit in the headers of a one-member zip (zipfile resets them)."""
    raw = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.index(signature) + offset
        flags = int.from_bytes(raw[at : at + 2], "little") | bit
        raw[at : at + 2] = flags.to_bytes(2, "little")
    archive.write_bytes(bytes(raw))


def file_info(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def make_tar(
    path: Path,
    members: Iterable[tuple[str, bytes] | tarfile.TarInfo],
    kind: str = "tar.gz",
    **options: object,
) -> Path:
    with tarfile.open(path, TAR_MODES[kind], **options) as tf:  # type: ignore[call-overload]
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                info, data = file_info(*member)
                tf.addfile(info, io.BytesIO(data))
    return path


def dest_in(tmp_path: Path) -> Path:
    return tmp_path / "out" / "dataset"


def refused(
    archive: Path, tmp_path: Path, match: str, limits: ArchiveLimits | None = None
) -> ArchiveError:
    """Extraction fails with ``match`` and leaves nothing: no destination, no temp dir."""
    dest = dest_in(tmp_path)
    with pytest.raises(ArchiveError, match=match) as caught:
        extract_archive(archive, dest, limits=limits or ArchiveLimits())
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []
    return caught.value


def check_tree(dest: Path, result: list[ExtractedFile], content: dict[str, bytes]) -> None:
    assert sorted(f.relative_path for f in result) == sorted(content)
    for f in result:
        data = content[f.relative_path]
        assert f.size == len(data)
        assert f.sha256 == hashlib.sha256(data).hexdigest()
        assert (dest / f.relative_path).read_bytes() == data
    on_disk = sorted(
        p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() or p.is_symlink()
    )
    assert on_disk == sorted(content)


# Unpacking what is fine.


def test_zip_with_nested_folders_unpacks_with_hashes_and_modes(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "upload.zip", [("empty/", b""), *CONTENT.items()])
    dest = dest_in(tmp_path)

    result = extract_archive(archive, dest, limits=ArchiveLimits())

    check_tree(dest, result, CONTENT)
    assert [f.relative_path for f in result] == list(CONTENT)  # archive order
    assert (dest / "empty").is_dir()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "data" / "deep").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "top.txt").stat().st_mode) == 0o644
    assert os.listdir(dest.parent) == ["dataset"]  # the temporary folder is gone


@pytest.mark.parametrize("kind", list(TAR_MODES))
def test_tar_in_every_compression_unpacks(tmp_path: Path, kind: str) -> None:
    # A misleading name: the kind is told by the bytes.
    archive = make_tar(tmp_path / "upload.bin", CONTENT.items(), kind)
    assert archive_kind(archive) == kind
    dest = dest_in(tmp_path)

    result = extract_archive(archive, dest, limits=ArchiveLimits())

    check_tree(dest, result, CONTENT)


def test_file_modes_from_the_archive_are_not_kept(tmp_path: Path) -> None:
    info, data = file_info("run.sh", b"#!/bin/sh\n")
    info.mode = 0o4777
    folder = tarfile.TarInfo("private")
    folder.type = tarfile.DIRTYPE
    folder.mode = 0o700
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tf:
        tf.addfile(folder)
        tf.addfile(info, io.BytesIO(data))
    dest = dest_in(tmp_path)

    extract_archive(archive, dest, limits=ArchiveLimits())

    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "private").stat().st_mode) == 0o755


def test_os_junk_is_skipped_silently(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "mac.zip",
        [
            ("__MACOSX/", b""),
            ("__MACOSX/data/._train.csv", b"\x00\x05\x16\x07"),
            ("data/.DS_Store", b"junk"),
            ("data/Thumbs.db", b"junk"),
            ("data/._train.csv", b"junk"),
            ("data/train.csv", b"x,y\n"),
        ],
    )
    dest = dest_in(tmp_path)

    result = extract_archive(archive, dest, limits=ArchiveLimits())

    check_tree(dest, result, {"data/train.csv": b"x,y\n"})
    assert not (dest / "__MACOSX").exists()


def test_backslash_separators_from_windows_tools_become_folders(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "win.zip", [("images\\cat.png", b"png")])
    dest = dest_in(tmp_path)

    result = extract_archive(archive, dest, limits=ArchiveLimits())

    check_tree(dest, result, {"images/cat.png": b"png"})


def test_an_empty_destination_folder_is_filled(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("a.txt", b"a")])
    dest = dest_in(tmp_path)
    dest.mkdir(parents=True)

    extract_archive(archive, dest, limits=ArchiveLimits())

    assert (dest / "a.txt").read_bytes() == b"a"


def test_a_zip_based_model_file_is_not_taken_for_a_nested_archive(tmp_path: Path) -> None:
    checkpoint = make_zip(tmp_path / "ckpt.zip", [("archive/data.pkl", b"\x80\x04")]).read_bytes()
    archive = make_zip(tmp_path / "model.zip", [("pytorch_model.bin", checkpoint)])
    dest = dest_in(tmp_path)

    result = extract_archive(archive, dest, limits=ArchiveLimits())

    check_tree(dest, result, {"pytorch_model.bin": checkpoint})


def test_non_utf8_names_without_the_flag_are_decoded(tmp_path: Path) -> None:
    # Old Windows tools write code page 437 without the UTF-8 flag; many others write UTF-8
    # without it.
    archive = make_zip(tmp_path / "names.zip", [("cafX1.txt", b"1"), ("cafXX2.txt", b"2")])
    raw = archive.read_bytes()
    raw = raw.replace(b"cafX1", b"caf\x821").replace(b"cafXX2", "café2".encode())
    archive.write_bytes(raw)
    dest = dest_in(tmp_path)

    result = extract_archive(archive, dest, limits=ArchiveLimits())

    assert sorted(f.relative_path for f in result) == ["café1.txt", "café2.txt"]
    assert (dest / "café1.txt").read_bytes() == b"1"


# Refusing what is not.


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "data/../../evil.txt", "..\\evil.txt", "/abs.txt", "C:\\x.txt", "c:/x.txt"],
)
def test_zip_members_outside_the_destination_are_refused(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "a.zip", [("ok.txt", b"ok"), (name, b"evil")])

    error = refused(archive, tmp_path, "absolute path|'\\.\\.'")

    assert error.member == name
    assert repr(name) in str(error)
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "evil.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs.txt", "a/../../../evil.txt"])
def test_tar_members_outside_the_destination_are_refused(tmp_path: Path, name: str) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", [("ok.txt", b"ok"), (name, b"evil")])

    error = refused(archive, tmp_path, "absolute path|'\\.\\.'")

    assert error.member == name


def test_zip_symlink_entry_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("data/passwd")
    link.external_attr = 0o120777 << 16
    archive = make_zip(tmp_path / "a.zip", [(link, b"/etc/passwd")])

    error = refused(archive, tmp_path, "symbolic link")

    assert error.member == "data/passwd"


@pytest.mark.parametrize(
    ("kind", "type_", "match"),
    [
        ("symlink", tarfile.SYMTYPE, "symbolic link"),
        ("hardlink", tarfile.LNKTYPE, "hard link"),
        ("fifo", tarfile.FIFOTYPE, "device or a pipe"),
        ("device", tarfile.CHRTYPE, "device or a pipe"),
    ],
)
def test_tar_links_and_devices_are_refused(
    tmp_path: Path, kind: str, type_: bytes, match: str
) -> None:
    special = tarfile.TarInfo(f"data/{kind}")
    special.type = type_
    special.linkname = "/etc/passwd"
    archive = make_tar(tmp_path / "a.tar.gz", [("data/a.txt", b"a"), special])

    error = refused(archive, tmp_path, match)

    assert error.member == f"data/{kind}"


def test_zip_devices_are_refused(tmp_path: Path) -> None:
    fifo = zipfile.ZipInfo("pipe")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    archive = make_zip(tmp_path / "a.zip", [(fifo, b"")])

    refused(archive, tmp_path, "device or a pipe")


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("a.txt", b"first"), ("./a.txt", b"second")])

    error = refused(archive, tmp_path, "more than once")

    assert error.member == "./a.txt"


def test_duplicate_names_in_a_tar_are_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar", [("a.txt", b"first"), ("a.txt", b"second")], "tar")

    refused(archive, tmp_path, "more than once")


def test_a_member_under_a_file_of_the_same_name_is_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar", [("data", b"a file"), ("data/b.txt", b"b")], "tar")

    refused(archive, tmp_path, "inside 'data', which is a file")


@pytest.mark.parametrize("name", ["inner.zip", "more.tar.gz", "logs.tgz", "x.7z", "y.rar"])
def test_archive_inside_archive_is_refused_by_name(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "a.zip", [(name, b"not even an archive")])

    error = refused(archive, tmp_path, "an archive inside an archive is not supported")

    assert f"unpack {name!r} first" in str(error)


@pytest.mark.parametrize("inner", ["zip", "gzip", "bzip2", "xz", "tar"])
def test_archive_inside_archive_is_refused_by_its_bytes(tmp_path: Path, inner: str) -> None:
    payload = b"name,value\n" * 100
    if inner == "zip":
        data = make_zip(tmp_path / "inner.zip", [("x.csv", payload)]).read_bytes()
    elif inner == "gzip":
        data = gzip.compress(payload)
    elif inner == "bzip2":
        data = bz2.compress(payload)
    elif inner == "xz":
        data = lzma.compress(payload)
    else:
        data = make_tar(tmp_path / "inner.tar", [("x.csv", payload)], "tar").read_bytes()
    archive = make_tar(tmp_path / "a.tar.gz", [("data/readme.csv", data)])

    error = refused(archive, tmp_path, "an archive inside an archive is not supported")

    assert error.member == "data/readme.csv"


def test_too_many_members_are_refused_in_a_zip_before_writing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [(f"f{i}.txt", b"x") for i in range(10)])

    refused(archive, tmp_path, "10 members .* more than the 5 allowed", ArchiveLimits(max_files=5))


def test_too_many_members_are_refused_in_a_tar(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tgz", [(f"f{i}.txt", b"x") for i in range(10)])

    error = refused(archive, tmp_path, "more than 5 members", ArchiveLimits(max_files=5))

    assert error.member == "f5.txt"


def test_zip_bomb_is_refused_by_its_ratio(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(32 * MiB))])
    assert archive.stat().st_size < 100_000

    error = refused(archive, tmp_path, "expands more than 200 times")

    assert "zip bomb" in str(error)


def test_zip_bomb_is_refused_by_total_size(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(32 * MiB))])
    limits = ArchiveLimits(max_total_bytes=8 * MiB, max_ratio=1e9)

    refused(archive, tmp_path, "unpacks to more than 8 MiB", limits)


def test_many_small_members_add_up_to_the_total(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tgz", [(f"f{i}", os.urandom(MiB)) for i in range(6)])
    limits = ArchiveLimits(max_total_bytes=5 * MiB)

    error = refused(archive, tmp_path, "unpacks to more than 5 MiB", limits)

    assert error.member == "f5"


def test_one_member_over_the_member_limit_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("big.bin", os.urandom(2 * MiB))])
    limits = ArchiveLimits(max_member_bytes=MiB)

    refused(archive, tmp_path, "'big.bin' unpacks to more than 1 MiB", limits)


def test_tar_gz_bomb_is_refused_on_the_bytes_actually_unpacked(tmp_path: Path) -> None:
    # Tar headers carry no compressed size, so only the bytes coming out of the gzip stream
    # can show the ratio; the member's header is truthful and within every size limit.
    archive = make_tar(tmp_path / "bomb.tar.gz", [("zeros.bin", bytes(32 * MiB))])
    assert archive.stat().st_size < 100_000

    error = refused(archive, tmp_path, "the archive expands more than 200 times its own size")

    assert error.member == "zeros.bin"


def test_zip_whose_headers_understate_the_size_is_refused(tmp_path: Path) -> None:
    real = bytes(4 * MiB)
    archive = make_zip(tmp_path / "liar.zip", [("small.bin", real)])
    raw = bytearray(archive.read_bytes())
    # Claim 1,000 bytes in the local header (offset 22) and the central directory (offset 24).
    local = raw.index(b"PK\x03\x04")
    central = raw.index(b"PK\x01\x02")
    raw[local + 22 : local + 26] = (1000).to_bytes(4, "little")
    raw[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    limits = ArchiveLimits(max_total_bytes=2 * MiB)

    error = refused(archive, tmp_path, "damaged", limits)

    assert error.member == "small.bin"


def test_zip_name_marked_utf8_but_invalid_is_refused_clearly(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("cafX.txt", b"x")])
    set_zip_flag(archive, 0x800)
    archive.write_bytes(archive.read_bytes().replace(b"cafX", b"caf\xff"))

    refused(archive, tmp_path, "marked as UTF-8 but is not valid UTF-8 .*caf\\\\xff")


def test_tar_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "a.tar",
        [("café.txt", b"x")],
        "tar",
        format=tarfile.GNU_FORMAT,
        encoding="latin-1",
    )

    refused(archive, tmp_path, "not valid UTF-8")


def test_encrypted_zip_member_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("secret.txt", b"x")])
    set_zip_flag(archive, 0x1)

    refused(archive, tmp_path, "encrypted; upload an archive without a password")


def test_truncated_archive_is_refused_as_damaged(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", [("a.bin", os.urandom(MiB))])
    archive.write_bytes(archive.read_bytes()[:300_000])

    refused(archive, tmp_path, "damaged or truncated")


def test_something_else_is_not_an_archive(tmp_path: Path) -> None:
    text = tmp_path / "data.zip"
    text.write_text("just text\n")
    compressed = tmp_path / "data.csv.gz"
    compressed.write_bytes(gzip.compress(b"a,b\n1,2\n" * 100))

    refused(text, tmp_path, "not a zip or tar archive")
    assert archive_kind(compressed) is None
    refused(compressed, tmp_path, "not a zip or tar archive")


def test_an_occupied_destination_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [("a.txt", b"new")])
    dest = dest_in(tmp_path)
    dest.mkdir(parents=True)
    (dest / "a.txt").write_bytes(b"old")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "out" / "link"
    link.symlink_to(elsewhere)

    with pytest.raises(FileExistsError):
        extract_archive(archive, dest, limits=ArchiveLimits())
    with pytest.raises(FileExistsError):
        extract_archive(archive, link, limits=ArchiveLimits())

    assert (dest / "a.txt").read_bytes() == b"old"
    assert list(elsewhere.iterdir()) == []
    assert sorted(os.listdir(tmp_path / "out")) == ["dataset", "link"]


def test_a_failure_late_in_the_archive_leaves_an_empty_destination_as_it_was(
    tmp_path: Path,
) -> None:
    archive = make_tar(tmp_path / "a.tgz", [*CONTENT.items(), ("../evil", b"x")])
    dest = dest_in(tmp_path)
    dest.mkdir(parents=True)

    with pytest.raises(ArchiveError, match="'\\.\\.'"):
        extract_archive(archive, dest, limits=ArchiveLimits())

    assert list(dest.iterdir()) == []
    assert os.listdir(dest.parent) == ["dataset"]


def test_messages_use_the_name_the_user_uploaded(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "tmp1234", [("../x", b"x")])

    with pytest.raises(ArchiveError, match=r"^photos\.zip: member '\.\./x'"):
        extract_archive(archive, dest_in(tmp_path), limits=ArchiveLimits(), name="photos.zip")


# Recognising archives.


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.zip", True),
        ("A.ZIP", True),
        ("a.tar", True),
        ("a.tar.gz", True),
        ("a.tgz", True),
        ("a.tar.bz2", True),
        ("a.tar.xz", True),
        ("a.csv.gz", False),
        ("a.csv", False),
        ("zip", False),
    ],
)
def test_is_archive_goes_by_the_extension(name: str, expected: bool) -> None:
    assert is_archive(name) is expected


def test_archive_kind_goes_by_the_bytes(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "data.tar.gz", [("a", b"a")])
    empty_tar = make_tar(tmp_path / "empty", [], "tar")
    empty_tgz = make_tar(tmp_path / "empty2", [], "tar.gz")
    text = tmp_path / "t.zip"
    text.write_bytes(b"PK but not really")

    assert archive_kind(zipped) == "zip"
    assert archive_kind(empty_tar) == "tar"
    assert archive_kind(empty_tgz) == "tar.gz"
    assert archive_kind(text) is None
    assert extract_archive(empty_tgz, dest_in(tmp_path), limits=ArchiveLimits()) == []


def test_limits_default_the_member_limit_to_the_total() -> None:
    assert ArchiveLimits(max_total_bytes=10).max_member_bytes == 10
    assert ArchiveLimits(max_total_bytes=10, max_member_bytes=5).max_member_bytes == 5
    with pytest.raises(ValueError):
        ArchiveLimits(max_files=0)
