"""What every API handler shares: identity, JSON in and out, problem+json errors."""

from __future__ import annotations

import json
import traceback
from typing import Any

from tornado.log import app_log
from tornado.web import HTTPError

from ..auth import Identity
from ..core import SxwlPlatform
from ..errors import Problem

PROBLEM_TYPE = "application/problem+json"


class PlatformHandler:
    """Mixin for API handlers; the class it is mixed onto supplies ``current_identity``."""

    # Supplied by tornado.web.RequestHandler in the concrete class.
    settings: dict[str, Any]
    request: Any
    log_exception: Any

    @property
    def platform(self) -> SxwlPlatform:
        return self.settings["sxwl_platform"]  # type: ignore[no-any-return]

    def identity(self) -> Identity:
        """The caller; the class this is mixed onto defines ``current_identity``."""
        return self.current_identity()  # type: ignore[attr-defined,no-any-return]

    def check_xsrf_cookie(self) -> None:
        # Token-authenticated API calls carry no cookie; cookie-authenticated ones are
        # checked by the base class.
        if self.request.headers.get("Authorization"):
            return
        super().check_xsrf_cookie()  # type: ignore[misc]

    # -- input ---------------------------------------------------------------------------------

    def json_body(self) -> dict[str, Any]:
        raw = self.request.body or b""
        if not raw.strip():
            return {}
        # Bytes that are not UTF-8 become lone surrogates, so the field validators can say
        # which field holds them instead of rejecting the body as a whole.
        text = raw.decode("utf-8", "surrogateescape")
        try:
            data = json.loads(text)
        except ValueError as e:
            raise Problem.invalid("body", f"is not valid JSON ({e}); send a JSON object") from None
        if not isinstance(data, dict):
            raise Problem.invalid("body", "must be a JSON object")
        return data

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.get_argument(name, None)  # type: ignore[attr-defined]
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise Problem.invalid(name, f"{value[:20]!r} is not a whole number") from None

    def flag_arg(self, name: str) -> bool:
        value = self.get_argument(name, "")  # type: ignore[attr-defined]
        return value.lower() in ("1", "true", "yes")

    # -- output --------------------------------------------------------------------------------

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)  # type: ignore[attr-defined]
        self.set_header("Content-Type", "application/json")  # type: ignore[attr-defined]
        self.finish(json.dumps(data))  # type: ignore[attr-defined]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, Problem):
            body = exc.to_json()
            self.set_status(exc.status)  # type: ignore[attr-defined]
        elif isinstance(exc, HTTPError):
            detail = (exc.log_message % exc.args) if exc.log_message else (exc.reason or "")
            problem = Problem(status_code, detail or "request failed")
            body = problem.to_json()
        else:
            if exc is not None:
                app_log.error("unexpected error: %s", "".join(traceback.format_exception(exc)))
            body = Problem(
                500, "the platform hit an internal error; the admin log has the details"
            ).to_json()
            body["status"] = status_code
        self.set_header("Content-Type", PROBLEM_TYPE)  # type: ignore[attr-defined]
        self.finish(json.dumps(body))  # type: ignore[attr-defined]
