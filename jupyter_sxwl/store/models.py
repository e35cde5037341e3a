"""SQLAlchemy models: the platform's state. Migrations live in ``store/migrations``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base; every timestamp is naive UTC (portable across SQLite and PostgreSQL)."""


class Job(Base):
    """A custom training job and the state of its latest attempt."""

    __tablename__ = "jobs"

    # ``seq`` gives submission order (FIFO within a priority); ``id`` is what users see.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    queue: Mapped[str] = mapped_column(String(63))
    priority: Mapped[str] = mapped_column(String(16))
    priority_value: Mapped[int] = mapped_column(Integer)
    flavour: Mapped[str] = mapped_column(String(63))
    job_type: Mapped[str] = mapped_column(String(16))
    nodes: Mapped[int] = mapped_column(Integer)
    procs_per_node: Mapped[int] = mapped_column(Integer)
    accelerators_per_node: Mapped[int] = mapped_column(Integer)
    cpu_per_node: Mapped[float] = mapped_column(Float)
    memory_gb_per_node: Mapped[float] = mapped_column(Float)
    command: Mapped[str] = mapped_column(Text)
    working_dir: Mapped[str] = mapped_column(String(1024))
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    image: Mapped[str | None] = mapped_column(String(512), nullable=True)
    code_package: Mapped[str | None] = mapped_column(String(32), nullable=True)
    checkpoint_path: Mapped[str] = mapped_column(String(255))
    checkpoint_capacity_gb: Mapped[float] = mapped_column(Float)
    model_path: Mapped[str] = mapped_column(String(255))
    model_capacity_gb: Mapped[float] = mapped_column(Float)
    max_run_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    resume: Mapped[bool] = mapped_column(Boolean, default=False)
    # Nodes and cards the scheduler gave the current attempt: [{"node": 0, "cards": [0, 1]}].
    placement: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    run_dir: Mapped[str] = mapped_column(String(1024))
    # Dataset and model versions mounted read-only into the job (L2), resolved at submit:
    # [{"kind": "dataset", "id": ..., "name": ..., "version": 2, "path": "mnt/datasets/x"}].
    mounts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    admitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")


class Queue(Base):
    """A ClusterQueue: nominal quotas per flavour, who may use it, and its strategy."""

    __tablename__ = "queues"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    quotas: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSON, default=dict)
    users: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    strategy: Mapped[str] = mapped_column(String(16), default="BestEffortFIFO")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class UserLimit(Base):
    """An admin's per-user ceiling on accelerators and CPUs held at once (O5)."""

    __tablename__ = "user_limits"

    username: Mapped[str] = mapped_column(String(255), primary_key=True)
    max_accelerators: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_cpu: Mapped[float | None] = mapped_column(Float, nullable=True)


class CodePackage(Base):
    """An uploaded code archive (T5), unpacked into a job's work directory at submit."""

    __tablename__ = "code_packages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Upload(Base):
    """A chunked, resumable upload in progress (D2, M2): bytes land in the data dir first."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Dataset(Base):
    """A dataset (D1): a working copy of imported files and edits, and published versions."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_datasets_owner_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    data_type: Mapped[str] = mapped_column(String(16))
    annotation_type: Mapped[str] = mapped_column(String(16))
    preset: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped by every change to the working copy, so a publish can tell it has nothing new.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    next_added: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DatasetImport(Base):
    """One import into a dataset's working copy: an upload, an archive or a download URL."""

    __tablename__ = "dataset_imports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(32), default="")
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    files: Mapped[int] = mapped_column(Integer, default=0)
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    invalid: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    # The first problems found, [{"file", "line", "field", "message"}], for the import report.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class DatasetFile(Base):
    """An imported file of a working copy, normalised to JSON Lines in the data dir."""

    __tablename__ = "dataset_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(32), index=True)
    import_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(512))
    format: Mapped[str] = mapped_column(String(8))
    records: Mapped[int] = mapped_column(BigInteger)
    invalid: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DatasetIssue(Base):
    """A problem of one imported record, as the import found it (edits carry their own)."""

    __tablename__ = "dataset_issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(32), index=True)
    file_id: Mapped[int] = mapped_column(Integer, index=True)
    idx: Mapped[int] = mapped_column(BigInteger)
    line: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    field: Mapped[str | None] = mapped_column(String(255), nullable=True)
    message: Mapped[str] = mapped_column(Text)


class DatasetEdit(Base):
    """An annotation change to one record: new content, deletion, or the reviewed mark.

    ``file_id`` None marks a record added in the annotation view (``idx`` orders them).
    ``data`` None with ``deleted`` False keeps the imported content (e.g. only reviewed).
    """

    __tablename__ = "dataset_edits"
    __table_args__ = (
        UniqueConstraint("dataset_id", "file_id", "idx", name="uq_dataset_edits_record"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(32), index=True)
    file_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    idx: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[Any] = mapped_column(JSON, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Problems of ``data`` ([{"field", "message"}]); empty when valid.
    issues: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_by: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DatasetVersion(Base):
    """A published, immutable version (D4): canonical JSON Lines in the object store."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number", name="uq_dataset_versions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(32), index=True)
    number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(String(1024))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # Acceleration (D6): a copy on fast local storage that jobs and mounts prefer.
    accel_status: Mapped[str] = mapped_column(String(16), default="none")
    accel_done: Mapped[int] = mapped_column(BigInteger, default=0)
    accel_message: Mapped[str] = mapped_column(Text, default="")


class Operation(Base):
    """Long work started by a request and run in the background: publish, export, ...

    The request answers at once with the operation; clients poll it for progress and result.
    """

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Share(Base):
    """A share token (D5, M4). Only its hash is stored; the token is shown once."""

    __tablename__ = "shares"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)


class Grant(Base):
    """Read access to someone else's dataset, added by redeeming a share token."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("kind", "object_id", "username", name="uq_grants_object_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(32), index=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    share_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Model(Base):
    """A model in the repository (M1): a name and its versions."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_models_owner_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    family: Mapped[str] = mapped_column(String(64), default="")
    preset: Mapped[bool] = mapped_column(Boolean, default=False)
    # For presets: where the weights come from ({"kind": "huggingface", "repo_id": ...}).
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ModelVersion(Base):
    """One version of a model: its files in the object store, how it got there, its lineage."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "number", name="uq_model_versions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(32), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(32), default="")
    source: Mapped[str] = mapped_column(String(16))
    source_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[int] = mapped_column(Integer, default=0)
    # sha256 of the manifest (sorted paths, sizes and sha256 of every file).
    sha256: Mapped[str] = mapped_column(String(64), default="")
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Finetune(Base):
    """A supervised fine-tune (F1): what was asked for, and the job that trains it.

    Status, times and progress are the job's; the row keeps what the job does not know.
    """

    __tablename__ = "finetunes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(128))
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    method: Mapped[str] = mapped_column(String(16))
    # The pinned base model version {"id", "name", "version"} and dataset versions
    # [{"id", "name", "version", "annotation_type", "records"}].
    model: Mapped[dict[str, Any]] = mapped_column(JSON)
    datasets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    eval_datasets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Why the last failed attempt failed, read from its log, and which attempt that was.
    message: Mapped[str] = mapped_column(Text, default="")
    message_attempt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class FinetuneEvaluation(Base):
    """An evaluation (F3) of a finished fine-tune, run as a job; scores once it ends."""

    __tablename__ = "finetune_evaluations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    finetune_id: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(255))
    job_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    dataset: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class FinetuneExport(Base):
    """An export (F4) of a finished fine-tune into the model repository, run as a job."""

    __tablename__ = "finetune_exports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    finetune_id: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(255))
    job_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    merge: Mapped[bool] = mapped_column(Boolean, default=True)
    model_name: Mapped[str] = mapped_column(String(128))
    notes: Mapped[str] = mapped_column(Text, default="")
    # The registered version {"id", "name", "version"} once it is ready.
    model: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Service(Base):
    """A deployed service (S1, S2): its current configuration, state and where it runs.

    ``spec`` is the current revision's configuration; ``replicas`` the running processes
    ([{"run": n, "port": p}]), kept so a restarted platform finds them again.
    """

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_services_owner_name"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Certificate and key of the HTTPS domain (the key is a secret: never shown).
    https: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    replicas: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    metered_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    running_since: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_request_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ServiceRevision(Base):
    """One configuration of a service (its history, shown with diffs)."""

    __tablename__ = "service_revisions"
    __table_args__ = (UniqueConstraint("service_id", "number", name="uq_service_revisions_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(32), index=True)
    number: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ServiceEvent(Base):
    """A run record of a service: started, ready, stopped, sleeping, woken, failed, updated."""

    __tablename__ = "service_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    message: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GatewaySign(Base):
    """A Sign the gateway accepted, kept while its Timestamp could still be accepted, so that a
    replay is refused even after a platform restart (or by another platform process)."""

    __tablename__ = "gateway_signs"

    sign: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class ServiceKey(Base):
    """A key of a service's gateway: an AppKey/AppSecret pair and a bearer token.

    The AppSecret is kept encrypted with the platform's key (HMAC verification needs it);
    the bearer token only as its SHA-256.
    """

    __tablename__ = "service_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(128), default="")
    app_key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    bearer_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    bearer_hint: Mapped[str] = mapped_column(String(16), default="")
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
