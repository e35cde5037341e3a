"""``JobStatus``: one job's name, status, queue position and progress, kept up to date."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets

from ..cli import format_duration
from ..client import ACTIVE_STATUSES, FINAL_STATUSES, Client, Job, SxwlError
from .badges import status_badge

_BAR_STYLES = {"Succeeded": "success", "Failed": "danger", "TimedOut": "warning", "Stopped": ""}


class JobStatus(widgets.VBox):
    """A live view of one job, refreshed every ``interval`` seconds from a background thread
    until the job reaches a final status (a stopped job can be restarted: call ``watch()``).

    Attributes:
        job_id: the job's id.
        job: the job as last read from the platform.
    """

    def __init__(
        self, client: Client, job: str | Job, interval: float = 1.0, watch: bool = True, **kw: Any
    ) -> None:
        self.client = client
        self.job: Job = client.job(job) if isinstance(job, str) else dict(job)
        self.job_id: str = str(self.job["id"])
        self.interval = interval
        self.title = widgets.HTML()
        self.progress = widgets.IntProgress(value=0, min=0, max=10, layout={"width": "12em"})
        self.detail = widgets.HTML()
        super().__init__([widgets.HBox([self.title, self.progress]), self.detail], **kw)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._tick = 0
        self.render()
        if watch:
            self.watch()

    def __repr__(self) -> str:
        return f"<JobStatus {self.job_id} {self.job.get('status')}>"

    @property
    def status(self) -> str:
        return str(self.job.get("status"))

    def render(self, error: str | None = None) -> None:
        """Show ``self.job`` (and an error from the last refresh, if any)."""
        job = self.job
        self.title.value = (
            f"<b>{html.escape(str(job.get('name')))}</b> "
            f"<code>{html.escape(self.job_id)}</code> {status_badge(job.get('status'))}"
        )
        status = job.get("status")
        if status in ACTIVE_STATUSES:
            # No percentage is known, so the bar moves to show the job is alive.
            self._tick = (self._tick + 1) % 11
            self.progress.value = self._tick
            self.progress.bar_style = "info"
        else:
            self.progress.value = self.progress.max
            self.progress.bar_style = _BAR_STYLES.get(str(status), "")
        parts = []
        if status == "Queued":
            if job.get("queue_position"):
                parts.append(f"position {job['queue_position']} in queue {job.get('queue')}")
            if job.get("wait_reason"):
                parts.append(html.escape(str(job["wait_reason"])))
        else:
            parts.append(f"attempt {job.get('attempt')}")
            parts.append(f"ran {format_duration(job.get('duration_seconds'))}")
            if status in FINAL_STATUSES and job.get("exit_code") is not None:
                parts.append(f"exit code {job['exit_code']}")
            if job.get("message"):
                parts.append(html.escape(str(job["message"])))
        if error:
            parts.append(f'<span style="color:#c62828">{html.escape(error)}</span>')
        self.detail.value = "; ".join(parts)

    def refresh(self) -> Job:
        """Read the job once and show it."""
        try:
            self.job = self.client.job(self.job_id)
        except SxwlError as e:
            self.render(error=str(e))
            return self.job
        self.render()
        return self.job

    def watch(self) -> None:
        """Start (or restart) the background refresh until the job ends."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._done.clear()
        client = self.client.clone()  # the thread gets its own HTTP session

        def loop() -> None:
            try:
                while not self._stop.is_set():
                    try:
                        self.job = client.job(self.job_id)
                        self.render()
                    except SxwlError as e:
                        self.render(error=str(e))
                    if self.job.get("status") in FINAL_STATUSES:
                        return
                    self._stop.wait(self.interval)
            finally:
                client.close()
                self._done.set()

        self._thread = threading.Thread(target=loop, name=f"sxwl-status-{self.job_id}", daemon=True)
        self._thread.start()

    def stop_watching(self) -> None:
        """Stop the background refresh."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends (as the widget sees it) and return it."""
        if self._thread is None:
            self.watch()
        self._done.wait(timeout)
        return self.job
