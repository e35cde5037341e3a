"""The OpenAPI 3.1 document of the REST API, generated from the pydantic payloads."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from .. import __version__
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
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jupyter_sxwl platform API",
            "version": __version__,
            "description": "Training jobs, queues and flavours. Authenticate with "
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
