"""The OpenAPI 3.1 document of the REST API, generated from the pydantic payloads."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from .. import __version__
from ..runtime.finetune.config import FinetuneParams
from .finetunes import EvaluateRequest, ExportRequest, FinetuneCreate, FinetuneResources
from .payloads import (
    CodePackageOut,
    JobList,
    JobOut,
    JobPatch,
    JobSubmit,
    QueueIn,
    QueueOut,
    QueuePatch,
    RestartRequest,
    UserLimitIn,
)
from .services import HttpsSpec, ModelRef, ServiceCreate, ServicePatch, ServiceResources

_MODELS: list[type[BaseModel]] = [
    JobSubmit,
    JobOut,
    JobList,
    JobPatch,
    RestartRequest,
    QueueIn,
    QueuePatch,
    QueueOut,
    UserLimitIn,
    CodePackageOut,
    FinetuneCreate,
    FinetuneResources,
    FinetuneParams,
    EvaluateRequest,
    ExportRequest,
    ServiceCreate,
    ServicePatch,
    ServiceResources,
    ModelRef,
    HttpsSpec,
]

_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; errors[] names each field at fault",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


# Datasets, models, uploads and mounts (docs/rest-api.md describes their objects).
_CATALOGUE_ROUTES: list[tuple[str, str, str, int]] = [
    ("/uploads", "post", "declare a chunked upload: filename, size, sha256, purpose", 201),
    ("/uploads/{upload_id}", "get", "how many bytes arrived", 200),
    ("/uploads/{upload_id}", "put", "send the chunk starting at ?offset= (raw bytes)", 200),
    ("/uploads/{upload_id}", "delete", "abandon an upload", 204),
    ("/operations/{op_id}", "get", "progress and result of a publish or export", 200),
    ("/shares/{share_id}", "delete", "revoke a share token", 200),
    ("/datasets", "get", "my, shared and preset datasets", 200),
    ("/datasets", "post", "create a dataset: name, annotation_type, data_type", 201),
    ("/datasets/shared", "post", "add a dataset shared with me: {token}", 201),
    ("/datasets/{dataset}", "get", "one dataset with files and versions", 200),
    ("/datasets/{dataset}", "patch", "rename or describe a dataset", 200),
    ("/datasets/{dataset}", "delete", "delete a dataset, its versions and shares", 204),
    ("/datasets/{dataset}/shared", "delete", "remove a shared dataset from my list", 204),
    ("/datasets/{dataset}/imports", "get", "imports and their reports", 200),
    ("/datasets/{dataset}/imports", "post", "import {upload_id} or {url}", 202),
    ("/datasets/{dataset}/imports/{import_id}", "get", "one import: progress, problems", 200),
    ("/datasets/{dataset}/records", "get", "records of the working copy (?only=invalid)", 200),
    ("/datasets/{dataset}/records", "post", "add a record", 201),
    ("/datasets/{dataset}/records/{record}", "get", "one record with previous/next", 200),
    ("/datasets/{dataset}/records/{record}", "put", "edit a record or mark it reviewed", 200),
    ("/datasets/{dataset}/records/{record}", "delete", "delete a record", 204),
    ("/datasets/{dataset}/records/{record}/restore", "post", "restore (all or order)", 200),
    ("/datasets/{dataset}/publish", "post", "publish a new immutable version", 202),
    ("/datasets/{dataset}/versions", "get", "published versions", 200),
    ("/datasets/{dataset}/versions/{number}", "get", "one version", 200),
    ("/datasets/{dataset}/versions/{number}/data", "get", "download a version (JSONL)", 200),
    ("/datasets/{dataset}/versions/{number}/accelerate", "post", "copy to fast storage", 202),
    ("/datasets/{dataset}/versions/{number}/accelerate", "delete", "drop the fast copy", 200),
    ("/datasets/{dataset}/shares", "get", "share tokens of a dataset (no secrets)", 200),
    ("/datasets/{dataset}/shares", "post", "make a share token (shown once)", 201),
    ("/models", "get", "my and preset models", 200),
    ("/models", "post", "create a model", 201),
    ("/models/import-shared", "post", "import a shared model version: {token, name}", 202),
    ("/models/{model}", "get", "one model with its versions", 200),
    ("/models/{model}", "patch", "rename or describe a model", 200),
    ("/models/{model}", "delete", "delete a model and its versions", 204),
    ("/models/{model}/versions", "get", "versions with import status", 200),
    ("/models/{model}/versions", "post", "import a version: upload, url, job, lab, preset", 202),
    ("/models/{model}/versions/{number}", "get", "one version", 200),
    ("/models/{model}/versions/{number}", "delete", "delete a version", 204),
    ("/models/{model}/versions/{number}/files", "get", "files with sizes and sha256", 200),
    ("/models/{model}/versions/{number}/files/{path}", "get", "download one file", 200),
    ("/models/{model}/versions/{number}/archive", "get", "download the version as .tar", 200),
    ("/models/{model}/versions/{number}/export", "post", "copy to an S3 bucket/prefix", 202),
    ("/models/{model}/shares", "get", "share tokens of a model", 200),
    ("/models/{model}/shares", "post", "make a share token (shown once)", 201),
    ("/mounts/resolve", "post", "a read-only local copy of a version, for a mount", 200),
]


# Fine-tunes (docs/rest-api.md describes Finetune, Evaluation and Export): path, method,
# summary, success status, request body schema.
_FINETUNE_ROUTES: list[tuple[str, str, str, int, str | None]] = [
    ("/finetunes", "get", "my fine-tunes, newest first (admins: ?all=1)", 200, None),
    (
        "/finetunes",
        "post",
        "create a fine-tune (form fields or LLaMA-Factory yaml)",
        201,
        "FinetuneCreate",
    ),
    ("/finetunes/defaults", "get", "parameter defaults, descriptions and choices", 200, None),
    ("/finetunes/parse-yaml", "post", "read a LLaMA-Factory YAML: {yaml}", 200, None),
    (
        "/finetunes/{finetune}",
        "get",
        "one fine-tune with progress, evaluations, exports",
        200,
        None,
    ),
    ("/finetunes/{finetune}", "delete", "stop and delete (exported models stay)", 204, None),
    ("/finetunes/{finetune}/stop", "post", "stop the training job", 200, None),
    ("/finetunes/{finetune}/resume", "post", "resume from the last checkpoint", 200, None),
    ("/finetunes/{finetune}/metrics", "get", "metric points with step > ?after=", 200, None),
    ("/finetunes/{finetune}/evaluate", "post", "evaluate as a job", 202, "EvaluateRequest"),
    ("/finetunes/{finetune}/evaluations/{evaluation}", "get", "one evaluation", 200, None),
    (
        "/finetunes/{finetune}/evaluations/{evaluation}/predictions",
        "get",
        "the predictions (JSON Lines)",
        200,
        None,
    ),
    ("/finetunes/{finetune}/export", "post", "export as a model version", 202, "ExportRequest"),
    (
        "/finetunes/{finetune}/tensorboard",
        "get",
        "a .tar of the TensorBoard event files",
        200,
        None,
    ),
]


# Services (docs/rest-api.md describes Service, keys and the gateway): path, method, summary,
# success status, request body schema.
_SERVICE_ROUTES: list[tuple[str, str, str, int, str | None]] = [
    ("/services", "get", "my services with status, address and usage (admins: ?all=1)", 200, None),
    ("/services", "post", "deploy an LLM or any HTTP app", 201, "ServiceCreate"),
    ("/services/{service}", "get", "one service", 200, None),
    (
        "/services/{service}",
        "patch",
        "edit: a new revision, switched to once ready",
        200,
        "ServicePatch",
    ),
    ("/services/{service}", "delete", "stop and delete the service and its keys", 204, None),
    ("/services/{service}/stop", "post", "stop the processes", 200, None),
    ("/services/{service}/start", "post", "start a stopped or failed service", 200, None),
    ("/services/{service}/restart", "post", "stop and start again", 200, None),
    ("/services/{service}/sleep", "post", "put a running service to sleep now", 200, None),
    ("/services/{service}/events", "get", "run records, newest first", 200, None),
    ("/services/{service}/revisions", "get", "configuration history with diffs", 200, None),
    ("/services/{service}/logs", "get", "the log of a replica from ?offset=", 200, None),
    ("/services/{service}/keys", "get", "gateway keys with request counts (no secrets)", 200, None),
    (
        "/services/{service}/keys",
        "post",
        "a new AppKey/AppSecret and bearer (shown once)",
        201,
        None,
    ),
    ("/services/{service}/keys/{key}", "delete", "revoke a key", 204, None),
]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    ok: int = 200,
    response: dict[str, Any] | None = None,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "401": {"description": "not authenticated", **_problem()},
        "404": {"description": "not found, or not yours", **_problem()},
    }
    if ok == 204:
        responses["204"] = {"description": "done"}
    else:
        schema = response or {"type": "object"}
        responses[str(ok)] = {
            "description": "success",
            "content": {content_type: {"schema": schema}},
        }
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, **_json(_ref(body))}
        responses["400"] = {"description": "invalid input; errors[] names the fields", **_problem()}
    if params:
        op["parameters"] = params
    return op


def _problem() -> dict[str, Any]:
    return {"content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": kind}, "description": description}


@cache
def openapi_document(base: str = "/api/v1/") -> dict[str, Any]:
    """The whole document; ``base`` is where the API is served."""
    schemas: dict[str, Any] = {"Problem": _PROBLEM}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
    job = _path_param("job_id")
    paths: dict[str, Any] = {
        "/info": {"get": _op("who I am, flavours, queues, priorities and job types")},
        "/flavours": {"get": _op("the accelerator catalogue")},
        "/queues": {
            "get": _op("queues I may use (admins: all)"),
            "post": _op("create a queue (admin)", 201, _ref("QueueOut"), "QueueIn"),
        },
        "/queues/{name}": {
            "parameters": [_path_param("name")],
            "get": _op("one queue", response=_ref("QueueOut")),
            "patch": _op("edit a queue (admin)", response=_ref("QueueOut"), body="QueuePatch"),
            "delete": _op("delete an idle queue (admin)", 204),
        },
        "/admin/users/{username}/limits": {
            "parameters": [_path_param("username")],
            "get": _op("a user's limit on accelerators and CPUs held at once"),
            "put": _op("set a user's limit (admin)", body="UserLimitIn"),
        },
        "/admin/scheduler": {
            "get": _op("pending and active jobs, the last admission cycle's duration (admin)")
        },
        "/code-packages": {
            "post": {
                **_op("upload a .tar.gz or .zip of code", 201, _ref("CodePackageOut")),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/gzip": {"schema": {"type": "string", "format": "binary"}},
                        "application/zip": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
            }
        },
        "/jobs": {
            "get": _op(
                "my jobs, newest first",
                response=_ref("JobList"),
                params=[
                    _query("status", "string", "comma-separated statuses"),
                    _query("q", "string", "substring of the name or id"),
                    _query("all", "boolean", "admins: every user's jobs"),
                    _query("limit", "integer", "page size (default 500)"),
                    _query("offset", "integer", "page start"),
                ],
            ),
            "post": _op("submit a job", 201, _ref("JobOut"), "JobSubmit"),
        },
        "/jobs/{job_id}": {
            "parameters": [job],
            "get": _op("one job", response=_ref("JobOut")),
            "patch": _op(
                "change a queued job's priority (admin)", response=_ref("JobOut"), body="JobPatch"
            ),
            "delete": _op("stop and delete a job with its files", 204),
        },
        "/jobs/{job_id}/stop": {
            "parameters": [job],
            "post": _op("stop the whole process tree", response=_ref("JobOut")),
        },
        "/jobs/{job_id}/restart": {
            "parameters": [job],
            "post": _op(
                "start a new attempt; resume=true keeps the checkpoints",
                response=_ref("JobOut"),
                body="RestartRequest",
            ),
        },
        "/jobs/{job_id}/logs": {
            "parameters": [job],
            "get": _op(
                "the log (text), a followed stream (follow=1) or search results (q=)",
                content_type="text/plain",
                response={"type": "string"},
                params=[
                    _query("attempt", "integer", "attempt number (default: latest)"),
                    _query("offset", "integer", "byte offset to read from"),
                    _query("follow", "boolean", "stream until the attempt ends"),
                    _query("q", "string", "search: lines containing this text"),
                    _query("regex", "boolean", "q is a regular expression"),
                ],
            ),
        },
        "/jobs/{job_id}/usage": {"parameters": [job], "get": _op("hardware samples")},
        "/jobs/{job_id}/metrics": {"parameters": [job], "get": _op("training metrics points")},
        "/jobs/{job_id}/artifacts": {"parameters": [job], "get": _op("saved model files")},
        "/jobs/{job_id}/artifacts/{path}": {
            "parameters": [job, _path_param("path")],
            "get": _op(
                "download one saved file",
                content_type="application/octet-stream",
                response={"type": "string", "format": "binary"},
            ),
        },
        "/openapi.json": {"get": _op("this document")},
    }
    for path, method, summary, ok in _CATALOGUE_ROUTES:
        entry = paths.setdefault(path, {})
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if names:
            entry["parameters"] = [_path_param(n) for n in names]
        entry[method] = _op(summary, ok)
    for path, method, summary, ok, body in _FINETUNE_ROUTES + _SERVICE_ROUTES:
        entry = paths.setdefault(path, {})
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if names:
            entry["parameters"] = [_path_param(n) for n in names]
        entry[method] = _op(summary, ok, body=body)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jupyter_sxwl platform API",
            "version": __version__,
            "description": "Training jobs, queues, flavours, datasets, models, fine-tunes and "
            "services (the services themselves are called through the gateway at "
            "../endpoints/<service>/ with AppKey/Timestamp/Sign or a bearer key). "
            "Authenticate with "
            "'Authorization: token <JupyterHub API token>'.",
        },
        "servers": [{"url": base.rstrip("/")}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"hubToken": []}],
        "paths": paths,
    }
