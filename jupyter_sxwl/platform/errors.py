"""Errors a user can meet, rendered as ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from tornado.web import HTTPError


class Problem(HTTPError):
    """An error the API returns with a 4xx status, naming the fields at fault."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.status = status
        self.errors = [{"field": f, "message": m} for f, m in errors]
        self.detail = detail
        # tornado logs an HTTPError as one warning line, never as a traceback.
        super().__init__(status, "%s", detail)

    @classmethod
    def invalid(cls, field: str, message: str, status: int = 400) -> Problem:
        return cls(status, f"{field}: {message}", [(field, message)])

    @classmethod
    def fields(cls, errors: list[tuple[str, str]], status: int = 400) -> Problem:
        return cls(status, "; ".join(f"{f}: {m}" for f, m in errors), errors)

    @classmethod
    def not_found(cls, what: str) -> Problem:
        return cls(404, f"{what} not found")

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "__root__"]
    return ".".join(parts) or "body"


def _message(err: Any) -> str:
    msg = str(err.get("msg", "is invalid"))
    # pydantic prefixes messages of custom validators; the field name already says where.
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if err.get("type") == "extra_forbidden":
        msg = "is not a known field; remove it (see openapi.json for the fields)"
    elif err.get("type") == "missing":
        msg = "is required"
    return msg


def problem_from_validation(exc: ValidationError) -> Problem:
    """Turn pydantic's errors into one ``Problem`` listing every field."""
    return Problem.fields([(_field_name(e["loc"]), _message(e)) for e in exc.errors()])
