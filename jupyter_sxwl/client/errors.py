"""Errors the SDK raises. The CLI and magics turn them into one-line messages, never tracebacks."""

from __future__ import annotations

import json
from typing import Any


class SxwlError(Exception):
    """Anything that went wrong talking to the platform, with a message a user can act on."""


class SxwlConfigError(SxwlError):
    """No platform could be found, or the saved connection is unusable."""


class SxwlConnectionError(SxwlError):
    """The platform did not answer (refused, unreachable, timed out)."""


class SxwlTimeoutError(SxwlError, TimeoutError):
    """``Client.wait`` gave up before the job reached a final status."""


class SxwlAPIError(SxwlError):
    """The platform answered with an error (an ``application/problem+json`` body, usually).

    Attributes:
        status: the HTTP status code.
        detail: what was wrong and how to fix it, in words.
        errors: per-field errors, each ``{"field": ..., "message": ...}``.
        title: the short HTTP title ("Bad Request").
    """

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        title: str = "",
        body: Any = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors or [])
        self.title = title
        self.body = body

    @property
    def is_client_error(self) -> bool:
        """True for 4xx: the request was wrong, retrying it unchanged will not help."""
        return 400 <= self.status < 500

    def __str__(self) -> str:
        return self.detail

    def __repr__(self) -> str:
        return f"SxwlAPIError(status={self.status}, detail={self.detail!r}, errors={self.errors!r})"

    @classmethod
    def from_response(cls, status: int, reason: str, content_type: str, text: str) -> SxwlAPIError:
        """Build the error from an HTTP answer: problem+json when possible, else its text.

        Non-JSON answers come from something in front of the platform (the hub's proxy, a
        login page): keep the status and the first line of the text so the user sees which.
        """
        body: Any = None
        if "json" in content_type:
            try:
                body = json.loads(text)
            except ValueError:
                body = None
        if isinstance(body, dict):
            title = str(body.get("title") or reason or "")
            detail = str(body.get("detail") or body.get("message") or title or f"HTTP {status}")
            raw_errors = body.get("errors") or []
            errors = [
                {"field": str(e.get("field", "")), "message": str(e.get("message", ""))}
                for e in raw_errors
                if isinstance(e, dict)
            ]
            return cls(status, detail, errors, title=title, body=body)
        snippet = " ".join(text.strip().split())[:200]
        detail = f"HTTP {status} {reason}".strip()
        if snippet and not snippet.lstrip().startswith("<"):
            detail += f": {snippet}"
        return cls(status, detail, [], title=reason, body=text)
