"""The ``%sxwl`` / ``%%sxwl`` magics: the ``sxwl`` command line inside a notebook.

``%load_ext jupyter_sxwl`` registers them. The command line is the CLI's own parser, so
``%sxwl submit pytorch --nodes 2 -- python train.py`` means what ``sxwl submit …`` means in a
terminal. With ``%%sxwl submit pytorch --nodes 2`` the cell body is the command to run.

In a kernel with ipywidgets, ``submit``, ``job``, ``restart``, ``jobs`` and ``logs`` show live
widgets, ``datasets`` and ``models`` tables, and the long commands (``dataset import``,
``publish``, ``model import``…) a progress bar while they wait; elsewhere (a terminal
IPython, no ipywidgets) they print what the CLI prints, progress on stderr.
``%sxwl submit`` returns the new job's id, so ``job_id = %sxwl submit …`` works.

``%%sxwl finetune [--name N] [--model M] [--dataset D] [--wait]`` starts a fine-tune from the
LLaMA-Factory YAML in the cell body and shows it training (step, epoch, ETA, loss, learning
rate, tokens/s, memory and the loss curve); it returns the fine-tune's id. ``%sxwl finetunes``
lists them; ``%sxwl finetune show|stop|resume|evaluate|export ID`` act on one.

``%sxwl deploy NAME --model sxwl-tiny-llama --wait`` deploys a service, ``%sxwl services``
lists them (a table in a kernel), ``%sxwl service keys NAME --create`` makes a key, and
``%sxwl chat NAME "prompt"`` shows the answer as it streams in.

Importing this module stays light: no torch, kubernetes or server code, and ipywidgets only
when a widget is shown.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from . import cli
from .client import Client, SxwlError

# The client the magics use unless a command names --url/--token; made on first use so a
# kernel can set SXWL_URL/SXWL_TOKEN after loading the extension.
_client: Client | None = None


def get_client(args: argparse.Namespace | None = None) -> Client:
    """The magics' client: one made from ``--url``/``--token`` if given, else a shared one."""
    global _client
    if args is not None and (args.url or args.token):
        return Client(url=args.url, token=args.token)
    if _client is None:
        _client = Client()
    return _client


def reset_client() -> None:
    """Forget the shared client (after ``%sxwl login`` or a change of SXWL_URL)."""
    global _client
    _client = None


def widgets_available(ipython: Any) -> bool:
    """True in a kernel (where widgets can render) that has ipywidgets installed."""
    if getattr(ipython, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _display(obj: Any) -> None:
    from IPython.display import display

    display(obj)


def _report(error: BaseException) -> None:
    sys.stderr.write(cli.format_error(error) + "\n")


def _submit(args: argparse.Namespace, client: Client, use_widgets: bool) -> str:
    fields = cli.submit_fields(args)
    job = client.submit_job(code_dir=None if args.no_code else args.code_dir, **fields)
    if not use_widgets:
        print(f"submitted {cli.status_line(job)}")
        if args.wait or args.follow:
            cli.follow_and_report(client, job["id"], args.follow, sys.stdout)
        return str(job["id"])
    from .widgets import JobStatus, LogView

    status = JobStatus(client, job)
    _display(status)
    if args.follow:
        _display(LogView(client, job["id"], follow=True))
    if args.wait or args.follow:
        status.wait()
    return str(job["id"])


def _finetune_create(args: argparse.Namespace, client: Client, use_widgets: bool) -> str:
    ft = client.create_finetune(**cli.finetune_spec(args, getattr(args, "yaml_text", None)))
    if not use_widgets:
        print(f"created {cli.finetune_line(ft)}")
        if args.wait or args.follow:
            args.progress = cli.TextProgress(sys.stderr)
            cli.watch_finetune(client, ft, args.follow, sys.stdout, args)
        return str(ft["id"])
    from .widgets import FinetuneView

    view = FinetuneView(client, ft)
    _display(view)
    if args.wait or args.follow:
        view.wait()
    return str(ft["id"])


def _finetune_cell(words: list[str], cell: str) -> tuple[list[str], str | None]:
    """``%%sxwl finetune --name x`` means ``finetune create --name x`` with the cell as YAML."""
    if words[:1] != ["finetune"]:
        return words, (
            "only %%sxwl submit takes a cell: its body is the command "
            "(and %%sxwl finetune, whose body is a LLaMA-Factory YAML)"
        )
    if len(words) == 1 or words[1].startswith("-"):
        words = ["finetune", "create", *words[1:]]
    if words[1] != "create":
        return words, "only %%sxwl finetune (create) takes a cell: its body is the YAML"
    if "-f" in words or "--file" in words:
        return words, "give the YAML either with -f or as the cell body"
    return words, None


# Commands that wait on the platform and report progress: a bar in a kernel.
PROGRESS_COMMANDS = frozenset(
    {
        "publish",
        "dataset import",
        "dataset publish",
        "dataset accelerate",
        "model import",
        "model import-shared",
        "model export",
    }
)


def _run_with_progress_bar(args: argparse.Namespace, client: Client) -> None:
    from .widgets import ProgressBar

    bar = ProgressBar(f"{args.cmd} {getattr(args, 'action', None) or ''}".strip())
    _display(bar)
    status = cli.run(args, client=client, progress=bar)
    bar.set_outcome(status == 0, None if status == 0 else "failed (see the message below)")


def _run_with_widgets(args: argparse.Namespace, client: Client) -> bool:
    """Show the widget for ``args`` if there is one; False when the command has none."""
    from .widgets import (
        ChatAnswer,
        DatasetsTable,
        FinetunesTable,
        FinetuneView,
        JobsTable,
        JobStatus,
        LogView,
        ModelsTable,
        ServicesTable,
    )

    key = cli.command_key(args)
    if key in PROGRESS_COMMANDS:
        _run_with_progress_bar(args, client)
    elif key in ("finetunes", "finetune list") and not args.json:
        _display(FinetunesTable(client))
    elif key == "finetune show" and not args.json:
        _display(FinetuneView(client, args.id))
    elif key == "finetune resume":
        view = FinetuneView(client, client.resume_finetune(args.id))
        _display(view)
        if args.wait or args.follow:
            view.wait()
    elif key in ("services", "service list") and not args.json:
        _display(ServicesTable(client))
    elif key == "chat" and args.stream and not args.json:
        messages = [{"role": "user", "content": args.prompt}]
        if args.system:
            messages.insert(0, {"role": "system", "content": args.system})
        options = {"key": args.key, "max_tokens": args.max_tokens, "temperature": args.temperature}
        answer = ChatAnswer(client, args.service, messages, **options)
        _display(answer)
        answer.wait()
    elif args.cmd == "datasets" and not args.json:
        _display(DatasetsTable(client, all_users=args.all))
    elif args.cmd == "models" and not args.json:
        _display(ModelsTable(client, all_users=args.all))
    elif args.cmd == "jobs" and not args.json:
        _display(JobsTable(client, status=args.status, q=args.query, all_users=args.all))
    elif args.cmd == "job" and not args.json:
        _display(JobStatus(client, args.id))
    elif args.cmd == "restart":
        _display(JobStatus(client, client.restart(args.id, resume=args.resume)))
    elif args.cmd == "logs" and not args.search and not args.json:
        _display(LogView(client, args.id, follow=args.follow, attempt=args.attempt))
    else:
        return False
    return True


def sxwl_magic(line: str, cell: str | None = None) -> str | None:
    """Run an ``sxwl`` command: ``%sxwl jobs``, ``%sxwl logs JOB -f``, ``%%sxwl submit …``,
    ``%sxwl datasets``, ``%sxwl publish NAME``, ``%sxwl mount dataset NAME``,
    ``%%sxwl finetune --wait`` (a LLaMA-Factory YAML as the cell), ``%sxwl finetunes``,
    ``%sxwl deploy NAME --model M``, ``%sxwl services``, ``%sxwl chat NAME "prompt"``.

    ``%sxwl --help`` lists the commands; ``%sxwl submit pytorch --help`` explains jobs.
    Returns the job id for ``submit``, the fine-tune id for ``finetune create``, None
    otherwise.
    """
    parser = cli.build_parser(prog="%sxwl")
    try:
        words = shlex.split(line)
    except ValueError as e:
        _report(cli.CommandError(f"cannot read the command line: {e}"))
        return None
    if cell is not None and words[:1] != ["submit"]:
        words, problem = _finetune_cell(words, cell)
        if problem:
            _report(cli.CommandError(problem))
            return None
    try:
        args = cli.parse_args(words, parser)
    except SystemExit:  # argparse printed the usage or --help already
        return None
    if cell is not None and args.cmd == "finetune":
        args.yaml_text = cell
    elif cell is not None:
        if args.command:
            _report(cli.CommandError("give the command either after -- or as the cell body"))
            return None
        if cell.strip():
            args.command = [cell.strip("\n")]

    from IPython import get_ipython

    use_widgets = widgets_available(get_ipython())
    if args.cmd == "login":
        status = cli.run(args)
        if status == 0:
            reset_client()
        return None
    if cli.command_key(args) in cli.LOCAL_COMMANDS:  # mounts of this lab: no platform needed
        cli.run(args)
        return None
    try:
        client = get_client(args)
        if args.cmd == "submit":
            return _submit(args, client, use_widgets)
        if cli.command_key(args) == "finetune create":
            return _finetune_create(args, client, use_widgets)
        if use_widgets and _run_with_widgets(args, client):
            return None
    except SxwlError as e:
        _report(e)
        return None
    cli.run(args, client=client)
    return None


def register(ipython: Any) -> None:
    """Register ``%sxwl`` and ``%%sxwl`` with an IPython shell."""
    ipython.register_magic_function(sxwl_magic, magic_kind="line_cell", magic_name="sxwl")
