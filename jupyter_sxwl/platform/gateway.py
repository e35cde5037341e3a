"""The endpoint gateway: ``/endpoints/<service>/…`` on the platform, in front of every service.

A request is let through with either

- the headers ``AppKey``, ``Timestamp`` (Unix milliseconds) and ``Sign``, where Sign is the
  lowercase hex HMAC-SHA1 keyed by the AppSecret over ``AppKey + AppSecret + Timestamp``
  (the scheme of the product documents). The Timestamp must be within ``WINDOW_SECONDS`` of
  the platform's clock and a Sign is accepted once: a replay inside the window is refused;
- or ``Authorization: Bearer <key>``, so every OpenAI client can connect.

Refusals are 401s that say what was wrong with the request, never anything about the keys
that exist. The key decides the owner: a service the key's owner does not have is a 404.
The answer is streamed back chunk by chunk (server-sent events arrive as they are written),
a sleeping service is woken and the request answered once it is ready.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from tornado.httpclient import HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.log import app_log
from tornado.simple_httpclient import SimpleAsyncHTTPClient
from tornado.web import RequestHandler

from ..store.database import Database
from ..store.models import GatewaySign, ServiceKey

WINDOW_SECONDS = 300
BEARER_PREFIX = "sk-sxwl-"
# Request headers that are the gateway's, or the connection's, never the service's.
_DROP_REQUEST = {
    "host",
    "authorization",
    "appkey",
    "sign",
    "timestamp",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "cookie",
}
_DROP_RESPONSE = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "server",
    "date",
}


def sign(app_key: str, app_secret: str, timestamp: str) -> str:
    """The Sign of a request: hex HMAC-SHA1(key=AppSecret, msg=AppKey+AppSecret+Timestamp)."""
    message = (app_key + app_secret + timestamp).encode("utf-8")
    return hmac.new(app_secret.encode("utf-8"), message, hashlib.sha1).hexdigest()


def bearer_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Denied(Exception):
    """A request the gateway refuses; ``status`` and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ReplayGuard:
    """Signs accepted within the window; each may be used once.

    The Signs are kept in the database (``gateway_signs``), whose primary key makes the second
    use of a Sign fail even after a platform restart or from another platform process; a copy
    in memory refuses most replays without a database round trip. Signs older than twice the
    window can no longer pass the Timestamp check and are pruned.
    """

    def __init__(self, db: Database, window: float = WINDOW_SECONDS) -> None:
        self.db = db
        self.window = window
        self._seen: OrderedDict[str, float] = OrderedDict()

    def _forget_old(self, now: float) -> None:
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= 2 * self.window:
                break
            del self._seen[oldest]

    def check_and_remember(self, value: str, now: float) -> bool:
        """False if ``value`` was already accepted within the window (a replay)."""
        self._forget_old(now)
        if value in self._seen:
            return False
        try:
            with self.db.session() as session:
                session.add(GatewaySign(sign=value, seen_at=_naive_utc(now)))
        except IntegrityError:
            return False
        self._seen[value] = now
        return True

    def prune(self, now: float | None = None) -> None:
        """Delete the Signs whose Timestamps can no longer be accepted."""
        now = time.time() if now is None else now
        self._forget_old(now)
        with self.db.session() as session:
            cutoff = _naive_utc(now - 2 * self.window)
            session.execute(delete(GatewaySign).where(GatewaySign.seen_at < cutoff))


@dataclass(frozen=True)
class KeyInfo:
    """An active key as the gateway needs it."""

    id: str
    service_id: str
    owner: str
    app_key: str
    secret: str


class KeyRing:
    """The gateway's keys: made here, checked from memory, counted per key.

    AppSecrets are encrypted with the platform's Fernet key (a file in the data directory, or
    ``c.SxwlPlatform.gateway_secret_key``): HMAC verification needs the secret itself, so it
    cannot be kept as a one-way hash. Bearer keys are kept only as SHA-256 digests.
    """

    def __init__(self, db: Database, fernet_key: bytes) -> None:
        self.db = db
        self.fernet = Fernet(fernet_key)
        self.replays = ReplayGuard(db)
        self._by_app_key: dict[str, KeyInfo] | None = None
        self._by_bearer: dict[str, KeyInfo] = {}
        self.pending: dict[str, int] = {}  # key id -> requests not yet written
        self.last_used: dict[str, float] = {}

    @staticmethod
    def load_or_create_key(path: Path) -> bytes:
        """The Fernet key in ``path``, made (readable by the owner only) if missing."""
        if path.exists():
            return path.read_bytes().strip()
        key = Fernet.generate_key()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # a leftover .tmp from a crash keeps its old mode
            f.write(key)
        tmp.replace(path)
        return key

    def invalidate(self) -> None:
        self._by_app_key = None

    def _load(self) -> dict[str, KeyInfo]:
        if self._by_app_key is None:
            by_app: dict[str, KeyInfo] = {}
            by_bearer: dict[str, KeyInfo] = {}
            with self.db.session() as session:
                for row in session.scalars(select(ServiceKey)):
                    try:
                        secret = self.fernet.decrypt(row.secret_encrypted.encode()).decode()
                    except InvalidToken:
                        continue  # encrypted with another platform key: unusable
                    info = KeyInfo(row.id, row.service_id, row.owner, row.app_key, secret)
                    by_app[row.app_key] = info
                    by_bearer[row.bearer_sha256] = info
            self._by_app_key, self._by_bearer = by_app, by_bearer
        return self._by_app_key

    def create(self, service_id: str, owner: str, name: str) -> tuple[ServiceKey, str, str]:
        """A new key row (not yet added to a session) with its AppSecret and bearer token."""
        app_key = secrets.token_hex(10)
        app_secret = secrets.token_urlsafe(24)
        bearer = BEARER_PREFIX + secrets.token_urlsafe(32)
        row = ServiceKey(
            id=f"key-{secrets.token_hex(5)}",
            service_id=service_id,
            owner=owner,
            name=name,
            app_key=app_key,
            secret_encrypted=self.fernet.encrypt(app_secret.encode()).decode(),
            bearer_sha256=bearer_digest(bearer),
            bearer_hint=bearer[-4:],
            requests=0,
        )
        return row, app_secret, bearer

    def authenticate(self, headers: Any, now: float | None = None) -> KeyInfo:
        """The key a request carries, or ``Denied`` (401) saying what is wrong with it."""
        now = time.time() if now is None else now
        keys = self._load()
        auth = headers.get("Authorization", "")
        app_key = headers.get("AppKey")
        if auth and not app_key:
            scheme, _, token = auth.strip().partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Denied(401, "Authorization must be 'Bearer <key>' with a key of the service")
            info = self._by_bearer.get(bearer_digest(token.strip()))
            if info is None:
                raise Denied(401, "the bearer key is not valid (wrong, or revoked)")
            return info
        if not app_key:
            raise Denied(
                401,
                "no credentials: send the headers AppKey, Timestamp and Sign, or "
                "Authorization: Bearer <key>",
            )
        missing = [h for h in ("Timestamp", "Sign") if not headers.get(h)]
        if missing:
            raise Denied(401, f"missing header {' and '.join(missing)} (AppKey needs both)")
        stamp = headers.get("Timestamp", "").strip()
        if not stamp.isdigit():
            raise Denied(401, "Timestamp must be the Unix time in milliseconds, e.g. 1700000000000")
        skew = int(stamp) / 1000.0 - now
        if abs(skew) > WINDOW_SECONDS:
            when = "in the future" if skew > 0 else "old"
            raise Denied(
                401,
                f"Timestamp is {abs(skew):.0f} s {when}; it must be within "
                f"{WINDOW_SECONDS // 60} minutes of the current time",
            )
        info = keys.get(app_key.strip())
        given = headers.get("Sign", "").strip().lower()
        if info is None or not hmac.compare_digest(sign(info.app_key, info.secret, stamp), given):
            raise Denied(
                401,
                "Sign does not match: it must be the lowercase hex HMAC-SHA1 of "
                "AppKey+AppSecret+Timestamp keyed by the AppSecret",
            )
        if not self.replays.check_and_remember(given, now):
            raise Denied(401, "this Sign was already used; sign each request with a new Timestamp")
        return info

    def count(self, key_id: str) -> None:
        self.pending[key_id] = self.pending.get(key_id, 0) + 1
        self.last_used[key_id] = time.time()

    def flush(self) -> None:
        """Write the counted requests to the database; forget Signs past the window."""
        self.replays.prune()
        pending, self.pending = self.pending, {}
        last_used, self.last_used = self.last_used, {}
        if not pending:
            return
        with self.db.session() as session:
            for key_id, n in pending.items():
                at = last_used.get(key_id)
                values: dict[str, Any] = {"requests": ServiceKey.requests + n}
                if at is not None:
                    values["last_used_at"] = _naive_utc(at)
                session.execute(update(ServiceKey).where(ServiceKey.id == key_id).values(values))


def _naive_utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC).replace(tzinfo=None)


class GatewayHandler(RequestHandler):
    """Checks the key, finds (and wakes) the service, streams the request through."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    _client: SimpleAsyncHTTPClient | None = None

    def check_xsrf_cookie(self) -> None:
        return  # key-authenticated; cookies are neither needed nor forwarded

    @classmethod
    def client(cls) -> SimpleAsyncHTTPClient:
        if cls._client is None:
            cls._client = SimpleAsyncHTTPClient(
                force_instance=True, max_clients=1024, max_body_size=1 << 30
            )
        return cls._client

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        if status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="sxwl"')
        kind = {401: "authentication_error", 404: "not_found_error"}.get(status, "service_error")
        self.finish(json.dumps({"error": {"message": message, "type": kind, "code": status}}))

    async def get(self, name: str, rest: str | None) -> None:
        await self._proxy(name, rest or "/")

    post = put = patch = delete = head = options = get

    async def _proxy(self, name: str, rest: str) -> None:
        platform = self.settings["sxwl_platform"]
        services = platform.services
        try:
            key = services.keys.authenticate(self.request.headers)
            target = services.gateway_target(key, name)
            services.keys.count(key.id)
            deployment = await services.acquire(target)
        except Denied as e:
            self._refuse(e.status, e.message)
            return
        try:
            await self._forward(deployment.pick(), rest)
        finally:
            deployment.release()

    async def _forward(self, port: int, rest: str) -> None:
        url = f"http://127.0.0.1:{port}{rest}"
        if self.request.query:
            url += "?" + self.request.query
        headers = {
            k: v for k, v in self.request.headers.get_all() if k.lower() not in _DROP_REQUEST
        }
        headers["X-Forwarded-For"] = self.request.remote_ip or ""
        started = False

        def on_header(line: str) -> None:
            nonlocal started
            line = line.rstrip("\r\n")
            if line.startswith("HTTP/"):
                parts = line.split(" ", 2)
                self._upstream_status = (int(parts[1]), parts[2] if len(parts) > 2 else "")
                self._upstream_headers: list[tuple[str, str]] = []
            elif line and ":" in line:
                k, _, v = line.partition(":")
                self._upstream_headers.append((k.strip(), v.strip()))

        def start() -> None:
            nonlocal started
            if started:
                return
            started = True
            code, reason = getattr(self, "_upstream_status", (502, "Bad Gateway"))
            self.set_status(code, reason or None)
            self.clear_header("Content-Type")
            for k, v in getattr(self, "_upstream_headers", []):
                if k.lower() not in _DROP_RESPONSE:
                    self.add_header(k, v)

        def on_chunk(chunk: bytes) -> None:
            # Written and flushed as it comes: server-sent events are never held back.
            start()
            if self._finished:
                return
            self.write(chunk)
            self.flush().add_done_callback(_ignore_closed)

        method = self.request.method or "GET"
        body = self.request.body if method in ("POST", "PUT", "PATCH", "DELETE") else None
        if method in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=body,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            decompress_response=False,
            connect_timeout=10,
            request_timeout=3600,
            header_callback=on_header,
            streaming_callback=on_chunk,
        )
        try:
            response = await self.client().fetch(request, raise_error=False)
            failure = response.error if response.code == 599 else None
        except Exception as e:
            failure = e
        if failure is not None and not started:
            app_log.warning("gateway: %s %s failed: %s", method, url, failure)
            self._refuse(502, f"the service did not answer: {failure}")
            return
        start()
        if not self._finished:
            self.finish()


def _ignore_closed(future: Any) -> None:
    """A client that went away mid-stream is not an error of the gateway."""
    exc = future.exception()
    if exc is not None and not isinstance(exc, StreamClosedError):
        raise exc
