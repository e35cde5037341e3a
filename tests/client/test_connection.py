"""Where the SDK finds the platform: the documented order, the login file, runtime files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_sxwl.client import Client, SxwlConfigError
from jupyter_sxwl.client.connection import (
    api_root,
    config_path,
    discover,
    find_runtime_connection,
    load_login,
    save_login,
)

HUB_LAB_ENV = {
    "SXWL_PLATFORM_URL": "http://127.0.0.1:8000/services/sxwl/",
    "JUPYTERHUB_API_TOKEN": "hub-token",
}
SXWL_ENV = {"SXWL_URL": "http://sxwl.example:9000/services/sxwl", "SXWL_TOKEN": "env-token"}


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose config and runtime folders are empty temporary ones."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runtime"
    path.mkdir()
    return path


def write_runtime_file(runtime_dir: Path, pid: int, url: str, token: str, mtime: float) -> Path:
    path = runtime_dir / f"jupyter_sxwl-{pid}.json"
    path.write_text(json.dumps({"url": url, "token": token, "pid": pid}))
    os.utime(path, (mtime, mtime))
    return path


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:8000/services/sxwl/", "http://h:8000/services/sxwl/api/v1/"),
        ("http://h:8000/services/sxwl", "http://h:8000/services/sxwl/api/v1/"),
        ("http://h:8000/services/sxwl/api/v1", "http://h:8000/services/sxwl/api/v1/"),
        ("https://h/user/alice/sxwl/api/v1/", "https://h/user/alice/sxwl/api/v1/"),
        (" http://h:8888/ ", "http://h:8888/api/v1/"),
    ],
)
def test_urls_are_normalised_to_the_api_root(given: str, expected: str) -> None:
    assert api_root(given) == expected


@pytest.mark.parametrize("bad", ["", "h:8000", "ftp://h/", "/services/sxwl"])
def test_a_url_that_is_not_http_is_refused_with_the_field_named(bad: str) -> None:
    with pytest.raises(SxwlConfigError, match="url:"):
        api_root(bad)


def test_explicit_url_and_token_win_over_everything(
    home: dict[str, str], runtime_dir: Path
) -> None:
    env = {**home, **SXWL_ENV, **HUB_LAB_ENV}
    save_login("http://saved:1/", "saved-token", env)
    conn = discover("http://given:2/", "given-token", env, runtime_dir)
    assert (conn.url, conn.token) == ("http://given:2/api/v1/", "given-token")


def test_sxwl_env_comes_before_hub_lab_env_and_login(
    home: dict[str, str], runtime_dir: Path
) -> None:
    env = {**home, **SXWL_ENV, **HUB_LAB_ENV}
    save_login("http://saved:1/", "saved-token", env)
    conn = discover(env=env, runtime_dir=runtime_dir)
    assert conn.url == "http://sxwl.example:9000/services/sxwl/api/v1/"
    assert conn.token == "env-token"
    assert "SXWL_URL" in conn.source


def test_hub_lab_env_comes_before_the_login_file(home: dict[str, str], runtime_dir: Path) -> None:
    env = {**home, **HUB_LAB_ENV}
    save_login("http://saved:1/", "saved-token", env)
    conn = discover(env=env, runtime_dir=runtime_dir)
    assert conn.url == "http://127.0.0.1:8000/services/sxwl/api/v1/"
    assert conn.token == "hub-token"


def test_half_an_env_pair_is_not_used(home: dict[str, str], runtime_dir: Path) -> None:
    # SXWL_URL without SXWL_TOKEN (or a lab token without the platform URL) is not a connection.
    env = {**home, "SXWL_URL": "http://x/", "JUPYTERHUB_API_TOKEN": "t"}
    save_login("http://saved:1/", "saved-token", env)
    assert discover(env=env, runtime_dir=runtime_dir).token == "saved-token"


def test_login_file_comes_before_runtime_files(home: dict[str, str], runtime_dir: Path) -> None:
    write_runtime_file(runtime_dir, os.getpid(), "http://lab:8888/sxwl/api/v1/", "lab", 1000)
    save_login("http://saved:1/services/sxwl/", "saved-token", home)
    conn = discover(env=home, runtime_dir=runtime_dir)
    assert (conn.url, conn.token) == ("http://saved:1/services/sxwl/api/v1/", "saved-token")


def test_login_file_is_private_and_honours_xdg_config_home(home: dict[str, str]) -> None:
    path = save_login("http://saved:1/", "secret", home)
    assert path == Path(home["XDG_CONFIG_HOME"]) / "sxwl" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": "http://saved:1/api/v1/", "token": "secret"}
    loaded = load_login(home)
    assert loaded is not None and loaded.token == "secret"


def test_without_xdg_config_home_the_file_is_under_home_dot_config(tmp_path: Path) -> None:
    assert config_path({"HOME": str(tmp_path)}) == tmp_path / ".config" / "sxwl" / "config.json"


def test_a_broken_login_file_says_how_to_fix_it(home: dict[str, str]) -> None:
    path = config_path(home)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(SxwlConfigError, match="sxwl login"):
        discover(env=home)


def test_newest_runtime_file_of_a_live_server_is_used(runtime_dir: Path) -> None:
    gone = dead_pid()
    write_runtime_file(runtime_dir, os.getpid(), "http://old:1/sxwl/api/v1/", "old", 1000)
    write_runtime_file(runtime_dir, os.getppid(), "http://new:2/sxwl/api/v1/", "new", 2000)
    # The newest of all belongs to a server that has exited: skipped.
    write_runtime_file(runtime_dir, gone, "http://dead:3/sxwl/api/v1/", "dead", 3000)
    (runtime_dir / "jupyter_sxwl-garbage.json").write_text("{")
    conn = find_runtime_connection(runtime_dir)
    assert conn is not None
    assert (conn.url, conn.token) == ("http://new:2/sxwl/api/v1/", "new")


def test_only_dead_runtime_files_mean_no_connection(runtime_dir: Path) -> None:
    write_runtime_file(runtime_dir, dead_pid(), "http://dead:3/sxwl/api/v1/", "dead", 3000)
    assert find_runtime_connection(runtime_dir) is None


def test_nothing_found_is_a_clear_error_naming_the_fixes(
    home: dict[str, str], runtime_dir: Path
) -> None:
    with pytest.raises(SxwlConfigError) as info:
        discover(env=home, runtime_dir=runtime_dir)
    message = str(info.value)
    assert "no sxwl platform found" in message
    for fix in ("sxwl login --url URL --token TOKEN", "SXWL_URL", "SXWL_TOKEN", "Client(url="):
        assert fix in message


def test_explicit_url_alone_takes_the_discovered_token(
    home: dict[str, str], runtime_dir: Path
) -> None:
    env = {**home, **SXWL_ENV}
    conn = discover(url="http://other:5/", env=env, runtime_dir=runtime_dir)
    assert (conn.url, conn.token) == ("http://other:5/api/v1/", "env-token")


def test_client_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch, home: dict[str, str], runtime_dir: Path
) -> None:
    for key in ("SXWL_URL", "SXWL_TOKEN", "SXWL_PLATFORM_URL", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in home.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime_dir))
    write_runtime_file(runtime_dir, os.getpid(), "http://lab:8888/sxwl/api/v1/", "lab-tok", 1000)
    client = Client()
    assert client.url == "http://lab:8888/sxwl/api/v1/"
    assert client.session.headers["Authorization"] == "token lab-tok"
    assert "lab-tok" not in repr(client) and "lab-tok" not in repr(client.connection)
