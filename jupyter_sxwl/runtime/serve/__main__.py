"""``python -m jupyter_sxwl.runtime.serve [SERVE.json]``: serve a model over the OpenAI API.

The server listens at once (``/health`` answers 503 while the model loads), loads the model in
a thread, starts the engine and logs ``ready``. torch is imported only by the loading thread.
A configuration a user can fix ends with exit code 2 and one line ``error: …`` on stderr.

With ``$SXWL_SERVE_STANDBY`` set to a secret, the server is a standby: it imports the libraries
and loads the tokenizer, then waits, with no weights and no device, until a ``POST /sxwl/wake``
carrying that secret in ``X-Sxwl-Wake`` (the platform, waking a sleeping service). Loading then
takes well under a second for a small model instead of the seconds of importing torch.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from .config import load_serve_config
from .errors import ServeConfigError

if TYPE_CHECKING:
    from .engine import Engine
    from .loading import Prepared, ServedModel

STANDBY_ENV = "SXWL_SERVE_STANDBY"

log = logging.getLogger("jupyter_sxwl.serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jupyter_sxwl.runtime.serve",
        description="Serve a causal language model (merged, or a base with a LoRA adapter) "
        "over the OpenAI HTTP API, batching concurrent requests. The configuration is "
        "SERVE.json, or the JSON text in $SXWL_SERVE_CONFIG.",
    )
    parser.add_argument("config", nargs="?", help="SERVE.json (default: $SXWL_SERVE_CONFIG)")
    return parser


async def serve(config_path: str | None) -> int:
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from .app import ServerState, make_app

    started = time.monotonic()
    config = load_serve_config(config_path)
    state = ServerState(config, wake_secret=os.environ.pop(STANDBY_ENV, ""))
    try:
        sockets = bind_sockets(config.port, config.host)
    except OSError as e:
        raise ServeConfigError(f"port: cannot listen on {config.host}:{config.port}: {e}") from None
    server = HTTPServer(make_app(state), xheaders=True)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    if state.wake_secret:
        log.info("standby on http://%s:%d: preparing %s", config.host, port, config.model_dir)
    else:
        log.info("listening on http://%s:%d (loading %s)", config.host, port, config.model_dir)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def prepare() -> Prepared:
        from .loading import prepare

        return prepare(config)

    def load(prepared: Prepared | None) -> tuple[ServedModel, Engine]:
        from .engine import Engine
        from .loading import load_served_model

        served = load_served_model(config, prepared)
        engine = Engine(
            served.model,
            served.tokenizer,
            served.stop_ids,
            config.max_batch_size,
            served.tokenizer_lock,
        )
        engine.start()
        return served, engine

    waiter = asyncio.ensure_future(stop.wait())

    async def until_stopped(work: asyncio.Future[Any]) -> bool:
        """Wait for ``work`` or a stop signal; True when the work finished first."""
        await asyncio.wait([work, waiter], return_when=asyncio.FIRST_COMPLETED)
        return work.done()

    prepared: Prepared | None = None
    if state.wake_secret:
        preparing = loop.run_in_executor(None, prepare)

        def report(done: asyncio.Future[Prepared], began: float = started) -> None:
            if not done.cancelled() and done.exception() is None:
                log.info("standby: prepared in %.1f s", time.monotonic() - began)

        preparing.add_done_callback(report)
        woken = asyncio.ensure_future(state.woken.wait())
        if not await until_stopped(woken):
            server.stop()
            return 0
        log.info("woken: loading the model")
        started = time.monotonic()
        if not await until_stopped(preparing):
            server.stop()
            return 0
        prepared = preparing.result()
    loading = loop.run_in_executor(None, load, prepared)
    if not await until_stopped(loading):
        server.stop()
        return 0
    served, engine = loading.result()
    state.served, state.engine = served, engine
    log.info(
        "ready: serving %s on http://%s:%d (%s, %.1f s)",
        config.served_model_name,
        config.host,
        port,
        served.device_kind,
        time.monotonic() - started,
    )
    await waiter
    log.info("stopping")
    server.stop()
    await server.close_all_connections()
    engine.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Everything is local: never let the Hugging Face libraries reach for a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    try:
        return asyncio.run(serve(args.config))
    except ServeConfigError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
