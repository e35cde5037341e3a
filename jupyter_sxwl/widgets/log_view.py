"""``LogView``: a job's log, following the stream in a background thread."""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets

from ..client import Client, SxwlError

# What the view keeps: enough to read the end of a long run without slowing the browser.
MAX_CHARS = 200_000


class LogView(widgets.VBox):
    """The log of a job's attempt. With ``follow`` it grows as the job writes, until the attempt
    ends or "Stop following" is pressed; otherwise it shows the log as it is now."""

    def __init__(
        self,
        client: Client,
        job_id: str,
        follow: bool = True,
        attempt: int | None = None,
        flush_interval: float = 0.3,
        **kw: Any,
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.attempt = attempt
        self.flush_interval = flush_interval
        self.text = ""
        self.note = widgets.HTML()
        self.button = widgets.Button(description="Stop following", icon="stop")
        self.button.on_click(lambda _: self.stop_following())
        self.area = widgets.HTML(value=self._html())
        super().__init__([widgets.HBox([self.button, self.note]), self.area], **kw)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._pending: list[str] = []
        self._lock = threading.Lock()
        if follow:
            self.note.value = f"following <code>{html.escape(job_id)}</code>…"
            self._start()
        else:
            self.button.layout.display = "none"
            try:
                self._append(client.full_log(job_id, attempt=attempt))
                self.note.value = ""
            except SxwlError as e:
                self._error(e)
            self._flush()
            self._done.set()

    def _append(self, text: str) -> None:
        with self._lock:
            self._pending.append(text)

    def _flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            self.text = (self.text + "".join(self._pending))[-MAX_CHARS:]
            self._pending.clear()
        self.area.value = self._html()

    def _html(self) -> str:
        # column-reverse keeps the box scrolled to its end, so the newest lines stay in sight
        # while the text can still be selected and copied.
        return (
            '<div style="max-height:24em;overflow:auto;display:flex;'
            'flex-direction:column-reverse;border:1px solid #ddd;padding:4px">'
            f'<pre style="margin:0;white-space:pre-wrap">{html.escape(self.text)}</pre></div>'
        )

    def _error(self, error: Exception) -> None:
        self.note.value = f'<span style="color:#c62828">error: {html.escape(str(error))}</span>'

    def _start(self) -> None:
        client = self.client.clone()

        def read() -> None:
            try:
                for chunk in client.follow_logs(self.job_id, attempt=self.attempt):
                    if self._stop.is_set():
                        return
                    self._append(chunk)
                if not self._stop.is_set():
                    self.note.value = "the attempt has ended"
            except SxwlError as e:
                self._error(e)
            finally:
                client.close()
                self._done.set()

        def pump() -> None:
            # Batch chunks so a chatty job sends a few updates a second, not one per line.
            while not self._done.wait(self.flush_interval):
                self._flush()
            self._flush()
            self.button.disabled = True

        threading.Thread(target=read, name=f"sxwl-log-{self.job_id}", daemon=True).start()
        threading.Thread(target=pump, name=f"sxwl-log-pump-{self.job_id}", daemon=True).start()

    def stop_following(self) -> None:
        """Stop following; what was read stays shown."""
        self._stop.set()
        self._done.set()
        self.button.disabled = True
        self.note.value = "stopped following"

    def wait(self, timeout: float | None = None) -> str:
        """Block until the log stops growing (the attempt ended) and return its text."""
        self._done.wait(timeout)
        self._flush()
        return self.text
