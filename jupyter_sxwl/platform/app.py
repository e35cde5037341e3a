"""The platform as a JupyterHub service: ``python -m jupyter_sxwl.platform``.

Started by the hub (a managed service), it reads the usual JUPYTERHUB_* variables, serves the
REST API under ``$JUPYTERHUB_SERVICE_PREFIX/api/v1/`` and authenticates every call through the
hub: OAuth cookies for browsers, ``Authorization: token …`` for the server extension, SDK and CLI.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated, UserNotAllowed
from jupyterhub.utils import url_path_join
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler, authenticated
from traitlets import Bool, Integer, Unicode, default
from traitlets.config import Application as TraitletsApplication

from .. import __version__
from .auth import Identity
from .core import SxwlPlatform
from .errors import Problem
from .handlers import api_routes, gateway_routes


class HubAPIHandler(HubOAuthenticated, RequestHandler):
    """Identity from the hub, looked up without blocking the event loop."""

    _identity: Identity | None = None

    async def prepare(self) -> None:
        model = await self.hub_auth.get_user(self, sync=False)
        self._hub_auth_user_cache = None
        if model:
            try:
                self._hub_auth_user_cache = self.check_hub_user(model)
            except UserNotAllowed:
                raise Problem(
                    403,
                    f"{model.get('name')} may not use this service; an admin must grant the "
                    "scope access:services!service=sxwl",
                ) from None
            self._identity = Identity(name=model["name"], admin=bool(model.get("admin")))

    def get_current_user(self) -> Any:
        return getattr(self, "_hub_auth_user_cache", None)

    def current_identity(self) -> Identity:
        if self._identity is None:
            if self.request.headers.get("Authorization"):
                raise Problem(
                    401,
                    "Authorization: the token is not valid or has expired; create a new one on "
                    "the hub's token page (/hub/token)",
                    [("Authorization", "the token is not valid or has expired")],
                )
            raise Problem(
                401,
                "authentication required: send 'Authorization: token <JupyterHub API token>' "
                "or log in through the hub",
            )
        return self._identity


class HomeHandler(HubOAuthenticated, RequestHandler):
    """A landing page for browsers; logging in here goes through the hub's OAuth."""

    @authenticated
    def get(self) -> None:
        user = self.get_current_user()
        prefix = self.settings["sxwl_prefix"]
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            "<!doctype html><title>jupyter_sxwl</title>"
            f"<h1>jupyter_sxwl platform {__version__}</h1>"
            f"<p>Signed in as {user['name']}. The REST API is at "
            f"<a href='{prefix}api/v1/info'>{prefix}api/v1/</a> "
            f"(<a href='{prefix}api/v1/openapi.json'>openapi.json</a>).</p>"
        )


def make_app(platform: SxwlPlatform, prefix: str) -> Application:
    """The tornado application of the service, with every route under ``prefix``."""

    routes: list[Any] = api_routes(prefix, HubAPIHandler) + gateway_routes(prefix)
    platform.services.address_base = url_path_join(prefix, "endpoints/")
    routes += [
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
        (prefix + "?", HomeHandler),
    ]
    return Application(
        routes,
        sxwl_platform=platform,
        sxwl_prefix=prefix,
        sxwl_api_base=url_path_join(prefix, "api/v1/"),
        cookie_secret=os.urandom(32),
        xsrf_cookies=False,
    )


class SxwlPlatformApp(TraitletsApplication):
    """Runs the platform service."""

    name = "sxwl-platform"
    description = "jupyter_sxwl platform service (a JupyterHub service)"
    version = __version__
    classes = [SxwlPlatform]

    config_file = Unicode("", help="A Python config file (c.SxwlPlatform.… = …).").tag(config=True)
    ip = Unicode(help="Address to listen on (default: from JUPYTERHUB_SERVICE_URL).").tag(
        config=True
    )
    port = Integer(help="Port to listen on (default: from JUPYTERHUB_SERVICE_URL).").tag(
        config=True
    )
    prefix = Unicode(help="URL prefix (default: $JUPYTERHUB_SERVICE_PREFIX or /).").tag(config=True)
    stop_jobs_on_exit = Bool(
        False,
        help="""Stop every running job and service when the platform exits (the demo does
        this so Ctrl-C leaves no process behind). Default: leave them running; the next start
        re-attaches to them.""",
    ).tag(config=True)

    aliases = {
        "config": "SxwlPlatformApp.config_file",
        "ip": "SxwlPlatformApp.ip",
        "port": "SxwlPlatformApp.port",
        "log-level": "Application.log_level",
    }

    @default("ip")
    def _ip_default(self) -> str:
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        return (urlparse(url).hostname or "127.0.0.1") if url else "127.0.0.1"

    @default("port")
    def _port_default(self) -> int:
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        return (urlparse(url).port or 80) if url else 8090

    @default("prefix")
    def _prefix_default(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if self.config_file:
            self.load_config_file(self.config_file)
            # Command-line flags win over the file.
            self.update_config(self.cli_config)

    async def _serve(self) -> None:
        platform = SxwlPlatform(parent=self, log=self.log)
        platform.setup()
        platform.start()
        prefix = self.prefix if self.prefix.endswith("/") else self.prefix + "/"
        server = HTTPServer(make_app(platform, prefix), max_body_size=1 << 30, xheaders=True)
        server.listen(self.port, self.ip)
        self.log.info("jupyter_sxwl platform on http://%s:%s%s", self.ip, self.port, prefix)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # A hub-managed service inherits SIGINT as ignored; handle both explicitly.
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        self.log.info("shutting down")
        server.stop()
        if self.stop_jobs_on_exit:
            await platform.jobs.stop_all("the platform shut down")
        await platform.close(stop_services=self.stop_jobs_on_exit)

    def start(self) -> None:
        asyncio.run(self._serve())


def main(argv: list[str] | None = None) -> None:
    app = SxwlPlatformApp()
    app.initialize(argv if argv is not None else sys.argv[1:])
    app.start()
