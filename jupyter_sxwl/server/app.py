"""The Jupyter server extension: the lab's door to the platform."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Enum, Unicode, default

from ..platform.core import SxwlPlatform
from ..platform.handlers import api_routes, gateway_routes
from .handlers import (
    CodeFromDirHandler,
    ForwardHandler,
    LabMountsHandler,
    LocalIdentityHandler,
    mount_at_start,
    upload_in_process,
    upload_via_hub,
)


class SxwlServerExtension(ExtensionApp):
    """Serves ``/sxwl/api/v1/`` on the user's server: forwarded to the hub's platform service,
    or (without a hub) answered by a platform hosted in this process."""

    name = "jupyter_sxwl"
    classes = [SxwlPlatform]

    mode = Enum(
        ["auto", "hub", "local"],
        "auto",
        help="""hub: forward to the platform service at platform_url with the server's hub token.
        local: host the platform in this process, the local user being its admin.
        auto: hub when SXWL_PLATFORM_URL and JUPYTERHUB_API_TOKEN are set, else local.""",
    ).tag(config=True)

    platform_url = Unicode(
        help="Base URL of the platform service, e.g. http://127.0.0.1:8000/services/sxwl/."
    ).tag(config=True)

    @default("platform_url")
    def _platform_url_default(self) -> str:
        url = os.environ.get("SXWL_PLATFORM_URL", "")
        return url if not url or url.endswith("/") else url + "/"

    hub_token = Unicode(
        help="Token used to call the platform (default: $JUPYTERHUB_API_TOKEN)."
    ).tag(config=True)

    @default("hub_token")
    def _hub_token_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    _platform: SxwlPlatform | None = None
    _runtime_file: Path | None = None
    _mounting: Any = None

    @property
    def effective_mode(self) -> str:
        if self.mode != "auto":
            return str(self.mode)
        return "hub" if self.platform_url and self.hub_token else "local"

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        settings: dict[str, Any] = {"sxwl_mode": self.effective_mode}
        if self.effective_mode == "hub":
            settings.update(
                sxwl_platform_url=self.platform_url,
                sxwl_hub_token=self.hub_token,
                sxwl_upload_code=upload_via_hub,
            )
        else:
            platform = SxwlPlatform(parent=self, log=self.log)
            platform.setup()
            platform.services.address_base = self.serverapp.base_url + "sxwl/endpoints/"
            self._platform = platform
            settings.update(
                sxwl_platform=platform,
                sxwl_upload_code=upload_in_process,
                sxwl_api_base=self.serverapp.base_url + "sxwl/api/v1/",
            )
        self.settings.update(settings)
        self.log.info("jupyter_sxwl: %s mode", self.effective_mode)

    def initialize_handlers(self) -> None:
        extra: list[Any] = [
            (r"/sxwl/api/v1/code-packages/from-dir", CodeFromDirHandler),
            (r"/sxwl/lab/mounts", LabMountsHandler),
            (r"/sxwl/lab/mounts/(dataset|model)/([^/]+)", LabMountsHandler),
        ]
        if self.effective_mode == "hub":
            extra.append((r"/sxwl/api/v1/(.*)", ForwardHandler))
        else:
            extra += [
                (pattern, handler)
                for pattern, handler in api_routes("/sxwl/", LocalIdentityHandler)
            ]
            # The services' gateway (key-authenticated, like the hub's at /services/sxwl/).
            extra += gateway_routes("/sxwl/")
        self.handlers.extend(extra)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await super()._start_jupyter_server_extension(serverapp)
        if self._platform is not None:
            self._platform.start()
            self._write_runtime_file()
        wanted = os.environ.get("SXWL_MOUNTS", "")
        if wanted.strip():
            self._mounting = asyncio.ensure_future(mount_at_start(self, self.settings, wanted))

    def _write_runtime_file(self) -> None:
        """Tell kernels of this server where the in-process platform is (for the SDK)."""
        assert self.serverapp is not None
        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(parents=True, exist_ok=True)
        path = runtime / f"jupyter_sxwl-{os.getpid()}.json"
        info = {
            "url": self.serverapp.connection_url + "sxwl/api/v1/",
            "token": self.serverapp.identity_provider.token,
            "pid": os.getpid(),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        self._runtime_file = path

    async def stop_extension(self) -> None:
        if self._runtime_file is not None:
            self._runtime_file.unlink(missing_ok=True)
        if self._platform is not None:
            await self._platform.close()
