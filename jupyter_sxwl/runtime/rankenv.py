"""Per-rank shim of distributed local jobs: sets the rank environment, runs, records the exit.

The supervisor starts it as a *script* (by file path, not ``-m``) under torchrun and mpirun, so it
imports nothing but the standard library and works whatever the job's working directory and
``PYTHONPATH`` are::

    python rankenv.py --procs-per-node M --device-env JSON --exit-dir DIR -- bash -c COMMAND

Under mpirun it maps Open MPI's ``OMPI_COMM_WORLD_*`` to ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
/``NODE_RANK``; under torchrun those are already set. It then runs the command as a child (not
``exec``) so that it can write ``DIR/<rank>.json`` with the exit code once the command ends: the
supervisor uses those records to name the rank that failed first and its real exit code, which
torchrun and mpirun would otherwise hide behind their own. With ``--prefix-output`` it also
passes the command's output on line by line, prefixed with ``[rank N] ``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

PARTIAL_LINE_LIMIT = 4000  # below PIPE_BUF, so one write of a line stays whole


def rank_environment(
    environ: Mapping[str, str], procs_per_node: int, device_env: list[dict[str, str]]
) -> dict[str, str]:
    """The environment of one rank, derived from what the launcher (torchrun or mpirun) set."""
    env = dict(environ)
    if "OMPI_COMM_WORLD_RANK" in env:
        rank = int(env["OMPI_COMM_WORLD_RANK"])
        env["RANK"] = str(rank)
        env["WORLD_SIZE"] = env["OMPI_COMM_WORLD_SIZE"]
        # One machine plays several nodes, so a node is a block of procs_per_node consecutive
        # ranks; on real hosts with by-slot mapping this equals OMPI_COMM_WORLD_LOCAL_RANK.
        node = rank // procs_per_node
        env["LOCAL_RANK"] = str(rank % procs_per_node)
        env["NODE_RANK"] = str(node)
        if node < len(device_env):
            env.update(device_env[node])
    return env


def exit_code_of(returncode: int) -> tuple[int, str | None]:
    """Shell-style exit code (128 + signal for a killed process) and the signal's name."""
    if returncode >= 0:
        return returncode, None
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return 128 - returncode, name


def _write_line(data: bytes) -> None:
    # Without a reader (the launcher died) output is lost, but the rank must still finish.
    with contextlib.suppress(BrokenPipeError):
        os.write(1, data)


def copy_prefixed(child: subprocess.Popen[bytes], prefix: bytes) -> None:
    """Copy the child's output to our stdout a whole line at a time, each line prefixed.

    The ranks of one node share their launcher's stdout; one write per line (shorter than
    PIPE_BUF) keeps their lines from mixing. Returns at EOF, or shortly after the child exits
    when something it left running in the background still holds the pipe.
    """
    assert child.stdout is not None
    fd = child.stdout.fileno()
    partial = b""
    exited_at: float | None = None
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        chunk = os.read(fd, 65536) if ready else b""
        if ready and not chunk:
            break
        lines = (partial + chunk).split(b"\n")
        partial = lines.pop()
        if len(partial) >= PARTIAL_LINE_LIMIT:  # a progress bar without newlines
            lines.append(partial)
            partial = b""
        for line in lines:
            _write_line(prefix + line + b"\n")
        if exited_at is None and child.poll() is not None:
            exited_at = time.monotonic()
        if exited_at is not None and not ready and time.monotonic() - exited_at > 1.0:
            break
    if partial:
        _write_line(prefix + partial + b"\n")
    child.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--procs-per-node", type=int, default=1)
    parser.add_argument("--device-env", default="[]", help="JSON list, one mapping per node")
    parser.add_argument("--exit-dir", type=Path, required=True)
    parser.add_argument(
        "--prefix-output", action="store_true", help="prefix each output line with the rank"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")

    env = rank_environment(os.environ, args.procs_per_node, json.loads(args.device_env))
    children: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    # Its own process group, so that a forwarded signal reaches everything the command started.
    child = subprocess.Popen(
        command,
        env=env,
        process_group=0,
        stdout=subprocess.PIPE if args.prefix_output else None,
        stderr=subprocess.STDOUT if args.prefix_output else None,
    )
    children.append(child)
    if args.prefix_output:
        copy_prefixed(child, f"[rank {env.get('RANK', '?')}] ".encode())
    code, signal_name = exit_code_of(child.wait())
    record = {
        "rank": int(env.get("RANK", "0")),
        "node_rank": int(env.get("NODE_RANK", env.get("GROUP_RANK", "0"))),
        "local_rank": int(env.get("LOCAL_RANK", "0")),
        "exit_code": code,
        "signal": signal_name,
        "finished_at": time.time(),
    }
    args.exit_dir.mkdir(parents=True, exist_ok=True)
    path = args.exit_dir / f"{record['rank']}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, path)
    return code


if __name__ == "__main__":
    sys.exit(main())
