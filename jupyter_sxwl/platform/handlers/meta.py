"""Who am I, what can I ask for, and the OpenAPI document."""

from __future__ import annotations

from ... import __version__
from ...backends.base import JobType
from ...scheduler.model import PRIORITY_CLASSES
from ..openapi import openapi_document
from .base import PlatformHandler


class InfoHandler(PlatformHandler):
    async def get(self) -> None:
        identity = self.identity()
        platform = self.platform
        self.write_json(
            {
                "version": __version__,
                "user": {"name": identity.name, "admin": identity.admin},
                "flavours": platform.flavour_list(),
                "queues": platform.queue_manager.list(identity)["items"],
                "priorities": list(PRIORITY_CLASSES),
                "job_types": [t.value for t in JobType],
            }
        )


class FlavoursHandler(PlatformHandler):
    async def get(self) -> None:
        self.identity()
        self.write_json({"items": self.platform.flavour_list()})


class OpenAPIHandler(PlatformHandler):
    async def get(self) -> None:
        self.identity()
        self.write_json(openapi_document(self.settings.get("sxwl_api_base", "/api/v1/")))
