"""The panel's Datasets and Models tabs in a real browser.

An ordinary user creates a dataset, uploads a JSONL file with one invalid record through the
file input, fixes that record in the annotation view, publishes version 1, mounts it in the lab
and reads it from a notebook. Another creates a model, imports a version from a local archive
(in 8 MiB chunks, one of which fails once and is resumed), downloads one of its files, makes a
share token, mounts the model and deletes the version.

Uses the browser fixture and helpers of test_panel.py (Debian's chromium driven by Playwright);
screenshots of each step are saved under test-output/screenshots/.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import tarfile
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Locator, Page, Route, expect

# `page` is test_panel.py's browser fixture, shared by importing it.
from tests.e2e.test_panel import (  # noqa: F401
    _evidence_on_failure,
    _open_panel,
    _require_labextension,
    _shot,
    page,
)
from tests.support import Hub

pytestmark = pytest.mark.e2e

FIXED_INSTRUCTION = "Name the capital of France."
# Line 2 has an empty instruction: it is imported, but as an invalid record.
RECORDS = [
    {"instruction": "Add 2 and 3.", "input": "", "output": "5"},
    {"instruction": "", "input": "", "output": "Paris"},
    {"instruction": "Translate to French.", "input": "cat", "output": "chat"},
]


def _write_jsonl(folder: Path) -> Path:
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def _run_in_new_notebook(lab: Page, code: str) -> Locator:
    """Open a new Python notebook from the launcher, run ``code`` in its first cell and return
    the cell's output area."""
    card = lab.locator('.jp-LauncherCard[data-category="Notebook"]').first
    if not card.is_visible():
        lab.locator('.jp-FileBrowser [data-command="launcher:create"]').first.click()
    card.click()
    notebook = lab.locator(".jp-NotebookPanel:visible")
    expect(notebook).to_be_visible(timeout=60_000)
    # A cell run before the kernel is connected can be dropped: wait until it is idle.
    idle = lab.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle"))
    expect(idle.first).to_be_visible(timeout=60_000)
    cell = notebook.locator(".jp-Cell").first
    cell.locator(".cm-content").click()
    # insert_text sends no key events, so no editor feature closes brackets or indents.
    lab.keyboard.insert_text(code)
    lab.keyboard.press("Shift+Enter")
    output = cell.locator(".jp-OutputArea-output")
    try:
        expect(output.first).to_be_visible(timeout=30_000)
    except AssertionError:
        # Still not run (the prompt shows no count): run it once more.
        cell.locator(".cm-content").click()
        lab.keyboard.press("Shift+Enter")
    return output


def test_dataset_import_annotate_publish_and_mount_from_the_panel(
    hub: Hub,
    page: Page,  # noqa: F811
    tmp_path: Path,
) -> None:
    _require_labextension()
    user = f"data-{secrets.token_hex(3)}"
    name = f"qa-{secrets.token_hex(3)}"
    data_file = _write_jsonl(tmp_path)

    with _evidence_on_failure(page, hub, user, "datasets"):
        panel = _open_panel(page, hub, user)
        panel.get_by_test_id("sxwl-tab-datasets").click()
        expect(panel.get_by_test_id("sxwl-dataset-list")).to_be_visible()

        # --- create: the name is required; the data type is text -----------------------------
        panel.get_by_test_id("sxwl-dataset-create").click()
        form = panel.get_by_test_id("sxwl-dataset-form")
        form.get_by_test_id("sxwl-dataset-submit").click()
        expect(form.get_by_test_id("sxwl-dataset-error-name")).to_be_visible()
        form.get_by_test_id("sxwl-dataset-name").fill(name)
        form.get_by_test_id("sxwl-dataset-annotation_type").select_option("instruction")
        form.get_by_test_id("sxwl-dataset-description").fill("capitals and sums")
        _shot(page, "datasets-01-create.png")
        form.get_by_test_id("sxwl-dataset-submit").click()

        detail = panel.get_by_test_id("sxwl-dataset-detail")
        expect(detail.locator("h3")).to_have_text(name)
        expect(detail.get_by_test_id("sxwl-access")).to_have_attribute("data-access", "owner")

        # --- import a local file through the file input (chunked upload) --------------------
        detail.get_by_test_id("sxwl-ds-import").click()
        detail.get_by_test_id("sxwl-import-upload-file").set_input_files(str(data_file))
        detail.get_by_test_id("sxwl-import-upload-button").click()
        row = detail.get_by_test_id("sxwl-import-row").first
        expect(row).to_have_attribute("data-status", "succeeded", timeout=60_000)
        summary = row.get_by_test_id("sxwl-import-summary")
        expect(summary).to_contain_text("3 records")
        expect(summary).to_contain_text("1 invalid")
        problems = row.get_by_test_id("sxwl-import-problems")
        expect(problems).to_contain_text("data.jsonl:2")
        expect(problems).to_contain_text("instruction")
        expect(detail.get_by_test_id("sxwl-ds-stat-invalid")).to_contain_text("1 invalid")
        _shot(page, "datasets-02-imported.png")

        # --- annotation: only the invalid record, its issue next to the field ---------------
        detail.get_by_test_id("sxwl-ds-annotate").click()
        view = panel.get_by_test_id("sxwl-annotation")
        position = view.get_by_test_id("sxwl-ann-position")
        expect(position).to_have_text("record 1 of 3")
        view.get_by_test_id("sxwl-ann-invalid-only").check()
        expect(position).to_have_text("invalid record 1 of 1")
        record = view.get_by_test_id("sxwl-record")
        expect(record).to_have_attribute("data-valid", "false")
        expect(view.get_by_test_id("sxwl-field-output")).to_have_value("Paris")
        expect(view.get_by_test_id("sxwl-issue-instruction")).to_be_visible()
        _shot(page, "datasets-03-invalid-record.png")

        view.get_by_test_id("sxwl-field-instruction").fill(FIXED_INSTRUCTION)
        view.get_by_test_id("sxwl-ann-save").click()
        expect(view.get_by_test_id("sxwl-ann-notice")).to_have_text("Saved: the record is valid.")
        expect(record).to_have_attribute("data-valid", "true")
        expect(view.get_by_test_id("sxwl-issue-instruction")).to_have_count(0)
        view.get_by_test_id("sxwl-ann-reviewed").check()
        expect(view.get_by_test_id("sxwl-ann-reviewed")).to_be_checked()
        _shot(page, "datasets-04-fixed.png")
        # The fixed record has left the invalid list.
        view.get_by_test_id("sxwl-ann-next").click()
        expect(view.get_by_test_id("sxwl-ann-empty")).to_be_visible()
        view.get_by_test_id("sxwl-back").click()

        # --- publish: version 1 -------------------------------------------------------------
        expect(detail.get_by_test_id("sxwl-ds-stat-invalid")).to_contain_text("0 invalid")
        detail.get_by_test_id("sxwl-ds-publish").click()
        detail.get_by_test_id("sxwl-publish-notes").fill("first cut")
        detail.get_by_test_id("sxwl-publish-button").click()
        result = detail.get_by_test_id("sxwl-publish-result")
        expect(result).to_have_attribute("data-status", "succeeded", timeout=60_000)
        expect(result).to_have_text("Published version 1.")
        version = detail.locator('[data-testid="sxwl-version-row"][data-version="1"]')
        expect(version).to_be_visible(timeout=15_000)
        expect(version).to_contain_text("3 records")
        # Acceleration: a copy on fast storage, with its state on the version.
        version.get_by_test_id("sxwl-accelerate").click()
        expect(version.get_by_test_id("sxwl-accel-state")).to_have_attribute(
            "data-state", "accel-ready", timeout=60_000
        )
        _shot(page, "datasets-05-published.png")

        # The list shows the dataset with its latest version.
        token = hub.token_for(user)
        answer = requests.get(
            f"{hub.platform_url}datasets/{name}",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        ds = answer.json()
        assert (ds["latest_version"], ds["draft"]["invalid"], ds["draft"]["reviewed"]) == (1, 0, 1)

        # The list row: records, no invalid ones, version 1, the user's own.
        detail.get_by_test_id("sxwl-back").click()
        row = panel.get_by_test_id(f"sxwl-dataset-row-{name}")
        expect(row.get_by_test_id("sxwl-ds-records")).to_have_text("3 records")
        expect(row.get_by_test_id("sxwl-ds-latest")).to_contain_text("v1")
        expect(row.get_by_test_id("sxwl-access")).to_have_text("own")
        row.click()

        # --- mount in the lab and read it from a notebook -----------------------------------
        detail.get_by_test_id("sxwl-ds-mount").click()
        detail.get_by_test_id("sxwl-mount-button").click()
        mounted = detail.get_by_test_id("sxwl-mount-path")
        failed = detail.get_by_test_id("sxwl-mount-error")
        expect(mounted.or_(failed)).to_be_visible(timeout=60_000)
        if failed.is_visible() and "does not offer mounts" in failed.inner_text():
            pytest.skip(
                "the lab's server extension has no /sxwl/lab/mounts route yet: "
                f"{failed.inner_text()}"
            )
        expect(mounted).to_contain_text(f"mnt/datasets/{name}")
        _shot(page, "datasets-06-mounted.png")

        output = _run_in_new_notebook(
            page,
            "import os\n"
            f"print(open(os.path.expanduser('~/mnt/datasets/{name}/data.jsonl')).read())",
        )
        expect(output).to_contain_text(FIXED_INSTRUCTION, timeout=90_000)
        expect(output).to_contain_text("Translate to French.")
        _shot(page, "datasets-07-notebook.png")


MODEL_CONFIG = {"model_type": "llama", "hidden_size": 128}


def _write_model_archive(folder: Path) -> Path:
    """A .tar.gz of a model folder: a config and 9 MiB of weights (two upload chunks)."""
    path = folder / "model.tar.gz"
    members = {
        "config.json": json.dumps(MODEL_CONFIG).encode(),
        "weights.bin": os.urandom(9 * 1024 * 1024),
    }
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_model_create_import_download_share_mount_from_the_panel(
    hub: Hub,
    page: Page,  # noqa: F811
    tmp_path: Path,
) -> None:
    _require_labextension()
    user = f"model-{secrets.token_hex(3)}"
    name = f"llama-{secrets.token_hex(3)}"
    archive = _write_model_archive(tmp_path)

    # The first try of the second chunk dies on the way: the panel asks the platform what it
    # holds and sends the chunk again.
    chunks: list[str] = []

    def flaky(route: Route) -> None:
        if route.request.method == "PUT":
            chunks.append(route.request.url)
            if len(chunks) == 2:
                route.abort()
                return
        route.continue_()

    with _evidence_on_failure(page, hub, user, "models"):
        panel = _open_panel(page, hub, user)
        page.route("**/sxwl/api/v1/uploads/*", flaky)
        panel.get_by_test_id("sxwl-tab-models").click()
        expect(panel.get_by_test_id("sxwl-model-list")).to_be_visible()

        # --- create: then the import form is open -------------------------------------------
        panel.get_by_test_id("sxwl-model-create").click()
        form = panel.get_by_test_id("sxwl-model-form")
        form.get_by_test_id("sxwl-model-name").fill(name)
        form.get_by_test_id("sxwl-model-family").fill("llama")
        form.get_by_test_id("sxwl-model-submit").click()
        detail = panel.get_by_test_id("sxwl-model-detail")
        expect(detail.locator("h3")).to_have_text(name)
        importer = detail.get_by_test_id("sxwl-model-import")
        expect(importer).to_be_visible()
        expect(detail.get_by_test_id("sxwl-model-import-open")).to_have_attribute(
            "aria-expanded", "true"
        )

        # --- import a version from a local archive ------------------------------------------
        importer.get_by_test_id("sxwl-model-import-notes").fill("from my laptop")
        importer.get_by_test_id("sxwl-model-upload-file").set_input_files(str(archive))
        importer.get_by_test_id("sxwl-model-upload-button").click()
        version = detail.locator('[data-testid="sxwl-model-version"][data-version="1"]')
        expect(version).to_have_attribute("data-status", "ready", timeout=90_000)
        assert len(chunks) == 3, chunks  # two chunks, the second one sent twice
        assert all("offset=" in url for url in chunks)
        expect(version).to_contain_text("2 files")
        expect(version).to_contain_text("from my laptop")
        _shot(page, "models-01-imported.png")

        # --- its files, one downloaded ------------------------------------------------------
        version.get_by_test_id("sxwl-model-version-toggle").click()
        link = version.locator('[data-testid="sxwl-model-file"][data-path="config.json"]')
        expect(link).to_be_visible(timeout=15_000)
        expect(version.locator('[data-path="weights.bin"]')).to_be_visible()
        expect(version.get_by_test_id("sxwl-model-archive")).to_be_visible()
        with page.expect_download() as download_info:
            link.click()
        download = download_info.value
        assert download.suggested_filename == "config.json"
        assert json.loads(Path(download.path()).read_text()) == MODEL_CONFIG
        _shot(page, "models-02-files.png")

        # --- a share token, shown once, listed and revoked ----------------------------------
        detail.get_by_test_id("sxwl-model-share").click()
        share = detail.get_by_test_id("sxwl-share")
        share.get_by_test_id("sxwl-share-create").click()
        token = share.get_by_test_id("sxwl-share-token")
        expect(token).not_to_have_value("")
        expect(share.get_by_test_id("sxwl-share-row")).to_have_attribute("data-status", "active")
        _shot(page, "models-03-shared.png")
        revoked = token.input_value()
        share.get_by_test_id("sxwl-share-revoke").click()
        expect(share.get_by_test_id("sxwl-share-row")).to_have_attribute("data-status", "revoked")

        # --- mount in the lab ---------------------------------------------------------------
        detail.get_by_test_id("sxwl-model-mount").click()
        detail.get_by_test_id("sxwl-mount-button").click()
        expect(detail.get_by_test_id("sxwl-mount-path")).to_contain_text(f"mnt/models/{name}")
        _shot(page, "models-04-mounted.png")

        # --- delete the version -------------------------------------------------------------
        version.get_by_test_id("sxwl-model-version-delete").click()
        page.locator(".jp-Dialog .jp-mod-warn").click()
        expect(version).to_have_count(0, timeout=15_000)

        # Back in the list: the model with no version.
        detail.get_by_test_id("sxwl-back").click()
        row = panel.get_by_test_id(f"sxwl-model-row-{name}")
        expect(row).to_contain_text("0 versions")
        expect(row.get_by_test_id("sxwl-access")).to_have_attribute("data-access", "owner")

        # --- import by token: the form's own check, then the platform's refusal at the field --
        panel.get_by_test_id("sxwl-model-import-shared").click()
        form = panel.get_by_test_id("sxwl-model-shared-form")
        form.get_by_test_id("sxwl-model-shared-submit").click()
        error = form.get_by_test_id("sxwl-model-shared-error-token")
        expect(error).to_contain_text("paste the share token")
        form.get_by_test_id("sxwl-model-shared-token").fill(revoked)
        form.get_by_test_id("sxwl-model-shared-submit").click()
        expect(error).to_contain_text("revoked by its owner")
        form.get_by_role("button", name="Cancel").click()
        expect(panel.get_by_test_id("sxwl-model-list")).to_be_visible()


RANKED = {
    "prompt": "Say hello.",
    "candidates": [
        {"text": "Hello!", "relevance_rank": 1, "safety_rank": 1},
        {"text": "Go away.", "relevance_rank": 2, "safety_rank": 2},
    ],
}
BROKEN_LINE = '{"prompt": "Say bye.", "candidates": ['
REPAIRED = {"prompt": "Say bye.", "candidates": [{"text": "Bye!"}, {"text": "Later."}]}


def test_ranking_annotation_reorder_restore_and_raw_record_fix(
    hub: Hub,
    page: Page,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A ranking dataset: candidates moved and put back in their imported order, a line that
    is not JSON fixed in the raw editor, a record added and deleted again."""
    _require_labextension()
    user = f"rank-{secrets.token_hex(3)}"
    name = f"rank-{secrets.token_hex(3)}"
    data_file = tmp_path / "ranking.jsonl"
    data_file.write_text(json.dumps(RANKED) + "\n" + BROKEN_LINE + "\n")

    with _evidence_on_failure(page, hub, user, "ranking"):
        panel = _open_panel(page, hub, user)
        panel.get_by_test_id("sxwl-tab-datasets").click()
        panel.get_by_test_id("sxwl-dataset-create").click()
        form = panel.get_by_test_id("sxwl-dataset-form")
        form.get_by_test_id("sxwl-dataset-name").fill(name)
        form.get_by_test_id("sxwl-dataset-annotation_type").select_option("ranking")
        form.get_by_test_id("sxwl-dataset-submit").click()

        detail = panel.get_by_test_id("sxwl-dataset-detail")
        detail.get_by_test_id("sxwl-ds-import").click()
        detail.get_by_test_id("sxwl-import-upload-file").set_input_files(str(data_file))
        detail.get_by_test_id("sxwl-import-upload-button").click()
        row = detail.get_by_test_id("sxwl-import-row").first
        expect(row).to_have_attribute("data-status", "succeeded", timeout=60_000)
        expect(row.get_by_test_id("sxwl-import-summary")).to_contain_text("1 invalid")
        expect(row.get_by_test_id("sxwl-import-problems")).to_contain_text("ranking.jsonl:2")

        # --- record 1: move a candidate, save, restore the default order --------------------
        detail.get_by_test_id("sxwl-ds-annotate").click()
        view = panel.get_by_test_id("sxwl-annotation")
        expect(view.get_by_test_id("sxwl-ann-position")).to_have_text("record 1 of 2")
        texts = view.get_by_test_id("sxwl-candidate-text")
        expect(texts).to_have_count(2)
        expect(texts.nth(0)).to_have_value("Hello!")
        view.get_by_test_id("sxwl-candidate-down").first.click()
        expect(texts.nth(0)).to_have_value("Go away.")
        view.get_by_test_id("sxwl-ann-save").click()
        expect(view.get_by_test_id("sxwl-ann-notice")).to_contain_text("Saved")
        expect(texts.nth(0)).to_have_value("Go away.")
        _shot(page, "ranking-01-reordered.png")
        view.get_by_test_id("sxwl-restore-order").click()
        expect(view.get_by_test_id("sxwl-ann-notice")).to_have_text("Default order restored.")
        expect(texts.nth(0)).to_have_value("Hello!")
        expect(view.get_by_test_id("sxwl-candidate-relevance_rank").nth(0)).to_have_value("1")

        # --- record 2: not JSON, fixed in the raw editor ------------------------------------
        view.get_by_test_id("sxwl-ann-next").click()
        expect(view.get_by_test_id("sxwl-ann-position")).to_have_text("record 2 of 2")
        raw = view.get_by_test_id("sxwl-record-json")
        expect(raw).to_have_value(BROKEN_LINE)
        expect(view.get_by_test_id("sxwl-record-issues")).to_be_visible()
        _shot(page, "ranking-02-raw-record.png")
        raw.fill("[1, 2]")
        view.get_by_test_id("sxwl-ann-save").click()
        expect(view.get_by_test_id("sxwl-ann-error")).to_contain_text("one JSON object")
        raw.fill(json.dumps(REPAIRED))
        view.get_by_test_id("sxwl-ann-save").click()
        expect(view.get_by_test_id("sxwl-record")).to_have_attribute("data-valid", "true")
        # Now an object, the record is edited in the ranking form.
        expect(view.get_by_test_id("sxwl-form-ranking")).to_be_visible()
        expect(texts.nth(1)).to_have_value("Later.")

        # --- add a record, then delete it ---------------------------------------------------
        view.get_by_test_id("sxwl-ann-add").click()
        expect(view.get_by_test_id("sxwl-ann-position")).to_have_text("record 3 of 3")
        expect(view.get_by_test_id("sxwl-issue-prompt")).to_be_visible()
        view.get_by_test_id("sxwl-ann-delete").click()
        page.locator(".jp-Dialog .jp-mod-warn").click()
        expect(view.get_by_test_id("sxwl-ann-position")).to_have_text("record 2 of 2")
        _shot(page, "ranking-03-after-delete.png")

        view.get_by_test_id("sxwl-back").click()
        expect(detail.get_by_test_id("sxwl-ds-stat-invalid")).to_contain_text("0 invalid")
        expect(detail.get_by_test_id("sxwl-ds-stat-records")).to_contain_text("2 records")
