"""``sxwl``: the command line of the platform (submit, list, follow, stop, download jobs).

The parser built here is shared with the ``%sxwl`` magics, so a command reads the same in a
terminal and in a notebook. Errors print as ``error: …`` lines, never as tracebacks; the exit
status is 2 for a request the platform refused as wrong (4xx) and 1 for anything else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from .client import (
    FINAL_STATUSES,
    PRIORITIES,
    Client,
    Job,
    SxwlAPIError,
    SxwlError,
    save_login,
)
from .client.connection import api_root

JOB_TYPES = ("single", "pytorch", "mpi", "deepspeed")

ENV_HELP = """\
environment of every process:
  MASTER_ADDR, MASTER_PORT  where rank 0 listens; torch.distributed.init_process_group()
                            reads them (init_method "env://", the default)
  WORLD_SIZE                number of processes in all: WORKER_CNT x GPUS_PER_NODE
  RANK                      this process's global rank, 0 .. WORLD_SIZE-1
  LOCAL_RANK                its rank on its node, 0 .. GPUS_PER_NODE-1 (pick your device with it)
  WORKER_CNT                number of nodes (--nodes), master included
  GPUS_PER_NODE             processes per node (--procs-per-node)
  SXWL_CHECKPOINT_DIR       save checkpoints here; kept by `sxwl restart --resume ID`
  SXWL_MODEL_DIR            save the trained model here: these files are the job's artifacts
                            (`sxwl artifacts ID`, `sxwl download ID`)
  SXWL_METRICS_FILE         append one JSON object a line, e.g. {"step": 10, "loss": 0.4},
                            to see them in the job's metrics
  SXWL_RESUME               1 when the job was restarted with --resume (then load the latest
                            checkpoint from SXWL_CHECKPOINT_DIR), else 0
"""

COMMAND_HELP = """\
COMMAND runs with bash, in --working-dir inside a copy of --code-dir (the current folder by
default; .git, __pycache__, .venv, node_modules and what .sxwlignore lists stay behind).
Put it after "--" so its own options are not taken for sxwl's. One quoted word is run as a
shell line ("sh run.sh && python eval.py"); several words are quoted for you.
"""

TYPE_DESCRIPTIONS = {
    "single": (
        "Submit a job that runs COMMAND as one process.\n\n"
        "The process gets SXWL_CHECKPOINT_DIR, SXWL_MODEL_DIR, SXWL_METRICS_FILE and\n"
        "SXWL_RESUME (see `sxwl submit pytorch --help`).\n",
        "example:\n  sxwl submit single --name prep --cpu 2 -- python prepare.py --out data/\n",
    ),
    "pytorch": (
        "Submit a PyTorch distributed (DDP) training job.\n\n"
        "The job runs on --nodes nodes: the first is the master, the others are workers\n"
        "(Master + Worker = nodes). On every node torchrun starts --procs-per-node copies of\n"
        "COMMAND, one per card when the flavour has accelerators. In the words of training\n"
        "scripts written for other platforms:\n\n"
        "  WORKER_CNT    = --nodes           the number of nodes, master + workers\n"
        "  GPUS_PER_NODE = --procs-per-node  processes per node = cards per node of the flavour\n"
        "                                    (--accelerators); --gpus-per-node is the same option\n"
        "  WORLD_SIZE    = WORKER_CNT x GPUS_PER_NODE\n\n"
        "On CPU flavours use the gloo backend; on NVIDIA cards nccl, on Ascend hccl.\n",
        "example:\n"
        "  sxwl submit pytorch --name bert-ddp --nodes 2 --procs-per-node 2 --flavour cpu \\\n"
        "      --checkpoint-path checkpoints --model-path output --max-run-minutes 60 \\\n"
        "      -- python train.py --epochs 3\n"
        "  sxwl logs -f JOB_ID                  follow its log\n"
        "  sxwl stop JOB_ID; sxwl restart --resume JOB_ID\n"
        "  sxwl download JOB_ID -o model/       fetch what it saved in SXWL_MODEL_DIR\n",
    ),
    "mpi": (
        "Submit an MPI job: mpirun starts nodes x procs-per-node copies of COMMAND\n"
        "(mpi4py, Horovod-style scripts). Each copy gets the variables below; OMPI_COMM_WORLD_*\n"
        "are set by mpirun as usual.\n",
        "example:\n  sxwl submit mpi --nodes 1 --procs-per-node 4 -- python allreduce.py\n",
    ),
    "deepspeed": (
        "Submit a DeepSpeed job: a PyTorch distributed job (see `sxwl submit pytorch --help`)\n"
        "whose processes get the environment the DeepSpeed launcher would give them, so\n"
        "deepspeed.init_distributed() finds its peers. Pass your DeepSpeed config as usual.\n",
        "example:\n"
        "  sxwl submit deepspeed --nodes 2 --procs-per-node 8 --flavour a100 --accelerators 8 \\\n"
        "      -- python train.py --deepspeed --deepspeed_config ds.json\n",
    ),
}


class CommandError(SxwlError):
    """A command line that makes no sense (reported like an API 4xx: exit status 2)."""


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. --env LR=0.1")
    return key.strip(), value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _add_submit_options(p: argparse.ArgumentParser, job_type: str) -> None:
    p.add_argument("--name", help="job name (letters, digits, - _ .); default: from COMMAND")
    shape = p.add_argument_group("shape")
    if job_type != "single":
        shape.add_argument(
            "--nodes",
            type=_positive_int,
            metavar="N",
            help="nodes (Master + Worker); the script sees it as WORKER_CNT (default 1)",
        )
        shape.add_argument(
            "--procs-per-node",
            "--gpus-per-node",
            dest="procs_per_node",
            type=_positive_int,
            metavar="M",
            help="processes per node, one per card; the script sees it as GPUS_PER_NODE "
            "(default: --accelerators, else 1)",
        )
    resources = p.add_argument_group("resources (per node)")
    resources.add_argument("--flavour", help="accelerator flavour (see `sxwl flavours`)")
    resources.add_argument(
        "--accelerators", type=int, metavar="N", help="cards per node (GPU/NPU), 0 for CPU only"
    )
    resources.add_argument("--cpu", type=float, metavar="CORES", help="CPU cores per node")
    resources.add_argument("--memory-gb", type=float, metavar="GB", help="memory per node")
    resources.add_argument("--queue", help="queue to wait in (see `sxwl queues`)")
    resources.add_argument("--priority", choices=PRIORITIES, help="priority within the queue")
    resources.add_argument("--image", help="container image (cluster mode)")
    code = p.add_argument_group("code and environment")
    code.add_argument(
        "--env",
        action="append",
        type=_env_pair,
        default=[],
        metavar="KEY=VALUE",
        help="environment variable for the job (repeatable)",
    )
    code.add_argument(
        "--code-dir",
        default=".",
        metavar="DIR",
        help="folder uploaded as the job's code (default: the current folder)",
    )
    code.add_argument(
        "--no-code", action="store_true", help="upload no code; COMMAND needs nothing local"
    )
    code.add_argument(
        "--working-dir", metavar="PATH", help="folder inside the code to run COMMAND in"
    )
    storage = p.add_argument_group("checkpoints, model and time")
    storage.add_argument(
        "--checkpoint-path",
        metavar="PATH",
        help="relative folder for checkpoints (also $SXWL_CHECKPOINT_DIR)",
    )
    storage.add_argument("--checkpoint-capacity-gb", type=float, metavar="GB")
    storage.add_argument(
        "--model-path",
        metavar="PATH",
        help="relative folder the model is saved to (also $SXWL_MODEL_DIR); its files are "
        "the job's artifacts",
    )
    storage.add_argument("--model-capacity-gb", type=float, metavar="GB")
    storage.add_argument(
        "--max-run-minutes",
        type=int,
        metavar="MIN",
        help="stop the job after this long (it ends as TimedOut)",
    )
    after = p.add_argument_group("after submitting")
    after.add_argument("--wait", action="store_true", help="wait until the job ends")
    after.add_argument(
        "--follow", "-f", action="store_true", help="print the job's log until it ends"
    )
    p.add_argument("command", nargs="*", metavar="COMMAND", help="what to run (after --)")


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser(prog: str = "sxwl") -> argparse.ArgumentParser:
    """The whole command line; ``prog`` is ``%sxwl`` when the magics use it."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run training jobs on the sxwl platform.",
        formatter_class=raw,
        epilog=f"`{prog} COMMAND --help` explains each command; "
        f"`{prog} submit pytorch --help` explains distributed jobs.",
    )
    parser.add_argument("--url", help="platform URL (default: discovered, see `sxwl login`)")
    parser.add_argument("--token", help="API token (default: discovered)")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "login",
        help="remember the platform URL and token",
        description="Check URL and TOKEN against the platform and save them (mode 0600) in "
        "$XDG_CONFIG_HOME/sxwl/config.json for later commands and the SDK.",
    )
    p.add_argument("--url", dest="login_url", required=True, metavar="URL")
    p.add_argument(
        "--token", dest="login_token", metavar="TOKEN", help="hub API token (asked if omitted)"
    )
    p.add_argument("--no-verify", action="store_true", help="save without checking")

    for name, help_text in (
        ("info", "who you are and what the platform offers"),
        ("flavours", "the accelerator flavours"),
        ("queues", "the queues and their quotas"),
    ):
        _json_option(sub.add_parser(name, help=help_text, description=help_text))

    p = sub.add_parser(
        "submit",
        help="submit a job",
        formatter_class=raw,
        description="Submit a job of one of these types:\n"
        "  single     one process\n"
        "  pytorch    PyTorch DDP: nodes x procs-per-node processes under torchrun\n"
        "  mpi        nodes x procs-per-node processes under mpirun\n"
        "  deepspeed  a PyTorch job for DeepSpeed scripts\n\n"
        f"`{prog} submit TYPE --help` lists the options and the environment a job gets.",
    )
    types = p.add_subparsers(dest="job_type", metavar="TYPE", required=True)
    for job_type in JOB_TYPES:
        description, example = TYPE_DESCRIPTIONS[job_type]
        tp = types.add_parser(
            job_type,
            help=description.split("\n", 1)[0],
            formatter_class=raw,
            usage="%(prog)s [options] -- COMMAND...",
            description=description,
            epilog=ENV_HELP + "\n" + COMMAND_HELP + "\n" + example,
        )
        _add_submit_options(tp, job_type)

    p = sub.add_parser("jobs", help="list your jobs", description="List your jobs.")
    p.add_argument("--all", action="store_true", help="everyone's jobs (admins)")
    p.add_argument("--status", help="only jobs in this status, e.g. Running")
    p.add_argument("-q", "--query", help="only jobs whose name contains this")
    _json_option(p)

    p = sub.add_parser("job", help="show one job", description="Show one job in detail.")
    p.add_argument("id")
    _json_option(p)

    p = sub.add_parser("logs", help="print or follow a job's log", description="Print a log.")
    p.add_argument("id")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until it ends")
    p.add_argument("--search", metavar="TEXT", help="only the lines containing TEXT")
    p.add_argument("--regex", action="store_true", help="TEXT is a regular expression")
    p.add_argument("--attempt", type=_positive_int, help="which run of the job (default: last)")
    _json_option(p)

    for name, help_text in (
        ("stop", "stop a job (every process of it)"),
        ("delete", "delete a job, its log and its files (stops it first)"),
    ):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("id")
    p = sub.add_parser(
        "restart",
        help="run a finished or stopped job again",
        description="Run a job again as a new attempt.",
    )
    p.add_argument("id")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the checkpoint folder so the script continues from its last checkpoint",
    )

    p = sub.add_parser("artifacts", help="list the files a job saved", description="Artifacts.")
    p.add_argument("id")
    _json_option(p)

    p = sub.add_parser(
        "download",
        help="download a job's saved files",
        description="Download one artifact, or all of them, keeping their relative paths.",
    )
    p.add_argument("id")
    p.add_argument("path", nargs="?", help="one artifact (default: all)")
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder to write into")

    p = sub.add_parser(
        "priority",
        help="change a queued job's priority (admins)",
        description="Change a queued job's priority (admins only).",
    )
    p.add_argument("id")
    p.add_argument("priority", choices=PRIORITIES)
    return parser


def parse_args(
    argv: Sequence[str], parser: argparse.ArgumentParser | None = None
) -> argparse.Namespace:
    """Parse a command line. Everything after the first ``--`` is the job's COMMAND, taken
    verbatim (argparse alone would still read options hidden in it in some positions)."""
    parser = parser or build_parser()
    argv = list(argv)
    command: list[str] | None = None
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if command is not None:
        if args.cmd != "submit":
            parser.error("only `submit` takes a COMMAND after --")
        if args.command:
            parser.error(
                f"give COMMAND once, after --; found {shlex.join(args.command)!r} before it"
            )
        args.command = command
    return args


# -- what a submit sends -------------------------------------------------------------------


def command_text(words: Sequence[str]) -> str:
    """One word is a shell line as written; several are quoted so each stays one argument."""
    if len(words) == 1:
        return words[0]
    return shlex.join(words)


def default_job_name(command: str) -> str:
    """A name from the command: the script's name (``train.py`` -> ``train``), else ``job``."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for word in words:
        if re.search(r"\.(py|sh)$", word):
            stem = word.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")
            if name:
                return name[:60]
    return "job"


def submit_fields(args: argparse.Namespace, command: str | None = None) -> dict[str, Any]:
    """The job fields of ``Client.submit_job`` for a parsed ``submit`` command line.

    ``command`` replaces the words after ``--`` (the ``%%sxwl submit`` cell body does that).
    """
    if command is None:
        command = command_text(args.command) if args.command else ""
    if not command.strip():
        raise CommandError(
            "command: nothing to run; put the command after --, e.g. -- python train.py"
        )
    procs = getattr(args, "procs_per_node", None)
    if procs is None and args.job_type in ("pytorch", "deepspeed") and args.accelerators:
        procs = args.accelerators  # one process per card, as GPUS_PER_NODE means
    fields: dict[str, Any] = {
        "name": args.name or default_job_name(command),
        "command": command,
        "job_type": args.job_type,
        "nodes": getattr(args, "nodes", None),
        "procs_per_node": procs,
        "flavour": args.flavour,
        "accelerators_per_node": args.accelerators,
        "cpu_per_node": args.cpu,
        "memory_gb_per_node": args.memory_gb,
        "queue": args.queue,
        "priority": args.priority,
        "env": dict(args.env) if args.env else None,
        "working_dir": args.working_dir,
        "checkpoint_path": args.checkpoint_path,
        "checkpoint_capacity_gb": args.checkpoint_capacity_gb,
        "model_path": args.model_path,
        "model_capacity_gb": args.model_capacity_gb,
        "max_run_minutes": args.max_run_minutes,
        "image": args.image,
    }
    return {k: v for k, v in fields.items() if v is not None}


# -- text output ---------------------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """``75`` -> ``1m15s``; ``None`` -> ``-``."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def format_size(size: float) -> str:
    """Bytes in the unit a person reads (``2.5 MB``)."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, like ``kubectl get``."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [list(headers), *rows]
    ]
    return "\n".join(lines)


def queue_column(job: Job, width: int = 60) -> str:
    """``#3 queue default has 0 of 8 cards free…`` for a queued job, else ``-``."""
    if job.get("status") != "Queued":
        return "-"
    text = (
        " ".join(
            x
            for x in (
                f"#{job['queue_position']}" if job.get("queue_position") else "",
                job.get("wait_reason") or "",
            )
            if x
        )
        or "waiting"
    )
    return text if len(text) <= width else text[: width - 1] + "…"


def format_jobs(jobs: Sequence[Job], show_owner: bool = False) -> str:
    """The ``sxwl jobs`` table."""
    if not jobs:
        return "no jobs"
    headers = ["ID", "NAME", "STATUS", "QUEUE POS/REASON", "FLAVOUR", "DURATION"]
    if show_owner:
        headers.insert(2, "OWNER")
    rows = []
    for j in jobs:
        row = [
            str(j.get("id", "")),
            str(j.get("name", "")),
            str(j.get("status", "")),
            queue_column(j),
            str(j.get("flavour") or "-"),
            format_duration(j.get("duration_seconds")),
        ]
        if show_owner:
            row.insert(2, str(j.get("owner", "")))
        rows.append(row)
    return format_table(headers, rows)


def format_job(job: Job) -> str:
    """``sxwl job ID``: the fields a person looks for, one per line."""
    shape = f"{job.get('nodes', 1)} node(s) x {job.get('procs_per_node', 1)} process(es)"
    lines = [
        ("id", job.get("id")),
        ("name", job.get("name")),
        ("owner", job.get("owner")),
        ("status", job.get("status")),
    ]
    if job.get("status") == "Queued":
        lines.append(("queue position", job.get("queue_position")))
        lines.append(("waiting because", job.get("wait_reason")))
    if job.get("message"):
        lines.append(("message", job.get("message")))
    lines += [
        ("type", f"{job.get('job_type')}, {shape}"),
        ("queue / priority", f"{job.get('queue')} / {job.get('priority')}"),
        (
            "resources per node",
            f"flavour {job.get('flavour')}, {job.get('accelerators_per_node', 0)} card(s), "
            f"{job.get('cpu_per_node')} CPU, {job.get('memory_gb_per_node')} GB",
        ),
        ("command", job.get("command")),
        ("working dir", job.get("working_dir")),
        ("code package", job.get("code_package")),
        ("image", job.get("image")),
        ("env", " ".join(f"{k}={v}" for k, v in (job.get("env") or {}).items()) or None),
        (
            "checkpoints",
            f"{job.get('checkpoint_path')} ({job.get('checkpoint_capacity_gb')} GB)"
            if job.get("checkpoint_path")
            else None,
        ),
        (
            "model",
            f"{job.get('model_path')} ({job.get('model_capacity_gb')} GB)"
            if job.get("model_path")
            else None,
        ),
        ("max run time", f"{job['max_run_minutes']} min" if job.get("max_run_minutes") else None),
        ("attempt", job.get("attempt")),
        ("created", job.get("created_at")),
        ("started", job.get("started_at")),
        ("finished", job.get("finished_at")),
        ("duration", format_duration(job.get("duration_seconds"))),
        ("exit code", job.get("exit_code")),
    ]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in lines if v not in (None, ""))


def status_line(job: Job) -> str:
    """One line about a job's state, e.g. after submitting it."""
    text = f"{job.get('id')} ({job.get('name')}): {job.get('status')}"
    if job.get("status") == "Queued":
        if job.get("queue_position"):
            text += f", position {job['queue_position']} in queue {job.get('queue')}"
        if job.get("wait_reason"):
            text += f"; {job['wait_reason']}"
    elif job.get("status") in FINAL_STATUSES:
        if job.get("exit_code") is not None:
            text += f", exit code {job['exit_code']}"
        if job.get("message"):
            text += f": {job['message']}"
    return text


def format_error(error: BaseException) -> str:
    """``error: <detail>`` and one indented line per field error not already said."""
    lines = [f"error: {error}"]
    if isinstance(error, SxwlAPIError):
        for e in error.errors:
            said = f"{e.get('field')}: {e.get('message')}"
            if said not in error.detail and e.get("message") != error.detail:
                lines.append(f"  {said}")
    return "\n".join(lines)


# -- commands ------------------------------------------------------------------------------

Out = IO[str]


def _print_json(data: Any, out: Out) -> None:
    out.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def cmd_login(args: argparse.Namespace, client_factory: Callable[..., Client], out: Out) -> int:
    token = args.login_token
    if not token:
        if not sys.stdin.isatty():
            token = sys.stdin.readline().strip()
        else:
            token = getpass.getpass("token: ").strip()
    url = api_root(args.login_url)
    who = ""
    if not args.no_verify:
        user = client_factory(url=url, token=token).info().get("user") or {}
        who = f" as {user.get('name')}" + (" (admin)" if user.get("admin") else "")
    path = save_login(url, token)
    out.write(f"logged in to {url}{who}; saved to {path}\n")
    return 0


def cmd_info(args: argparse.Namespace, client: Client, out: Out) -> int:
    info = client.info()
    if args.json:
        _print_json(info, out)
        return 0
    user = info.get("user") or {}
    out.write(
        f"platform:   {client.url} (version {info.get('version')})\n"
        f"user:       {user.get('name')}{' (admin)' if user.get('admin') else ''}\n"
        f"flavours:   {', '.join(f['name'] for f in info.get('flavours', []))}\n"
        f"queues:     {', '.join(q['name'] for q in info.get('queues', []))}\n"
        f"priorities: {', '.join(info.get('priorities', []))}\n"
        f"job types:  {', '.join(info.get('job_types', []))}\n"
    )
    return 0


def cmd_flavours(args: argparse.Namespace, client: Client, out: Out) -> int:
    items = client.flavours()
    if args.json:
        _print_json(items, out)
        return 0
    rows = [
        [
            f["name"],
            str(f.get("resource_name") or "-"),
            str(f.get("accelerators_per_node", 0)),
            f"{f.get('cpu_per_node')}",
            f"{f.get('memory_gb_per_node')}",
            str(f.get("nodes")),
            f"{f.get('price_per_card_hour', 0)}",
            str(f.get("description") or ""),
        ]
        for f in items
    ]
    headers = ["NAME", "RESOURCE", "CARDS/NODE", "CPU/NODE", "MEM GB/NODE", "NODES", "PRICE/H", ""]
    out.write(format_table(headers, rows) + "\n")
    return 0


def cmd_queues(args: argparse.Namespace, client: Client, out: Out) -> int:
    items = client.queues()
    if args.json:
        _print_json(items, out)
        return 0

    def quotas(q: dict[str, Any]) -> str:
        parts = []
        for flavour, quota in (q.get("quotas") or {}).items():
            limits = [
                f"{quota[k]} {k}" for k in ("accelerators", "cpu") if quota.get(k) is not None
            ]
            parts.append(f"{flavour}: {', '.join(limits) or 'no limit'}")
        return "; ".join(parts) or "-"

    rows = [
        [q["name"], str(q.get("running", 0)), str(q.get("pending", 0)), quotas(q)] for q in items
    ]
    out.write(format_table(["NAME", "RUNNING", "PENDING", "QUOTAS"], rows) + "\n")
    return 0


def follow_and_report(client: Client, job_id: str, follow: bool, out: Out) -> int:
    """Print the log (``follow``) or status changes until the job ends; 0 if it succeeded."""
    if follow:
        for text in client.follow_logs(job_id):
            out.write(text)
            out.flush()
        job = client.wait(job_id)
    else:
        last = None
        while True:
            job = client.job(job_id)
            line = status_line(job)
            if line != last:
                out.write(line + "\n")
                out.flush()
                last = line
            if job.get("status") in FINAL_STATUSES:
                break
            time.sleep(1.0)
    if follow:
        out.write(status_line(job) + "\n")
    return 0 if job.get("status") == "Succeeded" else 1


def cmd_submit(args: argparse.Namespace, client: Client, out: Out) -> int:
    fields = submit_fields(args)
    code_dir = None if args.no_code else args.code_dir
    job = client.submit_job(code_dir=code_dir, **fields)
    out.write(f"submitted {status_line(job)}\n")
    out.flush()
    if args.wait or args.follow:
        return follow_and_report(client, job["id"], args.follow, out)
    return 0


def cmd_jobs(args: argparse.Namespace, client: Client, out: Out) -> int:
    jobs = client.jobs(status=args.status, q=args.query, all_users=args.all)
    if args.json:
        _print_json(jobs, out)
    else:
        out.write(format_jobs(jobs, show_owner=args.all) + "\n")
    return 0


def cmd_job(args: argparse.Namespace, client: Client, out: Out) -> int:
    job = client.job(args.id)
    if args.json:
        _print_json(job, out)
    else:
        out.write(format_job(job) + "\n")
    return 0


def cmd_logs(args: argparse.Namespace, client: Client, out: Out) -> int:
    if args.search:
        found = client.search_logs(args.id, args.search, regex=args.regex)
        if args.json:
            _print_json(found, out)
        else:
            for m in found.get("matches", []):
                out.write(f"{m.get('line')}: {m.get('text')}\n")
        return 0
    if args.follow:
        for text in client.follow_logs(args.id, attempt=args.attempt):
            out.write(text)
            out.flush()
        return 0
    out.write(client.full_log(args.id, attempt=args.attempt))
    return 0


def cmd_stop(args: argparse.Namespace, client: Client, out: Out) -> int:
    out.write(status_line(client.stop(args.id)) + "\n")
    return 0


def cmd_restart(args: argparse.Namespace, client: Client, out: Out) -> int:
    job = client.restart(args.id, resume=args.resume)
    out.write(f"restarted {'(resuming) ' if args.resume else ''}{status_line(job)}\n")
    return 0


def cmd_delete(args: argparse.Namespace, client: Client, out: Out) -> int:
    client.delete(args.id)
    out.write(f"deleted {args.id}\n")
    return 0


def cmd_artifacts(args: argparse.Namespace, client: Client, out: Out) -> int:
    items = client.artifacts(args.id)
    if args.json:
        _print_json(items, out)
    elif not items:
        out.write("no artifacts (the job saved nothing in its model folder)\n")
    else:
        rows = [
            [a["path"], format_size(a.get("size", 0)), str(a.get("modified", ""))] for a in items
        ]
        out.write(format_table(["PATH", "SIZE", "MODIFIED"], rows) + "\n")
    return 0


def cmd_download(args: argparse.Namespace, client: Client, out: Out) -> int:
    written = client.download(args.id, args.path, dest=args.output)
    for path in written:
        out.write(f"{path}\n")
    if not written:
        out.write("nothing to download: the job has no artifacts\n")
    return 0


def cmd_priority(args: argparse.Namespace, client: Client, out: Out) -> int:
    out.write(status_line(client.set_priority(args.id, args.priority)) + "\n")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Client, Out], int]] = {
    "info": cmd_info,
    "flavours": cmd_flavours,
    "queues": cmd_queues,
    "submit": cmd_submit,
    "jobs": cmd_jobs,
    "job": cmd_job,
    "logs": cmd_logs,
    "stop": cmd_stop,
    "restart": cmd_restart,
    "delete": cmd_delete,
    "artifacts": cmd_artifacts,
    "download": cmd_download,
    "priority": cmd_priority,
}


def exit_status(error: BaseException) -> int:
    """2 for a request that was wrong (4xx, bad command line), 1 for anything else."""
    if isinstance(error, CommandError):
        return 2
    if isinstance(error, SxwlAPIError) and error.is_client_error:
        return 2
    return 1


def run(
    args: argparse.Namespace,
    client: Client | None = None,
    out: Out | None = None,
    err: Out | None = None,
    client_factory: Callable[..., Client] = Client,
) -> int:
    """Run one parsed command; errors become ``error: …`` on ``err`` and an exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if args.cmd == "login":
            return cmd_login(args, client_factory, out)
        if client is None:
            client = client_factory(url=args.url, token=args.token)
        return COMMANDS[args.cmd](args, client, out)
    except SxwlError as e:
        err.write(format_error(e) + "\n")
        return exit_status(e)
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
    except OSError as e:  # writing a download, reading the code folder
        err.write(f"error: {e}\n")
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sxwl`` command."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
