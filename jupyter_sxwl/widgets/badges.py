"""How a job status looks in the widgets: one colour per status, the same in every widget."""

from __future__ import annotations

import html

STATUS_COLOURS: dict[str, str] = {
    "Queued": "#8d6e00",
    "Starting": "#1565c0",
    "Running": "#1565c0",
    "Stopping": "#6d4c41",
    "Succeeded": "#2e7d32",
    "Failed": "#c62828",
    "Stopped": "#616161",
    "TimedOut": "#ef6c00",
}


def status_badge(status: str | None) -> str:
    """An HTML badge for a status, white text on the status colour."""
    text = status or "?"
    colour = STATUS_COLOURS.get(text, "#616161")
    return (
        f'<span style="background:{colour};color:#fff;border-radius:3px;'
        f'padding:1px 6px;font-size:90%">{html.escape(text)}</span>'
    )
