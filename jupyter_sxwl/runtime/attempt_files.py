"""The files of one attempt folder, shared by the local backend and the job supervisor.

The supervisor (``runtime/launcher.py``) writes them while the job runs; the backend
(``backends/local.py``) reads them, from any platform process, also after a restart. Besides
the files named in ``backends/base.py`` (``log.txt``, ``status.json``, ``usage.jsonl``) the
local backend keeps::

    request.json      the LaunchRequest the supervisor runs
    launcher.log      the supervisor's own stdout/stderr (its crashes land here)
    stop.json         written by ``stop()`` just before it signals: the grace to honour
    ranks/<rank>.json exit record of every rank of a distributed job (``rankenv.py``)

Only stdlib and ``backends/base.py`` (itself stdlib only) are imported: the supervisor must stay
light and must never import torch.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jupyter_sxwl.backends.base import RunPhase, RunState, UsageSample


@dataclass
class TrackedProcess:
    """A process identified by pid *and* create time, so a reused pid is never mistaken for it."""

    pid: int
    create_time: float


@dataclass
class AttemptStatus:
    """The content of ``status.json``: a ``RunState`` plus what is needed to find the processes."""

    phase: RunPhase
    pid: int | None = None  # the supervisor; also the id of its process group
    create_time: float | None = None  # the supervisor's, to survive pid reuse
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    message: str = ""
    # Every process of the job the supervisor last saw, so that the backend can still find
    # (and end) them if the supervisor itself is killed.
    processes: list[TrackedProcess] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["phase"] = self.phase.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttemptStatus:
        return cls(
            phase=RunPhase(data["phase"]),
            pid=data.get("pid"),
            create_time=data.get("create_time"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            exit_code=data.get("exit_code"),
            message=data.get("message") or "",
            processes=[TrackedProcess(**p) for p in data.get("processes") or []],
        )

    def run_state(self) -> RunState:
        return RunState(
            phase=self.phase,
            exit_code=self.exit_code,
            message=self.message,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` so that readers see either the old or the new content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


class AttemptFiles:
    """Paths and readers/writers of one attempt folder (``<run_dir>/attempts/<n>``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.request = folder / "request.json"
        self.status = folder / "status.json"
        self.log = folder / "log.txt"
        self.usage = folder / "usage.jsonl"
        self.launcher_log = folder / "launcher.log"
        self.stop_request = folder / "stop.json"
        self.ranks = folder / "ranks"

    def read_status(self) -> AttemptStatus | None:
        """The recorded status, or None when none was written yet."""
        try:
            text = self.status.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return AttemptStatus.from_json(json.loads(text))

    def write_status(self, status: AttemptStatus) -> None:
        write_json_atomic(self.status, status.to_json())

    def create_status(self, status: AttemptStatus) -> bool:
        """Write ``status`` only if no status exists yet; True when it was written.

        ``os.link`` fails when the target exists, which makes create-if-absent atomic: the
        backend's initial "starting" record can never overwrite what the supervisor wrote.
        """
        tmp = self.status.with_name(f".{self.status.name}.{os.getpid()}.new")
        tmp.write_text(json.dumps(status.to_json(), indent=1), encoding="utf-8")
        try:
            os.link(tmp, self.status)
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
        return True

    def append_usage(self, sample: UsageSample) -> None:
        with self.usage.open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(sample)) + "\n")

    def read_usage(self) -> list[UsageSample]:
        """Samples oldest first; a line still being written is skipped."""
        try:
            lines = self.usage.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        samples = []
        for line in lines:
            with contextlib.suppress(ValueError, TypeError):
                samples.append(UsageSample(**json.loads(line)))
        return samples

    def read_log(self, offset: int, limit: int) -> bytes:
        try:
            with self.log.open("rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""

    def read_rank_records(self) -> list[dict[str, Any]]:
        """Exit records of the ranks that finished (distributed jobs only)."""
        records = []
        for path in sorted(self.ranks.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                records.append(json.loads(path.read_text(encoding="utf-8")))
        return records

    def read_stop_grace(self) -> float | None:
        try:
            return float(json.loads(self.stop_request.read_text())["grace_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
