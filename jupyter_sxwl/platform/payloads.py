"""API payloads (pydantic). They validate input and produce the OpenAPI document."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..backends.base import JobType
from ..scheduler.model import PRIORITY_CLASSES

NAME_RE = re.compile(r"^[^\W_][\w.-]{0,62}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
QUEUE_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
IMAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,511}$")
MAX_COMMAND = 64 * 1024
MAX_ENV_VALUE = 32 * 1024
MAX_RUN_MINUTES = 30 * 24 * 60

# Set by the platform for every rank; a user value would silently break distributed launch.
RESERVED_ENV = frozenset(
    {
        "MASTER_ADDR",
        "MASTER_PORT",
        "WORLD_SIZE",
        "RANK",
        "LOCAL_RANK",
        "NODE_RANK",
        "WORKER_CNT",
        "GPUS_PER_NODE",
        "LOCAL_WORLD_SIZE",
    }
)

JobStatus = Literal[
    "Queued", "Starting", "Running", "Stopping", "Succeeded", "Failed", "Stopped", "TimedOut"
]
ACTIVE_STATUSES = ("Starting", "Running", "Stopping")
FINAL_STATUSES = ("Succeeded", "Failed", "Stopped", "TimedOut")
Priority = Literal["low", "normal", "high"]
assert set(PRIORITY_CLASSES) == {"low", "normal", "high"}


def check_text(value: str, what: str = "text") -> str:
    """Reject text that cannot be stored or shown: lone surrogates (not UTF-8) and NULs."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"must be valid UTF-8 {what}") from None
    if "\x00" in value:
        raise ValueError(f"must not contain NUL characters in its {what}")
    return value


def check_env(env: dict[str, str], reserved: frozenset[str] = frozenset()) -> dict[str, str]:
    """Environment variables a user sets: valid names and text, none the platform sets
    (``SXWL_*`` and ``reserved``), values of at most 32 KiB."""
    if len(env) > 256:
        raise ValueError("has more than 256 variables")
    for key, value in env.items():
        check_text(key, "name")
        check_text(value, "value")
        if not ENV_NAME_RE.match(key):
            raise ValueError(f"{key[:64]!r} is not a valid variable name")
        if key in reserved or key.startswith("SXWL_"):
            raise ValueError(f"{key} is set by the platform; remove it")
        if len(value) > MAX_ENV_VALUE:
            raise ValueError(f"the value of {key} is longer than 32 KiB")
    return env


def check_relative_path(value: str, allow_dot: bool = False) -> str:
    """A path inside the job's work directory: relative, no ``..``, normalised."""
    check_text(value, "path")
    if not value.strip():
        raise ValueError("must not be empty; give a path relative to the job's work directory")
    if len(value) > 255:
        raise ValueError("is longer than 255 characters")
    if value.startswith("/") or value.startswith("~"):
        raise ValueError(
            f"{value!r} is absolute; give a path relative to the job's work directory, "
            "e.g. 'checkpoints'"
        )
    if "\\" in value:
        raise ValueError("must use '/' as separator")
    norm = posixpath.normpath(value)
    if norm == ".." or norm.startswith("../") or "/../" in f"/{value}/":
        raise ValueError(f"{value!r} leaves the job's work directory; remove the '..' parts")
    if norm == "." and not allow_dot:
        raise ValueError(
            "must name a directory inside the work directory, not the directory itself"
        )
    return norm


class MountSpec(BaseModel):
    """A published dataset version or a model version mounted read-only into a job (L2)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["dataset", "model"] = Field(description="dataset or model")
    name: str = Field(description="the dataset's or model's name (or id)", max_length=128)
    version: int | None = Field(
        None, ge=1, description="the version; null: the latest published (or ready) one"
    )


class JobSubmit(BaseModel):
    """What a user sends to submit a custom training job."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )
    command: str = Field(description="run by bash in every rank, e.g. 'python train.py --epochs 3'")
    job_type: JobType = Field(JobType.single, description="single, pytorch (DDP), mpi or deepspeed")
    nodes: int = Field(1, description="master + workers: the number of nodes (WORKER_CNT)")
    procs_per_node: int = Field(
        1, description="processes per node, one per accelerator (GPUS_PER_NODE)"
    )
    flavour: str = Field("cpu", description="a flavour of the accelerator catalogue")
    accelerators_per_node: int = Field(0, description="accelerator cards per node")
    cpu_per_node: float = Field(1.0, description="CPU cores per node")
    memory_gb_per_node: float = Field(2.0, description="memory per node, GiB")
    queue: str = Field("default", description="the queue to wait in")
    priority: Priority = Field("normal", description="low or normal; high is for admins")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    code_package: str | None = Field(None, description="id of an uploaded code package")
    working_dir: str = Field(".", description="directory inside the code to run in")
    checkpoint_path: str = Field(
        "checkpoints", description="where the program writes checkpoints, relative to the work dir"
    )
    checkpoint_capacity_gb: float = Field(10.0, description="capacity of the checkpoint volume")
    model_path: str = Field(
        "output", description="where the program saves the model, relative to the work dir"
    )
    model_capacity_gb: float = Field(10.0, description="capacity of the model-save volume")
    max_run_minutes: int | None = Field(
        None, description="stop the job as TimedOut after this many minutes; null: run to the end"
    )
    image: str | None = Field(None, description="container image (cluster mode)")
    mounts: list[MountSpec] = Field(
        default_factory=list,
        max_length=32,
        description="datasets and models to mount read-only; the job finds them at "
        "$SXWL_MOUNT_ROOT/<kind>s/<name> (also ./mnt/<kind>s/<name> in its work directory)",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        check_text(v, "text")
        if not NAME_RE.match(v):
            shown = v if len(v) <= 40 else v[:40] + "…"
            raise ValueError(
                f"{shown!r} is not a valid name; use 1-63 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return v

    @field_validator("command")
    @classmethod
    def _command(cls, v: str) -> str:
        check_text(v, "text")
        if not v.strip():
            raise ValueError("is empty; give the command to run, e.g. 'python train.py'")
        if len(v.encode()) > MAX_COMMAND:
            raise ValueError(
                f"is longer than {MAX_COMMAND // 1024} KiB; put it in a script in the code package"
            )
        return v

    @field_validator("nodes", "procs_per_node")
    @classmethod
    def _count(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1")
        if v > 1024:
            raise ValueError("must be at most 1024")
        return v

    @field_validator("accelerators_per_node")
    @classmethod
    def _accelerators(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must not be negative")
        return v

    @field_validator("cpu_per_node", "memory_gb_per_node")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not v > 0 or v != v or v > 1e6:
            raise ValueError("must be a positive number")
        return v

    @field_validator("checkpoint_capacity_gb", "model_capacity_gb")
    @classmethod
    def _capacity(cls, v: float) -> float:
        if not 0 < v <= 1e6:
            raise ValueError("must be a positive number of GiB (at most 1000000)")
        return v

    @field_validator("max_run_minutes")
    @classmethod
    def _max_run(cls, v: int | None) -> int | None:
        if v is None:
            return v
        if v < 1:
            raise ValueError("must be at least 1 minute; leave it empty to run to the end")
        if v > MAX_RUN_MINUTES:
            raise ValueError(f"must be at most {MAX_RUN_MINUTES} minutes (30 days)")
        return v

    @field_validator("queue")
    @classmethod
    def _queue(cls, v: str) -> str:
        check_text(v, "text")
        if not QUEUE_NAME_RE.match(v):
            raise ValueError(f"{v[:63]!r} is not a queue name")
        return v

    @field_validator("flavour")
    @classmethod
    def _flavour(cls, v: str) -> str:
        check_text(v, "text")
        if not v or len(v) > 63:
            raise ValueError("must name a flavour of the catalogue")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return check_env(v, RESERVED_ENV)

    @field_validator("working_dir")
    @classmethod
    def _working_dir(cls, v: str) -> str:
        return check_relative_path(v, allow_dot=True)

    @field_validator("checkpoint_path", "model_path")
    @classmethod
    def _volume_path(cls, v: str) -> str:
        return check_relative_path(v)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        check_text(v, "text")
        if not IMAGE_RE.match(v):
            raise ValueError(f"{v[:64]!r} is not an image reference like 'registry/repo:tag'")
        return v

    @field_validator("code_package")
    @classmethod
    def _code_package(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        assert v is not None
        check_text(v, "text")
        if not re.fullmatch(r"code-[0-9a-f]{10,20}", v):
            raise ValueError(f"{v[:40]!r} is not a code package id like 'code-1a2b3c4d5e'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> JobSubmit:
        if self.job_type == JobType.single and (self.nodes != 1 or self.procs_per_node != 1):
            raise ValueError(
                "a single-process job runs on 1 node with 1 process; choose job_type pytorch "
                "or mpi for more"
            )
        a, b = self.checkpoint_path, self.model_path
        if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
            raise ValueError("checkpoint_path and model_path must be different, not nested")
        return self


class JobPatch(BaseModel):
    """What an admin may change on a queued job."""

    model_config = ConfigDict(extra="forbid")
    priority: Priority


class RestartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resume: bool = Field(False, description="keep the checkpoint directory and set SXWL_RESUME=1")


class JobOut(BaseModel):
    """A job as the API shows it."""

    id: str
    name: str
    owner: str
    status: JobStatus
    queue: str
    priority: Priority
    flavour: str
    job_type: JobType
    nodes: int
    procs_per_node: int
    accelerators_per_node: int
    cpu_per_node: float
    memory_gb_per_node: float
    command: str
    working_dir: str
    env: dict[str, str]
    image: str | None
    mounts: list[dict[str, Any]] = []
    code_package: str | None
    checkpoint_path: str
    checkpoint_capacity_gb: float
    model_path: str
    model_capacity_gb: float
    max_run_minutes: int | None
    attempt: int
    created_at: str
    admitted_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    exit_code: int | None
    message: str
    queue_position: int | None
    wait_reason: str | None


class JobList(BaseModel):
    items: list[JobOut]
    total: int


class QuotaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accelerators: Annotated[int, Field(ge=0)] | None = None
    cpu: Annotated[float, Field(ge=0)] | None = None


class QueueIn(BaseModel):
    """A queue as an admin creates or edits it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    quotas: dict[str, QuotaIn] = Field(default_factory=dict)
    users: list[str] | None = None
    strategy: Literal["BestEffortFIFO", "StrictFIFO"] = "BestEffortFIFO"
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        check_text(v, "text")
        if not QUEUE_NAME_RE.match(v):
            raise ValueError(
                f"{v[:63]!r} is not a valid queue name; use lowercase letters, digits and '-'"
            )
        return v


class QueuePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quotas: dict[str, QuotaIn] | None = None
    users: list[str] | None = None
    strategy: Literal["BestEffortFIFO", "StrictFIFO"] | None = None
    description: str | None = None


class QueueOut(BaseModel):
    name: str
    quotas: dict[str, dict[str, Any]]
    users: list[str] | None
    strategy: str
    description: str
    running: int
    pending: int


class UserLimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_accelerators: Annotated[int, Field(ge=0)] | None = None
    max_cpu: Annotated[float, Field(ge=0)] | None = None


class CodePackageOut(BaseModel):
    id: str
    name: str
    size: int
    files: int
    sha256: str
    created_at: str


def catalogue_name(value: Any, example: str) -> str:
    """A dataset or model name, checked; raises a ``Problem`` naming ``name``."""
    from .errors import Problem

    if not isinstance(value, str) or not value.strip():
        raise Problem.invalid("name", f"is required, e.g. {example!r}")
    try:
        check_text(value, "name")
    except ValueError as e:
        raise Problem.invalid("name", str(e)) from None
    if not NAME_RE.match(value):
        raise Problem.invalid(
            "name",
            "must start with a letter or digit and hold at most 63 letters, digits, '.', "
            "'_' or '-'",
        )
    return value


def text_field(body: dict[str, Any], field: str, limit: int) -> str:
    """An optional free-text field of a JSON body (default empty), checked."""
    from .errors import Problem

    value = body.get(field, "")
    if not isinstance(value, str) or len(value) > limit:
        raise Problem.invalid(field, f"must be text of at most {limit} characters")
    try:
        return check_text(value, field)
    except ValueError as e:
        raise Problem.invalid(field, str(e)) from None


def mount_request(body: dict[str, Any]) -> tuple[str, str, int | None]:
    """``(kind, name, version)`` of a mount request body, checked."""
    from .errors import Problem

    kind, name, version = body.get("kind"), body.get("name"), body.get("version")
    if kind not in ("dataset", "model"):
        raise Problem.invalid("kind", "must be dataset or model")
    if not isinstance(name, str) or not name:
        raise Problem.invalid("name", f"is required: the {kind}'s name or id")
    if version is not None and (type(version) is not int or version < 1):
        raise Problem.invalid("version", "must be a version number (1, 2, ...) or left out")
    return kind, name, version
