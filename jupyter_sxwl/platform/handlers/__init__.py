"""REST handlers. Each is a mixin over an identity-providing base class, so the same code
serves the JupyterHub service and the in-process platform of the server extension."""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler

from .base import PlatformHandler
from .datasets import (
    AccelerateHandler,
    DatasetHandler,
    DatasetImportHandler,
    DatasetImportsHandler,
    DatasetsHandler,
    DatasetSharedHandler,
    DatasetSharesHandler,
    DatasetVersionDataHandler,
    DatasetVersionHandler,
    DatasetVersionsHandler,
    OperationHandler,
    PublishHandler,
    RecordHandler,
    RecordRestoreHandler,
    RecordsHandler,
    SharedDatasetsHandler,
    ShareHandler,
    UploadHandler,
    UploadsHandler,
)
from .finetunes import (
    FinetuneActionHandler,
    FinetuneDefaultsHandler,
    FinetuneEvaluateHandler,
    FinetuneEvaluationHandler,
    FinetuneExportHandler,
    FinetuneHandler,
    FinetuneMetricsHandler,
    FinetunePredictionsHandler,
    FinetunesHandler,
    FinetuneTensorboardHandler,
    FinetuneYamlHandler,
)
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
from .models import (
    ImportSharedModelHandler,
    ModelArchiveHandler,
    ModelExportHandler,
    ModelFileHandler,
    ModelFilesHandler,
    ModelHandler,
    ModelsHandler,
    ModelSharesHandler,
    ModelVersionHandler,
    ModelVersionsHandler,
    MountResolveHandler,
)
from .queues import QueueHandler, QueuesHandler, SchedulerHandler, UserLimitHandler
from .services import (
    ServiceActionHandler,
    ServiceEventsHandler,
    ServiceHandler,
    ServiceKeyHandler,
    ServiceKeysHandler,
    ServiceLogsHandler,
    ServiceRevisionsHandler,
    ServicesHandler,
)

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
    (r"api/v1/uploads", UploadsHandler),
    (r"api/v1/uploads/([^/]+)", UploadHandler),
    (r"api/v1/operations/([^/]+)", OperationHandler),
    (r"api/v1/shares/([^/]+)", ShareHandler),
    (r"api/v1/datasets", DatasetsHandler),
    (r"api/v1/datasets/shared", SharedDatasetsHandler),
    (r"api/v1/datasets/([^/]+)", DatasetHandler),
    (r"api/v1/datasets/([^/]+)/shared", DatasetSharedHandler),
    (r"api/v1/datasets/([^/]+)/imports", DatasetImportsHandler),
    (r"api/v1/datasets/([^/]+)/imports/([^/]+)", DatasetImportHandler),
    (r"api/v1/datasets/([^/]+)/records", RecordsHandler),
    (r"api/v1/datasets/([^/]+)/records/([^/]+)", RecordHandler),
    (r"api/v1/datasets/([^/]+)/records/([^/]+)/restore", RecordRestoreHandler),
    (r"api/v1/datasets/([^/]+)/publish", PublishHandler),
    (r"api/v1/datasets/([^/]+)/versions", DatasetVersionsHandler),
    (r"api/v1/datasets/([^/]+)/versions/(\d+)", DatasetVersionHandler),
    (r"api/v1/datasets/([^/]+)/versions/(\d+)/data", DatasetVersionDataHandler),
    (r"api/v1/datasets/([^/]+)/versions/(\d+)/accelerate", AccelerateHandler),
    (r"api/v1/datasets/([^/]+)/shares", DatasetSharesHandler),
    (r"api/v1/models", ModelsHandler),
    (r"api/v1/models/import-shared", ImportSharedModelHandler),
    (r"api/v1/models/([^/]+)", ModelHandler),
    (r"api/v1/models/([^/]+)/versions", ModelVersionsHandler),
    (r"api/v1/models/([^/]+)/versions/(\d+)", ModelVersionHandler),
    (r"api/v1/models/([^/]+)/versions/(\d+)/files", ModelFilesHandler),
    (r"api/v1/models/([^/]+)/versions/(\d+)/files/(.+)", ModelFileHandler),
    (r"api/v1/models/([^/]+)/versions/(\d+)/archive", ModelArchiveHandler),
    (r"api/v1/models/([^/]+)/versions/(\d+)/export", ModelExportHandler),
    (r"api/v1/models/([^/]+)/shares", ModelSharesHandler),
    (r"api/v1/mounts/resolve", MountResolveHandler),
    (r"api/v1/finetunes", FinetunesHandler),
    (r"api/v1/finetunes/defaults", FinetuneDefaultsHandler),
    (r"api/v1/finetunes/parse-yaml", FinetuneYamlHandler),
    (r"api/v1/finetunes/([^/]+)", FinetuneHandler),
    (r"api/v1/finetunes/([^/]+)/(stop|resume)", FinetuneActionHandler),
    (r"api/v1/finetunes/([^/]+)/metrics", FinetuneMetricsHandler),
    (r"api/v1/finetunes/([^/]+)/evaluate", FinetuneEvaluateHandler),
    (r"api/v1/finetunes/([^/]+)/evaluations/([^/]+)", FinetuneEvaluationHandler),
    (r"api/v1/finetunes/([^/]+)/evaluations/([^/]+)/predictions", FinetunePredictionsHandler),
    (r"api/v1/finetunes/([^/]+)/export", FinetuneExportHandler),
    (r"api/v1/finetunes/([^/]+)/tensorboard", FinetuneTensorboardHandler),
    (r"api/v1/services", ServicesHandler),
    (r"api/v1/services/([^/]+)", ServiceHandler),
    (r"api/v1/services/([^/]+)/(stop|start|restart|sleep)", ServiceActionHandler),
    (r"api/v1/services/([^/]+)/events", ServiceEventsHandler),
    (r"api/v1/services/([^/]+)/revisions", ServiceRevisionsHandler),
    (r"api/v1/services/([^/]+)/logs", ServiceLogsHandler),
    (r"api/v1/services/([^/]+)/keys", ServiceKeysHandler),
    (r"api/v1/services/([^/]+)/keys/([^/]+)", ServiceKeyHandler),
]


def api_routes(prefix: str, base: type[RequestHandler]) -> list[tuple[str, type[Any]]]:
    """The API's routes under ``prefix`` (ending in '/'), each handler mixed onto ``base``."""
    routes = []
    for pattern, mixin in _ROUTES:
        handler = type(mixin.__name__, (mixin, base), {})
        routes.append((prefix + pattern, handler))
    return routes


def gateway_routes(prefix: str) -> list[tuple[str, type[Any]]]:
    """The endpoint gateway under ``prefix``: ``endpoints/<service>/…``, outside the API (its
    callers authenticate with service keys, not with hub tokens)."""
    from ..gateway import GatewayHandler

    return [(prefix + r"endpoints/([^/]+)(/.*)?", GatewayHandler)]


def route_table() -> list[tuple[str, type[PlatformHandler]]]:
    """The raw routes, for the OpenAPI document."""
    return list(_ROUTES)
