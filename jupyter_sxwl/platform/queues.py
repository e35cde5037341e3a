"""Queues and per-user limits (the admission part of O2 and O5)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select

from ..scheduler.model import Flavour, UserLimit
from ..store.database import Database
from ..store.models import Job, Queue
from ..store.models import UserLimit as UserLimitRow
from .auth import Identity
from .dispatch import Dispatcher
from .errors import Problem, problem_from_validation
from .payloads import ACTIVE_STATUSES, QueueIn, QueueOut, QueuePatch, UserLimitIn


def _require_admin(identity: Identity) -> None:
    if not identity.admin:
        raise Problem(403, "only admins can change queues and limits")


class QueueManager:
    """Listing queues for everyone; creating, editing and deleting them for admins."""

    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        flavours: dict[str, Flavour],
        default_limit: UserLimit,
    ) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self.flavours = flavours
        self.default_limit = default_limit

    def seed(self, queues: Iterable[Mapping[str, Any]]) -> None:
        """Create the configured queues that do not exist yet (admins' edits are kept)."""
        with self.db.session() as session:
            for entry in queues:
                try:
                    spec = QueueIn.model_validate(dict(entry))
                except ValidationError as e:
                    raise ValueError(
                        f"queue {entry.get('name')!r} in the configuration: {e}"
                    ) from e
                self._check_flavours(spec.quotas)
                if session.get(Queue, spec.name) is None:
                    session.add(self._row(spec))

    def _check_flavours(self, quotas: Mapping[str, Any]) -> None:
        for name in quotas:
            if name not in self.flavours:
                raise Problem.invalid(
                    f"quotas.{name}",
                    f"unknown flavour {name!r}; choose one of: {', '.join(self.flavours)}",
                )

    @staticmethod
    def _row(spec: QueueIn) -> Queue:
        return Queue(
            name=spec.name,
            quotas={k: v.model_dump() for k, v in spec.quotas.items()},
            users=spec.users,
            strategy=spec.strategy,
            description=spec.description,
        )

    def _out(self, session: Any, queue: Queue, identity: Identity) -> dict[str, Any]:
        counts = dict(
            session.execute(
                select(Job.status, func.count()).where(Job.queue == queue.name).group_by(Job.status)
            ).all()
        )
        return QueueOut(
            name=queue.name,
            quotas=queue.quotas or {},
            users=queue.users if identity.admin else None,
            strategy=queue.strategy,
            description=queue.description,
            running=sum(counts.get(s, 0) for s in ACTIVE_STATUSES),
            pending=counts.get("Queued", 0),
        ).model_dump()

    def list(self, identity: Identity) -> dict[str, Any]:
        with self.db.session() as session:
            rows = session.scalars(select(Queue).order_by(Queue.name))
            items = [
                self._out(session, q, identity)
                for q in rows
                if identity.admin or q.users is None or identity.name in q.users
            ]
        return {"items": items}

    def get(self, identity: Identity, name: str) -> dict[str, Any]:
        with self.db.session() as session:
            queue = session.get(Queue, name)
            if queue is None or not (
                identity.admin or queue.users is None or identity.name in queue.users
            ):
                raise Problem.not_found(f"queue {name!r}")
            return self._out(session, queue, identity)

    def create(self, identity: Identity, body: dict[str, Any]) -> dict[str, Any]:
        _require_admin(identity)
        try:
            spec = QueueIn.model_validate(body)
        except ValidationError as e:
            raise problem_from_validation(e) from None
        self._check_flavours(spec.quotas)
        with self.db.session() as session:
            if session.get(Queue, spec.name) is not None:
                raise Problem.invalid("name", f"a queue named {spec.name!r} exists", 409)
            row = self._row(spec)
            session.add(row)
            session.flush()
            out = self._out(session, row, identity)
        self.dispatcher.invalidate()
        return out

    def update(self, identity: Identity, name: str, body: dict[str, Any]) -> dict[str, Any]:
        _require_admin(identity)
        try:
            patch = QueuePatch.model_validate(body)
        except ValidationError as e:
            raise problem_from_validation(e) from None
        with self.db.session() as session:
            row = session.get(Queue, name)
            if row is None:
                raise Problem.not_found(f"queue {name!r}")
            if patch.quotas is not None:
                self._check_flavours(patch.quotas)
                row.quotas = {k: v.model_dump() for k, v in patch.quotas.items()}
            if "users" in patch.model_fields_set:
                row.users = patch.users
            if patch.strategy is not None:
                row.strategy = patch.strategy
            if patch.description is not None:
                row.description = patch.description
            out = self._out(session, row, identity)
        self.dispatcher.invalidate()
        return out

    def delete(self, identity: Identity, name: str) -> None:
        _require_admin(identity)
        with self.db.session() as session:
            row = session.get(Queue, name)
            if row is None:
                raise Problem.not_found(f"queue {name!r}")
            busy = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.queue == name, Job.status.in_(("Queued", *ACTIVE_STATUSES)))
            )
            if busy:
                raise Problem(
                    409,
                    f"queue {name!r} has {busy} queued or running jobs; "
                    "stop them or wait until they finish before deleting it",
                )
            session.delete(row)
        self.dispatcher.invalidate()

    def scheduler_status(self, identity: Identity) -> dict[str, Any]:
        _require_admin(identity)
        with self.db.session() as session:
            counts = dict(
                session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
            )
        return {
            "pending": counts.get("Queued", 0),
            "active": sum(counts.get(s, 0) for s in ACTIVE_STATUSES),
            "last_cycle_ms": round(self.dispatcher.last_cycle_seconds * 1000, 2),
            "cycles": self.dispatcher.cycles,
        }

    # -- per-user limits ----------------------------------------------------------------------

    def get_limit(self, identity: Identity, username: str) -> dict[str, Any]:
        if not (identity.admin or identity.name == username):
            raise Problem.not_found(f"user {username!r}")
        with self.db.session() as session:
            row = session.get(UserLimitRow, username)
        if row is None:
            return {
                "max_accelerators": self.default_limit.max_accelerators,
                "max_cpu": self.default_limit.max_cpu,
                "default": True,
            }
        return {"max_accelerators": row.max_accelerators, "max_cpu": row.max_cpu, "default": False}

    def set_limit(self, identity: Identity, username: str, body: dict[str, Any]) -> dict[str, Any]:
        _require_admin(identity)
        try:
            spec = UserLimitIn.model_validate(body)
        except ValidationError as e:
            raise problem_from_validation(e) from None
        with self.db.session() as session:
            row = session.get(UserLimitRow, username) or UserLimitRow(username=username)
            row.max_accelerators = spec.max_accelerators
            row.max_cpu = spec.max_cpu
            session.add(row)
        self.dispatcher.invalidate()
        return self.get_limit(identity, username)
