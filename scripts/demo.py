"""Start the embedded jupyter_sxwl demo: JupyterHub + the platform service, in the foreground.

Run by ``make demo`` after ``make install``. Prints where to log in and with which passwords,
then runs JupyterHub with hub_config/jupyterhub_config.py under scripts/subreaper.py, so Ctrl-C
stops the hub, the proxy, the platform, every lab and every job, and leaves no process behind.

Passwords come from SXWL_USER_PASSWORD / SXWL_ADMIN_PASSWORD when set; otherwise they are
generated once and kept in <state dir>/demo-passwords.json (readable by the owner only), so a
restarted demo keeps its logins. ``make clean`` removes the state dir and with it the passwords.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HUB_CONFIG = REPO_ROOT / "hub_config" / "jupyterhub_config.py"
SUBREAPER = REPO_ROOT / "scripts" / "subreaper.py"


def load_passwords(state_dir: Path) -> tuple[str, str]:
    """The (user, admin) passwords: from the environment, else the saved or new generated ones."""
    saved_file = state_dir / "demo-passwords.json"
    saved: dict[str, str] = {}
    if saved_file.exists():
        saved = json.loads(saved_file.read_text())
    # SharedPasswordAuthenticator wants >= 8 characters for users, >= 32 for admins.
    user = os.environ.get("SXWL_USER_PASSWORD") or saved.get("user") or secrets.token_urlsafe(9)
    admin = os.environ.get("SXWL_ADMIN_PASSWORD") or saved.get("admin") or secrets.token_urlsafe(30)
    if len(user) < 8:
        sys.exit("SXWL_USER_PASSWORD must be at least 8 characters")
    if len(admin) < 32:
        sys.exit("SXWL_ADMIN_PASSWORD must be at least 32 characters")
    if user == admin:
        sys.exit("SXWL_USER_PASSWORD and SXWL_ADMIN_PASSWORD must differ")
    if saved != {"user": user, "admin": admin}:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(saved_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"user": user, "admin": admin}, f)
    return user, admin


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def main() -> None:
    state_dir = (REPO_ROOT / os.environ.get("SXWL_STATE_DIR", ".sxwl-demo")).resolve()
    host = os.environ.get("SXWL_HUB_IP", "127.0.0.1")
    port = int(os.environ.get("SXWL_HUB_PORT", "8000"))
    admins = os.environ.get("SXWL_ADMIN_USERS", "admin").replace(",", " ").split()
    user_password, admin_password = load_passwords(state_dir)

    if port_in_use(host, port):
        sys.exit(
            f"Port {port} on {host} is already in use (another demo still running?). "
            f"Stop it, or choose another port: SXWL_HUB_PORT=8100 make demo"
        )

    shown_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    line = "=" * 78
    print(
        f"""
{line}
  jupyter_sxwl demo: JupyterHub with the sxwl platform service

  Open        http://{shown_host}:{port}/
  Admin       user {admins[0] if admins else "(none)"!s:<10} password {admin_password}
  User        user alice      password {user_password}
              (any other name works too with the same password)

  !!! DEMO AUTHENTICATOR: everyone who knows the user password can log in as ANY
  !!! ordinary user. Do not expose this port beyond your machine.

  State       {state_dir}
  Stop        Ctrl-C (stops the hub, proxy, platform, labs and jobs)
{line}
""",
        flush=True,
    )

    env = dict(os.environ)
    env.update(
        SXWL_STATE_DIR=str(state_dir),
        SXWL_USER_PASSWORD=user_password,
        SXWL_ADMIN_PASSWORD=admin_password,
        SXWL_ADMIN_USERS=" ".join(admins),
        # The platform leaves jobs running when it stops so a restart can re-attach to them;
        # Ctrl-C on the demo should end them too, each marked as stopped by the shutdown.
        SXWL_PLATFORM_ARGS=" ".join(
            [os.environ.get("SXWL_PLATFORM_ARGS", ""), "--SxwlPlatformApp.stop_jobs_on_exit=True"]
        ).strip(),
    )
    command = [
        sys.executable,
        str(SUBREAPER),
        "--name",
        "jupyterhub",
        "--",
        sys.executable,
        "-m",
        "jupyterhub",
        "-f",
        str(HUB_CONFIG),
    ]
    # The hub writes files relative to its working directory in some versions; keep them in
    # the state dir, and replace this process so the subreaper is what the terminal signals.
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(state_dir)
    os.execve(sys.executable, command, env)


if __name__ == "__main__":
    main()
