"""``DatasetsTable`` and ``ModelsTable``: the catalogue as HTML tables with a refresh button."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..client import Client, SxwlError

_PAD = "padding:2px 14px 2px 0"
_ACCESS_COLOURS = {"owner": "#2e7d32", "admin": "#6a1b9a", "shared": "#1565c0", "preset": "#616161"}


def _badge(text: str, colour: str) -> str:
    return (
        f'<span style="background:{colour};color:#fff;border-radius:3px;'
        f'padding:1px 6px;font-size:90%">{html.escape(text)}</span>'
    )


def _access(item: dict[str, Any]) -> str:
    access = str(item.get("access") or "")
    text = access if access != "shared" else f"shared by {item.get('owner')}"
    return _badge(text, _ACCESS_COLOURS.get(access, "#616161"))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th style="text-align:left;{_PAD}">{h}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_PAD}">{c}</td>' for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def datasets_html(items: list[dict[str, Any]]) -> str:
    """The datasets table; every value from the platform is escaped."""
    if not items:
        return (
            "<p><i>No datasets yet. Create one with "
            "<code>%sxwl dataset create NAME --type instruction</code>.</i></p>"
        )
    rows = []
    for d in items:
        draft = d.get("draft") or {}
        invalid = int(draft.get("invalid") or 0)
        latest = f"v{d['latest_version']}" if d.get("latest_version") else "-"
        if d.get("publishing"):
            latest += " (publishing)"
        elif d.get("importing"):
            latest += " (importing)"
        rows.append(
            [
                f"<b>{html.escape(str(d.get('name')))}</b>",
                html.escape(str(d.get("annotation_type"))),
                f"{int(draft.get('records') or 0):,}",
                f'<span style="color:#c62828">{invalid:,}</span>' if invalid else "0",
                html.escape(latest),
                _access(d),
                html.escape(str(d.get("description") or "")),
            ]
        )
    headers = ["NAME", "TYPE", "RECORDS", "INVALID", "LATEST", "ACCESS", "DESCRIPTION"]
    return _table(headers, rows)


def models_html(items: list[dict[str, Any]]) -> str:
    """The models table; every value from the platform is escaped."""
    if not items:
        return "<p><i>No models yet. Create one with <code>%sxwl model create NAME</code>.</i></p>"
    rows = []
    for m in items:
        latest = f"v{m['latest_version']}" if m.get("latest_version") else "-"
        newest = m.get("latest") or {}
        if newest and newest.get("number") != m.get("latest_version"):
            latest += f" (v{newest.get('number')} {newest.get('status')})"
        rows.append(
            [
                f"<b>{html.escape(str(m.get('name')))}</b>",
                html.escape(str(m.get("family") or "-")),
                html.escape(latest),
                str(int(m.get("versions_count") or 0)),
                _access(m),
                html.escape(str(m.get("description") or "")),
            ]
        )
    return _table(["NAME", "FAMILY", "LATEST", "VERSIONS", "ACCESS", "DESCRIPTION"], rows)


class _CatalogTable(widgets.VBox):
    """A table of catalogue items with a refresh button; the last good table stays on error."""

    noun = "item"

    def __init__(
        self,
        load: Callable[[], list[dict[str, Any]]],
        render: Callable[[list[dict[str, Any]]], str],
        **kwargs: Any,
    ) -> None:
        self._load = load
        self._render = render
        self.items: list[dict[str, Any]] = []
        self.button = widgets.Button(description="Refresh", icon="refresh", tooltip="reload")
        self.note = widgets.HTML()
        self.table = widgets.HTML()
        self.button.on_click(lambda _: self.refresh())
        super().__init__([widgets.HBox([self.button, self.note]), self.table], **kwargs)
        self.refresh()

    def refresh(self) -> None:
        """Reload from the platform."""
        try:
            self.items = self._load()
        except SxwlError as e:
            self.note.value = f'<span style="color:#c62828">error: {html.escape(str(e))}</span>'
            return
        self.note.value = f"{len(self.items)} {self.noun}(s)"
        self.table.value = self._render(self.items)


class DatasetsTable(_CatalogTable):
    """The datasets you can use (``%sxwl datasets``)."""

    noun = "dataset"

    def __init__(self, client: Client, all_users: bool = False, **kwargs: Any) -> None:
        self.client = client
        super().__init__(lambda: client.datasets(all_users=all_users), datasets_html, **kwargs)


class ModelsTable(_CatalogTable):
    """The models you can use (``%sxwl models``)."""

    noun = "model"

    def __init__(self, client: Client, all_users: bool = False, **kwargs: Any) -> None:
        self.client = client
        super().__init__(lambda: client.models(all_users=all_users), models_html, **kwargs)
