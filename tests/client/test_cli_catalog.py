"""The dataset, model and mount commands without a platform: parsing, help, text output."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_sxwl import cli
from jupyter_sxwl.client import Client
from jupyter_sxwl.client.uploads import Progress

from .conftest import FakePlatform, json_reply


def test_top_level_help_lists_commands_by_group() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.cli", "--help"], capture_output=True, text=True
    ).stdout
    groups = ["jobs", "datasets", "models", "mounts in this lab", "platform"]
    positions = [text.index(f"\n{group}:\n") for group in groups]
    assert positions == sorted(positions)
    for command in ("submit", "datasets", "dataset", "publish", "models", "model", "mount"):
        assert f"\n  {command} " in text
    assert "mounts in this lab:" in text


@pytest.mark.parametrize(
    "command",
    [
        "datasets", "publish", "dataset", "dataset create", "dataset import", "dataset show",
        "dataset records", "dataset publish", "dataset versions", "dataset download",
        "dataset accelerate", "dataset share", "dataset add-shared", "dataset revoke-share",
        "dataset delete", "models", "model", "model create", "model show", "model import",
        "model versions", "model files", "model download", "model export", "model share",
        "model import-shared", "model revoke-share", "model delete", "mount", "unmount",
        "mounts",
    ],
)  # fmt: skip
def test_help_of_every_catalog_command_works(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.parse_args([*command.split(), "--help"])
    assert info.value.code == 0
    assert f"usage: sxwl {command}" in capsys.readouterr().out


def test_catalog_command_lines_parse() -> None:
    args = cli.parse_args(["dataset", "import", "faq", "data/", "--no-wait"])
    assert (cli.command_key(args), args.name, args.path, args.url, args.wait) == (
        "dataset import", "faq", "data/", None, False,
    )  # fmt: skip
    args = cli.parse_args(["dataset", "records", "faq", "--invalid"])
    assert args.only == "invalid" and args.limit == 20
    args = cli.parse_args(["dataset", "create", "faq"])
    assert args.annotation_type == "instruction"
    args = cli.parse_args(["model", "import", "m", "--lab-dir", "out", "--notes", "x"])
    assert (args.lab_dir, args.path, args.preset) == ("out", None, False)
    args = cli.parse_args(["mount", "dataset", "faq", "-v", "2"])
    assert (cli.command_key(args), args.kind, args.version) == ("mount", "dataset", 2)
    with pytest.raises(SystemExit):
        cli.parse_args(["mount", "image", "x"])
    with pytest.raises(SystemExit):
        cli.parse_args(["dataset", "accelerate", "faq"])  # -v is required


def run_cli(fake_platform: FakePlatform, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = cli.parse_args(list(argv))
    client = Client(url=fake_platform.url, token="t", timeout=5)
    return cli.run(args, client=client, out=out, err=err), out.getvalue(), err.getvalue()


def test_import_needs_exactly_one_source(fake_platform: FakePlatform) -> None:
    status, out, err = run_cli(fake_platform, "dataset", "import", "faq")
    assert (status, out) == (2, "") and err == "error: give either FILE_OR_DIR or --url URL\n"
    status, _, err = run_cli(fake_platform, "model", "import", "m", "f.bin", "--job", "job-1")
    assert status == 2 and "exactly one source" in err


def test_the_import_report_names_file_and_line_of_each_problem() -> None:
    imp = {
        "id": "imp-1", "source": "upload", "detail": "train.jsonl", "status": "succeeded",
        "files": 1, "records": 4, "invalid": 2,
        "problems": [
            {"file": "train.jsonl", "line": 3, "field": None, "message": "not valid JSON"},
            {"file": "train.jsonl", "line": 7, "field": "output", "message": "is required"},
        ],
    }  # fmt: skip
    text = cli.format_import(imp, "faq")
    assert text.splitlines()[0] == "import imp-1 into faq (upload train.jsonl): succeeded"
    assert "  train.jsonl:3: not valid JSON" in text
    assert "  train.jsonl:7: output: is required" in text
    assert "sxwl publish faq" in text


def test_datasets_and_models_tables() -> None:
    datasets: list[dict[str, Any]] = [
        {"name": "faq", "annotation_type": "instruction", "access": "owner",
         "draft": {"records": 1200, "invalid": 3}, "latest_version": 2},
        {"name": "theirs", "annotation_type": "qa", "access": "shared", "owner": "bob",
         "draft": {"records": 5, "invalid": 0}, "latest_version": None, "importing": [{}]},
    ]  # fmt: skip
    lines = cli.format_datasets(datasets).splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "RECORDS", "INVALID", "LATEST", "ACCESS"]
    assert lines[1].split() == ["faq", "instruction", "1,200", "3", "v2", "owner"]
    assert lines[2].split() == ["theirs", "qa", "5", "0", "-", "(importing)", "shared", "by", "bob"]
    models = [
        {"name": "llama", "family": "llama", "latest_version": 1, "versions_count": 2,
         "access": "owner", "latest": {"number": 2, "status": "importing"}},
    ]  # fmt: skip
    assert cli.format_models(models).splitlines()[1].split() == [
        "llama", "llama", "v1", "(v2", "importing)", "2", "owner",
    ]  # fmt: skip
    assert "sxwl dataset create" in cli.format_datasets([])


def test_progress_text_and_its_stream() -> None:
    assert cli.progress_text(Progress("uploading", 500, 2000)) == "uploading 25% (500 B of 2.0 kB)"
    assert (
        cli.progress_text(Progress("publishing", 400, 1000, "records"))
        == "publishing 40% (400 of 1,000 records)"
    )
    assert cli.progress_text(Progress("downloading", 0, 0)) == "downloading…"
    stream = io.StringIO()
    progress = cli.TextProgress(stream)  # not a terminal: one line per finished phase
    for p in [Progress("hashing", 5, 10), Progress("hashing", 10, 10),
              Progress("uploading", 4, 10), Progress("uploading", 10, 10)]:  # fmt: skip
        progress(p)
    progress.finish()
    assert stream.getvalue().splitlines() == [
        "hashing 100% (10 B of 10 B)",
        "uploading 100% (10 B of 10 B)",
    ]


def test_mounts_need_no_platform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("SXWL_URL", "SXWL_TOKEN", "SXWL_PLATFORM_URL", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("SXWL_MOUNT_ROOT", str(tmp_path / "mnt"))
    target = tmp_path / "v1"
    target.mkdir()
    (tmp_path / "mnt" / "datasets").mkdir(parents=True)
    (tmp_path / "mnt" / "datasets" / "faq").symlink_to(target)
    assert cli.main(["mounts"]) == 0
    assert "faq" in capsys.readouterr().out
    assert cli.main(["unmount", "dataset", "faq"]) == 0
    assert capsys.readouterr().out == "unmounted dataset faq\n"
    assert cli.main(["unmount", "dataset", "faq"]) == 0
    assert "was not mounted" in capsys.readouterr().out
    (tmp_path / "mnt" / "datasets" / "mine").mkdir()
    assert cli.main(["unmount", "dataset", "mine"]) == 2
    assert "is not a mount" in capsys.readouterr().err
    assert (tmp_path / "mnt" / "datasets" / "mine").is_dir()
    assert cli.main(["mounts"]) == 0 and "nothing mounted" in capsys.readouterr().out


def test_json_output_of_the_catalogue(fake_platform: FakePlatform) -> None:
    fake_platform.route("GET", "datasets", json_reply({"datasets": [{"name": "faq"}]}))
    status, out, _ = run_cli(fake_platform, "datasets", "--json")
    assert status == 0 and out.startswith("[") and '"faq"' in out


def test_a_share_token_is_not_taken_for_the_api_token() -> None:
    args = cli.parse_args(["--token", "api", "dataset", "add-shared", "sxds_abc"])
    assert (args.token, args.share_token) == ("api", "sxds_abc")
    args = cli.parse_args(["model", "import-shared", "sxmd_abc", "--name", "mine"])
    assert (args.token, args.share_token, args.new_name) == (None, "sxmd_abc", "mine")


def test_submit_mounts_datasets_and_models() -> None:
    args = cli.parse_args(
        ["submit", "single", "--mount", "dataset:faq", "--mount", "model:llama:2", "--", "x"]
    )
    assert cli.submit_fields(args)["mounts"] == [
        {"kind": "dataset", "name": "faq"},
        {"kind": "model", "name": "llama", "version": 2},
    ]
    assert "mounts" not in cli.submit_fields(cli.parse_args(["submit", "single", "--", "x"]))
    for bad in ("faq", "image:x", "dataset:", "model:x:0"):
        with pytest.raises(SystemExit):
            cli.parse_args(["submit", "single", "--mount", bad, "--", "x"])
