"""Fine-tunes: create (form or LLaMA-Factory YAML), progress, stop/resume, evaluate, export."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tornado.iostream import StreamClosedError

from ..errors import Problem
from .base import PlatformHandler


async def send_file(handler: Any, path: Path, filename: str, content_type: str) -> None:
    """Stream a local file as an attachment, a megabyte at a time, off the event loop."""
    handler.set_header("Content-Type", content_type)
    handler.set_header("Content-Length", str(path.stat().st_size))
    handler.set_header("Content-Disposition", f'attachment; filename="{filename}"')
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, 1 << 20):
            handler.write(chunk)
            try:
                await handler.flush()
            except StreamClosedError:
                return
    handler.finish()


class FinetunesHandler(PlatformHandler):
    async def get(self) -> None:
        identity = self.identity()
        limit = self.int_arg("limit", 200) or 200
        if not 1 <= limit <= 1000:
            raise Problem.invalid("limit", "must be between 1 and 1000")
        offset = max(self.int_arg("offset", 0) or 0, 0)
        self.write_json(
            await self.platform.finetunes.list_finetunes(
                identity, self.flag_arg("all"), limit, offset
            )
        )

    async def post(self) -> None:
        identity = self.identity()
        self.write_json(await self.platform.finetunes.create(identity, self.json_body()), 201)


class FinetuneDefaultsHandler(PlatformHandler):
    async def get(self) -> None:
        self.identity()
        self.write_json(self.platform.finetunes.defaults())


class FinetuneYamlHandler(PlatformHandler):
    async def post(self) -> None:
        self.identity()
        self.write_json(self.platform.finetunes.parse_yaml(self.json_body()))


class FinetuneHandler(PlatformHandler):
    async def get(self, ft_id: str) -> None:
        self.write_json(await self.platform.finetunes.get(self.identity(), ft_id))

    async def delete(self, ft_id: str) -> None:
        await self.platform.finetunes.delete(self.identity(), ft_id)
        self.set_status(204)  # type: ignore[attr-defined]
        self.finish()  # type: ignore[attr-defined]


class FinetuneActionHandler(PlatformHandler):
    async def post(self, ft_id: str, action: str) -> None:
        finetunes = self.platform.finetunes
        identity = self.identity()
        if action == "stop":
            self.write_json(await finetunes.stop(identity, ft_id))
        else:
            self.write_json(await finetunes.resume(identity, ft_id))


class FinetuneMetricsHandler(PlatformHandler):
    async def get(self, ft_id: str) -> None:
        identity = self.identity()
        limit = self.int_arg("limit", 10_000) or 10_000
        if not 1 <= limit <= 10_000:
            raise Problem.invalid("limit", "must be between 1 and 10000")
        after = self.int_arg("after")
        self.write_json(await self.platform.finetunes.metrics(identity, ft_id, after, limit))


class FinetuneEvaluateHandler(PlatformHandler):
    async def post(self, ft_id: str) -> None:
        identity = self.identity()
        out = await self.platform.finetunes.evaluate(identity, ft_id, self.json_body())
        self.write_json(out, 202)


class FinetuneEvaluationHandler(PlatformHandler):
    async def get(self, ft_id: str, ev_id: str) -> None:
        self.write_json(self.platform.finetunes.evaluation(self.identity(), ft_id, ev_id))


class FinetunePredictionsHandler(PlatformHandler):
    async def get(self, ft_id: str, ev_id: str) -> None:
        path = self.platform.finetunes.predictions_file(self.identity(), ft_id, ev_id)
        await send_file(self, path, f"{ev_id}-predictions.jsonl", "application/jsonl")


class FinetuneExportHandler(PlatformHandler):
    async def post(self, ft_id: str) -> None:
        identity = self.identity()
        out = await self.platform.finetunes.export(identity, ft_id, self.json_body())
        self.write_json(out, 202)


class FinetuneTensorboardHandler(PlatformHandler):
    async def get(self, ft_id: str) -> None:
        path = await self.platform.finetunes.tensorboard_archive(self.identity(), ft_id)
        try:
            await send_file(self, path, f"{ft_id}-tensorboard.tar", "application/x-tar")
        finally:
            path.unlink(missing_ok=True)
