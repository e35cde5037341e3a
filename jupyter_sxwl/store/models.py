"""SQLAlchemy models: the platform's state. Migrations live in ``store/migrations``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, String, Text
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
