"""Code archives come from users: nothing in one may write or point outside its directory."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from jupyter_sxwl.catalog.code_packages import ArchiveError, inspect_archive, unpack_archive
from jupyter_sxwl.platform.rundir import check_layout


def tgz(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """members: (kind, name, data-or-link-target)"""
    with tarfile.open(path, "w:gz") as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = value.encode()
                info.size = len(data)
                info.mode = 0o755 if name.endswith(".sh") else 0o644
                tar.addfile(info, io.BytesIO(data))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type = tarfile.SYMTYPE if kind == "link" else tarfile.LNKTYPE
                info.linkname = value
                tar.addfile(info)
    return path


def test_files_dirs_and_inner_links_unpack(tmp_path: Path) -> None:
    archive = tgz(
        tmp_path / "a.tgz",
        [
            ("dir", "lib", ""),
            ("file", "lib/mod.py", "x = 1"),
            ("file", "run.sh", "echo hi"),
            ("link", "alias.py", "lib/mod.py"),
        ],
    )
    summary = inspect_archive(archive, 1 << 20, 100)
    assert summary.files == 3 and set(summary.file_paths) == {"lib/mod.py", "run.sh", "alias.py"}
    out = tmp_path / "out"
    unpack_archive(archive, out)
    assert (out / "alias.py").read_text() == "x = 1"
    assert os.access(out / "run.sh", os.X_OK)


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ([("file", "../evil.py", "")], "outside"),
        ([("file", "/etc/evil.py", "")], "absolute"),
        ([("link", "up", "../../etc")], "outside"),
        ([("link", "abs", "/etc")], "relative links"),
        ([("hard", "h", "lib/mod.py")], "not a regular file"),
    ],
)
def test_escaping_members_are_refused(
    tmp_path: Path, members: list[tuple[str, str, str]], words: str
) -> None:
    archive = tgz(tmp_path / "bad.tgz", members)
    with pytest.raises(ArchiveError, match=words):
        inspect_archive(archive, 1 << 20, 100)


def test_a_chain_of_links_cannot_lead_outside(tmp_path: Path) -> None:
    # Each link looks harmless on its own; together a/b/c is ".." and c/../../x escapes.
    archive = tgz(
        tmp_path / "chain.tgz",
        [("dir", "a/b", ""), ("link", "a/b/c", ".."), ("link", "a/b/c/e", "../../x")],
    )
    out = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError):
        inspect_archive(archive, 1 << 20, 100)
        unpack_archive(archive, out)
    assert not (tmp_path / "deep" / "x").exists()


def test_zip_with_limits(tmp_path: Path) -> None:
    path = tmp_path / "code.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.py", "print(1)")
        zf.writestr("data/big.bin", "y" * 5000)
    assert inspect_archive(path, 1 << 20, 100).files == 2
    with pytest.raises(ArchiveError, match="MiB"):
        inspect_archive(path, 1000, 100)
    with pytest.raises(ArchiveError, match="more than 1 files"):
        inspect_archive(path, 1 << 20, 1)


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello")
    with pytest.raises(ArchiveError, match="neither"):
        inspect_archive(path, 1 << 20, 100)


def test_layout_checks_name_the_field() -> None:
    files, dirs = ["train.py", "ckpt", "conf/a.yaml"], ["conf"]
    paths = {"checkpoint_path": "ckpt", "model_path": "output"}
    assert [f for f, _ in check_layout(files, dirs, ".", paths)] == ["checkpoint_path"]
    paths = {"checkpoint_path": "train.py/x", "model_path": "conf"}
    assert [f for f, _ in check_layout(files, dirs, ".", paths)] == [
        "checkpoint_path",
        "model_path",
    ]
    ok = {"checkpoint_path": "checkpoints", "model_path": "conf/out"}
    assert check_layout(files, dirs, "conf", ok) == []
    assert [f for f, _ in check_layout(files, dirs, "src", ok)] == ["working_dir"]
