"""``ProgressBar``: an upload, import, publish or export as it goes (IntProgress + label).

It is a ``progress=`` callback of the SDK, so it can be used directly too::

    bar = ProgressBar("import faq")
    display(bar)
    client.import_dataset("faq", "train.jsonl", progress=bar)
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as widgets

from ..cli import progress_text
from ..client.uploads import Progress


class ProgressBar(widgets.HBox):
    """A bar (percent when the total is known, a moving bar when not) and what is happening.

    Attributes:
        last: the last :class:`Progress` shown, None before the first.
    """

    def __init__(self, title: str = "", interval: float = 0.1, **kwargs: Any) -> None:
        self.title = title
        self.interval = interval
        self.bar = widgets.IntProgress(
            value=0, min=0, max=100, bar_style="info", layout={"width": "16em"}
        )
        self.label = widgets.HTML(value=self._label("starting…"))
        self.last: Progress | None = None
        self._shown = 0.0
        self._tick = 0
        super().__init__([self.bar, self.label], **kwargs)

    def _label(self, text: str) -> str:
        title = f"<b>{html.escape(self.title)}</b> " if self.title else ""
        return f"{title}{html.escape(text)}"

    def __call__(self, p: Progress) -> None:
        """Show ``p`` (at most every ``interval`` seconds, and at every change of phase)."""
        now = time.monotonic()
        changed = self.last is None or p.phase != self.last.phase
        self.last = p
        if not changed and now - self._shown < self.interval:
            return
        self._shown = now
        fraction = p.fraction
        if p.phase == "done":
            self.bar.value = 100
        elif fraction is None:
            # Nothing to measure against: keep the bar moving to show it is alive.
            self._tick = (self._tick + 10) % 110
            self.bar.value = self._tick
        else:
            self.bar.value = round(fraction * 100)
        self.label.value = self._label(progress_text(p))

    def finish(self) -> None:
        """Show the last report, whatever the interval held back."""
        if self.last is not None:
            self._shown = 0.0
            last, self.last = self.last, None
            self(last)

    def set_outcome(self, ok: bool, text: str | None = None) -> None:
        """Colour the bar green (done) or red (failed), with ``text`` as the label."""
        self.bar.bar_style = "success" if ok else "danger"
        if ok:
            self.bar.value = 100
        self.label.value = self._label(text or ("done" if ok else "failed"))
