"""Queues and per-user limits."""

from __future__ import annotations

from .base import PlatformHandler


class QueuesHandler(PlatformHandler):
    async def get(self) -> None:
        self.write_json(self.platform.queue_manager.list(self.identity()))

    async def post(self) -> None:
        identity = self.identity()
        self.write_json(self.platform.queue_manager.create(identity, self.json_body()), 201)


class QueueHandler(PlatformHandler):
    async def get(self, name: str) -> None:
        self.write_json(self.platform.queue_manager.get(self.identity(), name))

    async def patch(self, name: str) -> None:
        identity = self.identity()
        self.write_json(self.platform.queue_manager.update(identity, name, self.json_body()))

    async def delete(self, name: str) -> None:
        self.platform.queue_manager.delete(self.identity(), name)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class UserLimitHandler(PlatformHandler):
    async def get(self, username: str) -> None:
        self.write_json(self.platform.queue_manager.get_limit(self.identity(), username))

    async def put(self, username: str) -> None:
        identity = self.identity()
        manager = self.platform.queue_manager
        self.write_json(manager.set_limit(identity, username, self.json_body()))


class SchedulerHandler(PlatformHandler):
    """Admins: how the scheduler is doing (pending and active jobs, last cycle's duration)."""

    async def get(self) -> None:
        self.write_json(self.platform.queue_manager.scheduler_status(self.identity()))
