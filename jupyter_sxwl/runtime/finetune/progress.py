"""What a run reports while it trains: metric points, log lines and TensorBoard events.

Only rank 0 reports. Metric points go one JSON object a line to the metrics file the platform
reads (``kind`` train, eval or done); log lines go to stdout every ``logging_steps``;
TensorBoard event files go to ``output_dir/runs/``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


class Reporter:
    """Writes points to the metrics file and TensorBoard, and log lines; a no-op off rank 0."""

    def __init__(
        self,
        *,
        enabled: bool,
        metrics_file: Path | None,
        tensorboard_dir: Path | None,
        logging_steps: int,
        stream: IO[str] | None = None,
    ) -> None:
        self.enabled = enabled
        self.logging_steps = logging_steps
        self.stream = stream or sys.stdout
        self._metrics: IO[str] | None = None
        self._writer: Any = None
        if not enabled:
            return
        if metrics_file is not None:
            metrics_file.parent.mkdir(parents=True, exist_ok=True)
            self._metrics = metrics_file.open("a", encoding="utf-8")
        if tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            tensorboard_dir.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(tensorboard_dir))

    def _point(self, point: dict[str, Any]) -> None:
        if self._metrics is not None:
            self._metrics.write(json.dumps(point, ensure_ascii=False) + "\n")
            self._metrics.flush()

    def log(self, message: str) -> None:
        if self.enabled:
            print(message, file=self.stream, flush=True)

    def train_step(self, point: dict[str, Any]) -> None:
        """One optimiser step's point (without ``kind``/``time``, added here)."""
        if not self.enabled:
            return
        point = {"kind": "train", **point, "time": now_iso()}
        self._point(point)
        step = point["step"]
        if self._writer is not None:
            for key, tag in (
                ("loss", "train/loss"),
                ("learning_rate", "train/learning_rate"),
                ("grad_norm", "train/grad_norm"),
                ("tokens_per_second", "train/tokens_per_second"),
                ("samples_per_second", "train/samples_per_second"),
                ("memory_mb", "train/memory_mb"),
                ("epoch", "train/epoch"),
            ):
                if point.get(key) is not None:
                    self._writer.add_scalar(tag, point[key], step)
        if step % self.logging_steps == 0 or step == point["total_steps"]:
            self.log(
                f"step {step}/{point['total_steps']}  epoch {point['epoch']:.2f}  "
                f"loss {point['loss']:.4f}  lr {point['learning_rate']:.3g}  "
                f"tokens/s {point['tokens_per_second']:.0f}  "
                f"memory {point['memory_mb']:.0f} MB  eta {format_duration(point['eta_seconds'])}"
            )

    def eval_step(self, step: int, eval_loss: float) -> None:
        if not self.enabled:
            return
        self._point({"kind": "eval", "step": step, "eval_loss": eval_loss, "time": now_iso()})
        if self._writer is not None:
            self._writer.add_scalar("eval/loss", eval_loss, step)
        self.log(f"step {step}: eval_loss {eval_loss:.4f}")

    def done(self, point: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._point({"kind": "done", **point, "time": now_iso()})
        self.log(
            f"done: {point['step']} steps in {format_duration(point['train_runtime'])}, "
            f"train_loss {point['train_loss']:.4f}, "
            f"{point['train_tokens_per_second']:.0f} tokens/s, "
            f"{point['train_samples_per_second']:.2f} samples/s, "
            f"peak memory {point['peak_memory_mb']:.0f} MB"
        )

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None


class Clock:
    """Wall time since training began (this run), for throughput and the ETA."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start
