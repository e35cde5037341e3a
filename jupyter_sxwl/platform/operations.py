"""Background work started by requests: imports, publishes, acceleration, exports.

A request records what it started (an :class:`~..store.models.Operation`, a dataset import, a
model version being imported) and answers at once; the work runs as an asyncio task whose
blocking parts go to threads. Progress is written to the database at most a few times a
second, so any client (panel, widget, CLI) can poll it. Work interrupted by a platform restart
is marked failed at the next start with a message saying so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from ..store.database import Database
from ..store.models import Operation, utcnow
from .auth import Identity
from .errors import Problem
from .jobs import iso

INTERRUPTED = "the platform restarted while this was running; start it again"


PRESET_OWNER = ""
"""Owner of the preset datasets and models every user sees (they belong to no one)."""


class WorkFailed(Exception):
    """Background work (an import, a publish) that cannot go on; the message is for the user."""


def remove_readonly_tree(path: Path) -> None:
    """Delete a folder even when it (like a mounted copy) was made read-only."""
    if not path.exists():
        return
    for root, dirs, _ in os.walk(path):
        os.chmod(root, 0o755)
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    shutil.rmtree(path, ignore_errors=True)


class Throttle:
    """Calls ``fn`` at most every ``interval`` seconds (and always for the final value)."""

    def __init__(self, fn: Callable[[int], None], interval: float = 0.5) -> None:
        self.fn = fn
        self.interval = interval
        self.last = 0.0

    def __call__(self, value: int, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            self.fn(value)


class BackgroundWork:
    """The platform's running background tasks; closed (cancelled) with the platform."""

    def __init__(self, db: Database, log: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.db = db
        self.log = log
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("background work %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- operations ---------------------------------------------------------------------------

    def new_operation(
        self, identity: Identity, kind: str, object_id: str, total: int | None = None
    ) -> Operation:
        op = Operation(
            id=f"op-{secrets.token_hex(6)}",
            owner=identity.name,
            kind=kind,
            object_id=object_id,
            status="running",
            total=total,
            result={},
        )
        with self.db.session() as session:
            session.add(op)
        return op

    def progress_of(self, op_id: str) -> Throttle:
        def write(done: int) -> None:
            with self.db.session() as session:
                session.execute(update(Operation).where(Operation.id == op_id).values(done=done))

        return Throttle(write)

    def finish(
        self,
        op_id: str,
        status: str,
        message: str = "",
        result: dict[str, Any] | None = None,
    ) -> None:
        with self.db.session() as session:
            op = session.get(Operation, op_id)
            if op is None:
                return
            op.status = status
            op.message = message
            op.result = result or {}
            op.finished_at = utcnow()
            if status == "succeeded" and op.total is not None:
                op.done = op.total

    def running(self, kind: str, object_id: str) -> Operation | None:
        with self.db.session() as session:
            return session.scalar(
                select(Operation).where(
                    Operation.kind == kind,
                    Operation.object_id == object_id,
                    Operation.status == "running",
                )
            )

    def get(self, identity: Identity, op_id: str) -> dict[str, Any]:
        with self.db.session() as session:
            op = session.get(Operation, op_id)
            if op is None or not identity.can_see(op.owner):
                raise Problem.not_found(f"operation {op_id!r}")
            return operation_out(op)

    def mark_interrupted(self) -> None:
        with self.db.session() as session:
            session.execute(
                update(Operation)
                .where(Operation.status == "running")
                .values(status="failed", message=INTERRUPTED, finished_at=utcnow())
            )


def operation_out(op: Operation) -> dict[str, Any]:
    return {
        "id": op.id,
        "kind": op.kind,
        "object_id": op.object_id,
        "status": op.status,
        "done": op.done,
        "total": op.total,
        "message": op.message,
        "result": op.result or {},
        "created_at": iso(op.created_at),
        "finished_at": iso(op.finished_at),
    }
