"""The SXWL side panel in a real browser: an ordinary user logs in to the hub, opens the panel
in their lab, submits a job from its form and watches it succeed and print its log.

Debian's chromium is driven by Playwright (never `playwright install`); screenshots of each
step are saved under test-output/screenshots/.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from jupyter_core.paths import jupyter_path
from playwright.sync_api import Locator, Page, expect, sync_playwright

from tests.support import TEST_OUTPUT, Hub

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
# Headless flags that work for Debian's chromium on a machine without a display or GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = TEST_OUTPUT / "screenshots"
COMMAND = "python -c \"print('hello from sxwl')\""
FINAL = {"Succeeded", "Failed", "Stopped", "TimedOut"}


def _labextension_installed() -> bool:
    return any(
        Path(d, "jupyter_sxwl", "package.json").is_file() for d in jupyter_path("labextensions")
    )


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    """A page of a headless chromium with a fresh profile; its console goes to a log file."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    console_log = SCREENSHOTS / "panel-console.log"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1000},
            accept_downloads=True,
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        with open(console_log, "w") as log:
            page.on("console", lambda m: log.write(f"[{m.type}] {m.text}\n"))
            page.on("pageerror", lambda e: log.write(f"[pageerror] {e}\n"))
            try:
                yield page
            finally:
                context.close()


def _shot(page: Page, name: str) -> Path:
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path


def _require_labextension() -> None:
    if not _labextension_installed():
        pytest.fail(
            "the jupyter_sxwl labextension is not installed in this environment; "
            "run `make install` (it builds labextension/ and links it into the venv)"
        )


def _open_panel(page: Page, hub: Hub, user: str) -> Locator:
    """Log in as an ordinary user (the hub spawns their lab) and open the SXWL panel."""
    page.goto(f"{hub.url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", hub.user_password)
    page.click("[type=submit]")
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=120_000)
    page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=120_000)

    # The panel's icon in the left sidebar, with its title as the tooltip.
    tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="sxwl-panel"]')
    tab.wait_for(state="visible", timeout=60_000)
    assert tab.get_attribute("title") == "AI platform"
    panel = page.get_by_test_id("sxwl-panel")
    # A restored layout may have it open already; a click would then close it.
    if not panel.is_visible():
        tab.click()
    expect(panel).to_be_visible()
    expect(panel.locator(".sxwl-header h2")).to_have_text("AI platform")
    # The panel knows who is logged in, through the server extension and the platform.
    expect(panel.get_by_test_id("sxwl-user")).to_have_text(user, timeout=30_000)
    expect(panel.get_by_test_id("sxwl-job-list")).to_be_visible()
    return panel


def _wait_final(detail: Locator, timeout: float = 120) -> tuple[str, list[str]]:
    """Wait until the detail view's status is final; return it and the statuses seen."""
    status = detail.get_by_test_id("sxwl-job-status")
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        current = status.get_attribute("data-status") if status.count() else None
        if current and (not seen or seen[-1] != current):
            seen.append(current)
        if current in FINAL:
            return current, seen
        assert time.monotonic() < deadline, f"job not finished in {timeout:.0f} s: {seen}"
        time.sleep(0.5)


@contextlib.contextmanager
def _evidence_on_failure(page: Page, hub: Hub, user: str, name: str) -> Iterator[None]:
    """Keep what the browser showed, and the hub's log with the lab's, if the block fails;
    stop the user's lab in any case."""
    try:
        yield
    except Exception:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        _shot(page, f"{name}-failure.png")
        with contextlib.suppress(OSError):
            shutil.copy(hub.log_path, SCREENSHOTS / f"{name}-failure-hub.log")
        raise
    finally:
        hub.api("DELETE", f"users/{user}/server")


def test_submit_a_job_from_the_panel_and_see_it_succeed_with_its_log(hub: Hub, page: Page) -> None:
    _require_labextension()
    user = f"panel-{secrets.token_hex(3)}"
    job_name = f"hello-{secrets.token_hex(3)}"

    with _evidence_on_failure(page, hub, user, "panel"):
        panel = _open_panel(page, hub, user)
        _shot(page, "panel-01-opened.png")

        # --- the submit form: an empty submit names the missing fields --------------------
        panel.get_by_test_id("sxwl-new-job").click()
        expect(panel.get_by_test_id("sxwl-submit-form")).to_be_visible()
        # Flavours and queues come from the platform.
        expect(panel.locator("#sxwl-submit-flavour option").first).to_be_attached()
        expect(panel.locator("#sxwl-submit-queue option").first).to_be_attached()
        panel.get_by_test_id("sxwl-submit-button").click()
        expect(panel.get_by_test_id("sxwl-error-name")).to_be_visible()
        expect(panel.get_by_test_id("sxwl-error-command")).to_be_visible()

        panel.get_by_test_id("sxwl-submit-name").fill(job_name)
        panel.get_by_test_id("sxwl-submit-command").fill(COMMAND)
        panel.get_by_test_id("sxwl-submit-job_type").select_option("single")
        expect(panel.get_by_test_id("sxwl-error-name")).to_have_count(0)
        _shot(page, "panel-02-form.png")
        panel.get_by_test_id("sxwl-submit-button").click()

        # --- the job's detail: status reaches Succeeded, the log shows the line -----------
        detail = panel.locator('[data-testid="sxwl-job-detail"][data-job-id]')
        expect(detail).to_be_visible(timeout=30_000)
        job_id = detail.get_attribute("data-job-id")
        assert job_id and job_id.startswith("job-"), job_id
        log_view = detail.get_by_test_id("sxwl-log-view")
        current, seen = _wait_final(detail)
        assert current == "Succeeded", (
            f"job {job_id} ended {current} (statuses seen: {seen}); log:\n{log_view.inner_text()}"
        )
        expect(log_view).to_contain_text("hello from sxwl", timeout=30_000)
        _shot(page, "panel-03-succeeded-with-log.png")

        # --- search the log on the server ---------------------------------------------------
        detail.get_by_test_id("sxwl-log-search-input").fill("hello from")
        detail.get_by_test_id("sxwl-log-search-button").click()
        results = detail.get_by_test_id("sxwl-log-search-results")
        expect(results).to_contain_text("1 matching line")
        expect(results).to_contain_text("hello from sxwl")

        # --- back in the list: the job's row, coloured Succeeded ------------------------------
        detail.get_by_test_id("sxwl-back").click()
        row = panel.get_by_test_id(f"sxwl-job-row-{job_id}")
        expect(row).to_be_visible(timeout=15_000)
        expect(row).to_contain_text(job_name)
        expect(row.get_by_test_id("sxwl-job-status")).to_have_attribute("data-status", "Succeeded")
        # The search box filters by name.
        panel.get_by_test_id("sxwl-job-search").fill("no-such-job-name")
        expect(row).to_have_count(0)
        panel.get_by_test_id("sxwl-job-search").fill(job_name)
        expect(row).to_be_visible()
        _shot(page, "panel-04-list.png")

        # The panel showed what the platform holds: the same job, owned by this user.
        token = hub.token_for(user)
        answer = requests.get(
            f"{hub.platform_url}jobs/{job_id}",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        job = answer.json()
        assert (job["name"], job["owner"], job["status"]) == (job_name, user, "Succeeded")
        assert job["command"] == COMMAND


TRAIN_PY = """\
import os, pathlib
out = pathlib.Path(os.environ["SXWL_MODEL_DIR"])
out.mkdir(parents=True, exist_ok=True)
(out / "model.txt").write_text("weights of " + os.environ["RUN_NAME"])
print("saved model to", out, flush=True)
"""


def test_code_directory_env_and_artifact_download_from_the_panel(hub: Hub, page: Page) -> None:
    """A folder of the lab becomes the job's code (through the server extension), the env
    lines reach the process, and the saved model downloads from the artifacts list."""
    _require_labextension()
    user = f"panel-{secrets.token_hex(3)}"
    job_name = f"train-{secrets.token_hex(3)}"

    with _evidence_on_failure(page, hub, user, "panel-artifacts"):
        panel = _open_panel(page, hub, user)

        # Put proj/train.py into the lab through Jupyter's contents API, as the browser would.
        xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
        contents = f"{hub.url}/user/{user}/api/contents"
        headers = {"X-XSRFToken": xsrf}
        made = page.request.put(f"{contents}/proj", data={"type": "directory"}, headers=headers)
        assert made.ok, made.text()
        made = page.request.put(
            f"{contents}/proj/train.py",
            data={"type": "file", "format": "text", "content": TRAIN_PY},
            headers=headers,
        )
        assert made.ok, made.text()

        panel.get_by_test_id("sxwl-new-job").click()
        panel.get_by_test_id("sxwl-submit-name").fill(job_name)
        panel.get_by_test_id("sxwl-submit-command").fill("python train.py")
        panel.get_by_test_id("sxwl-submit-code_dir").fill("proj")
        panel.get_by_test_id("sxwl-submit-env").fill(f"RUN_NAME={job_name}")
        panel.get_by_test_id("sxwl-submit-button").click()

        detail = panel.locator('[data-testid="sxwl-job-detail"][data-job-id]')
        expect(detail).to_be_visible(timeout=30_000)
        current, seen = _wait_final(detail)
        log_view = detail.get_by_test_id("sxwl-log-view")
        assert current == "Succeeded", f"ended {current} ({seen}); log:\n{log_view.inner_text()}"
        expect(log_view).to_contain_text("saved model to", timeout=30_000)

        link = detail.locator('[data-testid="sxwl-artifact"][data-path="model.txt"]')
        expect(link).to_be_visible(timeout=30_000)
        _shot(page, "panel-05-artifacts.png")
        with page.expect_download() as download_info:
            link.click()
        download = download_info.value
        assert download.suggested_filename == "model.txt"
        assert Path(download.path()).read_text() == f"weights of {job_name}"
