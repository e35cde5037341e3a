"""JupyterHub configuration for the embedded (one machine) deployment of jupyter_sxwl.

Start it with ``jupyterhub -f hub_config/jupyterhub_config.py`` (``make demo`` does this and
prints the logins). Labs are local processes (SimpleLocalProcessSpawner), the platform runs as
the managed JupyterHub service ``sxwl`` and is reachable at ``/services/sxwl/``.

Everything site-specific is read from environment variables here, at the edge, so the same
file serves the demo, the test suite and a developer's machine:

=========================  ==================================================================
SXWL_HUB_IP                address the proxy listens on (default 127.0.0.1)
SXWL_HUB_PORT              public port of the proxy (default 8000)
SXWL_HUB_API_PORT          the hub's internal API port (default SXWL_HUB_PORT + 81, i.e. 8081)
SXWL_PROXY_API_PORT        configurable-http-proxy's REST API port (default SXWL_HUB_PORT + 2)
SXWL_PLATFORM_PORT         port of the platform service (default SXWL_HUB_PORT + 1)
SXWL_STATE_DIR             hub database, cookie secret, user homes, platform data
                           (default ``.sxwl-demo`` in the repository root)
SXWL_PLATFORM_CONFIG       traitlets config file of the platform (default platform_config.py
                           next to this file)
SXWL_PLATFORM_ARGS         extra command-line arguments for the platform, space separated
                           (e.g. ``--SxwlPlatform.db_url=postgresql+psycopg://…``)
SXWL_PLATFORM_LOG          if set, the platform's stdout and stderr go to this file instead of
                           the hub's terminal (the test suite uses it)
SXWL_ADMIN_USERS           comma- or space-separated admin user names (default ``admin``)
SXWL_USER_PASSWORD         shared password of every ordinary user (required, >= 8 characters)
SXWL_ADMIN_PASSWORD        password of the admin users (required, >= 32 characters)
SXWL_TEST_ADMIN_TOKEN      tests only: registers a ``test-admin`` service holding this token
                           with the scopes to create users and tokens
=========================  ==================================================================
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (provided by traitlets)

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a port number, not {value!r}") from None


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(
            f"{name} is not set. The embedded hub uses JupyterHub's SharedPasswordAuthenticator "
            f"and needs SXWL_USER_PASSWORD (>= 8 characters) and SXWL_ADMIN_PASSWORD "
            f"(>= 32 characters); `make demo` generates both and prints them."
        )
    return value


HUB_IP = os.environ.get("SXWL_HUB_IP", "127.0.0.1")
HUB_PORT = _port("SXWL_HUB_PORT", 8000)
HUB_API_PORT = _port("SXWL_HUB_API_PORT", HUB_PORT + 81)
PROXY_API_PORT = _port("SXWL_PROXY_API_PORT", HUB_PORT + 2)
PLATFORM_PORT = _port("SXWL_PLATFORM_PORT", HUB_PORT + 1)
# Relative paths are taken from the repository root, not from wherever jupyterhub was started.
STATE_DIR = (REPO_ROOT / os.environ.get("SXWL_STATE_DIR", ".sxwl-demo")).resolve()
PLATFORM_CONFIG = (
    REPO_ROOT / os.environ.get("SXWL_PLATFORM_CONFIG", str(HERE / "platform_config.py"))
).resolve()
PLATFORM_ARGS = shlex.split(os.environ.get("SXWL_PLATFORM_ARGS", ""))
PLATFORM_LOG = os.environ.get("SXWL_PLATFORM_LOG", "")
ADMIN_USERS = set(os.environ.get("SXWL_ADMIN_USERS", "admin").replace(",", " ").split())
USER_PASSWORD = _required("SXWL_USER_PASSWORD")
ADMIN_PASSWORD = _required("SXWL_ADMIN_PASSWORD")
TEST_ADMIN_TOKEN = os.environ.get("SXWL_TEST_ADMIN_TOKEN", "")

# The URL labs, the SDK and the platform itself use to reach the hub's proxy. Listening on all
# interfaces still means local processes connect through loopback.
CONNECT_HOST = "127.0.0.1" if HUB_IP in ("", "0.0.0.0") else HUB_IP
HUB_URL = f"http://{CONNECT_HOST}:{HUB_PORT}"
PLATFORM_URL = f"{HUB_URL}/services/sxwl/"
# Labs and the platform run from this interpreter's environment; putting its bin directory first
# lets lab terminals and jobs find `sxwl`, `torchrun`, `jupyter` even when the hub was started
# without activating the virtual environment.
VENV_BIN = str(Path(sys.executable).parent)
PATH = os.pathsep.join([VENV_BIN, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")])

STATE_DIR.mkdir(parents=True, exist_ok=True)
(STATE_DIR / "home").mkdir(exist_ok=True)

# --- hub and proxy -------------------------------------------------------------------------
c.JupyterHub.ip = HUB_IP
c.JupyterHub.port = HUB_PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = HUB_API_PORT
# Hub state lives in the state dir so `make clean` (or deleting the folder) resets the demo.
c.JupyterHub.db_url = f"sqlite:///{STATE_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE_DIR / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE_DIR / "jupyterhub.pid")
# Stop every lab when the hub stops: Ctrl-C on `make demo` must leave no process behind.
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# configurable-http-proxy comes from hub_config/node_modules (`npm ci --prefix hub_config`), so
# no global npm install is needed; fall back to PATH when it was installed another way.
_local_chp = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [
    str(_local_chp) if _local_chp.exists() else "configurable-http-proxy"
]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.pid_file = str(STATE_DIR / "jupyterhub-proxy.pid")

# --- authentication ------------------------------------------------------------------------
# DEMO ONLY: one shared password for all ordinary users, one for admins. Anyone who knows the
# user password can log in as any non-admin user. Use a real authenticator in production.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = USER_PASSWORD
c.SharedPasswordAuthenticator.admin_password = ADMIN_PASSWORD
c.Authenticator.admin_users = ADMIN_USERS
# Any user name may log in with the shared password (that is what makes a demo easy).
c.Authenticator.allow_all = True

# --- labs ----------------------------------------------------------------------------------
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
# Each user gets a home under the state dir instead of the default /tmp/<name>.
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE_DIR / "home" / "{username}")
# Run the single-user server from this interpreter, not whatever `jupyterhub-singleuser` PATH finds.
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
if hasattr(os, "geteuid") and os.geteuid() == 0:
    # Jupyter Server refuses to run as root without this; without it the spawn fails with an
    # InvalidStateError in the hub that hides the real message.
    c.Spawner.args = ["--allow-root"]
c.Spawner.environment = {
    # The server extension and the kernel-side SDK forward calls here with the server's token.
    "SXWL_PLATFORM_URL": PLATFORM_URL,
    "PATH": PATH,
}
# The token a lab gets (JUPYTERHUB_API_TOKEN). The first two are JupyterHub's defaults (the
# `server` role: post activity, access its own server); the third lets the server extension and
# the SDK call the platform service with it.
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "access:services!service=sxwl",
]
c.Spawner.start_timeout = 60


# --- mounts chosen on the spawn page (L2) -------------------------------------------------
# The spawn page lists the user's own and shared datasets with a published version and their
# models with a ready version; what is ticked is mounted read-only under ~/mnt when the lab
# starts (the server extension reads SXWL_MOUNTS). Users with nothing to mount see no page.


async def _mountables(spawner) -> list[dict]:  # type: ignore[no-untyped-def]
    import json as _json

    from tornado.httpclient import AsyncHTTPClient, HTTPRequest

    token = spawner.user.new_api_token(
        scopes=["access:services!service=sxwl"], expires_in=120, note="sxwl spawn page"
    )
    items: list[dict] = []
    for kind in ("datasets", "models"):
        request = HTTPRequest(
            f"http://127.0.0.1:{PLATFORM_PORT}/services/sxwl/api/v1/{kind}",
            headers={"Authorization": f"token {token}"},
            request_timeout=10,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except Exception as e:  # the spawn must not fail because the platform is down
            spawner.log.warning("sxwl spawn page: could not list %s: %s", kind, e)
            continue
        for obj in _json.loads(response.body)[kind]:
            if obj.get("preset") or not obj.get("latest_version"):
                continue
            items.append({"kind": kind[:-1], "name": obj["name"], "version": obj["latest_version"]})
    return items


async def _options_form(spawner) -> str:  # type: ignore[no-untyped-def]
    import html as _html
    import json as _json

    items = await _mountables(spawner)
    if not items:
        return ""
    rows = "".join(
        '<div class="checkbox"><label><input type="checkbox" name="sxwl_mount" value="{}"> '
        "{} <b>{}</b> v{} &rarr; ~/mnt/{}s/{}</label></div>".format(
            _html.escape(_json.dumps(i)),
            i["kind"],
            _html.escape(i["name"]),
            i["version"],
            i["kind"],
            _html.escape(i["name"]),
        )
        for i in items
    )
    return f"<p>Mount read-only into the lab (optional):</p>{rows}"


def _options_from_form(formdata: dict) -> dict:
    import json as _json

    mounts = []
    for raw in formdata.get("sxwl_mount", []):
        try:
            item = _json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("kind") in ("dataset", "model"):
            mounts.append(
                {"kind": item["kind"], "name": str(item["name"]), "version": item.get("version")}
            )
    return {"mounts": mounts}


def _pass_mounts(spawner) -> None:  # type: ignore[no-untyped-def]
    import json as _json

    mounts = (spawner.user_options or {}).get("mounts") or []
    if mounts:
        spawner.environment = {**spawner.environment, "SXWL_MOUNTS": _json.dumps(mounts)}


c.Spawner.options_form = _options_form
c.Spawner.options_from_form = _options_from_form
c.Spawner.pre_spawn_hook = _pass_mounts
c.Spawner.http_timeout = 60

# --- the platform service ------------------------------------------------------------------
_platform_cmd = [
    sys.executable,
    "-m",
    "jupyter_sxwl.platform",
    "--config",
    str(PLATFORM_CONFIG),
    *PLATFORM_ARGS,
]
if PLATFORM_LOG:
    # `exec` keeps the platform as the process JupyterHub started (same pid, same signals).
    _platform_cmd = ["/bin/sh", "-c", 'exec "$@" >>"$SXWL_PLATFORM_LOG" 2>&1', "sh", *_platform_cmd]

c.JupyterHub.services = [
    {
        "name": "sxwl",
        "display": True,
        "url": f"http://127.0.0.1:{PLATFORM_PORT}",
        "command": _platform_cmd,
        "cwd": str(STATE_DIR),
        "environment": {
            # platform_config.py puts the platform's data under this directory.
            "SXWL_STATE_DIR": str(STATE_DIR),
            "SXWL_PLATFORM_URL": PLATFORM_URL,
            "SXWL_PLATFORM_LOG": PLATFORM_LOG,
            "PATH": PATH,
        },
        # The platform is part of the hub, so logging in to it asks no confirmation.
        "oauth_no_confirm": True,
        # Browser (OAuth) tokens issued to the platform can do nothing on the user's behalf
        # beyond identifying them (name, admin flag, groups) and using the platform itself.
        "oauth_client_allowed_scopes": ["access:services!service=sxwl"],
        # The platform runs Alembic migrations and reattaches jobs at start: allow it time.
        "timeout": 60,
    },
]
if TEST_ADMIN_TOKEN:
    # Tests only (set by tests/support.py): an API client that can create users and tokens.
    c.JupyterHub.services.append({"name": "test-admin", "api_token": TEST_ADMIN_TOKEN})

# --- roles ---------------------------------------------------------------------------------
c.JupyterHub.load_roles = [
    {
        # JupyterHub's default `user` role is just `self`; every user may also use the platform
        # (since JupyterHub 5 a user cannot open a service unless a role grants this).
        "name": "user",
        "description": "Standard user privileges, plus the sxwl platform",
        "scopes": ["self", "access:services!service=sxwl"],
    },
    {
        # The platform identifies callers with their own tokens (GET /hub/api/user needs no
        # scope), so its own token needs only to read user names and groups, used by the admin
        # pages to list users and by sharing to check that a user exists.
        "name": "sxwl-platform",
        "description": "What the sxwl platform service may do with its own hub token",
        "scopes": ["list:users", "read:users:name", "read:users:groups", "list:groups"],
        "services": ["sxwl"],
    },
]
if TEST_ADMIN_TOKEN:
    c.JupyterHub.load_roles.append(
        {
            "name": "test-admin",
            "description": "Tests only: create users, issue their tokens, inspect services",
            "scopes": [
                "admin:users",
                "admin:servers",
                "tokens",
                "list:services",
                "read:services",
                "read:hub",
                "access:services",
            ],
            "services": ["test-admin"],
        }
    )
