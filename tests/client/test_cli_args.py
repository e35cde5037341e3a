"""The sxwl command line without a platform: parsing, help, what a submit sends, output."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_sxwl import cli
from jupyter_sxwl.client import Client, SxwlAPIError, SxwlError

from .conftest import FakePlatform, json_reply, problem


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return cli.parse_args(list(argv))


def test_submit_pytorch_reads_every_option_and_the_command_after_dashes() -> None:
    args = parse(
        "submit", "pytorch", "--name", "bert", "--nodes", "2", "--gpus-per-node", "4",
        "--flavour", "a100", "--accelerators", "4", "--cpu", "8", "--memory-gb", "64",
        "--queue", "gpu", "--priority", "high", "--env", "LR=0.1", "--env", "EMPTY=",
        "--working-dir", "src", "--checkpoint-path", "ckpt", "--checkpoint-capacity-gb", "5",
        "--model-path", "out", "--model-capacity-gb", "2", "--max-run-minutes", "30",
        "--image", "pytorch:2", "--no-code", "--follow",
        "--", "python", "train.py", "--epochs", "3", "--name", "x y",
    )  # fmt: skip
    assert args.command == ["python", "train.py", "--epochs", "3", "--name", "x y"]
    assert args.follow and args.no_code
    assert cli.submit_fields(args) == {
        "name": "bert",
        "command": "python train.py --epochs 3 --name 'x y'",
        "job_type": "pytorch",
        "nodes": 2,
        "procs_per_node": 4,
        "flavour": "a100",
        "accelerators_per_node": 4,
        "cpu_per_node": 8.0,
        "memory_gb_per_node": 64.0,
        "queue": "gpu",
        "priority": "high",
        "env": {"LR": "0.1", "EMPTY": ""},
        "working_dir": "src",
        "checkpoint_path": "ckpt",
        "checkpoint_capacity_gb": 5.0,
        "model_path": "out",
        "model_capacity_gb": 2.0,
        "max_run_minutes": 30,
        "image": "pytorch:2",
    }


def test_defaults_send_only_name_command_and_type() -> None:
    args = parse("submit", "single", "--", "python", "prepare.py")
    assert args.code_dir == "." and not args.no_code
    assert cli.submit_fields(args) == {
        "name": "prepare",
        "command": "python prepare.py",
        "job_type": "single",
    }


def test_one_quoted_word_is_a_shell_line() -> None:
    args = parse("submit", "single", "--", "sh run.sh && python eval.py")
    assert cli.submit_fields(args)["command"] == "sh run.sh && python eval.py"


def test_accelerators_give_the_processes_per_node_by_default() -> None:
    args = parse("submit", "pytorch", "--accelerators", "8", "--", "python", "t.py")
    assert cli.submit_fields(args)["procs_per_node"] == 8


def test_procs_per_node_and_gpus_per_node_are_one_option() -> None:
    assert parse("submit", "pytorch", "--procs-per-node", "3", "--", "x").procs_per_node == 3
    assert parse("submit", "mpi", "--gpus-per-node", "3", "--", "x").procs_per_node == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["submit", "pytorch", "--nodes", "0", "--", "x"],
        ["submit", "pytorch", "--nodes", "two", "--", "x"],
        ["submit", "single", "--env", "NOEQUALS", "--", "x"],
        ["submit", "single", "--priority", "urgent", "--", "x"],
        ["submit", "single", "--nodes", "2", "--", "x"],  # a single job has no nodes
        ["submit", "tensorflow", "--", "x"],
        ["submit", "single", "python", "a.py", "--", "python", "b.py"],
        ["jobs", "--", "x"],
        ["priority", "job-1", "urgent"],
    ],
)
def test_bad_command_lines_exit_2_with_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.parse_args(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_an_empty_command_is_refused_naming_the_field() -> None:
    args = parse("submit", "single")
    with pytest.raises(cli.CommandError, match="command: nothing to run"):
        cli.submit_fields(args)
    assert cli.exit_status(cli.CommandError("x")) == 2


def test_submit_pytorch_help_explains_nodes_ranks_and_environment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["submit", "pytorch", "--help"])
    text = capsys.readouterr().out
    assert "usage: sxwl submit pytorch [options] -- COMMAND..." in text
    assert "master" in text and "worker" in text
    assert "WORKER_CNT    = --nodes" in text
    assert "GPUS_PER_NODE = --procs-per-node" in text
    for var in (
        "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "WORKER_CNT",
        "GPUS_PER_NODE", "SXWL_CHECKPOINT_DIR", "SXWL_MODEL_DIR", "SXWL_METRICS_FILE",
        "SXWL_RESUME",
    ):  # fmt: skip
        assert var in text
    assert "example:" in text and "-- python train.py" in text
    for option in ("--nodes", "--gpus-per-node", "--flavour", "--max-run-minutes", "--code-dir"):
        assert option in text


def test_help_of_every_command_works(capsys: pytest.CaptureFixture[str]) -> None:
    commands = ["login", "info", "flavours", "queues", "submit", "jobs", "job", "logs", "stop",
                "restart", "delete", "artifacts", "download", "priority"]  # fmt: skip
    for name in [*commands, "submit single", "submit mpi", "submit deepspeed"]:
        with pytest.raises(SystemExit) as info:
            cli.parse_args([*name.split(), "--help"])
        assert info.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_the_sxwl_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_sxwl.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "submit" in out.stdout


def test_default_job_names_are_safe() -> None:
    assert cli.default_job_name("python train.py --x 1") == "train"
    assert cli.default_job_name("bash scripts/run me;.sh") == "me"
    assert cli.default_job_name("torchrun --nproc 2 `rm -rf`") == "job"


def test_jobs_table_shows_queue_position_and_reason() -> None:
    jobs = [
        {"id": "job-1", "name": "a", "status": "Queued", "queue_position": 3,
         "wait_reason": "queue gpu has 0 of 8 cards free", "flavour": "a100",
         "duration_seconds": None, "owner": "alice"},
        {"id": "job-2", "name": "b", "status": "Running", "flavour": "cpu",
         "duration_seconds": 75.2, "owner": "bob"},
    ]  # fmt: skip
    lines = cli.format_jobs(jobs).splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "QUEUE", "POS/REASON", "FLAVOUR",
                                "DURATION"]  # fmt: skip
    assert "#3 queue gpu has 0 of 8 cards free" in lines[1]
    assert lines[2].split() == ["job-2", "b", "Running", "-", "cpu", "1m15s"]
    assert "OWNER" in cli.format_jobs(jobs, show_owner=True)
    assert cli.format_jobs([]) == "no jobs"


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-"), (0, "0s"), (59.6, "1m00s"), (3725, "1h02m")]
)
def test_durations(seconds: float | None, text: str) -> None:
    assert cli.format_duration(seconds) == text


def test_field_errors_are_printed_below_the_detail() -> None:
    e = SxwlAPIError(
        400,
        "2 fields are wrong",
        [{"field": "nodes", "message": "must be at least 1"},
         {"field": "flavour", "message": "unknown flavour 'x'; see sxwl flavours"}],
    )  # fmt: skip
    assert cli.format_error(e).splitlines() == [
        "error: 2 fields are wrong",
        "  nodes: must be at least 1",
        "  flavour: unknown flavour 'x'; see sxwl flavours",
    ]
    same = SxwlAPIError(400, "nodes: bad", [{"field": "nodes", "message": "bad"}])
    assert cli.format_error(same) == "error: nodes: bad"


def run_cli(fake_platform: FakePlatform, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = cli.parse_args(list(argv))
    client = Client(url=fake_platform.url, token="t", timeout=5)
    return cli.run(args, client=client, out=out, err=err), out.getvalue(), err.getvalue()


def test_api_errors_print_one_line_and_exit_2_for_4xx_1_for_5xx(
    fake_platform: FakePlatform,
) -> None:
    fake_platform.route(
        "POST",
        "jobs",
        problem(400, "flavour: unknown flavour 'h100'; choose one of: cpu",
                [{"field": "flavour", "message": "unknown flavour 'h100'; choose one of: cpu"}]),
    )  # fmt: skip
    status, out, err = run_cli(
        fake_platform, "submit", "single", "--no-code", "--flavour", "h100", "--", "true"
    )
    assert (status, out) == (2, "")
    assert err == "error: flavour: unknown flavour 'h100'; choose one of: cpu\n"
    fake_platform.route("GET", "jobs", problem(500, "the platform hit an internal error"))
    status, _, err = run_cli(fake_platform, "jobs")
    assert status == 1 and err.startswith("error: the platform hit an internal error")
    assert "Traceback" not in err


def test_json_output(fake_platform: FakePlatform) -> None:
    fake_platform.route("GET", "jobs", json_reply({"items": [{"id": "job-1"}], "total": 1}))
    status, out, _ = run_cli(fake_platform, "jobs", "--json")
    assert status == 0 and out.startswith("[") and '"job-1"' in out


def test_no_platform_is_exit_1_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("SXWL_URL", "SXWL_TOKEN", "SXWL_PLATFORM_URL", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    assert cli.main(["jobs"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no sxwl platform found") and "sxwl login" in err


def test_login_checks_the_token_then_saves_it(
    fake_platform: FakePlatform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    fake_platform.route("GET", "info", problem(403, "Forbidden"))
    assert cli.main(["login", "--url", fake_platform.url, "--token", "bad"]) == 2
    assert "refused the token" in capsys.readouterr().err
    fake_platform.route("GET", "info", json_reply({"user": {"name": "alice", "admin": False}}))
    assert cli.main(["login", "--url", fake_platform.url, "--token", "good"]) == 0
    assert "as alice" in capsys.readouterr().out
    from jupyter_sxwl.client.connection import load_login

    saved = load_login()
    assert saved is not None and saved.token == "good"


def test_sxwl_error_is_the_root_of_every_client_error() -> None:
    assert issubclass(SxwlAPIError, SxwlError)
    assert issubclass(cli.CommandError, SxwlError)


def test_a_download_url_never_replaces_the_platform_url() -> None:
    args = parse(
        "--url", "http://platform/", "dataset", "import", "faq", "--url", "https://data/x.zip"
    )
    assert args.url == "http://platform/" and args.source_url == "https://data/x.zip"
    args = parse("model", "import", "m", "--url", "https://data/m.tar")
    assert args.url is None and args.source_url == "https://data/m.tar"
