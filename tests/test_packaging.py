"""One wheel ships everything: the Python package, the prebuilt labextension and the config
that enables the server extension (after jupyterlab/extension-template's packaging checks).

The wheel is built from the working tree, installed into a throw-away environment that sees
the test environment's dependencies but not its own jupyter_sxwl, and Jupyter's own listing
commands must then report both extensions enabled and OK.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LABEXT_DATA = "share/jupyter/labextensions/jupyter_sxwl/"
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/jupyter_sxwl.json"

pytestmark = pytest.mark.slow


def _run(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output if it fails."""
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=cwd, env=env, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of the working tree, built as `pip wheel .` does.

    No build isolation: the build requirements are pinned in the test environment, and
    hatch-jupyter-builder rebuilds the labextension only if its sources are newer than the
    build (the Makefile builds it before the tests).
    """
    out = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ)
    # jupyter-builder (the labextension build) comes from the test environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            ".",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(out),
        ],
        cwd=REPO_ROOT,
        env=env,
        timeout=600,
    )
    wheels = list(out.glob("jupyter_sxwl-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _data_files(wheel: Path) -> list[str]:
    """Paths below the wheel's `<name>.data/data/` folder (what lands in the prefix)."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    prefix = re.compile(r"^jupyter_sxwl-[^/]+\.data/data/")
    return [prefix.sub("", n) for n in names if prefix.match(n)]


def test_wheel_carries_labextension_install_json_and_server_config(wheel: Path) -> None:
    data = _data_files(wheel)
    assert LABEXT_DATA + "package.json" in data
    remote_entry = re.compile(re.escape(LABEXT_DATA) + r"static/remoteEntry\.[0-9a-f]+\.js")
    assert any(remote_entry.fullmatch(p) for p in data), data
    assert LABEXT_DATA + "static/style.js" in data
    assert LABEXT_DATA + "install.json" in data
    assert LABEXT_DATA + "schemas/jupyter_sxwl/plugin.json" in data
    assert SERVER_CONFIG in data

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        config = zf.read(next(n for n in names if n.endswith(SERVER_CONFIG))).decode()
        assert '"jupyter_sxwl": true' in config
        # The Python package itself, with the server extension it enables.
        assert "jupyter_sxwl/__init__.py" in names
        assert "jupyter_sxwl/server/app.py" in names
        # Sources and build folders of the labextension stay out of the package.
        assert not [n for n in names if n.startswith("jupyter_sxwl/labextension/")]
        assert not [n for n in names if "node_modules" in n]


def _installed_here() -> str | None:
    """Where the test environment's own jupyter_sxwl distribution lives (None: not there)."""
    try:
        dist = importlib.metadata.distribution("jupyter_sxwl")
    except importlib.metadata.PackageNotFoundError:
        return None
    return str(dist.locate_file(""))


@pytest.fixture(scope="module")
def installed_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Install the wheel into a fresh prefix and return the environment that runs from it.

    The prefix is a new venv whose only extra import path is the test environment's
    site-packages, added by a plain path line in a .pth file: that makes jupyter_server,
    jupyterlab & co. importable, while the test environment's own (editable) jupyter_sxwl,
    its labextension link and its server config stay invisible. So only the wheel's files
    can make the listings below say "OK".
    """
    before = _installed_here()
    root = tmp_path_factory.mktemp("prefix")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    (site / "test_env_site_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-compile",
            "--disable-pip-version-check",
            # Without it pip "upgrades" the test environment's own jupyter_sxwl: it
            # uninstalls that one (e.g. the developer's editable install) before writing
            # the new copy into the prefix.
            "--ignore-installed",
            "--prefix",
            str(venv),
            str(wheel),
        ],
        timeout=300,
    )
    assert (venv / LABEXT_DATA / "package.json").is_file()
    assert (venv / SERVER_CONFIG).is_file()
    assert _installed_here() == before, "installing into the prefix changed the test environment"

    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON"))}
    empty = root / "empty"
    empty.mkdir()
    env.update(
        # The user-level folders (~/.jupyter, ~/.local/share/jupyter) must not count.
        JUPYTER_CONFIG_DIR=str(empty / "config"),
        JUPYTER_DATA_DIR=str(empty / "data"),
        JUPYTER_RUNTIME_DIR=str(empty / "runtime"),
        # Where a `pip install --prefix` puts the data files, as the brief of a plain prefix
        # install would set them; with the venv's own sys.prefix they are found anyway.
        JUPYTER_PATH=str(venv / "share" / "jupyter"),
        JUPYTER_CONFIG_PATH=str(venv / "etc" / "jupyter"),
        SXWL_PYTHON=str(python),
        SXWL_CWD=str(empty),
    )
    # The installed package, not the working tree, must be what the listings import.
    probe = _run(
        [str(python), "-c", "import jupyter_sxwl, sys; print(jupyter_sxwl.__file__)"],
        env=env,
        cwd=empty,
    )
    assert probe.stdout.strip().startswith(str(venv)), probe.stdout
    return env


def _listing(env: dict[str, str], module: str, *args: str) -> str:
    result = _run(
        [env["SXWL_PYTHON"], "-m", module, *args],
        env=env,
        cwd=Path(env["SXWL_CWD"]),
        timeout=120,
    )
    # Both commands write their report to stderr; colour codes are stripped for matching.
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def test_jupyter_labextension_list_reports_jupyter_sxwl_enabled_ok(
    installed_env: dict[str, str],
) -> None:
    text = _listing(installed_env, "jupyterlab.labextensions", "list")
    line = re.compile(r"jupyter_sxwl v0\.1\.0 enabled\s+OK\s+\(python, jupyter_sxwl\)")
    assert line.search(text), text


def test_jupyter_server_extension_list_reports_jupyter_sxwl_enabled_ok(
    installed_env: dict[str, str],
) -> None:
    text = _listing(installed_env, "jupyter_server.extension.serverextension", "list")
    assert re.search(r"jupyter_sxwl\s+enabled", text), text
    assert re.search(r"jupyter_sxwl\s+\S*\s*OK", text), text
    assert "X jupyter_sxwl" not in text and "Error" not in text, text
