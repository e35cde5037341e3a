"""Errors of the model server: a bad configuration (exit 2) and a bad request (HTTP 400)."""

from __future__ import annotations


class ServeConfigError(Exception):
    """The server cannot start as configured: a missing model, a bad setting. One line that
    says what was wrong and how to fix it."""


class RequestError(Exception):
    """A request the API refuses, shaped as OpenAI shapes its errors::

    {"error": {"message", "type": "invalid_request_error", "param", "code"}}
    """

    def __init__(
        self,
        message: str,
        param: str | None = None,
        code: str | None = None,
        status: int = 400,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
        self.kind = kind

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }
