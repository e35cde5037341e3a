"""What one run of the fine-tune runner is told: ``RUN.json``, as :class:`RunConfig`.

The platform writes it (or passes it in ``SXWL_FINETUNE_CONFIG``); relative paths resolve
against ``$SXWL_MOUNT_ROOT``, where job mounts put ``datasets/<name>/data.jsonl`` and
``models/<name>/``. Unset directories fall back to the job's environment (``SXWL_MODEL_DIR``,
``SXWL_CHECKPOINT_DIR``, ``SXWL_METRICS_FILE``, ``SXWL_RESUME``). Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import FinetuneParams, check_sft_annotation
from .errors import FinetuneError

CONFIG_ENV = "SXWL_FINETUNE_CONFIG"


class DatasetRef(BaseModel):
    """One dataset version as the job sees it: its records are ``path`` (JSON Lines)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    version: int | None = None
    annotation_type: str = "instruction"
    path: str


class EvaluateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_samples: int | None = Field(None, ge=1)
    max_new_tokens: int | None = Field(None, ge=1, le=100_000)


class ExportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merge: bool = True


class RunConfig(BaseModel):
    """The whole of ``RUN.json``."""

    model_config = ConfigDict(extra="forbid")

    params: FinetuneParams = Field(default_factory=lambda: FinetuneParams.model_validate({}))
    model_dir: str
    adapter_dir: str | None = None
    datasets: list[DatasetRef] = Field(default_factory=list)
    eval_datasets: list[DatasetRef] = Field(default_factory=list)
    output_dir: str | None = None
    checkpoint_dir: str | None = None
    metrics_file: str | None = None
    resume: bool | None = None
    evaluate: EvaluateOptions = Field(default_factory=lambda: EvaluateOptions.model_validate({}))
    export: ExportOptions = Field(default_factory=lambda: ExportOptions.model_validate({}))
    lineage: dict[str, Any] = Field(default_factory=dict)


class ResolvedRun:
    """A :class:`RunConfig` with every path made absolute and every default filled in."""

    def __init__(self, config: RunConfig, env: Mapping[str, str]) -> None:
        self.config = config
        self.params = config.params
        root = Path(env.get("SXWL_MOUNT_ROOT") or ".")

        def under_root(p: str) -> Path:
            path = Path(p).expanduser()
            return path if path.is_absolute() else (root / path).resolve()

        self.model_dir = under_root(config.model_dir)
        self.adapter_dir = under_root(config.adapter_dir) if config.adapter_dir else None
        self.datasets = [
            d.model_copy(update={"path": str(under_root(d.path))}) for d in config.datasets
        ]
        self.eval_datasets = [
            d.model_copy(update={"path": str(under_root(d.path))}) for d in config.eval_datasets
        ]
        output = config.output_dir or env.get("SXWL_MODEL_DIR")
        self.output_dir = under_root(output) if output else None
        checkpoints = config.checkpoint_dir or env.get("SXWL_CHECKPOINT_DIR")
        self.checkpoint_dir = under_root(checkpoints) if checkpoints else self.output_dir
        metrics = config.metrics_file or env.get("SXWL_METRICS_FILE")
        self.metrics_file = under_root(metrics) if metrics else None
        self.resume = (
            config.resume if config.resume is not None else env.get("SXWL_RESUME", "") == "1"
        )

    def require_output_dir(self) -> Path:
        if self.output_dir is None:
            raise FinetuneError(
                "no output directory: set output_dir in the run configuration or SXWL_MODEL_DIR"
            )
        return self.output_dir

    def check_datasets(self, refs: list[DatasetRef], what: str) -> None:
        for i, ref in enumerate(refs):
            try:
                check_sft_annotation(ref.annotation_type)
            except ValueError as e:
                raise FinetuneError(f"{what}[{i}] ({ref.name}): {e}") from None
            if not Path(ref.path).is_file():
                raise FinetuneError(
                    f"{what}[{i}] ({ref.name}): no data file at {ref.path}; is the dataset mounted?"
                )


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "config"
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    return f"{loc}: {msg}{more}"


def load_run_config(path: str | None, env: Mapping[str, str] | None = None) -> ResolvedRun:
    """Read RUN.json from ``path``, else from ``$SXWL_FINETUNE_CONFIG``; validate and resolve."""
    env = os.environ if env is None else env
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise FinetuneError(f"cannot read the run configuration {path}: {e.strerror}") from None
        source = path
    elif env.get(CONFIG_ENV):
        text, source = env[CONFIG_ENV], CONFIG_ENV
    else:
        raise FinetuneError(
            f"no run configuration: give RUN.json as an argument or set {CONFIG_ENV}"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FinetuneError(f"{source} is not valid JSON: {e}") from None
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as e:
        raise FinetuneError(f"{source}: {_first_error(e)}") from None
    return ResolvedRun(config, env)
