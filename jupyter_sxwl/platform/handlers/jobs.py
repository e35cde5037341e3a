"""Jobs, logs, usage, metrics, artifacts and code packages."""

from __future__ import annotations

import asyncio
import mimetypes
import os
from pathlib import Path
from typing import Any

from tornado.iostream import StreamClosedError

from ..errors import Problem
from .base import PlatformHandler


class JobsHandler(PlatformHandler):
    async def get(self) -> None:
        identity = self.identity()
        limit = self.int_arg("limit", 500) or 500
        offset = self.int_arg("offset", 0) or 0
        if not 1 <= limit <= 5000:
            raise Problem.invalid("limit", "must be between 1 and 5000")
        self.write_json(
            self.platform.jobs.list_jobs(
                identity,
                status=self.get_argument("status", None),  # type: ignore[attr-defined]
                q=self.get_argument("q", None),  # type: ignore[attr-defined]
                all_users=self.flag_arg("all"),
                limit=limit,
                offset=max(offset, 0),
            )
        )

    async def post(self) -> None:
        identity = self.identity()
        self.write_json(await self.platform.jobs.submit(identity, self.json_body()), 201)


class JobHandler(PlatformHandler):
    async def get(self, job_id: str) -> None:
        self.write_json(self.platform.jobs.get(self.identity(), job_id))

    async def patch(self, job_id: str) -> None:
        identity = self.identity()
        self.write_json(self.platform.jobs.patch(identity, job_id, self.json_body()))

    async def delete(self, job_id: str) -> None:
        await self.platform.jobs.delete(self.identity(), job_id)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class JobActionHandler(PlatformHandler):
    async def post(self, job_id: str, action: str) -> None:
        identity = self.identity()
        jobs = self.platform.jobs
        if action == "stop":
            self.write_json(await jobs.stop(identity, job_id))
        else:
            self.write_json(await jobs.restart(identity, job_id, self.json_body()))


class JobLogsHandler(PlatformHandler):
    async def get(self, job_id: str) -> None:
        identity = self.identity()
        jobs = self.platform.jobs
        attempt = self.int_arg("attempt")
        offset = self.int_arg("offset", 0) or 0
        query = self.get_argument("q", None)  # type: ignore[attr-defined]
        if query is not None:
            self.write_json(
                await jobs.search_log(identity, job_id, attempt, query, self.flag_arg("regex"))
            )
            return
        if not self.flag_arg("follow"):
            data, next_offset = await jobs.read_log(identity, job_id, attempt, offset)
            self.set_header("Content-Type", "text/plain; charset=utf-8")  # type: ignore[attr-defined]
            self.set_header("X-Log-Offset", str(next_offset))  # type: ignore[attr-defined]
            self.finish(data)  # type: ignore[attr-defined]
            return
        stream = jobs.follow_log(identity, job_id, attempt, offset)
        first = await anext(stream, None)  # a 404 must be raised before headers go out
        self.set_header("Content-Type", "text/plain; charset=utf-8")  # type: ignore[attr-defined]
        self.set_header("Cache-Control", "no-cache")  # type: ignore[attr-defined]
        self.set_header("X-Accel-Buffering", "no")  # type: ignore[attr-defined]
        try:
            if first:
                self.write(first)  # type: ignore[attr-defined]
            await self.flush()  # type: ignore[attr-defined]
            async for chunk in stream:
                self.write(chunk)  # type: ignore[attr-defined]
                await self.flush()  # type: ignore[attr-defined]
        except StreamClosedError:
            return  # the client went away
        finally:
            await stream.aclose()
        self.finish()  # type: ignore[attr-defined]


class JobUsageHandler(PlatformHandler):
    async def get(self, job_id: str) -> None:
        identity = self.identity()
        self.write_json(await self.platform.jobs.usage(identity, job_id, self.int_arg("attempt")))


class JobMetricsHandler(PlatformHandler):
    async def get(self, job_id: str) -> None:
        self.write_json(await self.platform.jobs.metrics(self.identity(), job_id))


class ArtifactsHandler(PlatformHandler):
    async def get(self, job_id: str) -> None:
        self.write_json(await self.platform.jobs.artifacts(self.identity(), job_id))


class ArtifactFileHandler(PlatformHandler):
    async def get(self, job_id: str, path: str) -> None:
        target = self.platform.jobs.artifact_file(self.identity(), job_id, path)
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self.set_header("Content-Type", ctype)  # type: ignore[attr-defined]
        self.set_header("Content-Length", str(target.stat().st_size))  # type: ignore[attr-defined]
        self.set_header(  # type: ignore[attr-defined]
            "Content-Disposition", f'attachment; filename="{target.name}"'
        )
        with target.open("rb") as f:
            while True:
                chunk = await asyncio.to_thread(f.read, 1 << 20)
                if not chunk:
                    break
                self.write(chunk)  # type: ignore[attr-defined]
                try:
                    await self.flush()  # type: ignore[attr-defined]
                except StreamClosedError:
                    return
        self.finish()  # type: ignore[attr-defined]


class CodePackagesHandler(PlatformHandler):
    async def post(self) -> None:
        identity = self.identity()
        jobs = self.platform.jobs
        body: bytes = self.request.body or b""
        if not body:
            raise Problem.invalid("body", "is empty; send a .tar.gz or .zip archive")
        name = self.get_argument("name", "") or ""  # type: ignore[attr-defined]
        fd, tmp = jobs.new_upload()

        def spool() -> None:
            with os.fdopen(fd, "wb") as f:
                f.write(body)

        try:
            await asyncio.to_thread(spool)
            out: dict[str, Any] = await jobs.add_code_package(identity, name, Path(tmp))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.write_json(out, 201)
