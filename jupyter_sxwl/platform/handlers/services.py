"""Services: deploy, list, edit, stop/start/restart/sleep, delete, run records, revisions,
logs and gateway keys."""

from __future__ import annotations

from ..errors import Problem
from .base import PlatformHandler


class ServicesHandler(PlatformHandler):
    async def get(self) -> None:
        identity = self.identity()
        self.write_json(self.platform.services.list_services(identity, self.flag_arg("all")))

    async def post(self) -> None:
        identity = self.identity()
        self.write_json(await self.platform.services.create(identity, self.json_body()), 201)


class ServiceHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.services.get(self.identity(), ref))

    async def patch(self, ref: str) -> None:
        identity = self.identity()
        self.write_json(await self.platform.services.patch(identity, ref, self.json_body()))

    async def delete(self, ref: str) -> None:
        await self.platform.services.delete(self.identity(), ref)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class ServiceActionHandler(PlatformHandler):
    async def post(self, ref: str, action: str) -> None:
        identity = self.identity()
        self.write_json(await self.platform.services.action(identity, ref, action))


class ServiceEventsHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.services.events(self.identity(), ref))


class ServiceRevisionsHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.services.revisions(self.identity(), ref))


class ServiceLogsHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        identity = self.identity()
        offset = self.int_arg("offset", 0) or 0
        replica = self.int_arg("replica", 0) or 0
        data, next_offset = await self.platform.services.read_log(identity, ref, offset, replica)
        self.set_header("Content-Type", "text/plain; charset=utf-8")  # type: ignore[attr-defined]
        self.set_header("X-Log-Offset", str(next_offset))  # type: ignore[attr-defined]
        self.finish(data)  # type: ignore[attr-defined]


class ServiceKeysHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.services.list_keys(self.identity(), ref))

    async def post(self, ref: str) -> None:
        identity = self.identity()
        self.write_json(self.platform.services.create_key(identity, ref, self.json_body()), 201)


class ServiceKeyHandler(PlatformHandler):
    async def delete(self, ref: str, key_id: str) -> None:
        if not key_id:
            raise Problem.not_found("key")
        self.platform.services.revoke_key(self.identity(), ref, key_id)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]
