"""Where the platform is and which token to use: the SDK's connection discovery.

The order, first match wins:

1. ``Client(url=..., token=...)``;
2. ``SXWL_URL`` and ``SXWL_TOKEN`` in the environment;
3. inside a hub lab: ``SXWL_PLATFORM_URL`` (set by the hub) and ``JUPYTERHUB_API_TOKEN``;
4. the file ``sxwl login`` writes (``$XDG_CONFIG_HOME/sxwl/config.json``);
5. without a hub: the runtime file ``jupyter_sxwl-<pid>.json`` a running Jupyter server with
   the sxwl extension writes into Jupyter's runtime directory (newest live one).

A URL may name the platform (``http://host/services/sxwl/``) or its API root
(``…/api/v1/``); both are accepted and normalised to the API root.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import SxwlConfigError

API_SUFFIX = "api/v1/"
RUNTIME_FILE_PREFIX = "jupyter_sxwl-"

HOW_TO_CONNECT = (
    "tell the SDK where the platform is in one of these ways: "
    "run `sxwl login --url URL --token TOKEN`; "
    "or set SXWL_URL and SXWL_TOKEN; "
    "or pass Client(url=..., token=...); "
    "or work inside a JupyterLab started by the hub or by `jupyter lab` with jupyter_sxwl installed"
)


@dataclass(frozen=True)
class Connection:
    """A platform API root, the token to send, and where both came from (for messages)."""

    url: str
    token: str
    source: str

    def __repr__(self) -> str:
        # Never print the token: reprs end up in notebooks and bug reports.
        return f"Connection(url={self.url!r}, source={self.source!r})"


def api_root(url: str) -> str:
    """Normalise a platform URL to its API root, ending in ``api/v1/``.

    Raises SxwlConfigError for anything that is not an http(s) URL.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SxwlConfigError(
            f"url: {url!r} is not an http(s) URL; give the platform's address, "
            "e.g. http://127.0.0.1:8000/services/sxwl/"
        )
    base = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if base.endswith("/api/v1"):
        return base + "/"
    return base + "/" + API_SUFFIX


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The file ``sxwl login`` writes: ``$XDG_CONFIG_HOME/sxwl/config.json`` (~/.config)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "sxwl" / "config.json"


def save_login(url: str, token: str, env: Mapping[str, str] | None = None) -> Path:
    """Store a URL and token for later sessions, readable by the owner only (0600)."""
    if not token.strip():
        raise SxwlConfigError("token: must not be empty; pass --token with a hub API token")
    path = config_path(env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = json.dumps({"url": api_root(url), "token": token.strip()}, indent=2) + "\n"
    # Create with 0600 from the start so the token is never readable by others, even briefly.
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_login(env: Mapping[str, str] | None = None) -> Connection | None:
    """The connection ``sxwl login`` saved, or None when there is none."""
    path = config_path(env)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SxwlConfigError(
            f"{path} cannot be read ({e}); run `sxwl login --url URL --token TOKEN` again"
        ) from e
    if not isinstance(data, dict) or not data.get("url") or not data.get("token"):
        raise SxwlConfigError(
            f"{path} lacks url or token; run `sxwl login --url URL --token TOKEN` again"
        )
    return Connection(api_root(str(data["url"])), str(data["token"]), str(path))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it just is not ours
    except OSError:
        return False
    return True


def default_runtime_dir() -> Path:
    """Jupyter's runtime directory (honours JUPYTER_RUNTIME_DIR)."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def find_runtime_connection(runtime_dir: Path | None = None) -> Connection | None:
    """The newest ``jupyter_sxwl-<pid>.json`` of a Jupyter server that is still running."""
    runtime_dir = default_runtime_dir() if runtime_dir is None else runtime_dir
    try:
        candidates = list(runtime_dir.glob(f"{RUNTIME_FILE_PREFIX}*.json"))
    except OSError:
        return None

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    for path in sorted(candidates, key=mtime, reverse=True):
        try:
            data = json.loads(path.read_text())
            pid = int(data["pid"])
            url, token = str(data["url"]), str(data.get("token") or "")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written or foreign file: try the next one
        if _pid_alive(pid):
            return Connection(api_root(url), token, str(path))
    return None


def discover(
    url: str | None = None,
    token: str | None = None,
    env: Mapping[str, str] | None = None,
    runtime_dir: Path | None = None,
) -> Connection:
    """Find the platform, in the order described in this module's docstring.

    An explicit ``url`` or ``token`` wins over whatever is discovered for the other half.
    """
    env = os.environ if env is None else env
    if url and token:
        return Connection(api_root(url), token, "Client(url=..., token=...)")

    found: Connection | None = None
    if env.get("SXWL_URL") and env.get("SXWL_TOKEN"):
        found = Connection(api_root(env["SXWL_URL"]), env["SXWL_TOKEN"], "SXWL_URL/SXWL_TOKEN")
    elif env.get("SXWL_PLATFORM_URL") and env.get("JUPYTERHUB_API_TOKEN"):
        found = Connection(
            api_root(env["SXWL_PLATFORM_URL"]),
            env["JUPYTERHUB_API_TOKEN"],
            "SXWL_PLATFORM_URL/JUPYTERHUB_API_TOKEN",
        )
    else:
        found = load_login(env) or find_runtime_connection(runtime_dir)

    if found is None:
        if url:
            raise SxwlConfigError(f"no token for {url}: pass token=..., or set SXWL_TOKEN")
        raise SxwlConfigError(f"no sxwl platform found; {HOW_TO_CONNECT}")
    if url:
        return Connection(api_root(url), found.token, f"url=...; token from {found.source}")
    if token:
        return Connection(found.url, token, f"token=...; url from {found.source}")
    return found
