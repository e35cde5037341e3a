"""Run a command and make sure that, once it ends, none of its descendants outlive it.

Usage: ``python scripts/subreaper.py [--grace SECONDS] [--name NAME] -- COMMAND [ARGS...]``

JupyterHub starts the proxy, the platform service and every lab in sessions of their own, and
the platform may detach training jobs so they survive its restarts. A Ctrl-C on the terminal
therefore reaches only the hub, and anything the hub does not stop itself would be left behind.
This wrapper registers itself as the *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``), so
every orphaned descendant is re-parented to it whatever session it is in. It forwards the first
SIGINT or SIGTERM to the command as one SIGTERM (JupyterHub shuts down cleanly on it), waits for
the command to exit, then stops whatever descendants remain: SIGTERM, a grace period, SIGKILL.
A second signal kills the command at once. Used by ``make demo`` and the test suite's ``hub``
fixture.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

import psutil

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); False where the kernel does not offer it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())[:120]}"
    except psutil.Error:
        return str(proc.pid)


def stop_descendants(grace: float) -> list[str]:
    """SIGTERM every remaining descendant, SIGKILL those still alive after ``grace`` seconds.

    Repeats until none is left, since a dying process may orphan children of its own (which are
    then re-parented to us). Returns a description of each process it had to stop.
    """
    me = psutil.Process()
    stopped: list[str] = []
    deadline = time.monotonic() + grace + 30
    while time.monotonic() < deadline:
        procs = [p for p in me.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
        reap_zombies()
        if not procs:
            break
        stopped.extend(describe(p) for p in procs)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(procs, timeout=grace)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(alive, timeout=5)
    reap_zombies()
    return stopped


def reap_zombies() -> None:
    """Collect the exit status of adopted children that already ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds leftover processes get between SIGTERM and SIGKILL (default 10)",
    )
    parser.add_argument(
        "--name", help="what to call the command in messages (default: its program)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    name = args.name or os.path.basename(command[0])

    if not become_subreaper():
        print(
            "subreaper: PR_SET_CHILD_SUBREAPER unavailable; detached processes may outlive "
            "the command",
            file=sys.stderr,
        )

    # The command gets a process group of its own so a Ctrl-C on the terminal reaches only us;
    # we then send it exactly one SIGTERM (two signals would make JupyterHub cut its own
    # shutdown short).
    child = subprocess.Popen(command, process_group=0)
    signals_seen = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            print(
                f"\nsubreaper: {signal.Signals(signum).name}: stopping {name} "
                "(signal again to kill it at once)",
                file=sys.stderr,
                flush=True,
            )
            child.send_signal(signal.SIGTERM)
        else:
            child.kill()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    while True:
        try:
            returncode = child.wait()
            break
        except InterruptedError:  # pragma: no cover (PEP 475 retries; kept for clarity)
            continue

    # Nothing we leave behind may keep running; ignore further Ctrl-C while cleaning up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stopped = stop_descendants(args.grace)
    if stopped:
        print(
            f"subreaper: stopped {len(stopped)} process(es) left behind by {name}:",
            file=sys.stderr,
        )
        for line in stopped:
            print(f"  {line}", file=sys.stderr)
    return returncode if returncode >= 0 else 128 - returncode


if __name__ == "__main__":
    sys.exit(main())
