"""Packing a code folder: what goes in, what stays out, and that it unpacks as it was."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from jupyter_sxwl.client import SxwlError
from jupyter_sxwl.client.code_package import pack_directory


def make_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def members(root: Path) -> dict[str, tarfile.TarInfo]:
    package = pack_directory(root)
    try:
        data = package.file.read()
    finally:
        package.close()
    assert package.size == len(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_caches_vcs_and_environments_stay_out(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "train.py": "print('hi')",
            "pkg/model.py": "x = 1",
            "pkg/__pycache__/model.cpython-311.pyc": "",
            ".git/config": "",
            ".ipynb_checkpoints/train-checkpoint.py": "",
            "node_modules/left-pad/index.js": "",
            ".venv/bin/python": "",
            "sub/.venv/lib/x.py": "",
            "sub/.git/HEAD": "",
        },
    )
    names = set(members(tmp_path))
    assert {"train.py", "pkg", "pkg/model.py", "sub"} <= names
    assert not [
        n
        for n in names
        if any(
            x in n for x in (".git", "__pycache__", ".venv", "node_modules", ".ipynb_checkpoints")
        )
    ]


def test_sxwlignore_patterns(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".sxwlignore": "# big things\n\ndata/\n*.ckpt\n/notes.txt\nout/*.bin\n",
            "train.py": "",
            "data/big.csv": "",
            "src/data": "a file called data is not a directory: kept",
            "a.ckpt": "",
            "deep/er/b.ckpt": "",
            "notes.txt": "",
            "src/notes.txt": "only the top one is anchored",
            "out/w.bin": "",
            "out/readme.md": "",
        },
    )
    names = set(members(tmp_path))
    assert {"train.py", "src/data", "src/notes.txt", "out/readme.md", ".sxwlignore"} <= names
    for gone in ("data", "data/big.csv", "a.ckpt", "deep/er/b.ckpt", "notes.txt", "out/w.bin"):
        assert gone not in names


def test_paths_are_relative_and_owners_anonymous(tmp_path: Path) -> None:
    make_tree(tmp_path, {"run.sh": "echo hi", "conf/a.yaml": "a: 1"})
    (tmp_path / "run.sh").chmod(0o755)
    got = members(tmp_path)
    assert set(got) == {"run.sh", "conf", "conf/a.yaml"}
    assert got["run.sh"].mode & 0o111  # still executable after unpacking
    assert all(m.uid == 0 and m.uname == "" for m in got.values())


def test_links_inside_are_kept_links_outside_skipped(tmp_path: Path) -> None:
    root = tmp_path / "code"
    make_tree(root, {"real.py": "", "lib/mod.py": ""})
    make_tree(tmp_path, {"secret.txt": "not for the job"})
    os.symlink("real.py", root / "alias.py")
    os.symlink("lib", root / "liblink")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    package = pack_directory(root)
    package.close()
    assert package.skipped == ["escape.txt"]
    got = members(root)
    assert got["alias.py"].issym() and got["alias.py"].linkname == "real.py"
    assert got["liblink"].issym()
    assert "escape.txt" not in got


def test_not_a_directory_is_an_error_naming_code_dir(tmp_path: Path) -> None:
    with pytest.raises(SxwlError, match="code_dir"):
        pack_directory(tmp_path / "missing")


def test_a_folder_too_big_to_be_code_is_refused_before_upload(tmp_path: Path) -> None:
    make_tree(tmp_path, {"train.py": "x" * 10, "data/huge.bin": "y" * 5000})
    with pytest.raises(SxwlError, match=r"code_dir: .*more than .*\.sxwlignore"):
        pack_directory(tmp_path, max_bytes=1000)
    (tmp_path / ".sxwlignore").write_text("data/\n")
    package = pack_directory(tmp_path, max_bytes=1000)
    package.close()
    assert package.files == [".sxwlignore", "train.py"]
