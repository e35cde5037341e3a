"""REST handlers. Each is a mixin over an identity-providing base class, so the same code
serves the JupyterHub service and the in-process platform of the server extension."""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler

from .base import PlatformHandler
from .jobs import (
    ArtifactFileHandler,
    ArtifactsHandler,
    CodePackagesHandler,
    JobActionHandler,
    JobHandler,
    JobLogsHandler,
    JobMetricsHandler,
    JobsHandler,
    JobUsageHandler,
)
from .meta import FlavoursHandler, InfoHandler, OpenAPIHandler
from .queues import QueueHandler, QueuesHandler, SchedulerHandler, UserLimitHandler

_ROUTES: list[tuple[str, type[PlatformHandler]]] = [
    (r"api/v1/?", InfoHandler),
    (r"api/v1/info", InfoHandler),
    (r"api/v1/openapi.json", OpenAPIHandler),
    (r"api/v1/flavours", FlavoursHandler),
    (r"api/v1/queues", QueuesHandler),
    (r"api/v1/queues/([^/]+)", QueueHandler),
    (r"api/v1/admin/users/([^/]+)/limits", UserLimitHandler),
    (r"api/v1/admin/scheduler", SchedulerHandler),
    (r"api/v1/code-packages", CodePackagesHandler),
    (r"api/v1/jobs", JobsHandler),
    (r"api/v1/jobs/([^/]+)", JobHandler),
    (r"api/v1/jobs/([^/]+)/(stop|restart)", JobActionHandler),
    (r"api/v1/jobs/([^/]+)/logs", JobLogsHandler),
    (r"api/v1/jobs/([^/]+)/usage", JobUsageHandler),
    (r"api/v1/jobs/([^/]+)/metrics", JobMetricsHandler),
    (r"api/v1/jobs/([^/]+)/artifacts", ArtifactsHandler),
    (r"api/v1/jobs/([^/]+)/artifacts/(.+)", ArtifactFileHandler),
]


def api_routes(prefix: str, base: type[RequestHandler]) -> list[tuple[str, type[Any]]]:
    """The API's routes under ``prefix`` (ending in '/'), each handler mixed onto ``base``."""
    routes = []
    for pattern, mixin in _ROUTES:
        handler = type(mixin.__name__, (mixin, base), {})
        routes.append((prefix + pattern, handler))
    return routes


def route_table() -> list[tuple[str, type[PlatformHandler]]]:
    """The raw routes, for the OpenAPI document."""
    return list(_ROUTES)
