"""The model repository, and resolving mounts of datasets and models."""

from __future__ import annotations

import asyncio
import tarfile
import threading
from typing import Any

from tornado.iostream import StreamClosedError

from ..payloads import mount_request
from .base import PlatformHandler
from .datasets import StreamingMixin


class ModelsHandler(PlatformHandler):
    async def get(self) -> None:
        self.write_json(self.platform.models.list_models(self.identity(), self.flag_arg("all")))

    async def post(self) -> None:
        self.write_json(self.platform.models.create(self.identity(), self.json_body()), 201)


class ImportSharedModelHandler(PlatformHandler):
    async def post(self) -> None:
        out = await self.platform.models.import_shared(self.identity(), self.json_body())
        self.write_json(out, 202)


class ModelHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.models.get(self.identity(), ref))

    async def patch(self, ref: str) -> None:
        self.write_json(self.platform.models.patch(self.identity(), ref, self.json_body()))

    async def delete(self, ref: str) -> None:
        await self.platform.models.delete(self.identity(), ref)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class ModelVersionsHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.models.versions(self.identity(), ref))

    async def post(self, ref: str) -> None:
        out = await self.platform.models.start_import(self.identity(), ref, self.json_body())
        self.write_json(out, 202)


class ModelVersionHandler(PlatformHandler):
    async def get(self, ref: str, number: str) -> None:
        self.write_json(self.platform.models.version(self.identity(), ref, int(number)))

    async def delete(self, ref: str, number: str) -> None:
        await self.platform.models.delete_version(self.identity(), ref, int(number))
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class ModelFilesHandler(PlatformHandler):
    async def get(self, ref: str, number: str) -> None:
        self.write_json(await self.platform.models.files(self.identity(), ref, int(number)))


class ModelFileHandler(StreamingMixin, PlatformHandler):
    async def get(self, ref: str, number: str, path: str) -> None:
        key, size = await self.platform.models.file_object(self.identity(), ref, int(number), path)
        await self.send_object(key, path.rsplit("/", 1)[-1], size, "application/octet-stream")


class _QueueWriter:
    """A file-like object a tar writer thread fills; the handler drains it (bounded)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=8)
        self.closed = threading.Event()

    def write(self, data: bytes) -> int:
        if self.closed.is_set():
            raise BrokenPipeError("the client went away")
        asyncio.run_coroutine_threadsafe(self.queue.put(bytes(data)), self.loop).result()
        return len(data)

    def flush(self) -> None:
        pass


class ModelArchiveHandler(PlatformHandler):
    async def get(self, ref: str, number: str) -> None:
        models = self.platform.models
        name, prefix, files = await models.archive_parts(self.identity(), ref, int(number))
        store = self.platform.store
        loop = asyncio.get_running_loop()
        out = _QueueWriter(loop)

        def produce() -> None:
            try:
                with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                    for f in files:
                        info = tarfile.TarInfo(f"{name}/{f['path']}")
                        info.size = int(f["size"])
                        info.mode = 0o644
                        with store.open_sync(prefix + f["path"]) as src:
                            tar.addfile(info, src)
            finally:
                asyncio.run_coroutine_threadsafe(out.queue.put(None), loop)

        self.set_header("Content-Type", "application/x-tar")  # type: ignore[attr-defined]
        self.set_header(  # type: ignore[attr-defined]
            "Content-Disposition", f'attachment; filename="{name}.tar"'
        )
        worker = asyncio.create_task(asyncio.to_thread(produce))
        try:
            while (chunk := await out.queue.get()) is not None:
                self.write(chunk)  # type: ignore[attr-defined]
                await self.flush()  # type: ignore[attr-defined]
        except StreamClosedError:
            out.closed.set()
            while not out.queue.empty():
                out.queue.get_nowait()
        finally:
            out.closed.set()
            while not worker.done():
                while not out.queue.empty():
                    out.queue.get_nowait()
                await asyncio.sleep(0.01)
        if not worker.cancelled() and worker.exception() is None:
            self.finish()  # type: ignore[attr-defined]


class ModelExportHandler(PlatformHandler):
    async def post(self, ref: str, number: str) -> None:
        out = await self.platform.models.export(self.identity(), ref, int(number), self.json_body())
        self.write_json(out, 202)


class ModelSharesHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.models.list_shares(self.identity(), ref))

    async def post(self, ref: str) -> None:
        self.write_json(self.platform.models.share(self.identity(), ref, self.json_body()), 201)


class MountResolveHandler(PlatformHandler):
    async def post(self) -> None:
        kind, name, version = mount_request(self.json_body())
        manager: Any = self.platform.datasets if kind == "dataset" else self.platform.models
        info, path = await manager.materialise(self.identity(), name, version)
        self.write_json({**info, "path": str(path)})
