"""The job widgets, driven by the tiny HTTP server: they render, update and stop by themselves."""

from __future__ import annotations

import time

from jupyter_sxwl.client import Client
from jupyter_sxwl.widgets import JobsTable, JobStatus, LogView
from jupyter_sxwl.widgets.badges import STATUS_COLOURS
from jupyter_sxwl.widgets.jobs_table import jobs_html

from .conftest import FakePlatform, Request, json_reply, problem


def client_for(fake_platform: FakePlatform) -> Client:
    return Client(url=fake_platform.url, token="t", timeout=5)


def test_jobs_html_escapes_names_and_colours_statuses() -> None:
    jobs = [
        {"id": "job-1", "name": "<img src=x onerror=alert(1)>", "status": "Failed"},
        {"id": "job-2", "name": "ok", "status": "Queued", "queue_position": 2,
         "wait_reason": "you use 4 of your 4 cards & more"},
    ]  # fmt: skip
    page = jobs_html(jobs)
    assert "<img" not in page and "&lt;img" in page
    assert STATUS_COLOURS["Failed"] in page and STATUS_COLOURS["Queued"] in page
    assert "#2 you use 4 of your 4 cards &amp; more" in page


def test_jobs_table_refreshes_and_shows_errors(fake_platform: FakePlatform) -> None:
    fake_platform.route("GET", "jobs", json_reply({"items": [{"id": "job-1", "name": "a",
                                                               "status": "Running"}]}))  # fmt: skip
    table = JobsTable(client_for(fake_platform))
    assert "job-1" in table.table.value and table.note.value == "1 job(s)"
    fake_platform.route("GET", "jobs", problem(500, "database is down"))
    table.button.click()
    assert "database is down" in table.note.value
    assert "job-1" in table.table.value  # the last good table stays


def test_job_status_follows_the_job_until_it_ends(fake_platform: FakePlatform) -> None:
    states = iter(
        [
            {"status": "Queued", "queue_position": 1, "wait_reason": "queue default is full"},
            {"status": "Running", "duration_seconds": 1},
            {"status": "Succeeded", "exit_code": 0, "duration_seconds": 2},
        ]
    )
    last: dict[str, object] = {}

    def get(r: Request) -> tuple[int, dict[str, str], bytes]:
        last.update(next(states, {}))
        return json_reply({"id": "job-1", "name": "demo", "attempt": 1, **last})

    fake_platform.route("GET", "jobs/job-1", get)
    widget = JobStatus(client_for(fake_platform), "job-1", interval=0.02)
    assert widget.job_id == "job-1"
    final = widget.wait(timeout=10)
    assert final["status"] == "Succeeded"
    assert widget.progress.bar_style == "success" and widget.progress.value == widget.progress.max
    assert "exit code 0" in widget.detail.value
    assert STATUS_COLOURS["Succeeded"] in widget.title.value
    seen = len(fake_platform.requests)
    time.sleep(0.1)
    assert len(fake_platform.requests) == seen  # it stopped polling


def test_queued_job_shows_position_and_reason(fake_platform: FakePlatform) -> None:
    job = {"id": "job-1", "name": "demo", "status": "Queued", "queue": "gpu",
           "queue_position": 4, "wait_reason": "queue gpu has 0 of 8 cards free"}  # fmt: skip
    widget = JobStatus(client_for(fake_platform), job, watch=False)
    assert "position 4 in queue gpu" in widget.detail.value
    assert "0 of 8 cards free" in widget.detail.value
    assert widget.progress.bar_style == "info"


def test_log_view_follows_the_stream(fake_platform: FakePlatform) -> None:
    fake_platform.route(
        "GET", "jobs/job-1", json_reply({"id": "job-1", "status": "Succeeded", "attempt": 1})
    )

    def logs(r: Request) -> tuple[int, dict[str, str], bytes | list[bytes]]:
        if r.query.get("follow"):
            return 200, {}, [b"epoch 1 <done>\n", b"epoch 2\n"]
        return 200, {"X-Log-Offset": "23"}, b""

    fake_platform.route("GET", "jobs/job-1/logs", logs)
    view = LogView(client_for(fake_platform), "job-1", flush_interval=0.01)
    assert view.wait(timeout=10) == "epoch 1 <done>\nepoch 2\n"
    time.sleep(0.05)
    assert "epoch 1 &lt;done&gt;" in view.area.value
    assert view.button.disabled


def test_log_view_without_follow_shows_the_log_once(fake_platform: FakePlatform) -> None:
    fake_platform.route("GET", "jobs/job-1/logs", (200, {"X-Log-Offset": "6"}, b"hello\n"))
    view = LogView(client_for(fake_platform), "job-1", follow=False)
    assert view.text == "hello\n" and "hello" in view.area.value


def test_datasets_and_models_tables_escape_and_refresh(fake_platform: FakePlatform) -> None:
    from jupyter_sxwl.widgets import DatasetsTable, ModelsTable

    ds = {"name": "<b>faq</b>", "annotation_type": "instruction", "access": "shared",
          "owner": "bob", "draft": {"records": 3, "invalid": 1}, "latest_version": 2}  # fmt: skip
    fake_platform.route("GET", "datasets", json_reply({"datasets": [ds]}))
    table = DatasetsTable(client_for(fake_platform))
    assert "&lt;b&gt;faq&lt;/b&gt;" in table.table.value and "<b>faq</b>" not in table.table.value
    assert "shared by bob" in table.table.value and table.note.value == "1 dataset(s)"
    fake_platform.route("GET", "datasets", problem(500, "database is down"))
    table.button.click()
    assert "database is down" in table.note.value and "faq" in table.table.value
    fake_platform.route("GET", "models", json_reply({"models": []}))
    assert "model create" in ModelsTable(client_for(fake_platform)).table.value


def test_progress_bar_follows_the_reports() -> None:
    from jupyter_sxwl.client.uploads import Progress
    from jupyter_sxwl.widgets import ProgressBar

    bar = ProgressBar("dataset import", interval=0)
    assert "starting" in bar.label.value
    bar(Progress("uploading", 250, 1000))
    assert bar.bar.value == 25 and "uploading 25%" in bar.label.value
    bar(Progress("validating", 0, 0))  # no total: the bar keeps moving
    assert "validating" in bar.label.value
    bar.finish()
    bar.set_outcome(True)
    assert (bar.bar.value, bar.bar.bar_style) == (100, "success")
    bar.set_outcome(False, "failed: <x>")
    assert bar.bar.bar_style == "danger" and "&lt;x&gt;" in bar.label.value
