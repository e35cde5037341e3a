"""Handlers on the user's Jupyter server under ``/sxwl/api/v1/``.

With a hub they forward each call to the platform service with the server's hub token (so the
platform sees the lab's owner); without one the platform's own handlers are mounted here and
the local user is their only, admin, user.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jupyter_server.base.handlers import APIHandler
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError

from ..client.code_package import pack_directory
from ..client.mounts import MountError, link, list_mounts, mount_root, unlink
from ..platform.auth import Identity
from ..platform.errors import Problem
from ..platform.handlers.base import PlatformHandler
from ..platform.payloads import mount_request

_FORWARD_RESPONSE_HEADERS = ("Content-Type", "Content-Disposition", "X-Log-Offset", "Cache-Control")
_FORWARD_REQUEST_HEADERS = ("Content-Type", "Accept")


class SxwlAPIHandler(APIHandler):
    """An APIHandler that keeps the Content-Type a handler chose (problem+json, text, files)."""

    def finish(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("set_content_type", self._headers.get("Content-Type", "application/json"))
        return super().finish(*args, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        PlatformHandler.write_error(self, status_code, **kwargs)  # type: ignore[arg-type]


def local_identity() -> Identity:
    """The in-process platform's only user: whoever runs the server, as admin.

    Not the server's per-request user: token-authenticated requests get a fresh anonymous
    name each time, while the jobs belong to the person running this server.
    """
    return Identity(name=getpass.getuser(), admin=True)


class LocalIdentityHandler(SxwlAPIHandler):
    """Base of the in-process platform handlers: the server's user is the (admin) identity."""

    def current_identity(self) -> Identity:
        user = self.current_user
        if user is None:
            raise Problem(401, "authentication required: log in to this Jupyter server")
        return local_identity()


class ForwardHandler(SxwlAPIHandler):
    """Sends a lab call on to the platform service as the lab's owner, streaming the answer."""

    @property
    def platform_url(self) -> str:
        return self.settings["sxwl_platform_url"]  # type: ignore[no-any-return]

    async def _forward(self, path: str) -> None:
        if self.current_user is None:
            raise Problem(401, "authentication required: log in to this Jupyter server")
        query = urlencode(
            [(k, v.decode()) for k, vs in self.request.query_arguments.items() for v in vs]
        )
        url = f"{self.platform_url}api/v1/{path}" + (f"?{query}" if query else "")
        headers = {"Authorization": f"token {self.settings['sxwl_hub_token']}"}
        for name in _FORWARD_REQUEST_HEADERS:
            if name in self.request.headers:
                headers[name] = self.request.headers[name]
        started = False

        def on_header(line: str) -> None:
            nonlocal started
            line = line.strip()
            if line.startswith("HTTP/"):
                self.set_status(int(line.split()[1]))
                return
            if ":" in line:
                name, _, value = line.partition(":")
                if name.strip().title() in {h.title() for h in _FORWARD_RESPONSE_HEADERS}:
                    self.set_header(name.strip(), value.strip())

        def on_chunk(chunk: bytes) -> None:
            nonlocal started
            started = True
            try:
                self.write(chunk)
                # The write starts now; nothing to wait for inside a callback.
                self.flush()
            except StreamClosedError:
                pass

        follow = self.get_argument("follow", "") in ("1", "true")
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None
        request = HTTPRequest(
            url,
            method=self.request.method,
            headers=headers,
            body=body
            if body is not None
            else (b"" if self.request.method in ("POST", "PUT", "PATCH") else None),
            header_callback=on_header,
            streaming_callback=on_chunk,
            connect_timeout=10,
            request_timeout=24 * 3600 if follow else 600,
            allow_nonstandard_methods=True,
        )
        error: Any = None
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
            if response.code == 599:
                error = response.error
        except (HTTPClientError, OSError) as e:
            error = e
        if error is not None and not started:
            raise Problem(502, f"the platform service is not reachable: {error}")
        self.finish()

    async def get(self, path: str) -> None:
        await self._forward(path)

    async def post(self, path: str) -> None:
        await self._forward(path)

    async def put(self, path: str) -> None:
        await self._forward(path)

    async def patch(self, path: str) -> None:
        await self._forward(path)

    async def delete(self, path: str) -> None:
        await self._forward(path)


class CodeFromDirHandler(SxwlAPIHandler):
    """Packs a directory of the lab into a code package: ``{"path": "<relative to root>"}``."""

    async def post(self) -> None:
        if self.current_user is None:
            raise Problem(401, "authentication required: log in to this Jupyter server")
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise Problem.invalid("body", 'is not valid JSON; send {"path": "dir"}') from None
        rel = body.get("path", "") if isinstance(body, dict) else None
        if not isinstance(rel, str):
            raise Problem.invalid("path", "must be a directory path relative to the lab's root")
        root = Path(self.settings["server_root_dir"]).expanduser().resolve()
        target = (root / rel.strip("/")).resolve()
        if target != root and root not in target.parents:
            raise Problem.invalid("path", f"{rel!r} is outside the lab's root directory")
        if not target.is_dir():
            raise Problem.invalid("path", f"{rel!r} is not a directory")

        def pack() -> bytes:
            package = pack_directory(target)
            try:
                return package.file.read()
            finally:
                package.close()

        data = await asyncio.to_thread(pack)
        name = target.name or "code"
        uploader = self.settings["sxwl_upload_code"]
        status, answer = await uploader(self, name, data)
        self.set_status(status)
        self.set_header(
            "Content-Type", "application/json" if status < 400 else "application/problem+json"
        )
        self.finish(json.dumps(answer))


async def upload_via_hub(handler: APIHandler, name: str, data: bytes) -> tuple[int, Any]:
    """Upload packed code to the platform service as the lab's owner."""
    settings = handler.settings
    url = f"{settings['sxwl_platform_url']}api/v1/code-packages?{urlencode({'name': name})}"
    request = HTTPRequest(
        url,
        method="POST",
        headers={
            "Authorization": f"token {settings['sxwl_hub_token']}",
            "Content-Type": "application/gzip",
        },
        body=data,
        request_timeout=600,
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    if response.code == 599:
        raise Problem(502, f"the platform service is not reachable: {response.error}")
    return response.code, json.loads(response.body or b"{}")


async def upload_in_process(handler: APIHandler, name: str, data: bytes) -> tuple[int, Any]:
    """Hand packed code to the in-process platform."""
    platform = handler.settings["sxwl_platform"]
    identity = local_identity()
    fd, tmp = platform.jobs.new_upload()

    def spool() -> None:
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    try:
        await asyncio.to_thread(spool)
        return 201, await platform.jobs.add_code_package(identity, name, Path(tmp))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


async def resolve_mount(handler: Any, kind: str, name: str, version: int | None) -> dict[str, Any]:
    """Ask the platform for a read-only local copy of a dataset or model version."""
    settings = handler.settings
    if settings.get("sxwl_mode") == "hub":
        body = {"kind": kind, "name": name, "version": version}
        request = HTTPRequest(
            f"{settings['sxwl_platform_url']}api/v1/mounts/resolve",
            method="POST",
            headers={
                "Authorization": f"token {settings['sxwl_hub_token']}",
                "Content-Type": "application/json",
            },
            body=json.dumps(body),
            request_timeout=3600,
        )
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        if response.code == 599:
            raise Problem(502, f"the platform service is not reachable: {response.error}")
        answer = json.loads(response.body or b"{}")
        if response.code >= 400:
            raise Problem(
                response.code,
                answer.get("detail", "the platform refused the mount"),
                [(e["field"], e["message"]) for e in answer.get("errors", [])],
            )
        return answer  # type: ignore[no-any-return]
    platform = settings["sxwl_platform"]
    manager = platform.datasets if kind == "dataset" else platform.models
    info, path = await manager.materialise(local_identity(), name, version)
    return {**info, "path": str(path)}


class LabMountsHandler(SxwlAPIHandler):
    """Mounts of this lab (L2): list, add (``{"kind", "name", "version"}``) and remove."""

    def _check_user(self) -> None:
        if self.current_user is None:
            raise Problem(401, "authentication required: log in to this Jupyter server")

    async def get(self) -> None:
        self._check_user()
        self.finish(json.dumps({"mounts": list_mounts(), "root": str(mount_root())}))

    async def post(self) -> None:
        self._check_user()
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise Problem.invalid("body", "is not valid JSON") from None
        if not isinstance(body, dict):
            raise Problem.invalid("body", "must be a JSON object")
        kind, name, version = mount_request(body)
        info = await resolve_mount(self, kind, name, version)
        try:
            path = link(kind, info["name"], info["path"])
        except MountError as e:
            raise Problem.invalid("name", str(e), 409) from None
        self.set_status(201)
        self.finish(json.dumps({**info, "target": info["path"], "path": str(path)}))

    async def delete(self, kind: str, name: str) -> None:
        self._check_user()
        try:
            removed = unlink(kind, name)
        except MountError as e:
            raise Problem.invalid("name", str(e), 409) from None
        if not removed:
            raise Problem.not_found(f"mount {kind}/{name}")
        self.set_status(204)
        self.finish()


async def mount_at_start(app: Any, settings: dict[str, Any], wanted: str) -> None:
    """Mount what was chosen on the hub's spawn page (``SXWL_MOUNTS``, a JSON list)."""

    class _Holder:
        pass

    holder: Any = _Holder()
    holder.settings = settings
    try:
        items = json.loads(wanted)
    except ValueError:
        app.log.error("jupyter_sxwl: SXWL_MOUNTS is not JSON; nothing mounted")
        return
    for item in items if isinstance(items, list) else []:
        try:
            info = await resolve_mount(holder, item["kind"], item["name"], item.get("version"))
            path = link(item["kind"], info["name"], info["path"])
            app.log.info(
                "jupyter_sxwl: mounted %s %s v%s at %s",
                item["kind"],
                info["name"],
                info["version"],
                path,
            )
        except Exception as e:  # one bad mount must not stop the lab
            app.log.error("jupyter_sxwl: could not mount %s: %s", item, e)
