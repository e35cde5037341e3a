"""A tiny HTTP server in a thread that answers as the platform would, for the SDK's HTTP logic.

It stands in only where the point is how the client reads answers (problem+json errors,
streamed logs, downloads); everything about what the platform decides is tested against the
real platform in tests/test_cli.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import QuietServer

Reply = tuple[int, dict[str, str], bytes | list[bytes]]
Route = Callable[["Request"], Reply]


@dataclass
class Request:
    method: str
    path: str  # relative to the API root, e.g. "jobs/job-1"
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


def json_reply(data: Any, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> Reply:
    body = {"type": "about:blank", "title": "Bad Request", "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode()


@dataclass
class FakePlatform:
    url: str  # the API root
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def route(self, method: str, path: str, reply: Route | Reply) -> None:
        self.routes[(method, path)] = reply if callable(reply) else (lambda _r, x=reply: x)


@pytest.fixture
def fake_platform() -> Iterator[FakePlatform]:
    platform = FakePlatform(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

        def handle_any(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path.removeprefix("/api/v1/")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            request = Request(self.command, path, query, dict(self.headers), body)
            platform.requests.append(request)
            route = platform.routes.get((self.command, path))
            status, headers, payload = route(request) if route else problem(404, f"no {path}")
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if isinstance(payload, list):  # streamed in chunks, as the follow endpoint does
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in payload:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    server = QuietServer(("127.0.0.1", 0), Handler)
    platform.url = f"http://127.0.0.1:{server.server_address[1]}/api/v1/"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield platform
    finally:
        server.shutdown()
        server.server_close()
