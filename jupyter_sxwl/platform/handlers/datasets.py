"""Uploads, datasets (import, annotation, publish, versions, acceleration, sharing)."""

from __future__ import annotations

from typing import Any

from tornado.iostream import StreamClosedError

from ..errors import Problem
from ..uploads import MAX_CHUNK
from .base import PlatformHandler


class StreamingMixin:
    """Sends an object from the object store as a download, chunk by chunk."""

    async def send_object(self, key: str, filename: str, size: int, ctype: str) -> None:
        h: Any = self
        reader = await h.platform.store.open_reader(key)
        h.set_header("Content-Type", ctype)
        h.set_header("Content-Length", str(size))
        h.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        async with reader:
            while chunk := await reader.read(1 << 20):
                h.write(chunk)
                try:
                    await h.flush()
                except StreamClosedError:
                    return
        h.finish()


class UploadsHandler(PlatformHandler):
    async def post(self) -> None:
        self.write_json(self.platform.uploads.create(self.identity(), self.json_body()), 201)


class UploadHandler(PlatformHandler):
    async def get(self, upload_id: str) -> None:
        self.write_json(self.platform.uploads.get(self.identity(), upload_id))

    async def put(self, upload_id: str) -> None:
        identity = self.identity()
        body: bytes = self.request.body or b""
        if len(body) > MAX_CHUNK:
            raise Problem.invalid("body", f"a chunk may be at most {MAX_CHUNK >> 20} MiB", 413)
        offset = self.int_arg("offset")
        self.write_json(await self.platform.uploads.put_chunk(identity, upload_id, offset, body))

    async def delete(self, upload_id: str) -> None:
        self.platform.uploads.delete(self.identity(), upload_id)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class DatasetsHandler(PlatformHandler):
    async def get(self) -> None:
        self.write_json(self.platform.datasets.list_datasets(self.identity(), self.flag_arg("all")))

    async def post(self) -> None:
        self.write_json(self.platform.datasets.create(self.identity(), self.json_body()), 201)


class SharedDatasetsHandler(PlatformHandler):
    async def post(self) -> None:
        self.write_json(self.platform.datasets.add_shared(self.identity(), self.json_body()), 201)


class DatasetHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.datasets.get(self.identity(), ref))

    async def patch(self, ref: str) -> None:
        self.write_json(self.platform.datasets.patch(self.identity(), ref, self.json_body()))

    async def delete(self, ref: str) -> None:
        await self.platform.datasets.delete(self.identity(), ref)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class DatasetSharedHandler(PlatformHandler):
    async def delete(self, ref: str) -> None:
        self.platform.datasets.remove_shared(self.identity(), ref)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class DatasetImportsHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.datasets.list_imports(self.identity(), ref))

    async def post(self, ref: str) -> None:
        out = await self.platform.datasets.start_import(self.identity(), ref, self.json_body())
        self.write_json(out, 202)


class DatasetImportHandler(PlatformHandler):
    async def get(self, ref: str, import_id: str) -> None:
        self.write_json(self.platform.datasets.get_import(self.identity(), ref, import_id))


class RecordsHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(
            self.platform.datasets.records(
                self.identity(),
                ref,
                offset=self.int_arg("offset", 0) or 0,
                limit=self.int_arg("limit", 20) or 20,
                only=self.get_argument("only", None),  # type: ignore[attr-defined]
            )
        )

    async def post(self, ref: str) -> None:
        self.write_json(
            self.platform.datasets.add_record(self.identity(), ref, self.json_body()), 201
        )


class RecordHandler(PlatformHandler):
    async def get(self, ref: str, rid: str) -> None:
        self.write_json(self.platform.datasets.record(self.identity(), ref, rid))

    async def put(self, ref: str, rid: str) -> None:
        body = self.json_body()
        self.write_json(self.platform.datasets.put_record(self.identity(), ref, rid, body))

    async def delete(self, ref: str, rid: str) -> None:
        self.platform.datasets.delete_record(self.identity(), ref, rid)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class RecordRestoreHandler(PlatformHandler):
    async def post(self, ref: str, rid: str) -> None:
        body = self.json_body()
        self.write_json(self.platform.datasets.restore_record(self.identity(), ref, rid, body))


class PublishHandler(PlatformHandler):
    async def post(self, ref: str) -> None:
        out = await self.platform.datasets.publish(self.identity(), ref, self.json_body())
        self.write_json(out, 202)


class DatasetVersionsHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.datasets.versions(self.identity(), ref))


class DatasetVersionHandler(PlatformHandler):
    async def get(self, ref: str, number: str) -> None:
        self.write_json(self.platform.datasets.version(self.identity(), ref, int(number)))


class DatasetVersionDataHandler(StreamingMixin, PlatformHandler):
    async def get(self, ref: str, number: str) -> None:
        key, name, size, _ = self.platform.datasets.version_object(
            self.identity(), ref, int(number)
        )
        await self.send_object(key, name, size, "application/jsonl")


class AccelerateHandler(PlatformHandler):
    async def post(self, ref: str, number: str) -> None:
        out = await self.platform.datasets.accelerate(self.identity(), ref, int(number))
        self.write_json(out, 202)

    async def delete(self, ref: str, number: str) -> None:
        out = await self.platform.datasets.drop_acceleration(self.identity(), ref, int(number))
        self.write_json(out)


class DatasetSharesHandler(PlatformHandler):
    async def get(self, ref: str) -> None:
        self.write_json(self.platform.datasets.list_shares(self.identity(), ref))

    async def post(self, ref: str) -> None:
        self.write_json(self.platform.datasets.share(self.identity(), ref, self.json_body()), 201)


class ShareHandler(PlatformHandler):
    async def delete(self, share_id: str) -> None:
        self.write_json(self.platform.shares.revoke(self.identity(), share_id))


class OperationHandler(PlatformHandler):
    async def get(self, op_id: str) -> None:
        self.write_json(self.platform.work.get(self.identity(), op_id))
