"""``ServicesTable``: the user's services (status, address, model, usage) with a refresh
button, and ``ChatAnswer``: an LLM service's answer appearing as it streams in."""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..cli import service_model_text, sleep_text
from ..client import Client, SxwlError
from .catalog_tables import _badge, _CatalogTable, _table

SERVICE_COLOURS = {
    "starting": "#1565c0",
    "waking": "#1565c0",
    "running": "#2e7d32",
    "sleeping": "#6a1b9a",
    "stopped": "#616161",
    "failed": "#c62828",
    "deleting": "#6d4c41",
}


def service_badge(status: str | None) -> str:
    """A service status as a coloured badge."""
    text = status or "?"
    return _badge(text, SERVICE_COLOURS.get(text, "#616161"))


def services_html(items: Sequence[dict[str, Any]]) -> str:
    """The services table; every value from the platform is escaped."""
    if not items:
        return (
            "<p><i>No services yet. Deploy one with "
            "<code>%sxwl deploy NAME --model sxwl-tiny-llama</code>.</i></p>"
        )
    rows = []
    for s in items:
        status = service_badge(s.get("status"))
        if s.get("message") and s.get("status") == "failed":
            status += f' <span style="color:#c62828">{html.escape(str(s["message"]))}</span>'
        rows.append(
            [
                f"<b>{html.escape(str(s.get('name')))}</b>",
                f"<code>{html.escape(str(s.get('id')))}</code>",
                status,
                html.escape(service_model_text(s)),
                f"<code>{html.escape(str(s.get('address') or '-'))}</code>",
                f"{int(s.get('requests') or 0):,}",
                html.escape(sleep_text(s.get("sleep_after_minutes"))),
            ]
        )
    headers = ["NAME", "ID", "STATUS", "MODEL", "ADDRESS", "REQUESTS", "SLEEP"]
    return _table(headers, rows)


class ServicesTable(_CatalogTable):
    """Your services (``%sxwl services``)."""

    noun = "service"

    def __init__(self, client: Client, **kwargs: Any) -> None:
        self.client = client
        super().__init__(client.services, services_html, **kwargs)


class ChatAnswer(widgets.VBox):
    """The answer of an LLM service to one prompt, shown as it streams in
    (``%sxwl chat SERVICE "prompt"``). ``wait()`` blocks until it is complete.

    Attributes:
        text: the answer so far.
        usage: the token counts of the finished answer (``prompt_tokens``,
            ``completion_tokens``), when the service sent them.
    """

    def __init__(
        self,
        client: Client,
        service: str,
        messages: Any,
        flush_interval: float = 0.1,
        **options: Any,
    ) -> None:
        self.client = client
        self.service = service
        self.text = ""
        self.usage: dict[str, Any] | None = None
        self.error: str | None = None
        self.flush_interval = flush_interval
        prompt = messages if isinstance(messages, str) else str(messages[-1].get("content"))
        self.question = widgets.HTML(
            f'<div style="color:#555"><b>{html.escape(service)}</b> ← {html.escape(prompt)}</div>'
        )
        self.answer = widgets.HTML(self._html())
        self.note = widgets.HTML('<span style="color:#888">waiting for the answer…</span>')
        super().__init__([self.question, self.answer, self.note])
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._pending: list[str] = []
        worker = client.clone()

        def read() -> None:
            try:
                stream = worker.chat(service, messages, stream=True, **options)
                for piece in stream:
                    with self._lock:
                        self._pending.append(piece)
                self.usage = stream.usage
            except SxwlError as e:
                self.error = str(e)
            finally:
                worker.close()
                self._done.set()

        def pump() -> None:
            # A few redraws a second, not one per token.
            while not self._done.wait(self.flush_interval):
                self._flush()
            self._flush()
            self.note.value = self._note()

        threading.Thread(target=read, name=f"sxwl-chat-{service}", daemon=True).start()
        self._pump = threading.Thread(target=pump, name=f"sxwl-chat-pump-{service}", daemon=True)
        self._pump.start()

    def _flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            self.text += "".join(self._pending)
            self._pending.clear()
        self.answer.value = self._html()
        self.note.value = '<span style="color:#888">answering…</span>'

    def _html(self) -> str:
        return (
            '<pre style="white-space:pre-wrap;margin:4px 0;border-left:3px solid #1565c0;'
            f'padding-left:8px">{html.escape(self.text)}</pre>'
        )

    def _note(self) -> str:
        if self.error:
            return f'<span style="color:#c62828">error: {html.escape(self.error)}</span>'
        if self.usage:
            return (
                f'<span style="color:#888">{self.usage.get("prompt_tokens")} prompt + '
                f"{self.usage.get('completion_tokens')} answer tokens</span>"
            )
        return ""

    def wait(self, timeout: float | None = None) -> str:
        """Block until the answer is complete and return it (raises SxwlError if it failed)."""
        if self._done.wait(timeout):
            self._pump.join()  # the last text and the token counts are drawn
        self._flush()
        if self.error:
            raise SxwlError(self.error)
        return self.text
