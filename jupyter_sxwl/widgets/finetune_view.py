"""``FinetuneView``: one fine-tune as it trains (step of total, epoch, ETA, loss, learning rate,
tokens/s, memory and a live loss curve), and ``FinetunesTable``: the user's fine-tunes.

The curve is an inline SVG redrawn from ``finetunes/{id}/metrics?after=<last step>``, so only
new points travel; a background thread polls until the fine-tune reaches a final status.
No plotting library is needed.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..cli import finetune_progress_parts, format_scores, number_text, version_ref
from ..client import Client, SxwlError
from ..client.finetunes import FINETUNE_FINAL_STATUSES
from .badges import status_badge
from .catalog_tables import _CatalogTable, _table

_BAR_STYLES = {"Succeeded": "success", "Failed": "danger", "TimedOut": "warning", "Stopped": ""}
# At most this many points are drawn; longer runs are thinned evenly (the last point kept).
MAX_DRAWN = 1000


def _thin(
    points: Sequence[tuple[float, float]], limit: int = MAX_DRAWN
) -> list[tuple[float, float]]:
    if len(points) <= limit:
        return list(points)
    stride = len(points) / limit
    kept = [points[int(i * stride)] for i in range(limit)]
    if kept[-1] != points[-1]:
        kept[-1] = points[-1]
    return kept


def loss_curve_svg(
    train: Sequence[tuple[float, float]],
    evals: Sequence[tuple[float, float]] = (),
    total_steps: int | None = None,
    width: int = 520,
    height: int = 180,
) -> str:
    """An SVG chart: training loss as a line, validation loss as dots, over the steps.

    ``train`` and ``evals`` are ``(step, loss)`` pairs; ``total_steps`` fixes the right end
    of the x axis so the line grows towards it while training runs.
    """
    left, right, top, bottom = 52, 12, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    pairs = [(s, v) for s, v in [*train, *evals] if v == v]  # NaN losses are left out
    if not pairs:
        return (
            f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" fill="#888" '
            'font-size="12">the loss curve appears with the first step</text></svg>'
        )
    x_max = float(max(total_steps or 0, max(s for s, _ in pairs), 1))
    y_lo, y_hi = min(v for _, v in pairs), max(v for _, v in pairs)
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = (y_hi - y_lo) * 0.05
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def x(step: float) -> float:
        return left + plot_w * step / x_max

    def y(loss: float) -> float:
        return top + plot_h * (1 - (loss - y_lo) / (y_hi - y_lo))

    parts = [
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
        'font-family="sans-serif" font-size="11">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#ccc"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        value = y_lo + (y_hi - y_lo) * frac
        parts.append(
            f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#555">'
            f"{value:.3g}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}" fill="#555">0</text>'
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" fill="#555">'
        f"step {int(x_max)}</text>"
    )
    line = _thin([p for p in train if p[1] == p[1]])
    if line:
        coords = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in line)
        parts.append(
            f'<polyline class="train-loss" points="{coords}" fill="none" stroke="#1565c0" '
            'stroke-width="1.5"/>'
        )
    for s, v in evals:
        if v == v:
            parts.append(
                f'<circle class="eval-loss" cx="{x(s):.1f}" cy="{y(v):.1f}" r="3" fill="#ef6c00"/>'
            )
    legend = '<tspan fill="#1565c0">— loss</tspan>'
    if evals:
        legend += ' <tspan fill="#ef6c00">● eval_loss</tspan>'
    parts.append(f'<text x="{left + plot_w}" y="{top + 12}" text-anchor="end">{legend}</text>')
    parts.append("</svg>")
    return "".join(parts)


class FinetuneView(widgets.VBox):
    """A live view of one fine-tune: its status, a progress bar (step of total), the latest
    epoch, ETA, loss, learning rate, tokens/s and memory, the loss curve, and once there are
    some its evaluation scores and exports. It refreshes every ``interval`` seconds from a
    background thread until the fine-tune ends (``watch()`` starts it again after a resume).

    Attributes:
        ft_id: the fine-tune's id.
        finetune: the fine-tune as last read.
        train: ``{step: point}`` of the training points seen so far.
        evals: ``{step: eval_loss}``.
        done: the ``done`` point, once training ended.
    """

    def __init__(
        self,
        client: Client,
        ft: str | dict[str, Any],
        interval: float = 1.0,
        watch: bool = True,
        **kw: Any,
    ) -> None:
        self.client = client
        self.finetune: dict[str, Any] = {"id": ft} if isinstance(ft, str) else dict(ft)
        self.ft_id = str(self.finetune["id"])
        self.interval = interval
        self.train: dict[int, dict[str, Any]] = {}
        self.evals: dict[int, float] = {}
        self.done: dict[str, Any] | None = None
        self.last_step: int | None = None
        self.title = widgets.HTML()
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout={"width": "20em"})
        self.stop_button = widgets.Button(description="Stop", icon="stop", tooltip="stop it")
        self.stop_button.on_click(lambda _: self._stop_clicked())
        self.stats = widgets.HTML()
        self.curve = widgets.HTML()
        self.extra = widgets.HTML()
        self.note = widgets.HTML()
        super().__init__(
            [
                widgets.HBox([self.title, self.bar, self.stop_button]),
                self.stats,
                self.curve,
                self.extra,
                self.note,
            ],
            **kw,
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if isinstance(ft, str):
            self._fetch(client)  # a wrong id raises here, for the caller to report
            self.render()
        else:
            self.refresh()
        if watch and self.status not in FINETUNE_FINAL_STATUSES:
            self.watch()
        else:
            self._done.set()

    def __repr__(self) -> str:
        return f"<FinetuneView {self.ft_id} {self.status}>"

    @property
    def status(self) -> str:
        return str(self.finetune.get("status"))

    # -- data ------------------------------------------------------------------------------

    def add_points(self, points: Sequence[dict[str, Any]]) -> None:
        """Take in metric points (as ``finetune_metrics`` returns them)."""
        with self._lock:
            for point in points:
                step = point.get("step")
                if not isinstance(step, int):
                    continue
                kind = point.get("kind", "train")
                if kind == "train":
                    self.train[step] = point
                elif kind == "eval" and isinstance(point.get("eval_loss"), int | float):
                    self.evals[step] = float(point["eval_loss"])
                elif kind == "done":
                    self.done = point
                self.last_step = step if self.last_step is None else max(self.last_step, step)

    def _fetch(self, client: Client) -> None:
        self.finetune = client.finetune(self.ft_id)
        # The last step again: its eval and done points may land after its train point.
        after = None if self.last_step is None else self.last_step - 1
        answer = client.finetune_metrics(self.ft_id, after=after)
        self.add_points(answer.get("points") or [])

    def refresh(self, client: Client | None = None) -> dict[str, Any]:
        """Read the fine-tune and its new metric points once, and show them."""
        try:
            self._fetch(client or self.client)
        except SxwlError as e:
            self.render(error=str(e))
            return self.finetune
        self.render()
        return self.finetune

    # -- drawing ---------------------------------------------------------------------------

    def latest(self) -> dict[str, Any] | None:
        """The newest training point: from the metrics, else the fine-tune's ``progress``."""
        with self._lock:
            if self.train:
                return self.train[max(self.train)]
        progress: dict[str, Any] | None = self.finetune.get("progress")
        return progress

    def render(self, error: str | None = None) -> None:
        """Show what is known now."""
        ft = self.finetune
        status = self.status
        self.title.value = (
            f"<b>{html.escape(str(ft.get('name')))}</b> <code>{html.escape(self.ft_id)}</code> "
            f"{status_badge(status)} {html.escape(str(ft.get('method') or ''))} of "
            f"{html.escape(version_ref(ft.get('model')))}"
        )
        point = self.latest()
        total = int((point or {}).get("total_steps") or 0)
        step = int((point or {}).get("step") or 0)
        self.bar.max = max(total, 1)
        self.bar.value = min(step, self.bar.max)
        if status in FINETUNE_FINAL_STATUSES:
            self.bar.bar_style = _BAR_STYLES.get(status, "")
            if status == "Succeeded":
                self.bar.value = self.bar.max
            self.stop_button.layout.display = "none"
        else:
            self.bar.bar_style = "info"
            self.stop_button.layout.display = None
        parts = [html.escape(p) for p in finetune_progress_parts(point)]
        if not parts:
            parts = ["waiting for the first step"] if status not in FINETUNE_FINAL_STATUSES else []
        self.stats.value = " · ".join(parts)
        with self._lock:
            train = [(float(s), float(p["loss"])) for s, p in sorted(self.train.items())
                     if isinstance(p.get("loss"), int | float)]  # fmt: skip
            evals = sorted((float(s), v) for s, v in self.evals.items())
            done = self.done
        self.curve.value = loss_curve_svg(train, evals, total or None)
        self.extra.value = self._extra_html(done)
        notes = []
        if ft.get("message") and status in FINETUNE_FINAL_STATUSES:
            notes.append(html.escape(str(ft["message"])))
        if error:
            notes.append(f'<span style="color:#c62828">error: {html.escape(error)}</span>')
        self.note.value = "; ".join(notes)

    def _extra_html(self, done: dict[str, Any] | None) -> str:
        lines = []
        if done:
            summary = (
                f"trained {done.get('step')} steps: train_loss "
                f"{number_text(done.get('train_loss'), '.4f')}, "
                f"{number_text(done.get('train_tokens_per_second'), ',.0f')} tokens/s, "
                f"peak {number_text(done.get('peak_memory_mb'), ',.0f')} MB"
            )
            lines.append(html.escape(summary))
        for ev in self.finetune.get("evaluations") or []:
            what = (
                format_scores(ev.get("scores"))
                if ev.get("scores")
                else f"{ev.get('status')} {ev.get('message') or ''}"
            )
            lines.append(f"evaluation <code>{html.escape(str(ev.get('id')))}</code>: "
                         f"{html.escape(what)}")  # fmt: skip
        for ex in self.finetune.get("exports") or []:
            target = version_ref(ex.get("model")) if ex.get("model") else "-"
            lines.append(
                f"export <code>{html.escape(str(ex.get('id')))}</code>: "
                f"{html.escape(str(ex.get('status')))} → {html.escape(target)}"
            )
        return "<br>".join(lines)

    # -- watching --------------------------------------------------------------------------

    def _stop_clicked(self) -> None:
        try:
            self.finetune = self.client.stop_finetune(self.ft_id)
            self.render()
        except SxwlError as e:
            self.render(error=str(e))

    def watch(self) -> None:
        """Start (or restart) the background refresh until the fine-tune ends."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._done.clear()
        client = self.client.clone()  # the thread gets its own HTTP session

        def loop() -> None:
            try:
                while not self._stop.is_set():
                    try:
                        self._fetch(client)
                        self.render()
                    except SxwlError as e:
                        self.render(error=str(e))
                    if self.status in FINETUNE_FINAL_STATUSES:
                        # One more read: the last points may land just after the status.
                        try:
                            self._fetch(client)
                            self.render()
                        except SxwlError:
                            pass
                        return
                    self._stop.wait(self.interval)
            finally:
                client.close()
                self._done.set()

        self._thread = threading.Thread(target=loop, name=f"sxwl-ft-{self.ft_id}", daemon=True)
        self._thread.start()

    def stop_watching(self) -> None:
        """Stop the background refresh (the fine-tune goes on)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the fine-tune ends (as the view sees it) and return it."""
        if self._thread is None and self.status not in FINETUNE_FINAL_STATUSES:
            self.watch()
        self._done.wait(timeout)
        return self.finetune


def finetunes_html(items: list[dict[str, Any]]) -> str:
    """The fine-tunes table; every value from the platform is escaped."""
    if not items:
        return (
            "<p><i>No fine-tunes yet. Start one with <code>%%sxwl finetune</code> and a "
            "LLaMA-Factory YAML.</i></p>"
        )
    rows = []
    for ft in items:
        point = ft.get("progress") or {}
        step = f"{point.get('step')}/{point.get('total_steps')}" if point else "-"
        scores = next(
            (e.get("scores") for e in reversed(ft.get("evaluations") or []) if e.get("scores")),
            None,
        )
        rows.append(
            [
                f"<code>{html.escape(str(ft.get('id')))}</code>",
                f"<b>{html.escape(str(ft.get('name')))}</b>",
                status_badge(ft.get("status")),
                html.escape(str(ft.get("method") or "-")),
                html.escape(version_ref(ft.get("model"))),
                html.escape(step),
                html.escape(number_text(point.get("loss"), ".4f")),
                html.escape(format_scores(scores)),
                html.escape(str(ft.get("created_at") or "")),
            ]
        )
    headers = ["ID", "NAME", "STATUS", "METHOD", "MODEL", "STEP", "LOSS", "SCORES", "CREATED"]
    return _table(headers, rows)


class FinetunesTable(_CatalogTable):
    """Your fine-tunes (``%sxwl finetunes``)."""

    noun = "fine-tune"

    def __init__(self, client: Client, **kwargs: Any) -> None:
        self.client = client
        super().__init__(client.finetunes, finetunes_html, **kwargs)
