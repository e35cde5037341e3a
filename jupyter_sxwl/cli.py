"""``sxwl``: the command line of the platform: jobs (submit, list, follow, stop, download),
datasets (import, publish, share), models (import, download, export, share), fine-tunes,
services (deploy, update, keys, logs, chat) and mounts.

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
from .client import mounts as lab_mounts
from .client.connection import api_root
from .client.datasets import ANNOTATION_TYPES, RECORD_FILTERS, import_progress
from .client.finetunes import FINETUNE_FINAL_STATUSES, dataset_ref
from .client.models import version_progress
from .client.services import SERVICE_RESOURCE_FIELDS, model_ref
from .client.uploads import Progress, ProgressCallback, operation_progress

MOUNT_KINDS = lab_mounts.KINDS

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
  SXWL_MOUNT_ROOT           what --mount mounted: datasets/NAME/data.jsonl, models/NAME/
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


def _mount_spec(text: str) -> dict[str, Any]:
    """``dataset:faq`` or ``model:my-llama:2`` -> ``{"kind", "name", "version"?}``."""
    kind, _, rest = text.partition(":")
    name, _, version = rest.partition(":")
    if kind not in MOUNT_KINDS or not name:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KIND:NAME[:VERSION], e.g. --mount dataset:faq or model:my-llama:2"
        )
    spec: dict[str, Any] = {"kind": kind, "name": name}
    if version:
        spec["version"] = _positive_int(version)
    return spec


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _add_shape_options(shape: Any) -> None:
    """``--nodes`` and ``--procs-per-node``: the shape of a distributed job (or fine-tune)."""
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


def _add_resource_options(resources: Any) -> None:
    """Flavour, cards, CPU, memory, queue and priority per node (``submit``, ``finetune``)."""
    resources.add_argument("--flavour", help="accelerator flavour (see `sxwl flavours`)")
    resources.add_argument(
        "--accelerators", type=int, metavar="N", help="cards per node (GPU/NPU), 0 for CPU only"
    )
    resources.add_argument("--cpu", type=float, metavar="CORES", help="CPU cores per node")
    resources.add_argument("--memory-gb", type=float, metavar="GB", help="memory per node")
    resources.add_argument("--queue", help="queue to wait in (see `sxwl queues`)")
    resources.add_argument("--priority", choices=PRIORITIES, help="priority within the queue")


def _max_run_option(group: Any) -> None:
    group.add_argument(
        "--max-run-minutes",
        type=int,
        metavar="MIN",
        help="stop the job after this long (it ends as TimedOut)",
    )


def _add_submit_options(p: argparse.ArgumentParser, job_type: str) -> None:
    p.add_argument("--name", help="job name (letters, digits, - _ .); default: from COMMAND")
    shape = p.add_argument_group("shape")
    if job_type != "single":
        _add_shape_options(shape)
    resources = p.add_argument_group("resources (per node)")
    _add_resource_options(resources)
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
    code.add_argument(
        "--mount",
        action="append",
        type=_mount_spec,
        default=[],
        metavar="KIND:NAME[:N]",
        help="mount a dataset or model version read-only (repeatable), e.g. dataset:faq; "
        "the job finds it at $SXWL_MOUNT_ROOT/datasets/faq",
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
    _max_run_option(storage)
    after = p.add_argument_group("after submitting")
    after.add_argument("--wait", action="store_true", help="wait until the job ends")
    after.add_argument(
        "--follow", "-f", action="store_true", help="print the job's log until it ends"
    )
    p.add_argument("command", nargs="*", metavar="COMMAND", help="what to run (after --)")


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _version_option(p: argparse.ArgumentParser, required: bool = False, what: str = "") -> None:
    p.add_argument(
        "-v",
        "--version",
        type=_positive_int,
        metavar="N",
        required=required,
        help=f"version number{what}",
    )


def _wait_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help=f"return once the platform accepted it, without waiting for the {what}",
    )


def _add_dataset_commands(sub: _CommandList, prog: str) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("datasets", help="list the datasets you can use")
    p.add_argument("--all", action="store_true", help="everyone's datasets (admins)")
    _json_option(p)

    p = sub.add_parser(
        "publish",
        help="publish a dataset's working copy as a new version",
        description="Publish the working copy of a dataset as a new, immutable version "
        "(refused while records are invalid: see `dataset records NAME --invalid`).",
    )
    _add_publish_options(p)

    group = sub.add_parser(
        "dataset",
        help="create, import, inspect, download and share one dataset",
        formatter_class=raw,
        description="Work with one dataset. NAME is a dataset's name or id.\n\n"
        "A dataset has a working copy (what you imported, with your fixes) and published\n"
        "versions; jobs and mounts read published versions only.",
        epilog="example:\n"
        f"  {prog} dataset create faq --type instruction\n"
        f"  {prog} dataset import faq train.jsonl        # or a folder, .zip, --url URL\n"
        f"  {prog} dataset records faq --invalid\n"
        f"  {prog} publish faq --notes 'first cut'\n"
        f"  {prog} mount dataset faq                     # ~/mnt/datasets/faq/data.jsonl\n",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("create", help="create an empty dataset", description="Create one.")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--type",
        dest="annotation_type",
        default="instruction",
        choices=ANNOTATION_TYPES,
        help="what a record holds (default: instruction, the alpaca shape)",
    )
    p.add_argument("--description", default="", help="a line about what it holds")
    _json_option(p)

    p = actions.add_parser(
        "import",
        help="add records from a file, a folder or a URL",
        description="Add records to the working copy from a .jsonl/.json/.csv file, a "
        ".zip/.tar.gz of them, a folder (zipped first) or a URL the platform fetches. "
        "Progress goes to stderr, then the report lists invalid records as file:line.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("path", nargs="?", metavar="FILE_OR_DIR", help="what to upload")
    p.add_argument(
        "--url", dest="source_url", metavar="URL", help="let the platform download this instead"
    )
    _wait_option(p, "import")
    _json_option(p)

    p = actions.add_parser("show", help="show a dataset", description="Show one dataset.")
    p.add_argument("name", metavar="NAME")
    _json_option(p)

    p = actions.add_parser(
        "records", help="list records of the working copy", description="List records."
    )
    p.add_argument("name", metavar="NAME")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--invalid", action="store_const", const="invalid", dest="only", help="invalid ones only"
    )
    which.add_argument("--only", choices=RECORD_FILTERS, help="only these records")
    p.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N")
    p.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="show N")
    _json_option(p)

    p = actions.add_parser(
        "publish", help="publish a new version (same as `publish`)", description="Publish."
    )
    _add_publish_options(p)

    p = actions.add_parser(
        "versions", help="list published versions", description="List published versions."
    )
    p.add_argument("name", metavar="NAME")
    _json_option(p)

    p = actions.add_parser(
        "download",
        help="download a published version as JSON Lines",
        description="Download a published version as NAME-vN.jsonl (checked against its sha256).",
    )
    p.add_argument("name", metavar="NAME")
    _version_option(p, what=" (default: the latest)")
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder to write into")

    p = actions.add_parser(
        "accelerate",
        help="keep a fast local copy of a version for jobs and mounts",
        description="Make a fast local copy of a published version.",
    )
    p.add_argument("name", metavar="NAME")
    _version_option(p, required=True)
    p.add_argument("--wait", action="store_true", help="wait until the copy is ready")
    _json_option(p)

    p = actions.add_parser(
        "share",
        help="make a share token someone else adds with `dataset add-shared`",
        description="Make a share token (shown once) for a dataset of yours.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--days", type=_positive_int, default=7, help="valid this long (default 7)")
    _json_option(p)

    p = actions.add_parser(
        "add-shared",
        help="add a dataset shared with you, by its token",
        description="Add a dataset someone shared with you (read-only) to your list.",
    )
    p.add_argument("share_token", metavar="TOKEN", help="the token the owner gave you")
    _json_option(p)

    p = actions.add_parser(
        "revoke-share", help="revoke a share token by its id", description="Revoke a share."
    )
    p.add_argument("share_id", metavar="SHARE_ID")

    p = actions.add_parser(
        "delete",
        help="delete a dataset with its versions",
        description="Delete a dataset of yours with its working copy, versions and shares.",
    )
    p.add_argument("name", metavar="NAME")


def _add_publish_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME")
    p.add_argument("--notes", default="", help="what changed, kept with the version")
    _wait_option(p, "new version")
    _json_option(p)


def _add_model_commands(sub: _CommandList, prog: str) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("models", help="list the models you can use")
    p.add_argument("--all", action="store_true", help="everyone's models (admins)")
    _json_option(p)

    group = sub.add_parser(
        "model",
        help="create, import, download, export and share one model",
        formatter_class=raw,
        description="Work with one model of the repository. NAME is a model's name or id.\n\n"
        "A model holds numbered versions, each a set of files (weights, config, tokenizer).",
        epilog="example:\n"
        f"  {prog} model create my-llama --family llama\n"
        f"  {prog} model import my-llama --job JOB_ID     # what a training job saved\n"
        f"  {prog} model import my-llama --lab-dir out/   # a folder of this lab\n"
        f"  {prog} model files my-llama\n"
        f"  {prog} mount model my-llama                   # ~/mnt/models/my-llama\n",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("create", help="create an empty model", description="Create one.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description", default="", help="a line about it")
    p.add_argument("--family", default="", help="its architecture: llama, qwen2, …")
    _json_option(p)

    p = actions.add_parser("show", help="show a model", description="Show one model.")
    p.add_argument("name", metavar="NAME")
    _json_option(p)

    p = actions.add_parser(
        "import",
        help="import a new version",
        description="Import a new version from exactly one source: FILE (weights or an "
        "archive, uploaded), --url, --job (a finished job's saved model), --lab-dir (a "
        "folder, packed as .tar and uploaded) or --preset (admins: a preset model's public "
        "source). Progress goes to stderr.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("path", nargs="?", metavar="FILE", help="a file or archive to upload")
    p.add_argument("--url", dest="source_url", metavar="URL", help="let the platform download this")
    p.add_argument("--job", dest="job_id", metavar="ID", help="a finished job's model folder")
    p.add_argument("--lab-dir", metavar="DIR", help="a folder of this lab")
    p.add_argument("--preset", action="store_true", help="fetch a preset from its source")
    p.add_argument("--notes", default="", help="kept with the version")
    _wait_option(p, "import")
    _json_option(p)

    p = actions.add_parser("versions", help="list versions", description="List versions.")
    p.add_argument("name", metavar="NAME")
    _json_option(p)

    p = actions.add_parser("files", help="list a version's files", description="List files.")
    p.add_argument("name", metavar="NAME")
    _version_option(p, what=" (default: the latest ready one)")
    _json_option(p)

    p = actions.add_parser(
        "download",
        help="download a version's files",
        description="Download a version's files into DIR/NAME-vN/ (each checked by sha256).",
    )
    p.add_argument("name", metavar="NAME")
    _version_option(p, what=" (default: the latest ready one)")
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder to write into")

    p = actions.add_parser(
        "export",
        help="copy a version's files to an S3 bucket",
        description="Copy a version's files to an S3 bucket of yours.",
    )
    p.add_argument("name", metavar="NAME")
    _version_option(p, required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", default="", help="key prefix, e.g. models/qwen/")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: AWS)")
    p.add_argument("--region")
    p.add_argument("--access-key-id")
    p.add_argument("--secret-access-key")
    p.add_argument("--path-style", action="store_true", help="path-style bucket addressing")
    _wait_option(p, "export")
    _json_option(p)

    p = actions.add_parser(
        "share",
        help="make a share token someone imports with `model import-shared`",
        description="Make a share token (shown once) for a model of yours.",
    )
    p.add_argument("name", metavar="NAME")
    _version_option(p, what=" to share (default: the latest when the token is used)")
    p.add_argument("--days", type=_positive_int, default=7, help="valid this long (default 7)")
    _json_option(p)

    p = actions.add_parser(
        "import-shared",
        help="copy a model shared with you into your repository",
        description="Copy the model version behind a share token into your repository.",
    )
    p.add_argument("share_token", metavar="TOKEN", help="the token the owner gave you")
    p.add_argument("--name", dest="new_name", help="name of your copy (default: its own)")
    _wait_option(p, "copy")
    _json_option(p)

    p = actions.add_parser(
        "revoke-share", help="revoke a share token by its id", description="Revoke a share."
    )
    p.add_argument("share_id", metavar="SHARE_ID")

    p = actions.add_parser(
        "delete",
        help="delete a model, or one version with -v",
        description="Delete a model of yours with all its versions, or only version N.",
    )
    p.add_argument("name", metavar="NAME")
    _version_option(p, what=" to delete (default: the whole model)")


def _add_mount_commands(sub: _CommandList) -> None:
    p = sub.add_parser(
        "mount",
        help="mount a dataset or model version read-only in this lab",
        description="Mount a published dataset version (data.jsonl, dataset_info.json) or a "
        "model version (its files), read-only, at ~/mnt/datasets/NAME or ~/mnt/models/NAME "
        "($SXWL_MOUNT_ROOT moves ~/mnt).",
    )
    p.add_argument("kind", choices=MOUNT_KINDS, help="dataset or model")
    p.add_argument("name", metavar="NAME")
    _version_option(p, what=" (default: the latest)")

    p = sub.add_parser("unmount", help="remove a mount", description="Remove a mount.")
    p.add_argument("kind", choices=MOUNT_KINDS, help="dataset or model")
    p.add_argument("name", metavar="NAME")

    p = sub.add_parser("mounts", help="list the mounts of this lab", description="List mounts.")
    _json_option(p)


def _param_pair(text: str) -> tuple[str, Any]:
    """``--set learning_rate=1e-4`` -> ``("learning_rate", 0.0001)``: numbers, true/false and
    null become values of their type, anything else stays text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE, e.g. --set learning_rate=1e-4"
        )
    word = value.strip()
    parsed: Any = word
    if word.lower() in ("true", "false"):
        parsed = word.lower() == "true"
    elif word.lower() in ("null", "none", ""):
        parsed = None
    else:
        for kind in (int, float):
            try:
                parsed = kind(word)
                break
            except ValueError:
                pass
    return key.strip(), parsed


def _dataset_spec(text: str) -> dict[str, Any]:
    try:
        return dataset_ref(text)
    except SxwlError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("datasets: ")) from None


FINETUNE_EXAMPLE = """\
example (spec.yaml is a LLaMA-Factory training config):
  model_name_or_path: sxwl-tiny-llama
  dataset: alpaca_en_demo
  finetuning_type: lora
  lora_target: all
  learning_rate: 5.0e-4
  num_train_epochs: 1

  {prog} finetune create -f spec.yaml --name demo --follow
  {prog} finetune create --model sxwl-tiny-llama --dataset alpaca_zh_demo:1 \\
      --set lora_rank=16 --set learning_rate=1e-4 --cpu 4 --wait
  {prog} finetune metrics ID --follow       the loss, step by step
  {prog} finetune evaluate ID               ROUGE and BLEU on the validation split
  {prog} finetune export ID --model-name my-llama
  {prog} finetune defaults                  every parameter with its default
"""


def _add_finetune_commands(sub: _CommandList, prog: str) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("finetunes", help="list your fine-tunes")
    _json_option(p)

    group = sub.add_parser(
        "finetune",
        help="fine-tune a model (LoRA, QLoRA, full) and evaluate or export it",
        formatter_class=raw,
        description="Supervised fine-tuning of a model of the repository on published datasets,\n"
        "with LLaMA-Factory's parameter names. ID is a fine-tune's id (ft-…).",
        epilog=FINETUNE_EXAMPLE.format(prog=prog),
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser(
        "create",
        help="start a fine-tune from a LLaMA-Factory YAML and/or options",
        formatter_class=raw,
        description="Start a fine-tune. The spec comes from a LLaMA-Factory training YAML (-f) "
        "and/or\nthe options; options win over the YAML. Everything is checked before the job "
        "is queued.",
        epilog=FINETUNE_EXAMPLE.format(prog=prog),
    )
    p.add_argument(
        "-f", "--file", metavar="SPEC.yaml", help="LLaMA-Factory training YAML ('-': stdin)"
    )
    p.add_argument("--name", help="a name for the fine-tune (default: the YAML file's name)")
    p.add_argument(
        "--model", metavar="NAME[:N]", help="base model of the repository (version N, or latest)"
    )
    p.add_argument(
        "--dataset",
        dest="datasets",
        action="append",
        type=_dataset_spec,
        default=[],
        metavar="NAME[:N]",
        help="published dataset to train on (repeatable; version N, or the latest)",
    )
    p.add_argument(
        "--eval-dataset",
        dest="eval_datasets",
        action="append",
        type=_dataset_spec,
        default=[],
        metavar="NAME[:N]",
        help="dataset to evaluate on (repeatable; default: the validation split)",
    )
    p.add_argument(
        "--set",
        dest="params",
        action="append",
        type=_param_pair,
        default=[],
        metavar="KEY=VALUE",
        help="a parameter (repeatable), e.g. --set lora_rank=16; see `finetune defaults`",
    )
    _add_shape_options(p.add_argument_group("shape"))
    resources = p.add_argument_group("resources (per node)")
    _add_resource_options(resources)
    _max_run_option(resources)
    after = p.add_argument_group("after starting")
    after.add_argument("--wait", action="store_true", help="wait until it ends, with progress")
    after.add_argument(
        "--follow", action="store_true", help="print step, loss and speed until it ends"
    )
    _json_option(p)

    def with_id(name: str, help_text: str, **kw: Any) -> argparse.ArgumentParser:
        action = actions.add_parser(name, help=help_text, description=help_text, **kw)
        action.add_argument("id", metavar="ID")
        return action

    p = actions.add_parser("list", help="list your fine-tunes", description="List them.")
    _json_option(p)
    _json_option(with_id("show", "show a fine-tune: progress, parameters, scores, exports"))

    p = with_id("metrics", "print a fine-tune's metric points (loss, lr, tokens/s…)")
    p.add_argument("--after", type=int, metavar="STEP", help="only the points after STEP")
    p.add_argument("--follow", action="store_true", help="keep printing until it ends")
    _json_option(p)

    p = with_id("logs", "print or follow the training log")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until it ends")

    with_id("stop", "stop a fine-tune (its checkpoints stay, for resume)")
    p = with_id("resume", "continue a stopped fine-tune from its last checkpoint")
    p.add_argument("--wait", action="store_true", help="wait until it ends, with progress")
    p.add_argument("--follow", action="store_true", help="print step, loss and speed")
    with_id("delete", "delete a fine-tune (exported model versions stay)")

    p = with_id(
        "evaluate",
        "score the fine-tuned model: ROUGE-1/2/L and BLEU-4 of generated answers",
    )
    p.add_argument(
        "--dataset",
        type=_dataset_spec,
        metavar="NAME[:N]",
        help="published dataset to evaluate on (default: the validation split of training)",
    )
    p.add_argument("--max-samples", type=_positive_int, metavar="N", help="score N records")
    p.add_argument("--max-new-tokens", type=_positive_int, metavar="N", help="per answer")
    _wait_option(p, "scores")
    _json_option(p)

    p = with_id("predictions", "show or save what an evaluation generated")
    p.add_argument("--evaluation", metavar="EID", help="which evaluation (default: the latest)")
    p.add_argument("--limit", type=_positive_int, default=10, metavar="N", help="show N")
    p.add_argument("-o", "--output", metavar="DIR", help="save the JSONL file into DIR instead")
    _json_option(p)

    p = with_id("export", "register the fine-tuned model as a new model version")
    p.add_argument(
        "--model-name", required=True, metavar="NAME", help="model to add the version to"
    )
    p.add_argument(
        "--adapter-only",
        dest="merge",
        action="store_false",
        help="keep the LoRA adapter apart instead of merging it into the base",
    )
    p.add_argument("--notes", default="", help="kept with the version")
    _wait_option(p, "model version")
    _json_option(p)

    p = with_id("tensorboard", "download the TensorBoard event files")
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder to write into")
    p.add_argument("--tar", action="store_true", help="keep the .tar instead of unpacking it")

    p = actions.add_parser(
        "defaults",
        help="list every parameter with its default and meaning",
        description="List every fine-tune parameter with its default, meaning and choices.",
    )
    _json_option(p)


SERVICE_EXAMPLE = """\
examples:
  {prog} deploy tiny-chat --model sxwl-tiny-llama --cpu 2 --sleep-after 30 --wait
  {prog} deploy tuned --model sxwl-tiny-llama --adapter my-lora:1 --wait
  {prog} deploy app --image python:3.12 --code-dir . --requirements requirements.txt \\
      --command "python app.py" --port 7860
  {prog} service keys tiny-chat --create       a key: its secret is shown this once
  {prog} chat tiny-chat "Hello!"               streams the answer
  {prog} service update tiny-chat --model sxwl-tiny-llama:2 --wait
  {prog} service logs tiny-chat; {prog} service stop tiny-chat; {prog} service delete tiny-chat
"""


def _model_spec(text: str) -> dict[str, Any]:
    """``NAME`` or ``NAME:N`` -> ``{"name", "version"?}``."""
    ref = model_ref(text)
    if not ref or not ref.get("name") or text.endswith(":"):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME or NAME:VERSION, e.g. my-llama:2")
    return ref


def _add_service_resource_options(p: argparse.ArgumentParser) -> None:
    resources = p.add_argument_group("resources")
    resources.add_argument("--flavour", help="accelerator flavour (see `sxwl flavours`)")
    resources.add_argument(
        "--queue", help="queue whose quota the replicas count against (see `sxwl queues`)"
    )
    resources.add_argument(
        "--accelerators", type=int, metavar="N", help="cards (GPU/NPU) per replica, 0 for CPU"
    )
    resources.add_argument("--cpu", type=float, metavar="CORES", help="CPU cores per replica")
    resources.add_argument("--memory-gb", type=float, metavar="GB", help="memory per replica")
    resources.add_argument("--replicas", type=_positive_int, metavar="N", help="copies to run")
    resources.add_argument(
        "--sleep-after",
        type=int,
        metavar="MIN",
        dest="sleep_after_minutes",
        help="sleep after MIN idle minutes (no cost while asleep; a request wakes it); "
        "0 never sleeps",
    )


def _add_service_commands(sub: _CommandList, prog: str) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "deploy",
        help="deploy a model version (OpenAI API) or any HTTP app as a service",
        formatter_class=raw,
        description="Deploy a service. With --model it serves that model version of the "
        "repository\n(and --adapter on top) with the OpenAI HTTP API; otherwise it runs "
        "--command in\n--image with your code, listening on --port. Every service is reached "
        "through\nthe platform at /endpoints/NAME/ with a key (`service keys NAME --create`).",
        epilog=SERVICE_EXAMPLE.format(prog=prog),
    )
    p.add_argument("name", metavar="NAME", help="the service's name (letters, digits, -)")
    llm = p.add_argument_group("an LLM")
    llm.add_argument("--model", type=_model_spec, metavar="NAME[:N]", help="model version")
    llm.add_argument(
        "--adapter", type=_model_spec, metavar="NAME[:N]", help="a LoRA adapter on top"
    )
    app = p.add_argument_group("any other app")
    app.add_argument("--image", help="container image")
    app.add_argument("--code-dir", metavar="DIR", help="upload this folder as the code")
    app.add_argument("--code-package", metavar="ID", help="an uploaded code package")
    app.add_argument(
        "--requirements", metavar="FILE", help="requirements.txt to install before starting"
    )
    app.add_argument(
        "--env",
        action="append",
        type=_env_pair,
        default=[],
        metavar="KEY=VALUE",
        help="environment variable (repeatable)",
    )
    app.add_argument("--command", metavar="TEXT", help='start command, e.g. "python app.py"')
    app.add_argument("--port", type=int, help="the port it listens on (also $SXWL_PORT)")
    _add_service_resource_options(p)
    https = p.add_argument_group("HTTPS (kept for the cluster mode)")
    https.add_argument("--domain", metavar="HOST", help="the service's HTTPS domain")
    https.add_argument("--certificate", metavar="FILE", help="its certificate (PEM)")
    https.add_argument("--private-key", metavar="FILE", help="the certificate's key (PEM)")
    p.add_argument("--wait", action="store_true", help="wait until it runs")
    _json_option(p)

    p = sub.add_parser("services", help="list your services")
    _json_option(p)

    group = sub.add_parser(
        "service",
        help="show, stop, start, update or delete a service; its logs and keys",
        formatter_class=raw,
        description="Manage one service. SERVICE is its name or id (svc-…).",
        epilog=SERVICE_EXAMPLE.format(prog=prog),
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    def with_service(name: str, help_text: str) -> argparse.ArgumentParser:
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("service", metavar="SERVICE")
        return action

    p = actions.add_parser("list", help="list your services", description="List them.")
    _json_option(p)
    _json_option(with_service("show", "show a service: status, address, model, usage"))
    for name, help_text in (
        ("stop", "stop a service (configuration and keys stay)"),
        ("start", "start a stopped service"),
        ("restart", "restart a service's process"),
        ("sleep", "put a running service to sleep now (a request wakes it)"),
    ):
        p = with_service(name, help_text)
        p.add_argument("--wait", action="store_true", help="wait until it settles")
    with_service("delete", "delete a service; its keys stop working")
    p = with_service("logs", "print or follow a service's log")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing (Ctrl-C ends)")
    _json_option(with_service("events", "run records: started, ready, sleeping, woken…"))
    _json_option(with_service("revisions", "configuration history with what changed"))
    p = with_service("keys", "list, create or revoke a service's keys")
    p.add_argument("--create", action="store_true", help="make a key (secret shown once)")
    p.add_argument("--name", help="a name for the new key")
    p.add_argument("--revoke", metavar="KEY_ID", help="revoke this key")
    _json_option(p)
    p = with_service("update", "move a service to another model version or spec")
    p.add_argument("--model", type=_model_spec, metavar="NAME[:N]", help="model version")
    p.add_argument("--adapter", type=_model_spec, metavar="NAME[:N]", help="LoRA adapter")
    p.add_argument("--image", help="container image")
    p.add_argument("--command", metavar="TEXT", help="start command")
    p.add_argument(
        "--env", action="append", type=_env_pair, default=[], metavar="KEY=VALUE",
        help="environment variable (repeatable; replaces the service's env)",
    )  # fmt: skip
    _add_service_resource_options(p)
    p.add_argument("--wait", action="store_true", help="wait until the new revision runs")
    _json_option(p)

    p = sub.add_parser(
        "chat",
        help="ask an LLM service through the gateway; the answer streams",
        description="Send PROMPT to an LLM service (POST /v1/chat/completions through the "
        "gateway) and print the answer as it is generated. Without --key a key named "
        "'sxwl chat' is made the first time and kept next to `sxwl login`'s file.",
    )
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("prompt", metavar="PROMPT", help="what to ask ('-': read stdin)")
    p.add_argument("--system", metavar="TEXT", help="a system message first")
    p.add_argument("--key", metavar="BEARER", help="a bearer key of the service")
    p.add_argument("--max-tokens", type=_positive_int, metavar="N", help="answer length cap")
    p.add_argument("--temperature", type=float, metavar="T", help="0 answers greedily")
    p.add_argument("--no-stream", dest="stream", action="store_false", help="answer at once")
    _json_option(p)


COMMAND_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("jobs", ("submit", "jobs", "job", "logs", "stop", "restart", "delete", "artifacts",
              "download", "priority")),
    ("datasets", ("datasets", "dataset", "publish")),
    ("models", ("models", "model")),
    ("fine-tunes", ("finetunes", "finetune")),
    ("services", ("deploy", "services", "service", "chat")),
    ("mounts in this lab", ("mount", "unmount", "mounts")),
    ("platform", ("login", "info", "flavours", "queues")),
)  # fmt: skip


class _CommandList:
    """The top-level commands. ``sxwl --help`` lists them by group (``COMMAND_GROUPS``) in
    its description rather than as argparse's one flat list."""

    def __init__(self, sub: Any) -> None:
        self.sub = sub
        self.helps: dict[str, str] = {}

    def add_parser(self, name: str, *, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        self.helps[name] = help
        kwargs.setdefault("description", help)
        parser: argparse.ArgumentParser = self.sub.add_parser(name, **kwargs)
        return parser

    def overview(self) -> str:
        width = max(len(name) for name in self.helps) + 2
        blocks = []
        for title, names in COMMAND_GROUPS:
            lines = [f"  {n:<{width}}{self.helps[n]}" for n in names if n in self.helps]
            blocks.append(f"{title}:\n" + "\n".join(lines))
        return "\n\n".join(blocks)


def build_parser(prog: str = "sxwl") -> argparse.ArgumentParser:
    """The whole command line; ``prog`` is ``%sxwl`` when the magics use it."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog,
        formatter_class=raw,
        epilog=f"`{prog} COMMAND --help` explains each command; "
        f"`{prog} submit pytorch --help` explains distributed jobs.",
    )
    parser.add_argument("--url", help="platform URL (default: discovered, see `sxwl login`)")
    parser.add_argument("--token", help="API token (default: discovered)")
    sub = _CommandList(
        parser.add_subparsers(
            dest="cmd", metavar="COMMAND", required=True, help="one of the commands above"
        )
    )

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

    _add_dataset_commands(sub, prog)
    _add_model_commands(sub, prog)
    _add_finetune_commands(sub, prog)
    _add_service_commands(sub, prog)
    _add_mount_commands(sub)
    parser.description = (
        "Run training jobs and fine-tunes, deploy services, and manage datasets, models and "
        "mounts, on the sxwl platform.\n\n" + sub.overview()
    )
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
        "mounts": list(args.mount) if getattr(args, "mount", None) else None,
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


# -- datasets, models and mounts as text ---------------------------------------------------


def progress_text(p: Progress) -> str:
    """``uploading 45% (12.3 MB of 27.0 MB)``, ``publishing 40% (400 of 1,000 records)``."""
    if p.phase == "done":
        return "done"

    def amount(n: int) -> str:
        return format_size(n) if p.unit == "B" else f"{n:,}"

    unit = "" if p.unit == "B" else f" {p.unit}"
    fraction = p.fraction
    if fraction is None:
        return f"{p.phase} {amount(p.done)}{unit}" if p.done else f"{p.phase}…"
    return f"{p.phase} {fraction:.0%} ({amount(p.done)} of {amount(p.total)}{unit})"


class TextProgress:
    """Progress on a text stream (stderr): one line rewritten in place on a terminal, one
    line per finished phase elsewhere (logs, notebooks without widgets)."""

    def __init__(self, stream: Out, interval: float = 0.1) -> None:
        self.stream = stream
        self.interval = interval
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.last: Progress | None = None
        self._shown = 0.0
        self._width = 0

    def __call__(self, p: Progress) -> None:
        if self.live:
            now = time.monotonic()
            if p.phase != getattr(self.last, "phase", None) or now - self._shown >= self.interval:
                self._show(progress_text(p))
                self._shown = now
        elif self.last is not None and p.phase != self.last.phase:
            self._line(self.last)
        self.last = p

    def _show(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def _line(self, p: Progress) -> None:
        if p.phase != "done":
            self.stream.write(progress_text(p) + "\n")
            self.stream.flush()

    def finish(self) -> None:
        """End the progress display (a final newline on a terminal)."""
        if self.live and self._width:
            self._show(progress_text(self.last) if self.last else "")
            self.stream.write("\n")
        elif not self.live and self.last is not None:
            self._line(self.last)
        self.last = None
        self._width = 0


def _cell(value: Any, width: int = 60) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _fields(lines: Sequence[tuple[str, Any]]) -> str:
    """``key: value`` lines aligned, leaving out empty values (as ``sxwl job`` prints)."""
    shown = [(k, v) for k, v in lines if v not in (None, "")]
    width = max(len(k) for k, _ in shown)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in shown)


def format_datasets(items: Sequence[dict[str, Any]]) -> str:
    """The ``sxwl datasets`` table."""
    if not items:
        return "no datasets; create one with `sxwl dataset create NAME --type instruction`"
    rows = []
    for d in items:
        draft = d.get("draft") or {}
        latest = f"v{d['latest_version']}" if d.get("latest_version") else "-"
        if d.get("publishing"):
            latest += " (publishing)"
        elif d.get("importing"):
            latest += " (importing)"
        rows.append(
            [
                str(d.get("name")),
                str(d.get("annotation_type")),
                f"{draft.get('records', 0):,}",
                f"{draft.get('invalid', 0):,}",
                latest,
                str(d.get("access")) + ("" if d.get("access") != "shared" else f" by {d['owner']}"),
            ]
        )
    return format_table(["NAME", "TYPE", "RECORDS", "INVALID", "LATEST", "ACCESS"], rows)


def format_dataset_versions(versions: Sequence[dict[str, Any]]) -> str:
    """Published versions, newest first."""
    if not versions:
        return "no published versions yet; `sxwl publish NAME` makes the first"
    rows = []
    for v in versions:
        accel = v.get("acceleration") or {}
        status = str(accel.get("status") or "none")
        if status == "running" and accel.get("total"):
            status += f" {accel.get('done', 0) / accel['total']:.0%}"
        rows.append(
            [
                f"v{v.get('number')}",
                f"{v.get('records', 0):,}",
                format_size(v.get("size") or 0),
                str(v.get("sha256") or "")[:12],
                status,
                str(v.get("created_by") or ""),
                str(v.get("created_at") or ""),
                _cell(v.get("notes") or "", 40),
            ]
        )
    headers = ["VERSION", "RECORDS", "SIZE", "SHA256", "FAST COPY", "BY", "CREATED", "NOTES"]
    return format_table(headers, rows)


def format_dataset(d: dict[str, Any]) -> str:
    """``sxwl dataset show NAME``."""
    draft = d.get("draft") or {}
    latest = d.get("latest")
    lines = [
        ("id", d.get("id")),
        ("name", d.get("name")),
        ("owner", d.get("owner")),
        ("access", f"{d.get('access')}" + (", read-only" if d.get("read_only") else "")),
        ("type", f"{d.get('annotation_type')} ({d.get('data_type')})"),
        ("description", d.get("description")),
        (
            "working copy",
            f"{draft.get('records', 0):,} records, {draft.get('invalid', 0):,} invalid, "
            f"{draft.get('reviewed', 0):,} reviewed, {draft.get('edited', 0):,} edited, "
            f"from {draft.get('files', 0)} file(s)",
        ),
        (
            "latest version",
            f"v{latest['number']}: {latest.get('records', 0):,} records, "
            f"{format_size(latest.get('size') or 0)}"
            if latest
            else "none (publish with `sxwl publish NAME`)",
        ),
    ]
    op = d.get("publishing")
    if op:
        lines.append(("publishing", progress_text(operation_progress(op))))
    for imp in d.get("importing") or []:
        lines.append(("importing", f"{imp.get('detail')}: {progress_text(import_progress(imp))}"))
    lines += [("created", d.get("created_at")), ("updated", d.get("updated_at"))]
    text = _fields(lines)
    files = d.get("files") or []
    if files:
        rows = [
            [
                str(f.get("name")),
                str(f.get("format")),
                f"{f.get('records', 0):,}",
                f"{f.get('invalid', 0):,}",
                format_size(f.get("size") or 0),
            ]
            for f in files
        ]
        text += "\n\nfiles:\n" + format_table(
            ["NAME", "FORMAT", "RECORDS", "INVALID", "SIZE"], rows
        )
    if d.get("versions"):
        text += "\n\nversions:\n" + format_dataset_versions(d["versions"])
    return text


def _where(file: Any, line: Any) -> str:
    if not file:
        return "added"
    return f"{file}:{line}" if line is not None else str(file)


def format_import(imp: dict[str, Any], dataset: str) -> str:
    """The report of an import: counts, then every problem as ``file:line: field: message``."""
    source = f"{imp.get('source')} {imp.get('detail') or ''}".strip()
    lines = [f"import {imp.get('id')} into {dataset} ({source}): {imp.get('status')}"]
    if imp.get("status") == "running":
        lines.append(f"  {progress_text(import_progress(imp))}")
    else:
        lines.append(
            f"  {imp.get('files', 0)} file(s), {imp.get('records', 0):,} records, "
            f"{imp.get('invalid', 0):,} invalid"
        )
    if imp.get("message"):
        lines.append(f"  {imp['message']}")
    problems = imp.get("problems") or []
    if problems:
        lines.append(f"problems ({imp.get('invalid') or len(problems):,} invalid records):")
        for p in problems:
            field = f"{p['field']}: " if p.get("field") else ""
            lines.append(f"  {_where(p.get('file'), p.get('line'))}: {field}{p.get('message')}")
        if (imp.get("invalid") or 0) > len(problems):
            lines.append(f"  … and more: `sxwl dataset records {dataset} --invalid` lists them all")
    if imp.get("status") == "succeeded" and imp.get("invalid"):
        lines.append(
            "fix or delete the invalid records (the annotation view, or "
            f"Client().update_record), then `sxwl publish {dataset}`"
        )
    return "\n".join(lines)


def format_records(page: dict[str, Any]) -> str:
    """A page of records: id, where it came from, what is wrong with it, its data."""
    records = page.get("records") or []
    if not records:
        return f"no records here ({page.get('total', 0):,} in all)"
    rows = []
    for r in records:
        issues = r.get("issues") or []
        if issues:
            state = "; ".join(
                (f"{i['field']}: " if i.get("field") else "") + str(i.get("message"))
                for i in issues
            )
        else:
            state = ", ".join(k for k in ("reviewed", "edited") if r.get(k)) or "ok"
        data = r.get("data")
        shown = json.dumps(data, ensure_ascii=False) if data is not None else r.get("raw") or ""
        rows.append(
            [str(r.get("id")), _where(r.get("file"), r.get("line")), _cell(state, 50), _cell(shown)]
        )
    first = int(page.get("offset") or 0) + 1
    table = format_table(["ID", "FROM", "STATE", "DATA"], rows)
    return f"{table}\n{first}-{first + len(records) - 1} of {page.get('total', 0):,}"


def format_share(share: dict[str, Any], kind: str) -> str:
    """A new share token and how the receiver uses it."""
    use = "dataset add-shared" if kind == "dataset" else "model import-shared"
    return _fields(
        [
            ("token", share.get("token")),
            ("version", share.get("version")),
            ("expires", share.get("expires_at")),
            ("share id", share.get("id")),
            ("the receiver runs", f"sxwl {use} {share.get('token')}"),
            ("to revoke it", f"sxwl {kind} revoke-share {share.get('id')}"),
        ]
    )


def _model_source(v: dict[str, Any]) -> str:
    detail = v.get("source_detail") or {}
    what = (
        detail.get("filename")
        or detail.get("url")
        or detail.get("job_id")
        or detail.get("repo_id")
        or (
            f"{detail['from_owner']}/{detail.get('from_model')} v{detail.get('from_version')}"
            if detail.get("from_owner")
            else ""
        )
    )
    return f"{v.get('source')} {what}".strip()


def _version_state(v: dict[str, Any]) -> str:
    status = str(v.get("status"))
    if status == "importing":
        return f"importing: {progress_text(version_progress(v))}"
    if status == "failed" and v.get("message"):
        return f"failed: {_cell(v['message'], 60)}"
    return status


def format_models(items: Sequence[dict[str, Any]]) -> str:
    """The ``sxwl models`` table."""
    if not items:
        return "no models; create one with `sxwl model create NAME`"
    rows = []
    for m in items:
        latest = f"v{m['latest_version']}" if m.get("latest_version") else "-"
        newest = m.get("latest") or {}
        if newest and newest.get("number") != m.get("latest_version"):
            latest += f" (v{newest.get('number')} {newest.get('status')})"
        rows.append(
            [
                str(m.get("name")),
                str(m.get("family") or "-"),
                latest,
                str(m.get("versions_count", 0)),
                str(m.get("access")),
            ]
        )
    return format_table(["NAME", "FAMILY", "LATEST", "VERSIONS", "ACCESS"], rows)


def format_model_versions(versions: Sequence[dict[str, Any]]) -> str:
    """A model's versions, newest first."""
    if not versions:
        return "no versions yet; `sxwl model import NAME …` adds one"
    rows = [
        [
            f"v{v.get('number')}",
            _version_state(v),
            format_size(v.get("size") or 0),
            str(v.get("files") or 0),
            _cell(_model_source(v), 40),
            str(v.get("created_at") or ""),
            _cell(v.get("notes") or "", 30),
        ]
        for v in versions
    ]
    return format_table(["VERSION", "STATUS", "SIZE", "FILES", "SOURCE", "CREATED", "NOTES"], rows)


def format_model(m: dict[str, Any]) -> str:
    """``sxwl model show NAME``."""
    source = m.get("source") or {}
    lines = [
        ("id", m.get("id")),
        ("name", m.get("name")),
        ("owner", m.get("owner")),
        ("access", f"{m.get('access')}" + (", read-only" if m.get("read_only") else "")),
        ("family", m.get("family")),
        ("description", m.get("description")),
        ("source", " ".join(str(v) for v in source.values() if isinstance(v, str)) or None),
        ("latest ready", f"v{m['latest_version']}" if m.get("latest_version") else "none"),
        ("created", m.get("created_at")),
    ]
    text = _fields(lines)
    if m.get("versions"):
        text += "\n\nversions:\n" + format_model_versions(m["versions"])
    return text


def format_model_files(files: Sequence[dict[str, Any]]) -> str:
    """The files of a model version."""
    if not files:
        return "no files"
    rows = [
        [str(f.get("path")), format_size(f.get("size") or 0), str(f.get("sha256") or "")[:12]]
        for f in files
    ]
    return format_table(["PATH", "SIZE", "SHA256"], rows)


def format_mounts(items: Sequence[dict[str, Any]]) -> str:
    """The mounts of this lab."""
    if not items:
        return "nothing mounted; `sxwl mount dataset NAME` mounts a dataset"
    rows = [
        [
            str(m["kind"]),
            str(m["name"]),
            str(m["path"]),
            "ok" if m.get("ok") else "gone (mount it again)",
        ]
        for m in items
    ]
    return format_table(["KIND", "NAME", "PATH", "STATE"], rows)


# -- fine-tunes as text --------------------------------------------------------------------


def number_text(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``, or ``-`` when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return format(value, spec)


def finetune_progress_parts(point: dict[str, Any] | None) -> list[str]:
    """The last training point as short phrases: step of total, epoch, loss, learning rate,
    tokens/s, memory, ETA (what the widget and ``finetune show`` print)."""
    if not point:
        return []
    step, total = point.get("step"), point.get("total_steps")
    where = f"step {step}/{total}" if total else f"step {step}"
    if isinstance(step, int) and isinstance(total, int) and total > 0:
        where += f" ({step / total:.0%})"
    parts = [where]
    if point.get("epoch") is not None:
        parts.append(f"epoch {number_text(point.get('epoch'), '.2f')}")
    parts.append(f"loss {number_text(point.get('loss'), '.4f')}")
    parts.append(f"lr {number_text(point.get('learning_rate'), '.2e')}")
    if point.get("tokens_per_second") is not None:
        parts.append(f"{number_text(point.get('tokens_per_second'), ',.0f')} tokens/s")
    if point.get("memory_mb") is not None:
        parts.append(f"{number_text(point.get('memory_mb'), ',.0f')} MB")
    if point.get("eta_seconds") is not None:
        parts.append(f"ETA {format_duration(point.get('eta_seconds'))}")
    return parts


def metric_line(point: dict[str, Any]) -> str:
    """One metric point as a log line (``finetune metrics --follow``)."""
    kind = point.get("kind")
    if kind == "eval":
        return f"step {point.get('step')}: eval_loss {number_text(point.get('eval_loss'), '.4f')}"
    if kind == "done":
        return (
            f"done after {point.get('step')} steps: train_loss "
            f"{number_text(point.get('train_loss'), '.4f')}, "
            f"{format_duration(point.get('train_runtime'))}, "
            f"{number_text(point.get('train_tokens_per_second'), ',.0f')} tokens/s, "
            f"{number_text(point.get('train_samples_per_second'), ',.2f')} samples/s, "
            f"peak {number_text(point.get('peak_memory_mb'), ',.0f')} MB"
        )
    return "  ".join(finetune_progress_parts(point))


def format_scores(scores: dict[str, Any] | None) -> str:
    """``ROUGE-1 41.20  ROUGE-2 20.05  ROUGE-L 35.10  BLEU-4 18.31  (24 samples)``."""
    if not scores:
        return "-"
    names = (("rouge-1", "ROUGE-1"), ("rouge-2", "ROUGE-2"), ("rouge-l", "ROUGE-L"),
             ("bleu-4", "BLEU-4"))  # fmt: skip
    text = "  ".join(f"{label} {number_text(scores.get(key), '.2f')}" for key, label in names)
    if scores.get("samples") is not None:
        text += f"  ({scores['samples']} samples)"
    return text


def finetune_line(ft: dict[str, Any]) -> str:
    """One line about a fine-tune's state."""
    text = f"{ft.get('id')} ({ft.get('name')}): {ft.get('status')}"
    parts = finetune_progress_parts(ft.get("progress"))
    if parts and ft.get("status") not in ("Queued", "Starting"):
        text += ", " + ", ".join(parts[:3])
    if ft.get("message") and ft.get("status") in FINETUNE_FINAL_STATUSES:
        text += f": {ft['message']}"
    return text


def version_ref(m: Any) -> str:
    """``{"name": "x", "version": 2}`` -> ``x v2``."""
    if not isinstance(m, dict):
        return str(m or "-")
    return f"{m.get('name')} v{m.get('version')}" if m.get("version") else str(m.get("name"))


def format_finetunes(items: Sequence[dict[str, Any]]) -> str:
    """The ``sxwl finetunes`` table."""
    if not items:
        return "no fine-tunes; start one with `sxwl finetune create -f spec.yaml`"
    rows = []
    for ft in items:
        point = ft.get("progress") or {}
        step = f"{point.get('step')}/{point.get('total_steps')}" if point else "-"
        rows.append(
            [
                str(ft.get("id")),
                _cell(ft.get("name") or "", 30),
                str(ft.get("status")),
                str(ft.get("method") or "-"),
                _cell(version_ref(ft.get("model")), 30),
                step,
                number_text(point.get("loss"), ".4f"),
                str(ft.get("created_at") or ""),
            ]
        )
    headers = ["ID", "NAME", "STATUS", "METHOD", "MODEL", "STEP", "LOSS", "CREATED"]
    return format_table(headers, rows)


def format_finetune(ft: dict[str, Any]) -> str:
    """``sxwl finetune show ID``."""
    res = ft.get("resources") or {}
    shape = (
        f"{res.get('nodes', 1)} node(s) x {res.get('procs_per_node', 1)} process(es), flavour "
        f"{res.get('flavour')}, {res.get('accelerators_per_node', 0)} card(s), "
        f"{res.get('cpu_per_node')} CPU, {res.get('memory_gb_per_node')} GB per node"
    )
    datasets = ", ".join(
        f"{d.get('name')} v{d.get('version')}"
        + (f" ({d.get('records'):,} records)" if isinstance(d.get("records"), int) else "")
        for d in ft.get("datasets") or []
    )
    params = ft.get("params") or {}
    lines = [
        ("id", ft.get("id")),
        ("name", ft.get("name")),
        ("owner", ft.get("owner")),
        ("status", ft.get("status")),
        ("message", ft.get("message")),
        ("progress", ", ".join(finetune_progress_parts(ft.get("progress"))) or None),
        ("method", ft.get("method")),
        ("model", version_ref(ft.get("model"))),
        ("datasets", datasets),
        ("eval datasets", ", ".join(version_ref(d) for d in ft.get("eval_datasets") or [])),
        ("resources", shape if res else None),
        ("job", ft.get("job_id")),
        ("created", ft.get("created_at")),
        ("started", ft.get("started_at")),
        ("finished", ft.get("finished_at")),
    ]
    text = _fields(lines)
    if params:
        text += "\n\nparameters:\n" + "\n".join(
            f"  {k}: {json.dumps(v)}" for k, v in sorted(params.items())
        )
    evaluations = ft.get("evaluations") or []
    if evaluations:
        rows = [
            [str(e.get("id")), str(e.get("status")), version_ref(e.get("dataset") or "validation"),
             format_scores(e.get("scores")) if e.get("scores") else _cell(e.get("message") or "")]
            for e in evaluations
        ]  # fmt: skip
        text += "\n\nevaluations:\n" + format_table(["ID", "STATUS", "DATASET", "SCORES"], rows)
    exports = ft.get("exports") or []
    if exports:
        rows = [
            [str(e.get("id")), str(e.get("status")), "merged" if e.get("merge") else "adapter",
             version_ref(e.get("model")) if e.get("model") else "-", _cell(e.get("message") or "")]
            for e in exports
        ]  # fmt: skip
        text += "\n\nexports:\n" + format_table(["ID", "STATUS", "KIND", "MODEL", ""], rows)
    return text


def format_metrics(points: Sequence[dict[str, Any]]) -> str:
    """Metric points as a table (eval and done points on their own lines)."""
    if not points:
        return "no metric points yet"
    rows = []
    for pt in points:
        if pt.get("kind") == "train":
            rows.append(
                [
                    str(pt.get("step")),
                    number_text(pt.get("epoch"), ".2f"),
                    number_text(pt.get("loss"), ".4f"),
                    number_text(pt.get("learning_rate"), ".2e"),
                    number_text(pt.get("grad_norm"), ".3f"),
                    number_text(pt.get("tokens_per_second"), ",.0f"),
                    number_text(pt.get("memory_mb"), ",.0f"),
                    format_duration(pt.get("eta_seconds")),
                ]
            )
        else:
            rows.append([str(pt.get("step")), metric_line(pt), "", "", "", "", "", ""])
    headers = ["STEP", "EPOCH", "LOSS", "LR", "GRAD NORM", "TOKENS/S", "MEM MB", "ETA"]
    return format_table(headers, rows)


def format_defaults(defaults: dict[str, Any]) -> str:
    """Every fine-tune parameter: name, default, meaning (and choices)."""
    rows = []
    for f in defaults.get("fields") or []:
        about = str(f.get("description") or "")
        if f.get("choices"):
            about += f" [{', '.join(str(c) for c in f['choices'])}]"
        default = f.get("default")
        rows.append([str(f.get("name")), "-" if default is None else json.dumps(default), about])
    return format_table(["PARAMETER", "DEFAULT", "MEANING"], rows)


# -- commands ------------------------------------------------------------------------------

Out = IO[str]


def _print_json(data: Any, out: Out) -> None:
    out.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _emit(
    args: argparse.Namespace,
    out: Out,
    data: Any,
    text: Callable[..., str],
    *extra: Any,
    **options: Any,
) -> int:
    """Print ``data`` as JSON with ``--json``, else as ``text(data, *extra, **options)``."""
    if args.json:
        _print_json(data, out)
    else:
        out.write(text(data, *extra, **options) + "\n")
    return 0


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
    return _emit(args, out, jobs, format_jobs, show_owner=args.all)


def cmd_job(args: argparse.Namespace, client: Client, out: Out) -> int:
    job = client.job(args.id)
    return _emit(args, out, job, format_job)


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


# -- dataset, model and mount commands -----------------------------------------------------


def _progress(args: argparse.Namespace) -> ProgressCallback | None:
    progress: ProgressCallback | None = getattr(args, "progress", None)
    return progress


def _end_progress(args: argparse.Namespace) -> None:
    finish = getattr(_progress(args), "finish", None)
    if finish is not None:
        finish()


def cmd_datasets(args: argparse.Namespace, client: Client, out: Out) -> int:
    items = client.datasets(all_users=args.all)
    return _emit(args, out, items, format_datasets)


def cmd_dataset_create(args: argparse.Namespace, client: Client, out: Out) -> int:
    ds = client.create_dataset(args.name, args.annotation_type, args.description)
    if args.json:
        _print_json(ds, out)
    else:
        out.write(
            f"created dataset {ds['name']} ({ds['annotation_type']}); "
            f"add records with `sxwl dataset import {ds['name']} FILE`\n"
        )
    return 0


def cmd_dataset_import(args: argparse.Namespace, client: Client, out: Out) -> int:
    if (args.path is None) == (args.source_url is None):
        raise CommandError("give either FILE_OR_DIR or --url URL")
    try:
        imp = client.import_dataset(
            args.name, path=args.path, url=args.source_url, wait=args.wait, progress=_progress(args)
        )
    finally:
        _end_progress(args)
    if args.json:
        _print_json(imp, out)
    else:
        out.write(format_import(imp, args.name) + "\n")
    return 1 if imp.get("status") == "failed" else 0


def cmd_dataset_show(args: argparse.Namespace, client: Client, out: Out) -> int:
    ds = client.dataset(args.name)
    return _emit(args, out, ds, format_dataset)


def cmd_dataset_records(args: argparse.Namespace, client: Client, out: Out) -> int:
    page = client.records(args.name, offset=args.offset, limit=args.limit, only=args.only)
    return _emit(args, out, page, format_records)


def cmd_publish(args: argparse.Namespace, client: Client, out: Out) -> int:
    try:
        op = client.publish(args.name, notes=args.notes, wait=args.wait, progress=_progress(args))
    finally:
        _end_progress(args)
    if args.json:
        _print_json(op, out)
    elif not args.wait:
        out.write(f"publishing {args.name} ({op['id']}); `sxwl dataset versions` shows it\n")
    else:
        result = op.get("result") or {}
        if result.get("unchanged"):
            out.write(f"{args.name} is unchanged since v{result.get('version')}; no new version\n")
        else:
            out.write(
                f"published {args.name} v{result.get('version')}: {op.get('total', 0):,} "
                f"records, sha256 {str(result.get('sha256', ''))[:12]}\n"
            )
    return 0


def cmd_dataset_versions(args: argparse.Namespace, client: Client, out: Out) -> int:
    versions = client.dataset_versions(args.name)
    return _emit(args, out, versions, format_dataset_versions)


def cmd_dataset_download(args: argparse.Namespace, client: Client, out: Out) -> int:
    path = client.download_dataset(args.name, version=args.version, dest=args.output)
    out.write(f"{path}\n")
    return 0


def cmd_dataset_accelerate(args: argparse.Namespace, client: Client, out: Out) -> int:
    try:
        v = client.accelerate(args.name, args.version, wait=args.wait, progress=_progress(args))
    finally:
        _end_progress(args)
    if args.json:
        _print_json(v, out)
        return 0
    accel = v.get("acceleration") or {}
    out.write(f"{args.name} v{v.get('number')}: fast copy {accel.get('status')}")
    out.write(f": {accel['message']}\n" if accel.get("message") else "\n")
    return 1 if accel.get("status") == "failed" else 0


def cmd_dataset_share(args: argparse.Namespace, client: Client, out: Out) -> int:
    share = client.share_dataset(args.name, expires_in_days=args.days)
    return _emit(args, out, share, format_share, "dataset")


def cmd_dataset_add_shared(args: argparse.Namespace, client: Client, out: Out) -> int:
    ds = client.add_shared_dataset(args.share_token)
    if args.json:
        _print_json(ds, out)
    else:
        out.write(
            f"added {ds['name']} (shared by {ds.get('owner')}, read-only; "
            f"latest version {ds.get('latest_version') or 'none'})\n"
        )
    return 0


def cmd_revoke_share(args: argparse.Namespace, client: Client, out: Out) -> int:
    share = client.revoke_share(args.share_id)
    out.write(f"revoked share {share.get('id', args.share_id)}\n")
    return 0


def cmd_dataset_delete(args: argparse.Namespace, client: Client, out: Out) -> int:
    client.delete_dataset(args.name)
    out.write(f"deleted dataset {args.name}\n")
    return 0


def cmd_models(args: argparse.Namespace, client: Client, out: Out) -> int:
    items = client.models(all_users=args.all)
    return _emit(args, out, items, format_models)


def cmd_model_create(args: argparse.Namespace, client: Client, out: Out) -> int:
    m = client.create_model(args.name, description=args.description, family=args.family)
    if args.json:
        _print_json(m, out)
    else:
        out.write(
            f"created model {m['name']}; add a version with `sxwl model import {m['name']} …`\n"
        )
    return 0


def cmd_model_show(args: argparse.Namespace, client: Client, out: Out) -> int:
    m = client.model(args.name)
    return _emit(args, out, m, format_model)


def _version_line(name: str, v: dict[str, Any]) -> str:
    text = f"{name} v{v.get('number')}: {v.get('status')}"
    if v.get("status") == "ready":
        text += f" ({v.get('files', 0)} files, {format_size(v.get('size') or 0)})"
    elif v.get("message"):
        text += f": {v['message']}"
    return text


def cmd_model_import(args: argparse.Namespace, client: Client, out: Out) -> int:
    sources = [args.path, args.source_url, args.job_id, args.lab_dir, args.preset or None]
    if sum(s is not None for s in sources) != 1:
        raise CommandError("give exactly one source: FILE, --url, --job, --lab-dir or --preset")
    try:
        v = client.import_model(
            args.name,
            path=args.path,
            url=args.source_url,
            job_id=args.job_id,
            lab_dir=args.lab_dir,
            preset=args.preset,
            wait=args.wait,
            progress=_progress(args),
            notes=args.notes,
        )
    finally:
        _end_progress(args)
    if args.json:
        _print_json(v, out)
    else:
        out.write(_version_line(args.name, v) + "\n")
    return 1 if v.get("status") == "failed" else 0


def cmd_model_versions(args: argparse.Namespace, client: Client, out: Out) -> int:
    versions = client.model_versions(args.name)
    return _emit(args, out, versions, format_model_versions)


def cmd_model_files(args: argparse.Namespace, client: Client, out: Out) -> int:
    files = client.model_files(args.name, args.version)
    return _emit(args, out, files, format_model_files)


def cmd_model_download(args: argparse.Namespace, client: Client, out: Out) -> int:
    folder = client.download_model(args.name, version=args.version, dest=args.output)
    out.write(f"{folder}\n")
    return 0


def cmd_model_export(args: argparse.Namespace, client: Client, out: Out) -> int:
    try:
        op = client.export_model(
            args.name,
            args.version,
            args.bucket,
            args.prefix,
            wait=args.wait,
            progress=_progress(args),
            endpoint_url=args.endpoint_url,
            region=args.region,
            access_key_id=args.access_key_id,
            secret_access_key=args.secret_access_key,
            path_style=args.path_style or None,
        )
    finally:
        _end_progress(args)
    if args.json:
        _print_json(op, out)
    else:
        out.write((op.get("message") or f"exporting ({op.get('id')})") + "\n")
    return 0


def cmd_model_share(args: argparse.Namespace, client: Client, out: Out) -> int:
    share = client.share_model(args.name, version=args.version, expires_in_days=args.days)
    return _emit(args, out, share, format_share, "model")


def cmd_model_import_shared(args: argparse.Namespace, client: Client, out: Out) -> int:
    try:
        got = client.import_shared_model(
            args.share_token, name=args.new_name, wait=args.wait, progress=_progress(args)
        )
    finally:
        _end_progress(args)
    if args.json:
        _print_json(got, out)
    else:
        out.write(_version_line(str(got["model"]["name"]), got["version"]) + "\n")
    return 1 if got["version"].get("status") == "failed" else 0


def cmd_model_delete(args: argparse.Namespace, client: Client, out: Out) -> int:
    if args.version is not None:
        client.delete_model_version(args.name, args.version)
        out.write(f"deleted {args.name} v{args.version}\n")
    else:
        client.delete_model(args.name)
        out.write(f"deleted model {args.name}\n")
    return 0


def cmd_mount(args: argparse.Namespace, client: Client, out: Out) -> int:
    path = client.mount(args.kind, args.name, version=args.version)
    out.write(f"mounted {args.kind} {args.name} at {path}\n")
    return 0


def cmd_unmount(args: argparse.Namespace, out: Out) -> int:
    try:
        removed = lab_mounts.unlink(args.kind, args.name)
    except lab_mounts.MountError as e:
        raise CommandError(str(e)) from e
    out.write(
        f"unmounted {args.kind} {args.name}\n"
        if removed
        else f"{args.kind} {args.name} was not mounted\n"
    )
    return 0


def cmd_mounts(args: argparse.Namespace, out: Out) -> int:
    items = lab_mounts.list_mounts()
    return _emit(args, out, items, format_mounts)


# -- fine-tune commands --------------------------------------------------------------------


def finetune_spec(args: argparse.Namespace, yaml_text: str | None = None) -> dict[str, Any]:
    """The keyword arguments of ``Client.create_finetune`` for ``finetune create``.

    ``yaml_text`` stands for ``-f`` (the ``%%sxwl finetune`` cell body does that).
    """
    if yaml_text is None and args.file:
        if args.file == "-":
            yaml_text = sys.stdin.read()
        else:
            try:
                with open(args.file, encoding="utf-8") as f:
                    yaml_text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                raise CommandError(f"-f: cannot read {args.file}: {e}") from e
    if not (yaml_text and yaml_text.strip()) and not (args.model and args.datasets):
        raise CommandError(
            "give a LLaMA-Factory YAML (-f spec.yaml) or --model and --dataset, e.g. "
            "--model sxwl-tiny-llama --dataset alpaca_en_demo"
        )
    name = args.name
    if not name and args.file and args.file != "-":
        stem = args.file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._")[:63]
    model, version = args.model, None
    if model and re.fullmatch(r".+:\d+", model):
        model, _, number = model.rpartition(":")
        version = int(number)
    resources = {
        "nodes": args.nodes,
        "procs_per_node": args.procs_per_node,
        "flavour": args.flavour,
        "accelerators_per_node": args.accelerators,
        "cpu_per_node": args.cpu,
        "memory_gb_per_node": args.memory_gb,
        "queue": args.queue,
        "priority": args.priority,
        "max_run_minutes": args.max_run_minutes,
    }
    spec: dict[str, Any] = {
        "name": name or None,
        "model": model,
        "model_version": version,
        "datasets": args.datasets or None,
        "eval_datasets": args.eval_datasets or None,
        "params": dict(args.params) or None,
        "yaml": yaml_text if yaml_text and yaml_text.strip() else None,
        "resources": {k: v for k, v in resources.items() if v is not None} or None,
    }
    return {k: v for k, v in spec.items() if v is not None}


def watch_finetune(
    client: Client, ft: dict[str, Any], follow: bool, out: Out, args: argparse.Namespace
) -> int:
    """Print metric lines (``follow``) or a progress line until the fine-tune ends; 0 when it
    succeeded."""
    ft_id = str(ft["id"])
    if follow:
        every = int((ft.get("params") or {}).get("logging_steps") or 1)
        after = (ft.get("progress") or {}).get("step")
        for point in client.follow_finetune_metrics(ft_id, after=after):
            step, total = point.get("step"), point.get("total_steps")
            if (
                point.get("kind") != "train"
                or not isinstance(step, int)
                or step % every == 0
                or (step == total)
            ):
                out.write(metric_line(point) + "\n")
                out.flush()
        ft = client.finetune(ft_id)
    else:
        try:
            ft = client.wait_finetune(ft_id, progress=_progress(args))
        finally:
            _end_progress(args)
    out.write(finetune_line(ft) + "\n")
    return 0 if ft.get("status") == "Succeeded" else 1


def cmd_finetunes(args: argparse.Namespace, client: Client, out: Out) -> int:
    items = client.finetunes()
    return _emit(args, out, items, format_finetunes)


def cmd_finetune_create(args: argparse.Namespace, client: Client, out: Out) -> int:
    ft = client.create_finetune(**finetune_spec(args, getattr(args, "yaml_text", None)))
    if args.json and not (args.wait or args.follow):
        _print_json(ft, out)
        return 0
    out.write(
        f"created {finetune_line(ft)}; {ft.get('method')} of {version_ref(ft.get('model'))}\n"
    )
    out.flush()
    if args.wait or args.follow:
        return watch_finetune(client, ft, args.follow, out, args)
    out.write(f"follow it with `sxwl finetune metrics {ft['id']} --follow`\n")
    return 0


def cmd_finetune_show(args: argparse.Namespace, client: Client, out: Out) -> int:
    ft = client.finetune(args.id)
    return _emit(args, out, ft, format_finetune)


def cmd_finetune_metrics(args: argparse.Namespace, client: Client, out: Out) -> int:
    if args.follow:
        for point in client.follow_finetune_metrics(args.id, after=args.after):
            out.write((json.dumps(point) if args.json else metric_line(point)) + "\n")
            out.flush()
        return 0
    points = client.finetune_points(args.id, after=args.after)
    return _emit(args, out, points, format_metrics)


def cmd_finetune_logs(args: argparse.Namespace, client: Client, out: Out) -> int:
    for text in client.finetune_logs(args.id, follow=args.follow):
        out.write(text)
        out.flush()
    return 0


def cmd_finetune_stop(args: argparse.Namespace, client: Client, out: Out) -> int:
    out.write(finetune_line(client.stop_finetune(args.id)) + "\n")
    return 0


def cmd_finetune_resume(args: argparse.Namespace, client: Client, out: Out) -> int:
    ft = client.resume_finetune(args.id)
    out.write(f"resumed {finetune_line(ft)}\n")
    out.flush()
    if args.wait or args.follow:
        return watch_finetune(client, ft, args.follow, out, args)
    return 0


def cmd_finetune_delete(args: argparse.Namespace, client: Client, out: Out) -> int:
    client.delete_finetune(args.id)
    out.write(f"deleted {args.id}\n")
    return 0


def cmd_finetune_evaluate(args: argparse.Namespace, client: Client, out: Out) -> int:
    ev = client.evaluate_finetune(
        args.id,
        args.dataset,
        max_samples=args.max_samples,
        max_new_tokens=args.max_new_tokens,
        wait=args.wait,
    )
    if args.json:
        _print_json(ev, out)
    elif ev.get("status") == "running":
        out.write(f"evaluating {args.id} ({ev['id']}); `sxwl finetune show {args.id}` shows it\n")
    else:
        out.write(f"evaluation {ev['id']} of {args.id}: {format_scores(ev.get('scores'))}\n")
    return 0


def cmd_finetune_predictions(args: argparse.Namespace, client: Client, out: Out) -> int:
    if args.output:
        out.write(f"{client.download_predictions(args.id, args.evaluation, dest=args.output)}\n")
        return 0
    rows = client.finetune_predictions(args.id, args.evaluation, limit=args.limit)
    if args.json:
        _print_json(rows, out)
    elif not rows:
        out.write("no predictions\n")
    else:
        table = [
            [_cell(r.get("prompt"), 40), _cell(r.get("label"), 30), _cell(r.get("predict"), 30)]
            for r in rows
        ]
        out.write(format_table(["PROMPT", "LABEL", "PREDICT"], table) + "\n")
    return 0


def cmd_finetune_export(args: argparse.Namespace, client: Client, out: Out) -> int:
    ex = client.export_finetune(
        args.id, args.model_name, merge=args.merge, notes=args.notes, wait=args.wait
    )
    if args.json:
        _print_json(ex, out)
    elif ex.get("status") == "running":
        out.write(f"exporting {args.id} ({ex['id']}); `sxwl finetune show {args.id}` shows it\n")
    else:
        kind = "merged model" if ex.get("merge") else "LoRA adapter"
        out.write(
            f"exported {args.id} as {version_ref(ex.get('model'))} ({kind}); "
            f"`sxwl mount model {(ex.get('model') or {}).get('name')}` mounts it\n"
        )
    return 0


def cmd_finetune_tensorboard(args: argparse.Namespace, client: Client, out: Out) -> int:
    path = client.download_tensorboard(args.id, dest=args.output, extract=not args.tar)
    out.write(f"{path}\n")
    if not args.tar:
        out.write(f"open it with: tensorboard --logdir {shlex.quote(str(path))}\n")
    return 0


def cmd_finetune_defaults(args: argparse.Namespace, client: Client, out: Out) -> int:
    defaults = client.finetune_defaults()
    return _emit(args, out, defaults, format_defaults)


# -- service commands ----------------------------------------------------------------------


def service_model_text(s: dict[str, Any]) -> str:
    """``sxwl-tiny-llama v1 + my-lora v2`` for an LLM service; the command (or image) of an
    app."""
    if s.get("model"):
        text = version_ref(s["model"])
        if s.get("adapter"):
            text += f" + {version_ref(s['adapter'])}"
        return text
    spec = s.get("spec") or {}
    return str(spec.get("command") or spec.get("image") or s.get("kind") or "-")


def sleep_text(minutes: Any) -> str:
    return f"after {minutes} min" if minutes else "never"


def service_line(s: dict[str, Any]) -> str:
    """One line about a service's state."""
    text = f"{s.get('name')} ({s.get('id')}): {s.get('status')}"
    if s.get("message") and s.get("status") in ("failed", "stopped"):
        text += f": {_cell(s['message'], 200)}"
    return text


def format_services(items: Sequence[dict[str, Any]]) -> str:
    """The ``sxwl services`` table."""
    if not items:
        return "no services; deploy one with `sxwl deploy NAME --model sxwl-tiny-llama`"
    rows = [
        [
            _cell(s.get("name") or "", 30),
            str(s.get("id")),
            str(s.get("status")),
            _cell(service_model_text(s), 40),
            str(s.get("address") or "-"),
            f"{int(s.get('requests') or 0):,}",
            sleep_text(s.get("sleep_after_minutes")),
        ]
        for s in items
    ]
    headers = ["NAME", "ID", "STATUS", "MODEL", "ADDRESS", "REQUESTS", "SLEEP"]
    return format_table(headers, rows)


def format_service(s: dict[str, Any]) -> str:
    """``sxwl service show SERVICE``."""
    res = s.get("resources") or {}
    shape = ", ".join(
        f"{k} {res[k]}" for k in SERVICE_RESOURCE_FIELDS if res.get(k) not in (None, "")
    )
    lines = [
        ("name", s.get("name")),
        ("id", s.get("id")),
        ("owner", s.get("owner")),
        ("kind", s.get("kind")),
        ("status", s.get("status")),
        ("message", s.get("message")),
        ("address", s.get("address")),
        ("model", service_model_text(s)),
        ("revision", s.get("revision")),
        ("resources", shape or None),
        ("placement", placement_text(s.get("placement"))),
        ("sleep", sleep_text(s.get("sleep_after_minutes"))),
        ("requests", s.get("requests")),
        ("created", s.get("created_at")),
        ("updated", s.get("updated_at")),
    ]
    return _fields(lines)


def placement_text(placement: Any) -> str | None:
    """Where the replicas run: ``node 0 cards 2,3; node 1`` (None when not placed)."""
    if not placement:
        return None
    return "; ".join(
        f"node {p.get('node')}"
        + (f" cards {','.join(map(str, p['cards']))}" if p.get("cards") else "")
        for p in placement
    )


def format_service_events(items: Sequence[dict[str, Any]]) -> str:
    """Run records, oldest first as the platform lists them."""
    if not items:
        return "no events"
    rows = [
        [str(e.get("at") or e.get("created_at") or ""), str(e.get("kind")),
         f"r{e.get('revision')}" if e.get("revision") else "", _cell(e.get("message") or "", 80)]
        for e in items
    ]  # fmt: skip
    return format_table(["TIME", "EVENT", "REVISION", "MESSAGE"], rows)


def changes_text(changes: Any) -> str:
    """A revision's changes (``[{"field", "old", "new"}]``) as ``field: old -> new; …``."""
    if not changes:
        return ""
    parts = []
    for c in changes if isinstance(changes, list) else []:
        if isinstance(c, dict):
            old, new = json.dumps(c.get("old")), json.dumps(c.get("new"))
            parts.append(f"{c.get('field')}: {old} -> {new}")
        else:
            parts.append(str(c))
    return "; ".join(parts)


def format_service_revisions(items: Sequence[dict[str, Any]]) -> str:
    """The configuration history (newest first), each revision with what changed."""
    if not items:
        return "no revisions"
    rows = [
        [str(r.get("number")), str(r.get("created_at") or ""), str(r.get("created_by") or ""),
         _cell(changes_text(r.get("changes")) or "first configuration", 100)]
        for r in items
    ]  # fmt: skip
    return format_table(["REVISION", "CREATED", "BY", "CHANGES"], rows)


def format_service_keys(items: Sequence[dict[str, Any]]) -> str:
    """A service's keys (no secrets) and the requests made with each."""
    if not items:
        return "no keys; make one with `sxwl service keys SERVICE --create`"
    rows = [
        [str(k.get("id")), str(k.get("name") or "-"), str(k.get("app_key") or "-"),
         f"{int(k.get('requests') or 0):,}", str(k.get("last_used_at") or "-"),
         str(k.get("created_at") or "")]
        for k in items
    ]  # fmt: skip
    return format_table(["ID", "NAME", "APP KEY", "REQUESTS", "LAST USED", "CREATED"], rows)


def format_new_key(key: dict[str, Any], service: str) -> str:
    """A new key with its secrets, said to be shown this once."""
    lines = [
        ("key id", key.get("id")),
        ("AppKey", key.get("app_key")),
        ("AppSecret", key.get("app_secret")),
        ("bearer", key.get("bearer")),
    ]
    return (
        _fields(lines)
        + "\n\nThe AppSecret and the bearer key are shown this once: keep them now.\n"
        "OpenAI clients: api_key=<bearer>, base_url=<platform>/endpoints/"
        f"{service}/v1; signed requests: headers AppKey, Timestamp (Unix ms) and Sign."
    )


def _read_text_file(path: str | None, what: str) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"{what}: cannot read {path}: {e}") from e


def _service_resources(args: argparse.Namespace) -> dict[str, Any] | None:
    resources = {
        "flavour": args.flavour,
        "queue": args.queue,
        "cpu": args.cpu,
        "memory_gb": args.memory_gb,
        "accelerators": args.accelerators,
        "replicas": args.replicas,
    }
    return {k: v for k, v in resources.items() if v is not None} or None


def deploy_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``Client.deploy`` for ``sxwl deploy``."""
    https = None
    if args.domain or args.certificate or args.private_key:
        https = {
            "domain": args.domain or "",
            "certificate": _read_text_file(args.certificate, "--certificate") or "",
            "private_key": _read_text_file(args.private_key, "--private-key") or "",
        }
    if not args.model and not args.command:
        raise CommandError(
            "give --model NAME[:N] to serve a model, or --command (with --image, --code-dir, "
            "--port) to run an app, e.g. `sxwl deploy tiny-chat --model sxwl-tiny-llama`"
        )
    spec: dict[str, Any] = {
        "name": args.name,
        "model": args.model,
        "adapter": args.adapter,
        "kind": "llm" if args.model else "custom",
        "image": args.image,
        "code_dir": args.code_dir,
        "code_package": args.code_package,
        "requirements": _read_text_file(args.requirements, "--requirements"),
        "env": dict(args.env) or None,
        "command": args.command,
        "port": args.port,
        "resources": _service_resources(args),
        "sleep_after_minutes": args.sleep_after_minutes,
        "https": https,
    }
    return {k: v for k, v in spec.items() if v is not None}


def cmd_deploy(args: argparse.Namespace, client: Client, out: Out) -> int:
    service = client.deploy(**deploy_spec(args))
    if args.json and not args.wait:
        _print_json(service, out)
        return 0
    out.write(f"deployed {service_line(service)}\n")
    out.flush()
    if args.wait:
        service = client.wait_service(str(service["id"]))
        if args.json:
            _print_json(service, out)
            return 0
        out.write(f"{service_line(service)} at {client.endpoint_url(service)}\n")
    out.write(
        f"make a key with `sxwl service keys {service['name']} --create`; "
        f'`sxwl chat {service["name"]} "Hello"` asks it\n'
    )
    return 0


def cmd_services(args: argparse.Namespace, client: Client, out: Out) -> int:
    return _emit(args, out, client.services(), format_services)


def cmd_service_show(args: argparse.Namespace, client: Client, out: Out) -> int:
    return _emit(args, out, client.service(args.service), format_service)


def _service_action(name: str) -> Callable[[argparse.Namespace, Client, Out], int]:
    def command(args: argparse.Namespace, client: Client, out: Out) -> int:
        service = getattr(client, f"{name}_service")(args.service)
        out.write(f"{service_line(service)}\n")
        wanted = {"stop": ("stopped",), "sleep": ("sleeping",)}.get(name, ("running",))
        if args.wait and service.get("status") not in wanted:
            out.flush()
            service = client.wait_service(str(service["id"]), wanted)
            out.write(f"{service_line(service)}\n")
        return 0

    return command


def cmd_service_delete(args: argparse.Namespace, client: Client, out: Out) -> int:
    client.delete_service(args.service)
    out.write(f"deleted {args.service}\n")
    return 0


def cmd_service_logs(args: argparse.Namespace, client: Client, out: Out) -> int:
    text, offset = client.service_logs(args.service)
    out.write(text)
    out.flush()
    while args.follow:
        time.sleep(1.0)
        text, offset = client.service_logs(args.service, offset)
        if text:
            out.write(text)
            out.flush()
    return 0


def cmd_service_events(args: argparse.Namespace, client: Client, out: Out) -> int:
    return _emit(args, out, client.service_events(args.service), format_service_events)


def cmd_service_revisions(args: argparse.Namespace, client: Client, out: Out) -> int:
    return _emit(args, out, client.service_revisions(args.service), format_service_revisions)


def cmd_service_keys(args: argparse.Namespace, client: Client, out: Out) -> int:
    if args.create and args.revoke:
        raise CommandError("give --create or --revoke, not both")
    if args.revoke:
        client.revoke_service_key(args.service, args.revoke)
        out.write(f"revoked {args.revoke}\n")
        return 0
    if args.create:
        key = client.create_service_key(args.service, name=args.name)
        return _emit(args, out, key, format_new_key, args.service)
    return _emit(args, out, client.service_keys(args.service), format_service_keys)


def wait_serving_revision(
    client: Client, service: dict[str, Any], timeout: float = 600
) -> dict[str, Any]:
    """Poll until the service serves its latest revision (or rests: sleeping, stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        status = service.get("status")
        if status == "failed":
            raise SxwlError(service_line(service))
        if status in ("sleeping", "stopped") or (
            status == "running"
            and service.get("serving_revision") in (None, service.get("revision"))
        ):
            return service
        if time.monotonic() > deadline:
            raise SxwlError(f"{service_line(service)}: revision {service.get('revision')} "
                            f"not serving after {timeout:g} s")  # fmt: skip
        time.sleep(0.5)
        service = client.service(str(service["id"]))


def cmd_service_update(args: argparse.Namespace, client: Client, out: Out) -> int:
    fields: dict[str, Any] = {
        "model": args.model,
        "adapter": args.adapter,
        "image": args.image,
        "command": args.command,
        "env": dict(args.env) or None,
        "resources": _service_resources(args),
        "sleep_after_minutes": args.sleep_after_minutes,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields:
        raise CommandError("nothing to change: give --model, --cpu, --sleep-after, …")
    service = client.update_service(args.service, **fields)
    if args.wait:
        # The new revision takes over once it is ready; until then the old one answers.
        service = wait_serving_revision(client, service)
    if args.json:
        _print_json(service, out)
    else:
        out.write(f"updated {service_line(service)}, revision {service.get('revision')}\n")
    return 0


def cmd_chat(args: argparse.Namespace, client: Client, out: Out) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    messages = [{"role": "user", "content": prompt}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    options = {"key": args.key, "max_tokens": args.max_tokens, "temperature": args.temperature}
    if not args.stream or args.json:
        answer = client.chat(args.service, messages, **options)
        if args.json:
            _print_json({"answer": answer}, out)
        else:
            out.write(answer + "\n")
        return 0
    stream = client.chat(args.service, messages, stream=True, **options)
    for piece in stream:
        out.write(piece)
        out.flush()
    out.write("\n")
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
    "datasets": cmd_datasets,
    "publish": cmd_publish,
    "dataset create": cmd_dataset_create,
    "dataset import": cmd_dataset_import,
    "dataset show": cmd_dataset_show,
    "dataset records": cmd_dataset_records,
    "dataset publish": cmd_publish,
    "dataset versions": cmd_dataset_versions,
    "dataset download": cmd_dataset_download,
    "dataset accelerate": cmd_dataset_accelerate,
    "dataset share": cmd_dataset_share,
    "dataset add-shared": cmd_dataset_add_shared,
    "dataset revoke-share": cmd_revoke_share,
    "dataset delete": cmd_dataset_delete,
    "models": cmd_models,
    "model create": cmd_model_create,
    "model show": cmd_model_show,
    "model import": cmd_model_import,
    "model versions": cmd_model_versions,
    "model files": cmd_model_files,
    "model download": cmd_model_download,
    "model export": cmd_model_export,
    "model share": cmd_model_share,
    "model import-shared": cmd_model_import_shared,
    "model revoke-share": cmd_revoke_share,
    "model delete": cmd_model_delete,
    "mount": cmd_mount,
    "finetunes": cmd_finetunes,
    "finetune list": cmd_finetunes,
    "finetune create": cmd_finetune_create,
    "finetune show": cmd_finetune_show,
    "finetune metrics": cmd_finetune_metrics,
    "finetune logs": cmd_finetune_logs,
    "finetune stop": cmd_finetune_stop,
    "finetune resume": cmd_finetune_resume,
    "finetune delete": cmd_finetune_delete,
    "finetune evaluate": cmd_finetune_evaluate,
    "finetune predictions": cmd_finetune_predictions,
    "finetune export": cmd_finetune_export,
    "finetune tensorboard": cmd_finetune_tensorboard,
    "finetune defaults": cmd_finetune_defaults,
    "deploy": cmd_deploy,
    "services": cmd_services,
    "service list": cmd_services,
    "service show": cmd_service_show,
    "service stop": _service_action("stop"),
    "service start": _service_action("start"),
    "service restart": _service_action("restart"),
    "service sleep": _service_action("sleep"),
    "service delete": cmd_service_delete,
    "service logs": cmd_service_logs,
    "service events": cmd_service_events,
    "service revisions": cmd_service_revisions,
    "service keys": cmd_service_keys,
    "service update": cmd_service_update,
    "chat": cmd_chat,
}

# Commands about this lab's files only: they need no platform.
LOCAL_COMMANDS: dict[str, Callable[[argparse.Namespace, Out], int]] = {
    "unmount": cmd_unmount,
    "mounts": cmd_mounts,
}


def command_key(args: argparse.Namespace) -> str:
    """``"jobs"``, or ``"dataset import"`` for the commands of a group."""
    action = getattr(args, "action", None)
    return f"{args.cmd} {action}" if action else str(args.cmd)


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
    progress: ProgressCallback | None = None,
) -> int:
    """Run one parsed command; errors become ``error: …`` on ``err`` and an exit status.

    Long commands (imports, publish) report to ``progress``; by default as text on ``err``.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    args.progress = progress if progress is not None else TextProgress(err)
    try:
        if args.cmd == "login":
            return cmd_login(args, client_factory, out)
        key = command_key(args)
        if key in LOCAL_COMMANDS:
            return LOCAL_COMMANDS[key](args, out)
        if client is None:
            client = client_factory(url=args.url, token=args.token)
        return COMMANDS[key](args, client, out)
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
