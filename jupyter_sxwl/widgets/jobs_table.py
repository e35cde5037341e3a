"""``JobsTable``: the user's jobs as an HTML table with a refresh button."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from ..cli import format_duration, queue_column
from ..client import Client, SxwlError
from .badges import status_badge

_COLUMNS = ("ID", "NAME", "STATUS", "QUEUE POS/REASON", "FLAVOUR", "DURATION")


def jobs_html(jobs: list[dict[str, Any]], show_owner: bool = False) -> str:
    """The table's HTML; every value from the platform is escaped."""
    if not jobs:
        return "<p><i>No jobs yet. Submit one with <code>%sxwl submit</code>.</i></p>"
    headers = list(_COLUMNS)
    if show_owner:
        headers.insert(2, "OWNER")
    pad = "padding:2px 14px 2px 0"
    head = "".join(f'<th style="text-align:left;{pad}">{h}</th>' for h in headers)
    rows = []
    for job in jobs:
        cells = [
            f"<code>{html.escape(str(job.get('id', '')))}</code>",
            html.escape(str(job.get("name", ""))),
            status_badge(job.get("status")),
            html.escape(queue_column(job, width=80)),
            html.escape(str(job.get("flavour") or "-")),
            html.escape(format_duration(job.get("duration_seconds"))),
        ]
        if show_owner:
            cells.insert(2, html.escape(str(job.get("owner", ""))))
        rows.append("<tr>" + "".join(f'<td style="{pad}">{c}</td>' for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


class JobsTable(widgets.VBox):
    """A refreshable table of jobs (``%sxwl jobs``)."""

    def __init__(
        self,
        client: Client,
        status: str | None = None,
        q: str | None = None,
        all_users: bool = False,
        **kwargs: Any,
    ) -> None:
        self.client = client
        self.filters = {"status": status, "q": q, "all_users": all_users}
        self.jobs: list[dict[str, Any]] = []
        self.button = widgets.Button(description="Refresh", icon="refresh", tooltip="reload")
        self.note = widgets.HTML()
        self.table = widgets.HTML()
        self.button.on_click(lambda _: self.refresh())
        super().__init__([widgets.HBox([self.button, self.note]), self.table], **kwargs)
        self.refresh()

    def refresh(self) -> None:
        """Reload the jobs from the platform."""
        try:
            self.jobs = self.client.jobs(**self.filters)  # type: ignore[arg-type]
        except SxwlError as e:
            self.note.value = f'<span style="color:#c62828">error: {html.escape(str(e))}</span>'
            return
        self.note.value = f"{len(self.jobs)} job(s)"
        self.table.value = jobs_html(self.jobs, show_owner=bool(self.filters["all_users"]))
