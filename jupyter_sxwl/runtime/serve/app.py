"""The HTTP side: tornado handlers for the OpenAI API over the engine.

Handlers check the request (:mod:`.protocol`), encode the prompt off the event loop, hand a
:class:`~.engine.Sequence` to the engine and relay its events: one JSON answer, or server-sent
events (``data: {...}`` chunks ending with ``data: [DONE]``) for ``stream: true``. A client
that disconnects cancels its sequence, which frees its place in the batch at the next step.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tornado import web
from tornado.iostream import StreamClosedError
from tornado.log import access_log

from . import protocol
from .config import ServeConfig
from .engine import Delta, Event, Failed, Finished, Sequence
from .errors import RequestError

if TYPE_CHECKING:
    from .engine import Engine
    from .loading import ServedModel


@dataclass
class ServerState:
    """What the handlers share: the configuration, and the model once it is loaded."""

    config: ServeConfig
    served: ServedModel | None = None
    engine: Engine | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    # A standby server waits for a wake carrying this secret before it loads the model.
    wake_secret: str = ""
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready(self) -> bool:
        return self.engine is not None


def token_budget(
    prompt_len: int,
    sampling: protocol.SamplingParams,
    cap: int,
    context: int,
    prompt_param: str = "prompt",
) -> int:
    """How many tokens the answer may have: what was asked, within the cap and the context."""
    room = context - prompt_len
    if room < 1:
        raise RequestError(
            f"the prompt has {prompt_len} tokens and the model's context is {context}: shorten it",
            param=prompt_param,
            code="context_length_exceeded",
        )
    if sampling.max_tokens is None:
        return min(cap, room)
    if sampling.max_tokens > room:
        raise RequestError(
            f"max_tokens={sampling.max_tokens} with a {prompt_len}-token prompt exceeds the "
            f"model's context of {context} tokens: ask for at most {room}",
            param="max_tokens",
            code="context_length_exceeded",
        )
    return sampling.max_tokens


class BaseHandler(web.RequestHandler):
    @property
    def state(self) -> ServerState:
        return self.settings["serve_state"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")

    def send_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(body))

    def send_request_error(self, error: RequestError) -> None:
        self.send_json(error.body(), error.status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        kind = "invalid_request_error" if status_code < 500 else "server_error"
        message = self._reason
        if status_code == 404:
            message = f"no such endpoint: {self.request.method} {self.request.path}"
        elif status_code == 405:
            message = f"{self.request.method} is not allowed on {self.request.path}"
        self.finish(json.dumps(RequestError(message, status=status_code, kind=kind).body()))

    def check_ready(self) -> bool:
        if self.state.ready:
            return True
        self.send_request_error(
            RequestError(
                "the model is still loading: retry in a moment",
                status=503,
                kind="server_error",
                code="model_loading",
            )
        )
        return False


class HealthHandler(BaseHandler):
    def get(self) -> None:
        if self.state.ready:
            self.send_json({"status": "ok"})
        elif self.state.wake_secret and not self.state.woken.is_set():
            self.send_json({"status": "standby"}, 503)
        else:
            self.send_json({"status": "loading"}, 503)


class WakeHandler(BaseHandler):
    """``POST /sxwl/wake``: a standby server starts loading its model (not part of the
    OpenAI API; only whoever started the server knows the secret)."""

    def post(self) -> None:
        given = self.request.headers.get("X-Sxwl-Wake", "")
        secret = self.state.wake_secret
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            raise web.HTTPError(403, reason="this server is not waiting for that wake")
        self.state.woken.set()
        self.send_json({"status": "ready" if self.state.ready else "loading"}, 202)


class ModelsHandler(BaseHandler):
    def get(self) -> None:
        self.send_json(
            protocol.models_list(self.state.config.served_model_name, self.state.created)
        )


class StatsHandler(BaseHandler):
    """How much the engine batched (not part of the OpenAI API)."""

    def get(self) -> None:
        engine = self.state.engine
        body: dict[str, Any] = {"status": "ok" if engine else "loading"}
        if engine is not None and self.state.served is not None:
            body.update(engine.snapshot(), device=self.state.served.device_kind)
        self.send_json(body)


class GenerateHandler(BaseHandler, metaclass=ABCMeta):
    """What chat and text completions share: submit, relay events, handle disconnects.

    Each endpoint says how its request becomes prompt tokens and how its answers look.
    """

    _seq: Sequence | None = None
    _queue: asyncio.Queue[Event] | None = None
    _gone = False
    # The request field a too-long prompt is blamed on.
    prompt_param = "prompt"

    def on_connection_close(self) -> None:
        self._gone = True
        if self._seq is not None:
            self._seq.cancel()
        if self._queue is not None:
            self._queue.put_nowait(Failed("the client disconnected"))

    @abstractmethod
    async def encode(self, data: dict[str, Any]) -> tuple[Any, list[int]]:
        """The checked request and its prompt token ids (raises ``RequestError``)."""

    def chunk_start(self, rid: str) -> dict[str, Any] | None:
        return None

    @abstractmethod
    def chunk(self, rid: str, text: str) -> dict[str, Any]:
        """A stream chunk carrying ``text``."""

    @abstractmethod
    def chunk_end(self, rid: str, done: Finished) -> dict[str, Any]:
        """The last stream chunk: finish reason and usage."""

    @abstractmethod
    def answer(self, rid: str, text: str, done: Finished) -> dict[str, Any]:
        """The whole answer of a request that did not stream."""

    id_prefix = "cmpl"

    async def post(self) -> None:
        if not self.check_ready():
            return
        state = self.state
        assert state.engine is not None and state.served is not None
        try:
            data = protocol.parse_json(self.request.body)
            request, ids = await self.encode(data)
            max_tokens = token_budget(
                len(ids),
                request.sampling,
                state.config.max_new_tokens,
                state.served.context_len,
                self.prompt_param,
            )
        except RequestError as e:
            self.send_request_error(e)
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue()

        def emit(event: Event) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        self._queue = queue
        self._seq = Sequence(ids, request.sampling, max_tokens, emit)
        state.engine.submit(self._seq)
        rid = protocol.new_id(self.id_prefix)
        if request.stream:
            await self.relay_stream(rid, queue)
        else:
            await self.relay_answer(rid, queue)

    async def relay_answer(self, rid: str, queue: asyncio.Queue[Event]) -> None:
        parts = []
        while True:
            event = await queue.get()
            if isinstance(event, Delta):
                parts.append(event.text)
            elif isinstance(event, Finished):
                self.send_json(self.answer(rid, "".join(parts), event))
                return
            else:
                if self._gone:
                    return
                self.send_request_error(
                    RequestError(event.message, status=500, kind="server_error")
                )
                return

    async def relay_stream(self, rid: str, queue: asyncio.Queue[Event]) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        try:
            start = self.chunk_start(rid)
            if start is not None:
                await self.send_event(start)
            while True:
                event = await queue.get()
                if isinstance(event, Delta):
                    await self.send_event(self.chunk(rid, event.text))
                elif isinstance(event, Finished):
                    await self.send_event(self.chunk_end(rid, event))
                    break
                else:
                    error = RequestError(event.message, status=500, kind="server_error")
                    await self.send_event(error.body())
                    break
            self.write("data: [DONE]\n\n")
            self.finish()
        except StreamClosedError:
            if self._seq is not None:
                self._seq.cancel()

    async def send_event(self, body: dict[str, Any]) -> None:
        self.write(f"data: {json.dumps(body)}\n\n")
        await self.flush()


class ChatCompletionsHandler(GenerateHandler):
    id_prefix = "chatcmpl"
    prompt_param = "messages"

    async def encode(self, data: dict[str, Any]) -> tuple[Any, list[int]]:
        state = self.state
        assert state.served is not None
        request = protocol.parse_chat(
            data, state.config.served_model_name, state.config.max_new_tokens
        )
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(None, state.served.encode_chat, request.messages)
        return request, ids

    def chunk_start(self, rid: str) -> dict[str, Any]:
        return protocol.chat_chunk(
            rid, self.state.config.served_model_name, {"role": "assistant", "content": ""}
        )

    def chunk(self, rid: str, text: str) -> dict[str, Any]:
        return protocol.chat_chunk(rid, self.state.config.served_model_name, {"content": text})

    def chunk_end(self, rid: str, done: Finished) -> dict[str, Any]:
        usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
        return protocol.chat_chunk(rid, self.state.config.served_model_name, {}, done.reason, usage)

    def answer(self, rid: str, text: str, done: Finished) -> dict[str, Any]:
        return protocol.chat_completion(
            rid,
            self.state.config.served_model_name,
            text,
            done.reason,
            done.prompt_tokens,
            done.completion_tokens,
        )


class CompletionsHandler(GenerateHandler):
    async def encode(self, data: dict[str, Any]) -> tuple[Any, list[int]]:
        state = self.state
        assert state.served is not None
        request = protocol.parse_completion(
            data, state.config.served_model_name, state.config.max_new_tokens
        )
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(None, state.served.encode_text, request.prompt)
        return request, ids

    def chunk(self, rid: str, text: str) -> dict[str, Any]:
        return protocol.completion(rid, self.state.config.served_model_name, text, None)

    def chunk_end(self, rid: str, done: Finished) -> dict[str, Any]:
        usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
        return protocol.completion(rid, self.state.config.served_model_name, "", done.reason, usage)

    def answer(self, rid: str, text: str, done: Finished) -> dict[str, Any]:
        usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
        return protocol.completion(
            rid, self.state.config.served_model_name, text, done.reason, usage
        )


class NotFoundHandler(BaseHandler):
    def prepare(self) -> None:
        raise web.HTTPError(404)


def log_request(handler: web.RequestHandler) -> None:
    """One line per request, but none for health checks (polled while the model loads)."""
    status = handler.get_status()
    if handler.request.path == "/health":
        return
    level = logging.INFO if status < 500 else logging.WARNING
    ms = 1000.0 * handler.request.request_time()
    access_log.log(level, "%d %s %.1f ms", status, handler._request_summary(), ms)


def make_app(state: ServerState) -> web.Application:
    return web.Application(
        [
            (r"/health", HealthHandler),
            (r"/v1/models", ModelsHandler),
            (r"/v1/chat/completions", ChatCompletionsHandler),
            (r"/v1/completions", CompletionsHandler),
            (r"/stats", StatsHandler),
            (r"/sxwl/wake", WakeHandler),
        ],
        default_handler_class=NotFoundHandler,
        log_function=log_request,
        serve_state=state,
    )
