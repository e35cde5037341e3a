"""What the model server is told: ``SERVE.json`` (or the JSON text in ``$SXWL_SERVE_CONFIG``).

``{"model_dir", "adapter_dir", "served_model_name", "host", "port", "max_batch_size",
"max_new_tokens", "template"}``: relative directories resolve against ``$SXWL_MOUNT_ROOT``
(where service mounts put ``models/<name>/``); ``port`` defaults to ``$SXWL_PORT``. Nothing
here imports torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ServeConfigError

CONFIG_ENV = "SXWL_SERVE_CONFIG"
PORT_ENV = "SXWL_PORT"


class ServeSettings(BaseModel):
    """The whole of ``SERVE.json``."""

    model_config = ConfigDict(extra="forbid")

    model_dir: str
    adapter_dir: str | None = None
    served_model_name: str | None = Field(None, min_length=1)
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535)
    max_batch_size: int = Field(8, ge=1, le=256)
    # The cap on max_tokens a request may ask for (and the default when it asks for none).
    max_new_tokens: int = Field(512, ge=1, le=1_000_000)
    template: str | None = None


@dataclass(frozen=True)
class ServeConfig:
    """Settings with every path absolute and every default filled in."""

    model_dir: Path
    adapter_dir: Path | None
    served_model_name: str
    host: str
    port: int
    max_batch_size: int
    max_new_tokens: int
    template: str | None


def resolve(settings: ServeSettings, env: Mapping[str, str]) -> ServeConfig:
    root = Path(env.get("SXWL_MOUNT_ROOT") or ".")

    def under_root(p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else (root / path).resolve()

    model_dir = under_root(settings.model_dir)
    adapter_dir = under_root(settings.adapter_dir) if settings.adapter_dir else None
    port = settings.port
    if port is None:
        raw = env.get(PORT_ENV)
        if not raw:
            raise ServeConfigError(f"port: not set; give port in the configuration or ${PORT_ENV}")
        try:
            port = int(raw)
        except ValueError:
            raise ServeConfigError(f"port: ${PORT_ENV}={raw!r} is not a number") from None
    # Named after the directory as given (a mount's name), not where a link leads.
    given = Path(settings.adapter_dir or settings.model_dir).expanduser()
    name = settings.served_model_name or given.name or model_dir.name
    return ServeConfig(
        model_dir=model_dir,
        adapter_dir=adapter_dir,
        served_model_name=name,
        host=settings.host,
        port=port,
        max_batch_size=settings.max_batch_size,
        max_new_tokens=settings.max_new_tokens,
        template=settings.template,
    )


def load_serve_config(path: str | None, env: Mapping[str, str] | None = None) -> ServeConfig:
    """Read SERVE.json (``path``, else ``$SXWL_SERVE_CONFIG``), check it, resolve it."""
    env = os.environ if env is None else env
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ServeConfigError(f"cannot read the configuration {path}: {e.strerror}") from None
    else:
        text = env.get(CONFIG_ENV, "")
        if not text:
            raise ServeConfigError(f"no configuration: pass SERVE.json or set ${CONFIG_ENV}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ServeConfigError(f"the configuration is not JSON: {e}") from None
    try:
        settings = ServeSettings.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "configuration"
        raise ServeConfigError(f"{field}: {first['msg']}") from None
    config = resolve(settings, env)
    if not config.model_dir.is_dir():
        raise ServeConfigError(f"model_dir: no model directory at {config.model_dir}")
    if (
        config.adapter_dir is not None
        and not (config.adapter_dir / "adapter_config.json").is_file()
    ):
        raise ServeConfigError(
            f"adapter_dir: no LoRA adapter at {config.adapter_dir} (adapter_config.json missing)"
        )
    return config
