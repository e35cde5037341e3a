"""Services (S1 to S5, S7): deploy an LLM or any HTTP app, keep it running, sleep and wake it.

A service runs as one or more supervised processes of the backend (the job launcher, one
attempt per process) on ports from ``c.SxwlPlatform.service_ports``; the platform checks their
health, puts idle ones to sleep and wakes them when the gateway gets a request. Every change
of configuration is a revision; a running service moves to a new one without a failed request:
the new processes start beside the old ones, the gateway switches once they are healthy, and
the old ones stop when their last request is answered.

An LLM service runs ``python -m jupyter_sxwl.runtime.serve`` (the OpenAI-compatible model
server) with the model version (and an adapter) mounted at ``$SXWL_MOUNT_ROOT/models/<name>``;
any other service given a model finds it there too, and at ``$SXWL_SERVICE_MODEL_DIR``.
Replicas are placed by the scheduler beside the jobs (:meth:`Dispatcher.place`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select

from ..backends.base import Backend, LaunchRequest
from ..catalog.code_packages import unpack_archive
from ..scheduler import check_feasible
from ..scheduler.model import Flavour, NodeSlot, Placement, Workload
from ..store.database import Database
from ..store.models import (
    CodePackage,
    Service,
    ServiceEvent,
    ServiceKey,
    ServiceRevision,
    utcnow,
)
from . import rundir
from .auth import Identity
from .dispatch import Dispatcher, NoRoom
from .errors import Problem, problem_from_validation
from .gateway import Denied, KeyInfo, KeyRing
from .jobs import iso, new_id
from .payloads import IMAGE_RE, MAX_COMMAND, NAME_RE, check_env, check_text

SERVE_COMMAND = "python -m jupyter_sxwl.runtime.serve"
LOG_TAIL_LINES = 20
ACTIVE = ("starting", "running", "waking")
STATUSES = ("starting", "running", "sleeping", "waking", "stopped", "failed", "deleting")


class ModelRef(BaseModel):
    """A model version of the repository."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the model's name (or id)", max_length=128)
    version: int | None = Field(None, ge=1, description="the version; null: the latest ready")


class ServiceResources(BaseModel):
    """What each replica of a service gets."""

    model_config = ConfigDict(extra="forbid")
    flavour: str = Field("cpu", description="a flavour of the accelerator catalogue")
    queue: str = Field("default", description="the queue whose quota the replicas count against")
    cpu: float = Field(1.0, gt=0, le=1024, description="CPU cores per replica")
    memory_gb: float = Field(2.0, gt=0, le=1e5, description="memory per replica, GiB")
    accelerators: int = Field(0, ge=0, le=64, description="accelerator cards per replica")
    replicas: int = Field(1, ge=1, le=16, description="processes serving the service")


class HttpsSpec(BaseModel):
    """The HTTPS domain of a service (used by the cluster mode's ingress)."""

    model_config = ConfigDict(extra="forbid")
    domain: str = Field(description="the service's domain, e.g. chat.example.com")
    certificate: str = Field(description="the certificate chain, PEM")
    private_key: str = Field(description="the certificate's private key, PEM (never shown)")


class ServiceFields(BaseModel):
    """Fields of a service's configuration (a revision)."""

    model_config = ConfigDict(extra="forbid")
    model: ModelRef | None = Field(None, description="llm: the model version to serve")
    adapter: ModelRef | None = Field(None, description="llm: a LoRA adapter on top of model")
    image: str | None = Field(None, description="container image (cluster mode)")
    code_package: str | None = Field(None, description="id of an uploaded code package")
    requirements: str = Field(
        "", description="extra Python packages, in the requirements.txt format"
    )
    env: dict[str, str] = Field(default_factory=dict, description="environment variables")
    command: str | None = Field(None, description="custom: the start command")
    port: int | None = Field(
        None,
        description="custom: the port the command listens on; null: one is picked "
        "and passed as $SXWL_PORT",
    )
    resources: ServiceResources = Field(default_factory=lambda: ServiceResources.model_validate({}))
    sleep_after_minutes: float | None = Field(
        None, description="stop after this many idle minutes; the next request wakes it"
    )
    max_new_tokens: int | None = Field(
        None, ge=1, le=32768, description="llm: the most tokens one answer may generate"
    )

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        if not v:
            return None
        check_text(v)
        if not IMAGE_RE.match(v):
            raise ValueError(f"{v[:64]!r} is not an image reference like 'registry/repo:tag'")
        return v

    @field_validator("code_package")
    @classmethod
    def _code(cls, v: str | None) -> str | None:
        if not v:
            return None
        check_text(v)
        if not re.fullmatch(r"code-[0-9a-f]{10,20}", v):
            raise ValueError(f"{v[:40]!r} is not a code package id like 'code-1a2b3c4d5e'")
        return v

    @field_validator("requirements")
    @classmethod
    def _requirements(cls, v: str) -> str:
        from packaging.requirements import InvalidRequirement, Requirement

        check_text(v)
        if len(v) > 64 * 1024:
            raise ValueError("is longer than 64 KiB")
        for n, raw in enumerate(v.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("-"):
                raise ValueError(
                    f"line {n}: options such as {line.split()[0]!r} are not allowed; "
                    "list one package a line, e.g. 'requests>=2.31'"
                )
            try:
                Requirement(line)
            except InvalidRequirement as e:
                raise ValueError(f"line {n}: {line[:60]!r} is not a requirement ({e})") from None
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return check_env(v)

    @field_validator("command")
    @classmethod
    def _command(cls, v: str | None) -> str | None:
        if v is None:
            return None
        check_text(v)
        if not v.strip():
            raise ValueError("is empty; give the command that starts the server")
        if len(v.encode()) > MAX_COMMAND:
            raise ValueError("is longer than 64 KiB; put it in a script in the code package")
        return v

    @field_validator("sleep_after_minutes")
    @classmethod
    def _sleep(cls, v: float | None) -> float | None:
        if v is None:
            return None
        if not 0 < v <= 7 * 24 * 60:
            raise ValueError("must be a number of minutes above 0 (at most a week), or null")
        return v


class ServiceCreate(ServiceFields):
    """What a user sends to deploy a service."""

    name: str = Field(description="1-63 letters, digits, '.', '_' or '-'; part of the address")
    kind: Literal["llm", "custom"] = Field(description="llm: a model version; custom: any app")
    https: HttpsSpec | None = Field(None, description="domain, certificate and key")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        check_text(v)
        if not NAME_RE.match(v):
            raise ValueError(
                f"{v[:40]!r} is not a valid name; use 1-63 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return v


class ServicePatch(ServiceFields):
    """An edit: the fields given replace the current ones (a new revision)."""

    https: HttpsSpec | None = Field(None, description="domain, certificate and key")


_SPEC_FIELDS = [n for n in ServiceFields.model_fields]


def check_certificate(https: HttpsSpec) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Field errors of an HTTPS configuration, and what may be shown of it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtensionOID, NameOID

    domain = https.domain.strip().lower().rstrip(".")
    if not re.fullmatch(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", domain):
        return [("https.domain", f"{https.domain[:80]!r} is not a domain name")], {}
    try:
        certs = x509.load_pem_x509_certificates(https.certificate.encode())
    except ValueError:
        return [("https.certificate", "is not a PEM certificate (-----BEGIN CERTIFICATE-----)")], {}
    try:
        key = serialization.load_pem_private_key(https.private_key.encode(), password=None)
    except (ValueError, TypeError):
        return [("https.private_key", "is not an unencrypted PEM private key")], {}
    cert = certs[0]
    public = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mine = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != mine:
        return [("https.certificate", "does not match the private key")], {}
    names: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        names = [n.lower() for n in san.value.get_values_for_type(x509.DNSName)]  # type: ignore[attr-defined]
    if not names:
        names = [
            str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]

    def covers(name: str) -> bool:
        if name == domain:
            return True
        if name.startswith("*."):
            head, _, rest = domain.partition(".")
            return bool(head) and rest == name[2:]
        return False

    if not any(covers(n) for n in names):
        return [
            (
                "https.certificate",
                f"is for {', '.join(names[:5]) or 'no name'}, not for {domain}",
            )
        ], {}
    expires = cert.not_valid_after_utc.replace(tzinfo=None)
    problems: list[tuple[str, str]] = []
    if expires < utcnow():
        problems.append(("https.certificate", f"expired on {iso(expires)}"))
    shown = {"domain": domain, "names": names, "expires_at": iso(expires)}
    return problems, shown


def spec_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """The fields that differ between two configurations, flattened (``resources.cpu``)."""
    out: list[dict[str, Any]] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = prefix + key
        if isinstance(a, dict) and isinstance(b, dict) and key not in ("env",):
            out += spec_diff(a, b, name + ".")
        elif a != b:
            out.append({"field": name, "old": a, "new": b})
    return out


def parse_port_range(text: str) -> tuple[int, int]:
    """``"20000-20999"`` -> (20000, 20999)."""
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a port range like '20000-20999'")
    low, high = int(m.group(1)), int(m.group(2))
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"{text!r} must lie within 1024-65535, low to high")
    return low, high


def port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (connections of an earlier server that
    are still closing do not count: servers bind with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Replica:
    run: int
    port: int
    run_dir: Path
    slot: NodeSlot | None = None  # the node and cards the scheduler placed it on

    def stored(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run": self.run, "port": self.port}
        if self.slot is not None:
            out.update(node=self.slot.node, cards=list(self.slot.cards))
        return out


@dataclass
class Deployment:
    """The processes answering a service now, and the requests they are answering."""

    replicas: list[Replica]
    revision: int
    inflight: int = 0
    turn: int = 0
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    def pick(self) -> int:
        self.turn += 1
        return self.replicas[self.turn % len(self.replicas)].port

    def release(self) -> None:
        self.inflight -= 1
        if self.inflight <= 0:
            self.drained.set()


class StartFailed(Exception):
    """A service's processes did not become ready; the message is for the user."""


class NoRoomToStart(StartFailed):
    """The scheduler has no room for the replicas now (nodes, cards, quota or limit)."""


class ServiceManager:
    """Everything a user can do with services; the gateway asks it where to send requests."""

    def __init__(
        self,
        db: Database,
        backend: Backend,
        models: Any,
        dispatcher: Dispatcher,
        data_dir: Path,
        keys: KeyRing,
        *,
        ports: tuple[int, int] = (20000, 20999),
        check_interval: float = 5.0,
        start_timeout: float = 300.0,
        wake_timeout: float = 120.0,
        stop_grace_seconds: float = 10.0,
        standby: bool = True,
        log: logging.Logger | None = None,
    ) -> None:
        self.db = db
        self.backend = backend
        self.models = models
        self.dispatcher = dispatcher
        self.flavours: dict[str, Flavour] = dispatcher.flavours
        # The scheduler's view of every replica started and not yet stopped, by run directory:
        # jobs and services share queues' quotas, users' limits and cards.
        self._held: dict[Path, Placement] = {}
        dispatcher.held_elsewhere = lambda: list(self._held.values())
        self.services_dir = data_dir / "services"
        self.code_dir = data_dir / "code-packages"
        self.keys = keys
        self.ports = ports
        self.check_interval = check_interval
        self.start_timeout = start_timeout
        self.wake_timeout = wake_timeout
        self.stop_grace_seconds = stop_grace_seconds
        self.standby = standby
        self.log = log or logging.getLogger("jupyter_sxwl.services")
        self.address_base = "/services/sxwl/endpoints/"
        self.live: dict[str, Deployment] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._monitor: asyncio.Task[None] | None = None
        self._last_request: dict[str, float] = {}
        self._requests: dict[str, int] = {}
        self._reserved: set[int] = set()
        self._names: dict[str, tuple[str, str, str]] = {}  # id -> (owner, name, status)
        self._ops: dict[str, asyncio.Task[Any]] = {}
        # The status of each service as last written, so a request to a running service
        # reaches it without a database read.
        self._state: dict[str, str] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._hold_stored()
        self._monitor = asyncio.get_running_loop().create_task(self._watch())
        self._spawn(self._reattach())

    def _hold_stored(self) -> None:
        """After a platform restart, before any admission cycle: what the replicas recorded as
        started hold, so their cards are not given to a job. ``_reattach`` then lets go of
        the replicas that are gone (stopping a replica releases its hold)."""
        with self.db.session() as session:
            for row in session.scalars(select(Service).where(Service.status.in_(ACTIVE))):
                res = row.spec.get("resources") or {}
                for r in self._replicas(row.id, row.replicas):
                    work = self._workload(row.owner, res, f"{row.id}/{r.run}")
                    slots = (r.slot,) if r.slot is not None else ()
                    self._held[r.run_dir] = Placement(work, slots)

    async def close(self, stop_services: bool = False) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if stop_services:
            for dep in list(self.live.values()):
                await self._stop_replicas(dep.replicas)
            with self.db.session() as session:
                sleeping = [
                    self._replicas(r.id, r.replicas)
                    for r in session.scalars(select(Service).where(Service.status == "sleeping"))
                ]
            for replicas in sleeping:
                await self._stop_replicas(replicas)
        self._flush()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _lock(self, service_id: str) -> asyncio.Lock:
        return self._locks.setdefault(service_id, asyncio.Lock())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- reading -------------------------------------------------------------------------------

    def _service(self, session: Any, identity: Identity, ref: str) -> Service:
        row = session.scalar(select(Service).where(Service.id == ref))
        if row is None:
            row = session.scalar(
                select(Service).where(Service.owner == identity.name, Service.name == ref)
            )
        if row is None or not identity.can_see(row.owner):
            raise Problem.not_found(f"service {ref!r}")
        return row  # type: ignore[no-any-return]

    def to_out(self, row: Service) -> dict[str, Any]:
        spec = dict(row.spec)
        running = 0.0
        if row.running_since is not None:
            running = max((utcnow() - row.running_since).total_seconds(), 0.0)
        dep = self.live.get(row.id)
        return {
            "id": row.id,
            "name": row.name,
            "owner": row.owner,
            "kind": row.kind,
            "status": row.status,
            "address": f"{self.address_base}{row.name}/",
            "model": spec.get("model"),
            "adapter": spec.get("adapter"),
            "revision": row.revision,
            "serving_revision": dep.revision if dep else None,
            "resources": spec.get("resources"),
            "sleep_after_minutes": spec.get("sleep_after_minutes"),
            "spec": spec,
            "https": {k: v for k, v in (row.https or {}).items() if k != "private_key"} or None,
            "requests": row.requests + self._requests.get(row.id, 0),
            "usage": {
                "requests": row.requests + self._requests.get(row.id, 0),
                "running_seconds": round(row.metered_seconds + running, 1),
                "replicas": len(dep.replicas) if dep else 0,
                "inflight": dep.inflight if dep else 0,
            },
            # Where the scheduler placed each replica (node of its flavour, card indices).
            "placement": [
                {"node": r["node"], "cards": r.get("cards") or []}
                for r in row.replicas or []
                if "node" in r
            ],
            # A sleeping LLM service whose standby process waits to load the weights on a wake.
            "standby": row.status == "sleeping"
            and any(r.get("standby") for r in row.replicas or []),
            "message": row.message,
            "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at),
        }

    def list_services(self, identity: Identity, all_users: bool = False) -> dict[str, Any]:
        query = select(Service)
        if not (all_users and identity.admin):
            query = query.where(Service.owner == identity.name)
        with self.db.session() as session:
            rows = list(session.scalars(query.order_by(Service.seq.desc())))
            return {"items": [self.to_out(r) for r in rows], "total": len(rows)}

    def get(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            return self.to_out(self._service(session, identity, ref))

    def events(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            events = session.scalars(
                select(ServiceEvent)
                .where(ServiceEvent.service_id == row.id)
                .order_by(ServiceEvent.id.desc())
                .limit(500)
            )
            return {
                "items": [
                    {"kind": e.kind, "revision": e.revision, "message": e.message, "at": iso(e.at)}
                    for e in events
                ]
            }

    def revisions(self, identity: Identity, ref: str) -> dict[str, Any]:
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            revs = list(
                session.scalars(
                    select(ServiceRevision)
                    .where(ServiceRevision.service_id == row.id)
                    .order_by(ServiceRevision.number)
                )
            )
        items = []
        previous: dict[str, Any] = {}
        for r in revs:
            items.append(
                {
                    "number": r.number,
                    "spec": r.spec,
                    "changes": spec_diff(previous, r.spec) if previous else [],
                    "created_by": r.created_by,
                    "created_at": iso(r.created_at),
                }
            )
            previous = r.spec
        return {"items": list(reversed(items))}

    async def read_log(
        self, identity: Identity, ref: str, offset: int, replica: int = 0
    ) -> tuple[bytes, int]:
        if offset < 0:
            raise Problem.invalid("offset", "must not be negative")
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            replicas = list(row.replicas or [])
            service_id = row.id
        if not replicas:
            return b"", offset
        if not 0 <= replica < len(replicas):
            raise Problem.invalid("replica", f"must be between 0 and {len(replicas) - 1}")
        run_dir = self._run_dir(service_id, replicas[replica]["run"])
        try:
            data = await self.backend.read_log(run_dir, 1, offset)
        except FileNotFoundError:
            data = b""
        return data, offset + len(data)

    # -- create and edit ---------------------------------------------------------------------

    async def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        try:
            spec = ServiceCreate.model_validate(body)
        except ValidationError as e:
            raise problem_from_validation(e) from None
        stored, https = await self._check(identity, spec, spec.kind, None)
        service_id = new_id("svc")
        with self.db.session() as session:
            taken = session.scalar(
                select(Service.id).where(Service.owner == identity.name, Service.name == spec.name)
            )
            if taken:
                raise Problem.invalid(
                    "name", f"you already have a service named {spec.name!r}; choose another", 409
                )
            row = Service(
                id=service_id,
                owner=identity.name,
                name=spec.name,
                kind=spec.kind,
                status="starting",
                message="",
                revision=1,
                spec=stored,
                https=https,
                replicas=[],
                runs=0,
                requests=0,
                metered_seconds=0.0,
            )
            session.add(row)
            session.add(
                ServiceRevision(
                    service_id=service_id, number=1, spec=stored, created_by=identity.name
                )
            )
            self._event(session, service_id, "created", 1, f"deployed by {identity.name}")
            session.flush()
            out = self.to_out(row)
        self._op(service_id, lambda: self._start(service_id, "started"))
        return out

    async def _check(
        self,
        identity: Identity,
        spec: ServiceFields,
        kind: str,
        service_id: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Field errors of a configuration (raised); else the spec to store and the HTTPS part."""
        errors: list[tuple[str, str]] = []
        stored = spec.model_dump(mode="json", include=set(_SPEC_FIELDS))
        if kind == "llm":
            if spec.model is None:
                errors.append(("model", "is required for an llm service: {name, version}"))
            if spec.command:
                errors.append(("command", "an llm service runs the model server; leave it out"))
            if spec.port is not None:
                errors.append(("port", "an llm service's port is picked by the platform"))
        else:
            if not spec.command:
                errors.append(("command", "is required: the command that starts the server"))
            if spec.adapter is not None:
                errors.append(("adapter", "only an llm service takes an adapter"))
        for f in ("model", "adapter"):
            ref: ModelRef | None = getattr(spec, f)
            if ref is None:
                continue
            try:
                stored[f] = self.models.resolve_ref(identity, ref.name, ref.version)
            except Problem as e:
                where = f"{f}.version" if ref.version and "version" in e.detail else f"{f}.name"
                errors.append((where, e.errors[0]["message"] if e.errors else e.detail))
        base, adapter = stored.get("model"), stored.get("adapter")
        model_ok = not any(f.startswith("model") for f, _ in errors)
        if kind == "llm" and base and not adapter and model_ok:
            # An adapter exported from a fine-tune, deployed alone: its base from its lineage.
            lineage_base = self.models.adapter_base(identity, base["id"], base["version"])
            if lineage_base is not None:
                try:
                    found = self.models.resolve_ref(
                        identity, lineage_base["id"], lineage_base["version"]
                    )
                except Problem:
                    errors.append(
                        (
                            "model",
                            f"{base['name']}:{base['version']} is a LoRA adapter whose base "
                            f"model {lineage_base.get('name')}:{lineage_base.get('version')} "
                            "is gone; give a base as model and this version as adapter",
                        )
                    )
                else:
                    stored["model"], stored["adapter"] = found, base
                    base, adapter = found, base
        if base and adapter and base["name"] == adapter["name"]:
            errors.append(("adapter", "must be another model than the base model"))
        if spec.code_package:
            with self.db.session() as session:
                package = session.get(CodePackage, spec.code_package)
                if package is None or package.owner != identity.name:
                    errors.append(
                        ("code_package", f"no code package {spec.code_package!r}; upload one")
                    )
        res = spec.resources
        replica = self._workload(identity.name, res.model_dump(), "new")
        limit = self.dispatcher.user_limit(identity.name)
        for p in check_feasible(replica, self.flavours, self.dispatcher.queue_specs(), limit):
            if p.field != "nodes":
                errors.append((f"resources.{p.field}", p.message.replace("the job", "a replica")))
        if spec.port is not None:
            low, high = self.ports
            if not low <= spec.port <= high:
                errors.append(
                    (
                        "port",
                        f"{spec.port} is outside the allowed range {low}-{high}; "
                        "choose a port in it or leave port empty",
                    )
                )
            elif res.replicas > 1:
                errors.append(("port", "a fixed port allows one replica; leave port empty"))
            elif self._port_owner(spec.port) not in (None, service_id) or (
                self._port_owner(spec.port) is None and not port_free(spec.port)
            ):
                errors.append(
                    (
                        "port",
                        f"{spec.port} is in use on this host; choose another or leave port empty",
                    )
                )
        https: dict[str, Any] | None = None
        if isinstance(spec, (ServiceCreate, ServicePatch)) and spec.https is not None:
            problems, shown = await asyncio.to_thread(check_certificate, spec.https)
            errors += problems
            https = {**shown, **spec.https.model_dump()}
        if errors:
            raise Problem.fields(errors)
        return stored, https

    def _port_owner(self, port: int) -> str | None:
        for service_id, dep in self.live.items():
            if any(r.port == port for r in dep.replicas):
                return service_id
        with self.db.session() as session:
            for row in session.scalars(select(Service)):
                if row.spec.get("port") == port or any(
                    r.get("port") == port for r in row.replicas or []
                ):
                    return row.id
        return None

    async def patch(self, identity: Identity, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            patch = ServicePatch.model_validate(body)
        except ValidationError as e:
            raise problem_from_validation(e) from None
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            service_id, kind, status = row.id, row.kind, row.status
            current = dict(row.spec)
        if status in ("starting", "waking", "deleting"):
            raise Problem(409, f"the service is {status}; wait until it is running or stop it")
        merged = {**current}
        for name in patch.model_fields_set:
            if name != "https":
                merged[name] = getattr(patch, name)
        for f in ("model", "adapter"):
            if f in merged and isinstance(merged[f], dict) and "id" in merged[f]:
                # Unchanged pinned reference: the model's id resolves like its name.
                merged[f] = {"name": merged[f]["id"], "version": merged[f].get("version")}
        try:
            fields = ServicePatch.model_validate(
                {**merged, **({"https": patch.https.model_dump()} if patch.https else {})}
            )
        except ValidationError as e:
            raise problem_from_validation(e) from None
        stored, https = await self._check(identity, fields, kind, service_id)
        if stored == current and https is None:
            return self.get(identity, service_id)
        with self.db.session() as session:
            row = self._service(session, identity, service_id)
            row.revision += 1
            row.spec = stored
            if https is not None:
                row.https = https
            row.updated_at = utcnow()
            revision = row.revision
            session.add(
                ServiceRevision(
                    service_id=service_id, number=revision, spec=stored, created_by=identity.name
                )
            )
            changed = ", ".join(d["field"] for d in spec_diff(current, stored)) or "https"
            self._event(session, service_id, "updated", revision, f"changed {changed}")
            out = self.to_out(row)
        if status == "running":
            self._op(service_id, lambda: self._rollout(service_id))
        elif status == "failed":
            self._set(service_id, status="starting", message="")
            self._op(service_id, lambda sid=service_id: self._start(sid, "started"))
            out["status"] = "starting"
        return out

    # -- actions -------------------------------------------------------------------------------

    async def action(self, identity: Identity, ref: str, action: str) -> dict[str, Any]:
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            service_id, status = row.id, row.status
        if status == "deleting":
            raise Problem(409, "the service is being deleted")
        if action == "stop":
            await self._cancel_op(service_id)
            await self._run_op(
                service_id, lambda: self._stop(service_id, "stopped", "stopped by the user")
            )
        elif action == "sleep":
            if status != "running":
                raise Problem(409, f"the service is {status}; only a running service can sleep")
            await self._run_op(
                service_id, lambda: self._stop(service_id, "sleeping", "put to sleep by the user")
            )
        elif action == "start":
            if status not in ACTIVE:
                self._set(service_id, status="starting", message="")
                self._op(service_id, lambda sid=service_id: self._start(sid, "started"))
        else:  # restart
            await self._cancel_op(service_id)
            self._set(service_id, status="starting", message="")

            async def restart() -> None:
                await self._stop(service_id, "starting", "restarting")
                await self._start(service_id, "started")

            self._op(service_id, restart)
        return self.get(identity, service_id)

    async def delete(self, identity: Identity, ref: str) -> None:
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            service_id = row.id
            row.status = "deleting"
            row.message = "being deleted"
        self._state[service_id] = "deleting"
        await self._notify()
        await self._cancel_op(service_id)
        async with self._lock(service_id):
            dep = self.live.pop(service_id, None)
            with self.db.session() as session:
                current = session.scalar(select(Service).where(Service.id == service_id))
                replicas = self._replicas(service_id, current.replicas if current else [])
            await self._stop_replicas(dep.replicas if dep else replicas)
            with self.db.session() as session:
                for model in (ServiceEvent, ServiceRevision, ServiceKey):
                    session.execute(delete(model).where(model.service_id == service_id))
                session.execute(delete(Service).where(Service.id == service_id))
        self.keys.invalidate()
        self._names.pop(service_id, None)
        self._requests.pop(service_id, None)
        self._state.pop(service_id, None)
        await asyncio.to_thread(shutil.rmtree, self.services_dir / service_id, True)
        await self._notify()

    # -- keys ----------------------------------------------------------------------------------

    def create_key(self, identity: Identity, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name", "")
        if not isinstance(name, str) or len(name) > 128:
            raise Problem.invalid("name", "must be text of at most 128 characters")
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            key, secret, bearer = self.keys.create(row.id, row.owner, name)
            session.add(key)
            session.flush()
            out = {
                "id": key.id,
                "name": key.name,
                "service": row.name,
                "app_key": key.app_key,
                "app_secret": secret,
                "bearer": bearer,
                "created_at": iso(key.created_at) or iso(utcnow()),
            }
        self.keys.invalidate()
        return out

    def list_keys(self, identity: Identity, ref: str) -> dict[str, Any]:
        self._flush()
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            keys = session.scalars(
                select(ServiceKey)
                .where(ServiceKey.service_id == row.id)
                .order_by(ServiceKey.created_at)
            )
            return {
                "items": [
                    {
                        "id": k.id,
                        "name": k.name,
                        "app_key": k.app_key,
                        "bearer_hint": "…" + k.bearer_hint,
                        "requests": k.requests,
                        "last_used_at": iso(k.last_used_at),
                        "created_at": iso(k.created_at),
                    }
                    for k in keys
                ]
            }

    def revoke_key(self, identity: Identity, ref: str, key_id: str) -> None:
        with self.db.session() as session:
            row = self._service(session, identity, ref)
            key = session.get(ServiceKey, key_id)
            if key is None or key.service_id != row.id:
                raise Problem.not_found(f"key {key_id!r}")
            session.delete(key)
        self.keys.invalidate()

    # -- the gateway's side ----------------------------------------------------------------------

    def gateway_target(self, key: KeyInfo, ref: str) -> str:
        """The id of the service ``ref`` (name or id) that ``key`` may call."""
        if key.service_id == ref:
            return key.service_id
        cached = self._names.get(key.service_id)
        if cached is None:
            with self.db.session() as session:
                row = session.scalar(select(Service).where(Service.id == key.service_id))
                if row is None:
                    raise Denied(401, "the key is not valid (wrong, or revoked)")
                cached = (row.owner, row.name, row.status)
                self._names[key.service_id] = cached
        if cached[1] == ref:
            return key.service_id
        with self.db.session() as session:
            other = session.scalar(
                select(Service.id).where(Service.owner == key.owner, Service.name == ref)
            )
        if other is None:
            raise Denied(404, f"no service {ref!r}")
        raise Denied(401, f"the key is not a key of {ref!r}; create one for it")

    async def acquire(self, service_id: str) -> Deployment:
        """The deployment to send a request to, woken if it sleeps; counts the request."""
        self._last_request[service_id] = time.time()
        self._requests[service_id] = self._requests.get(service_id, 0) + 1
        dep = self.live.get(service_id)
        if dep is not None and self._state.get(service_id) == "running":
            dep.inflight += 1
            dep.drained.clear()
            return dep
        deadline = time.monotonic() + self.wake_timeout
        async with self._changed:
            while True:
                status, message = self._status_message(service_id)
                dep = self.live.get(service_id)
                if status == "running" and dep is not None:
                    dep.inflight += 1
                    dep.drained.clear()
                    return dep
                if status == "sleeping":
                    self._set(service_id, status="waking", message="woken by a request")
                    self._op(service_id, lambda: self._start(service_id, "woken"))
                elif status == "deleting":
                    raise Denied(503, "the service is being deleted")
                elif status is None:
                    raise Denied(404, "the service was deleted")
                elif status == "stopped":
                    raise Denied(503, "the service is stopped; start it to call it")
                elif status == "failed":
                    raise Denied(503, f"the service failed: {message}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Denied(
                        503,
                        f"the service did not become ready within {self.wake_timeout:g} s "
                        f"(it is {status}); try again shortly, or look at its log",
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=min(left, 1.0))

    def _status_message(self, service_id: str) -> tuple[str | None, str]:
        with self.db.session() as session:
            row = session.execute(
                select(Service.status, Service.message).where(Service.id == service_id)
            ).first()
        status = row[0] if row else None
        if status is None:
            self._state.pop(service_id, None)
        else:
            self._state[service_id] = status
        return (status, row[1]) if row else (None, "")

    # -- running processes ---------------------------------------------------------------------

    def _run_dir(self, service_id: str, run: int) -> Path:
        return self.services_dir / service_id / "runs" / str(run)

    def _replicas(self, service_id: str, stored: list[dict[str, Any]] | None) -> list[Replica]:
        return [
            Replica(
                int(r["run"]),
                int(r["port"]),
                self._run_dir(service_id, int(r["run"])),
                NodeSlot(int(r["node"]), tuple(r.get("cards") or ())) if "node" in r else None,
            )
            for r in stored or []
        ]

    def _event(
        self, session: Any, service_id: str, kind: str, revision: int, message: str = ""
    ) -> None:
        session.add(
            ServiceEvent(service_id=service_id, kind=kind, revision=revision, message=message)
        )

    def _set(self, service_id: str, event: str | None = None, **values: Any) -> None:
        with self.db.session() as session:
            row = session.scalar(select(Service).where(Service.id == service_id))
            if row is None:
                return
            now = utcnow()
            status = values.get("status")
            if status and status != "running" and row.running_since is not None:
                row.metered_seconds += max((now - row.running_since).total_seconds(), 0.0)
                row.running_since = None
            if status == "running" and row.running_since is None:
                row.running_since = now
            for k, v in values.items():
                setattr(row, k, v)
            if status:
                self._state[service_id] = status
            row.updated_at = now
            if event:
                self._event(session, service_id, event, row.revision, values.get("message", ""))
        if service_id in self._names and "status" in values:
            owner, name, _ = self._names[service_id]
            self._names[service_id] = (owner, name, values["status"])

    def _op(self, service_id: str, make: Any) -> asyncio.Task[Any]:
        """Run ``make()`` as the service's current change, in the background."""
        task = self._spawn(self._run_op(service_id, make))
        self._ops[service_id] = task
        return task

    async def _cancel_op(self, service_id: str) -> None:
        """Cancel a change under way (a start waiting for health) before another one."""
        task = self._ops.pop(service_id, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run_op(self, service_id: str, make: Any) -> None:
        """Run one change of a service at a time; a failure is recorded, never raised."""
        async with self._lock(service_id):
            try:
                await make()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.log.exception("service %s: operation failed", service_id)
                self._set(service_id, event="failed", status="failed", message=str(e)[:2000])
        await self._notify()

    def _workload(self, owner: str, resources: dict[str, Any], name: str) -> Workload:
        """One replica as the scheduler sees it: one node's worth of the service's resources."""
        return Workload(
            id=name,
            owner=owner,
            queue=str(resources.get("queue", "default")),
            flavour=str(resources.get("flavour", "cpu")),
            priority=0,
            seq=0,
            accelerators_per_node=int(resources.get("accelerators", 0)),
            cpu_per_node=float(resources.get("cpu", 1.0)),
            memory_gb_per_node=float(resources.get("memory_gb", 2.0)),
        )

    def _place(self, row: Service, runs: list[int]) -> list[NodeSlot]:
        """Nodes and cards for replicas ``runs`` of ``row``, held until they stop."""
        res = row.spec.get("resources") or {}
        work = [self._workload(row.owner, res, f"{row.id}/{run}") for run in runs]
        try:
            placements = self.dispatcher.place(work)
        except NoRoom as e:
            why = str(e).replace("the job", "a replica")
            raise NoRoomToStart(f"no room to start the service now: {why}") from None
        for run, placement in zip(runs, placements, strict=True):
            self._held[self._run_dir(row.id, run)] = placement
        return [p.slots[0] for p in placements]

    def _allocate_port(self) -> int:
        low, high = self.ports
        used = {r.port for d in self.live.values() for r in d.replicas} | self._reserved
        with self.db.session() as session:
            for row in session.scalars(select(Service)):
                used.update(int(r["port"]) for r in row.replicas or [])
                if row.spec.get("port"):
                    used.add(int(row.spec["port"]))
        span = high - low + 1
        first = secrets.randbelow(span)
        for i in range(span):
            port = low + (first + i) % span
            if port not in used and port_free(port):
                self._reserved.add(port)
                return port
        raise StartFailed(f"no free port is left in the range {low}-{high}; tell an admin")

    async def _launch(
        self,
        row: Service,
        run: int,
        port: int,
        standby: str = "",
        slot: NodeSlot | None = None,
    ) -> Replica:
        spec = row.spec
        run_dir = self._run_dir(row.id, run)
        archive = (
            self.code_dir / f"{spec['code_package']}.archive" if spec.get("code_package") else None
        )

        def prepare() -> None:
            work = run_dir / "work"
            if run_dir.exists():
                shutil.rmtree(run_dir)
            staging = run_dir / "work.partial"
            staging.mkdir(parents=True)
            if archive is not None:
                unpack_archive(archive, staging)
            if spec.get("requirements", "").strip():
                (staging / ".sxwl-requirements.txt").write_text(spec["requirements"])
            staging.rename(work)

        await asyncio.to_thread(prepare)
        env = {
            **spec.get("env", {}),
            "SXWL_PORT": str(port),
            "SXWL_SERVICE_ID": row.id,
            "SXWL_SERVICE_NAME": row.name,
        }
        command = spec.get("command") or SERVE_COMMAND
        # The model (and adapter) versions, read-only at $SXWL_MOUNT_ROOT/models/<name>, for
        # the model server and for any app (a web UI loading the model) alike.
        owner = Identity(row.owner)
        for f in ("model", "adapter"):
            ref = spec.get(f)
            if not ref:
                continue
            _, path = await self.models.materialise(owner, ref["id"], ref["version"])
            mount = {"kind": "model", "name": ref["name"]}
            await asyncio.to_thread(rundir.link_mount, run_dir, mount, path)
            env["SXWL_MOUNT_ROOT"] = str(run_dir / "mnt")
            env["SXWL_SERVICE_MODEL_DIR" if f == "model" else "SXWL_SERVICE_ADAPTER_DIR"] = str(
                run_dir / "mnt" / "models" / ref["name"]
            )
        if row.kind == "llm":
            adapter = spec.get("adapter")
            config: dict[str, Any] = {
                "model_dir": f"models/{spec['model']['name']}",
                "adapter_dir": f"models/{adapter['name']}" if adapter else None,
                "served_model_name": row.name,
                "host": "127.0.0.1",
                "port": port,
            }
            if spec.get("max_new_tokens"):
                config["max_new_tokens"] = spec["max_new_tokens"]
            env["SXWL_SERVE_CONFIG"] = json.dumps(config)
            if standby:
                env["SXWL_SERVE_STANDBY"] = standby
        if spec.get("requirements", "").strip():
            # Extra packages go into the run's own folder, first on the path of the command.
            command = (
                'python -m pip install --quiet --target "$PWD/.sxwl-deps" '
                '-r .sxwl-requirements.txt && export PYTHONPATH="$PWD/.sxwl-deps'
                '${PYTHONPATH:+:$PYTHONPATH}" && ' + command
            )
        res = spec.get("resources") or {}
        flavour = self.flavours.get(str(res.get("flavour", "cpu")))
        device_env: list[dict[str, str]] = []
        if slot is not None and slot.cards and flavour is not None and flavour.device_env:
            # The cards the scheduler placed the replica on, as the flavour names them.
            device_env = [{flavour.device_env: ",".join(str(c) for c in slot.cards)}]
        request = LaunchRequest(
            job_id=row.id,
            owner=row.owner,
            attempt=1,
            run_dir=run_dir,
            command=command,
            env=env,
            cpu_per_node=float(res.get("cpu", 1.0)),
            memory_gb_per_node=float(res.get("memory_gb", 2.0)),
            accelerators_per_node=int(res.get("accelerators", 0)),
            device_env=device_env,
            image=spec.get("image"),
        )
        await self.backend.launch(request)
        return Replica(run, port, run_dir, slot)

    async def _healthy(self, kind: str, port: int) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=2.0
            )
        except (OSError, TimeoutError):
            return False
        try:
            if kind != "llm":
                return True  # a custom app is ready once it accepts connections
            writer.write(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout=5.0)
            return line.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError, IndexError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _log_tail(self, replica: Replica) -> str:
        try:
            data = await self.backend.read_log(replica.run_dir, 1, 0)
        except FileNotFoundError:
            return ""
        lines = data.decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])

    async def _bring_up(self, service_id: str) -> tuple[list[Replica], int]:
        """Start the current revision's replicas and wait until every one is healthy."""
        with self.db.session() as session:
            row = session.scalar(select(Service).where(Service.id == service_id))
            if row is None:
                raise StartFailed("the service was deleted")
            spec, kind, revision = dict(row.spec), row.kind, row.revision
            waiting = [r for r in row.replicas or [] if r.get("standby")]
            session.expunge(row)
        replicas = await self._wake_standby(row, waiting, revision) if waiting else []
        if not replicas:
            with self.db.session() as session:
                row = session.scalar(select(Service).where(Service.id == service_id))
                if row is None:
                    raise StartFailed("the service was deleted")
                count = int((spec.get("resources") or {}).get("replicas", 1))
                first_run = row.runs + 1
                row.runs += count
                session.flush()  # the run numbers are taken before the row is detached
                session.expunge(row)
        runs = [] if replicas else list(range(first_run, first_run + count))
        slots = self._place(row, runs) if runs else []
        try:
            for run, slot in zip(runs, slots, strict=True):
                port = spec.get("port") or self._allocate_port()
                replicas.append(await self._launch(row, run, int(port), slot=slot))
            deadline = time.monotonic() + self.start_timeout
            ready: set[int] = set()
            next_poll = 0.0
            while len(ready) < len(replicas):
                for r in replicas:
                    if r.run not in ready and await self._healthy(kind, r.port):
                        ready.add(r.run)
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + 0.5
                    for r in replicas:
                        state = await self.backend.poll(r.run_dir, 1)
                        if state.phase.finished:
                            tail = await self._log_tail(r)
                            how = (
                                f"exited with code {state.exit_code}"
                                if state.exit_code is not None
                                else f"ended ({state.message or state.phase.value})"
                            )
                            raise StartFailed(
                                f"the service's process {how} before it was ready"
                                + (f"; the last lines of its log:\n{tail}" if tail else "")
                            )
                if now > deadline:
                    raise StartFailed(
                        f"the service was not ready within {self.start_timeout:g} s; see its log"
                    )
                await asyncio.sleep(0.05)
        except BaseException:
            await self._stop_replicas(replicas)
            for run in runs:
                self._held.pop(self._run_dir(service_id, run), None)
            raise
        finally:
            for r in replicas:
                self._reserved.discard(r.port)
        return replicas, revision

    async def _stop_replicas(self, replicas: list[Replica]) -> None:
        await asyncio.gather(*(self._stop_one(r) for r in replicas), return_exceptions=True)

    async def _stop_one(self, r: Replica) -> None:
        with contextlib.suppress(FileNotFoundError):
            await self.backend.stop(r.run_dir, 1, self.stop_grace_seconds)
        if self._held.pop(r.run_dir, None) is not None:
            self.dispatcher.wake()  # the room it held may admit a queued job

    async def _start(self, service_id: str, event: str) -> None:
        if self.live.get(service_id) is not None:
            return
        self._set(service_id, event=event, message="")
        try:
            replicas, revision = await self._bring_up(service_id)
        except StartFailed as e:
            self._set(service_id, event="failed", status="failed", message=str(e), replicas=[])
            return
        self.live[service_id] = Deployment(replicas, revision)
        self._last_request.setdefault(service_id, time.time())
        self._last_request[service_id] = max(self._last_request[service_id], time.time())
        self._set(
            service_id,
            event="ready",
            status="running",
            message="",
            replicas=[r.stored() for r in replicas],
        )

    async def _stop(self, service_id: str, status: str, message: str) -> None:
        dep = self.live.pop(service_id, None)
        with self.db.session() as session:
            row = session.scalar(select(Service).where(Service.id == service_id))
            stored = self._replicas(service_id, row.replicas if row else [])
        self._set(service_id, status=status, message=message)
        await self._notify()
        await self._stop_replicas(dep.replicas if dep else stored)
        kind = {"sleeping": "sleeping", "stopped": "stopped"}.get(status, "stopped")
        self._set(service_id, event=kind, status=status, message=message, replicas=[])
        if status == "sleeping":
            await self._start_standby(service_id)

    # -- standby -------------------------------------------------------------------------------
    # Most of an LLM server's cold start is importing torch and transformers, not loading a small
    # model. A sleeping LLM service therefore keeps one standby process per replica: libraries
    # imported and tokenizer loaded, but no weights and no device, so it holds no accelerator and
    # is not metered. A wake tells it to load (POST /sxwl/wake with its secret); a standby that
    # died, or was made for an older revision, is stopped and the service starts cold instead.

    async def _start_standby(self, service_id: str) -> None:
        if not self.standby:
            return
        with self.db.session() as session:
            row = session.scalar(select(Service).where(Service.id == service_id))
            if row is None or row.kind != "llm" or row.status != "sleeping":
                return
            if int((row.spec.get("resources") or {}).get("accelerators", 0)) > 0:
                # The cards are chosen at the wake, and a device must be chosen before the
                # libraries first touch it: such a service sleeps with no process at all.
                return
            count = int((row.spec.get("resources") or {}).get("replicas", 1))
            first_run = row.runs + 1
            row.runs += count
            session.flush()
            session.expunge(row)
        secret = secrets.token_urlsafe(24)
        replicas: list[Replica] = []
        try:
            for i in range(count):
                port = row.spec.get("port") or self._allocate_port()
                replicas.append(await self._launch(row, first_run + i, int(port), secret))
        except BaseException as e:
            await self._stop_replicas(replicas)
            if not isinstance(e, Exception):
                raise  # cancelled: the service is being deleted or changed
            self.log.warning("service %s: no standby (%s); a wake starts it cold", service_id, e)
            return
        finally:
            for r in replicas:
                self._reserved.discard(r.port)
        stored = [
            {"run": r.run, "port": r.port, "standby": secret, "revision": row.revision}
            for r in replicas
        ]
        self._set(service_id, replicas=stored)

    async def _wake_standby(
        self, row: Service, stored: list[dict[str, Any]], revision: int
    ) -> list[Replica]:
        """The standby replicas, placed and told to load; empty when there are none fit to
        wake. A wake with no room stops them and raises :class:`StartFailed`."""
        service_id = row.id
        replicas = self._replicas(service_id, stored)
        fit = bool(stored) and all(r.get("revision") == revision for r in stored)
        for r in replicas if fit else []:
            state = await self.backend.poll(r.run_dir, 1)
            fit = fit and not state.phase.finished
        if fit:
            try:
                slots = self._place(row, [r.run for r in replicas])
            except StartFailed:
                await self._stop_replicas(replicas)
                self._set(service_id, replicas=[])
                raise
            for r, slot in zip(replicas, slots, strict=True):
                r.slot = slot

            woken = await asyncio.gather(
                *(
                    self._post_wake(r, str(s["standby"]))
                    for r, s in zip(replicas, stored, strict=True)
                )
            )
            fit = all(woken)
        if not fit:
            await self._stop_replicas(replicas)
            self._set(service_id, replicas=[])
            return []
        self._set(service_id, replicas=[r.stored() for r in replicas])
        return replicas

    async def _post_wake(self, replica: Replica, secret: str) -> bool:
        """Tell a standby to load; it may still be starting to listen, so try for a while."""
        deadline = time.monotonic() + min(self.start_timeout, 30.0)
        while True:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", replica.port), timeout=2.0
                )
                break
            except (OSError, TimeoutError):
                state = await self.backend.poll(replica.run_dir, 1)
                if state.phase.finished or time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.05)
        try:
            writer.write(
                f"POST /sxwl/wake HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Sxwl-Wake: {secret}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout=5.0)
            return line.split(b" ")[1:2] == [b"202"]
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _rollout(self, service_id: str) -> None:
        """Move a running service to its current revision without a failed request."""
        old = self.live.get(service_id)
        with self.db.session() as session:
            row = session.scalar(select(Service).where(Service.id == service_id))
            fixed = bool(row and row.spec.get("port"))
        if old is None:
            await self._start(service_id, "started")
            return
        if fixed:
            # One port cannot serve two processes: requests wait (as for a wake) meanwhile.
            await self._stop(service_id, "starting", "restarting with the new revision")
            await self._start(service_id, "started")
            return
        self._set(service_id, message="starting the new revision")
        try:
            replicas, revision = await self._bring_up(service_id)
        except NoRoomToStart:
            # No room for both revisions at once: swap them; requests wait as for a wake.
            await self._stop(service_id, "starting", "restarting with the new revision")
            await self._start(service_id, "started")
            return
        except StartFailed as e:
            self._set(
                service_id,
                event="failed",
                message=f"the new revision did not start; still serving revision "
                f"{old.revision}: {e}",
            )
            return
        self.live[service_id] = Deployment(replicas, revision)
        self._set(
            service_id,
            event="ready",
            message="",
            replicas=[r.stored() for r in replicas],
        )
        await self._notify()
        if old.inflight > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(old.drained.wait(), timeout=600)
        await self._stop_replicas(old.replicas)

    # -- watching ------------------------------------------------------------------------------

    def _flush(self) -> None:
        try:
            self.keys.flush()
            requests, self._requests = self._requests, {}
            if requests or self._last_request:
                with self.db.session() as session:
                    for service_id, n in requests.items():
                        row = session.scalar(select(Service).where(Service.id == service_id))
                        if row is not None:
                            row.requests += n
                            at = self._last_request.get(service_id)
                            if at is not None:
                                row.last_request_at = dt.datetime.fromtimestamp(at, dt.UTC).replace(
                                    tzinfo=None
                                )
        except Exception:
            self.log.exception("writing request counts failed")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                self._flush()
                await self._check_live()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("checking services failed; trying again")

    async def _check_live(self) -> None:
        now = time.time()
        for service_id, dep in list(self.live.items()):
            if self._lock(service_id).locked():
                continue  # a change is under way
            for r in dep.replicas:
                state = await self.backend.poll(r.run_dir, 1)
                if state.phase.finished:
                    tail = await self._log_tail(r)
                    self.live.pop(service_id, None)
                    await self._stop_replicas(dep.replicas)
                    why = state.message or f"code {state.exit_code}"
                    self._set(
                        service_id,
                        event="failed",
                        status="failed",
                        replicas=[],
                        message=f"a process of the service exited ({why}); the last lines "
                        f"of its log:\n{tail}",
                    )
                    await self._notify()
                    break
            else:
                with self.db.session() as session:
                    row = session.scalar(select(Service).where(Service.id == service_id))
                    minutes = row.spec.get("sleep_after_minutes") if row else None
                idle = now - self._last_request.get(service_id, now)
                if minutes and idle >= minutes * 60 and dep.inflight == 0:
                    message = f"no request for {minutes:g} minutes; the next one wakes it"
                    self._op(
                        service_id,
                        lambda sid=service_id, m=message: self._stop(sid, "sleeping", m),
                    )

    async def _reattach(self) -> None:
        """After a platform restart: take up the services whose processes still run."""
        with self.db.session() as session:
            rows = [
                (r.id, r.status, list(r.replicas or []), r.revision)
                for r in session.scalars(select(Service).where(Service.status.in_(ACTIVE)))
            ]
        for service_id, status, stored, revision in rows:
            replicas = self._replicas(service_id, stored)
            alive = bool(replicas)
            for r in replicas:
                try:
                    state = await self.backend.poll(r.run_dir, 1)
                except FileNotFoundError:
                    alive = False
                    break
                alive = alive and not state.phase.finished
            if status == "running" and alive:
                self.live[service_id] = Deployment(replicas, revision)
                self._state[service_id] = "running"
                self._last_request[service_id] = time.time()
                continue
            await self._stop_replicas(replicas)
            self._set(service_id, status="starting", message="", replicas=[])
            self._op(service_id, lambda sid=service_id: self._start(sid, "started"))
