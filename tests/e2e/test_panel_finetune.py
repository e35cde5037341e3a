"""The panel's Fine-tune tab in a real browser, against a hub whose platform builds the tiny
local Llama (sxwl-tiny-llama) and publishes the preset datasets.

An ordinary user opens the form (the tiny model is preselected), is told at the field what is
missing or out of range, imports a LLaMA-Factory YAML file that fills the form, sets a
parameter under "Advanced", starts the fine-tune on the preset instruction dataset and watches
the loss curve grow step by step until the run succeeds. A second test evaluates a finished
fine-tune from its detail (ROUGE and BLEU-4 shown, predictions linked) and exports it as a new
model version.

Uses the browser fixture and helpers of test_panel.py; screenshots of each step are saved
under test-output/screenshots/.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

# `page` is test_panel.py's browser fixture, shared by importing it.
from tests.e2e.test_panel import (  # noqa: F401
    _evidence_on_failure,
    _open_panel,
    _require_labextension,
    _shot,
    page,
)
from tests.support import TINY_MODEL, Hub, start_tiny_hub

pytestmark = pytest.mark.e2e

DATASET = "alpaca_en_demo"
# On a quiet machine the tiny model runs about 13 steps a second: enough steps that the run
# cannot end between the panel showing step STOP_AT and the stop taking effect.
STEPS = 300
# Stopped once the curve has this many points: past the checkpoint at step 20.
STOP_AT = 22
FINAL = {"Succeeded", "Failed", "Stopped", "TimedOut"}
# What the panel shows for a value not known yet (an en dash).
NO_VALUE = "\u2013"

YAML = f"""\
### a LLaMA-Factory training file
model_name_or_path: {TINY_MODEL}
stage: sft
do_train: true
finetuning_type: lora
lora_target: all
dataset: {DATASET}
template: alpaca
cutoff_len: 128
per_device_train_batch_size: 4
learning_rate: 5.0e-4
num_train_epochs: 1.0
logging_steps: 1
output_dir: saves/tiny/lora/sft
"""


@pytest.fixture(scope="module")
def ft_hub() -> Iterator[Hub]:
    """A hub whose platform builds the tiny model, ready once model and dataset are."""
    with start_tiny_hub("panel-finetune") as hub:
        _wait_catalogue(hub, hub.token_for("ft-setup"))
        yield hub


def _api(hub: Hub, token: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method,
        f"{hub.platform_url}{path}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
        **kwargs,
    )


def _wait_catalogue(hub: Hub, token: str, timeout: float = 240) -> None:
    """Wait until the tiny model has a ready version and the preset dataset is published."""
    deadline = time.monotonic() + timeout
    while True:
        models = {m["name"]: m for m in _api(hub, token, "GET", "models").json()["models"]}
        datasets = {d["name"]: d for d in _api(hub, token, "GET", "datasets").json()["datasets"]}
        tiny = (models.get(TINY_MODEL) or {}).get("latest") or {}
        if tiny.get("status") == "failed":
            pytest.fail(f"the tiny model failed to build: {tiny}\n{hub.platform_log()[-4000:]}")
        if tiny.get("status") == "ready" and (datasets.get(DATASET) or {}).get("latest_version"):
            return
        assert time.monotonic() < deadline, f"tiny model or {DATASET} not ready: {tiny}"
        time.sleep(1)


def _watch_curve(
    detail: Locator,
    until: Callable[[int, str | None], bool],
    *,
    ends: str | None = None,
    readings: int = 1,
    timeout: float = 300,
) -> list[int]:
    """Read the curve's number of points every 0.3 s until ``until(points, status)`` holds
    and at least ``readings`` distinct numbers were seen; return them. A run that ends first
    (with another status than ``ends``) fails the test with its log."""
    curve = detail.get_by_test_id("sxwl-ft-curve")
    bad = FINAL - {ends}
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        points = int(curve.get_attribute("data-points") or 0)
        if points and (not seen or seen[-1] != points):
            seen.append(points)
        status = detail.get_attribute("data-status")
        if until(points, status) and len(seen) >= readings:
            return seen
        assert status not in bad, (
            f"fine-tune {detail.get_attribute('data-ft-id')} ended {status} (points {seen}); "
            f"log:\n{detail.get_by_test_id('sxwl-log-view').inner_text()}"
        )
        assert time.monotonic() < deadline, f"curve points seen: {seen}, status {status}"
        time.sleep(0.3)


def _open_tab(page: Page, hub: Hub, user: str) -> Locator:  # noqa: F811
    panel = _open_panel(page, hub, user)
    panel.get_by_test_id("sxwl-tab-finetune").click()
    expect(panel.get_by_test_id("sxwl-ft-list")).to_be_visible()
    return panel


def test_create_a_finetune_from_the_form_and_watch_the_loss_curve_grow(
    ft_hub: Hub,
    page: Page,  # noqa: F811
) -> None:
    _require_labextension()
    hub = ft_hub
    user = f"ft-{secrets.token_hex(3)}"
    name = f"tiny-sft-{secrets.token_hex(3)}"

    with _evidence_on_failure(page, hub, user, "finetune"):
        panel = _open_tab(page, hub, user)
        expect(panel.get_by_test_id("sxwl-ft-list")).to_contain_text("No fine-tunes yet")
        panel.get_by_test_id("sxwl-ft-new").click()
        form = panel.get_by_test_id("sxwl-ft-form")

        # --- sensible defaults: the tiny preset model, LoRA, the platform's parameters ------
        expect(form.get_by_test_id("sxwl-ft-model")).to_have_value(TINY_MODEL, timeout=30_000)
        expect(form.get_by_test_id("sxwl-ft-method")).to_have_value("LoRA")
        expect(form.get_by_test_id("sxwl-ft-learning_rate")).not_to_have_value("")
        expect(form.get_by_test_id("sxwl-ft-name")).to_have_value(re.compile(r"^sft-\d{4}-\d{4}$"))
        expect(form.get_by_test_id(f"sxwl-ft-dataset-{DATASET}")).not_to_be_checked()
        # A ranking dataset cannot feed SFT: it is not offered.
        expect(form.get_by_test_id("sxwl-ft-dataset-ranking_demo")).to_have_count(0)

        # --- no dataset ticked: said at the datasets, before any request -------------------
        form.get_by_test_id("sxwl-ft-submit").click()
        expect(form.get_by_test_id("sxwl-ft-error-datasets")).to_be_visible()

        # --- a LLaMA-Factory YAML file fills the form -----------------------------------------
        form.get_by_test_id("sxwl-ft-yaml-toggle").click()
        form.get_by_test_id("sxwl-ft-yaml").fill("learning_rat: 0.1\n")
        form.get_by_test_id("sxwl-ft-yaml-apply").click()
        expect(form.get_by_test_id("sxwl-ft-error-yaml")).to_contain_text("learning_rate")
        form.get_by_test_id("sxwl-ft-yaml").fill(YAML)
        form.get_by_test_id("sxwl-ft-yaml-apply").click()
        notice = form.get_by_test_id("sxwl-ft-yaml-notice")
        expect(notice).to_contain_text("output_dir")
        expect(form.get_by_test_id(f"sxwl-ft-dataset-{DATASET}")).to_be_checked()
        expect(form.get_by_test_id("sxwl-ft-cutoff_len")).to_have_value("128")
        expect(form.get_by_test_id("sxwl-ft-template")).to_have_value("alpaca")
        expect(form.get_by_test_id("sxwl-ft-error-datasets")).to_have_count(0)
        _shot(page, "finetune-01-yaml-imported.png")

        # --- the platform's checks come back at the fields ------------------------------------
        form.get_by_test_id("sxwl-ft-name").fill(name)
        form.get_by_test_id("sxwl-ft-learning_rate").fill("5")
        form.get_by_test_id("sxwl-ft-submit").click()
        lr_error = form.get_by_test_id("sxwl-ft-error-learning_rate")
        expect(lr_error).to_be_visible()
        expect(lr_error).to_contain_text("out of range")
        # An error under "Advanced" opens the fold and shows at its input.
        form.get_by_test_id("sxwl-ft-learning_rate").fill("0.0005")
        form.get_by_test_id("sxwl-ft-advanced").click()
        form.get_by_test_id("sxwl-ft-lora_dropout").fill("1.5")
        form.get_by_test_id("sxwl-ft-advanced").click()  # closed again
        form.get_by_test_id("sxwl-ft-submit").click()
        expect(form.get_by_test_id("sxwl-ft-error-lora_dropout")).to_be_visible()
        expect(form.get_by_test_id("sxwl-ft-lora_dropout")).to_be_visible()
        form.get_by_test_id("sxwl-ft-lora_dropout").fill("0")
        form.get_by_test_id("sxwl-ft-max_steps").fill(str(STEPS))
        form.get_by_test_id("sxwl-ft-save_steps").fill("20")
        _shot(page, "finetune-02-advanced.png")
        form.get_by_test_id("sxwl-ft-submit").click()

        # --- the detail: the curve grows point by point until the run succeeds ---------------
        detail = panel.locator('[data-testid="sxwl-ft-detail"][data-status]')
        expect(detail).to_be_visible(timeout=30_000)
        ft_id = detail.get_attribute("data-ft-id")
        assert ft_id and ft_id.startswith("ft-"), ft_id
        expect(detail.locator("h3")).to_have_text(name)
        expect(detail.get_by_test_id("sxwl-ft-method")).to_have_text("LoRA")

        curve = detail.get_by_test_id("sxwl-ft-curve")
        # Watched past the checkpoint, and until the curve was seen to grow (the panel re-reads
        # it every few seconds: its first reading may already be past the checkpoint).
        seen = _watch_curve(detail, lambda points, status: points >= STOP_AT, readings=2)
        assert len(seen) >= 2, f"the curve did not grow while the run was watched: {seen}"
        assert seen == sorted(seen), seen
        expect(detail.get_by_test_id("sxwl-ft-step")).to_contain_text(f"of {STEPS}")
        expect(detail.get_by_test_id("sxwl-ft-loss")).not_to_have_text(NO_VALUE)
        expect(detail.get_by_test_id("sxwl-ft-eta")).not_to_have_text(NO_VALUE)
        _shot(page, "finetune-03-curve-growing.png")

        # --- stop after a checkpoint, resume: it ends at the same step count ---------------------
        detail.get_by_test_id("sxwl-ft-stop").click()
        expect(detail).to_have_attribute("data-status", "Stopped", timeout=60_000)
        stopped_at = int(curve.get_attribute("data-last-step") or 0)
        assert STOP_AT <= stopped_at < STEPS, stopped_at
        detail.get_by_test_id("sxwl-ft-resume").click()
        expect(detail).not_to_have_attribute("data-status", "Stopped", timeout=30_000)
        _watch_curve(
            detail,
            lambda points, status: status == "Succeeded" and points == STEPS,
            ends="Succeeded",
        )
        expect(detail.get_by_test_id("sxwl-ft-step")).to_have_text(f"{STEPS} of {STEPS}")
        expect(detail.get_by_test_id("sxwl-ft-done")).to_be_visible(timeout=15_000)
        expect(detail.get_by_test_id("sxwl-ft-tps")).not_to_have_text(NO_VALUE)
        expect(detail.get_by_test_id("sxwl-ft-memory")).not_to_have_text(NO_VALUE)
        expect(curve.locator("polyline")).to_have_count(1)
        expect(detail.get_by_test_id("sxwl-log-view")).not_to_have_text("Waiting for output…")
        _shot(page, "finetune-04-succeeded.png")

        # --- the list shows it with its method and a full progress bar -------------------------
        detail.get_by_test_id("sxwl-back").click()
        row = panel.get_by_test_id(f"sxwl-ft-row-{ft_id}")
        expect(row).to_be_visible()
        expect(row.get_by_test_id("sxwl-ft-method")).to_have_text("LoRA")
        expect(row.get_by_test_id("sxwl-job-status")).to_have_attribute("data-status", "Succeeded")
        expect(row.get_by_test_id("sxwl-ft-row-progress")).to_have_attribute("data-percent", "100")

        # --- delete it (after a confirmation): it leaves the list ------------------------------
        row.click()
        detail.get_by_test_id("sxwl-ft-delete").click()
        page.locator(".jp-Dialog button.jp-mod-warn").click()
        expect(panel.get_by_test_id("sxwl-ft-list")).to_be_visible()
        expect(panel.get_by_test_id(f"sxwl-ft-row-{ft_id}")).to_have_count(0)


def _create_by_api(hub: Hub, token: str, name: str) -> dict[str, Any]:
    r = _api(
        hub,
        token,
        "POST",
        "finetunes",
        json={
            "name": name,
            "model": TINY_MODEL,
            "datasets": [{"name": DATASET}],
            "params": {
                "template": "alpaca",
                "cutoff_len": 128,
                "per_device_train_batch_size": 4,
                "learning_rate": 5e-4,
                "max_steps": 10,
                "val_size": 8,
                "max_new_tokens": 8,
            },
        },
    )
    assert r.status_code == 201, r.text
    ft: dict[str, Any] = r.json()
    deadline = time.monotonic() + 300
    while ft["status"] not in FINAL:
        assert time.monotonic() < deadline, ft
        time.sleep(1)
        ft = _api(hub, token, "GET", f"finetunes/{ft['id']}").json()
    assert ft["status"] == "Succeeded", ft
    return ft


def test_evaluate_and_export_a_finetune_from_its_detail(
    ft_hub: Hub,
    page: Page,  # noqa: F811
) -> None:
    _require_labextension()
    hub = ft_hub
    user = f"ft-{secrets.token_hex(3)}"
    ft = _create_by_api(hub, hub.token_for(user), f"tiny-eval-{secrets.token_hex(3)}")
    model_name = f"tiny-sft-{secrets.token_hex(3)}"

    with _evidence_on_failure(page, hub, user, "finetune-eval"):
        panel = _open_tab(page, hub, user)
        panel.get_by_test_id(f"sxwl-ft-row-{ft['id']}").click()
        detail = panel.locator('[data-testid="sxwl-ft-detail"][data-status="Succeeded"]')
        expect(detail).to_be_visible(timeout=30_000)
        expect(detail.get_by_test_id("sxwl-ft-curve")).to_have_attribute("data-points", "10")

        # --- evaluate on the validation split: the four scores and the predictions -----------
        section = detail.get_by_test_id("sxwl-ft-evaluate")
        section.locator("summary").click()
        section.get_by_test_id("sxwl-ft-eval-max_samples").fill("4")
        section.get_by_test_id("sxwl-ft-eval-start").click()
        evaluation = section.get_by_test_id("sxwl-ft-evaluation").first
        expect(evaluation).to_have_attribute("data-status", "succeeded", timeout=180_000)
        scores = evaluation.get_by_test_id("sxwl-ft-scores")
        for label in ("ROUGE-1", "ROUGE-2", "ROUGE-L", "BLEU-4"):
            expect(scores).to_contain_text(label)
        link = evaluation.get_by_test_id("sxwl-ft-predictions")
        href = link.get_attribute("href") or ""
        with page.expect_download() as download:
            link.click()
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines and '"predict"' in lines[0], (href, lines[:2])
        _shot(page, "finetune-05-evaluated.png")

        # --- export the adapter merged into the base: a new model version --------------------
        section = detail.get_by_test_id("sxwl-ft-export")
        if not section.get_by_test_id("sxwl-ft-export-model_name").is_visible():
            section.locator("summary").click()
        section.get_by_test_id("sxwl-ft-export-model_name").fill(model_name)
        section.get_by_test_id("sxwl-ft-export-merge").check()
        section.get_by_test_id("sxwl-ft-export-start").click()
        row = section.get_by_test_id("sxwl-ft-export-row").first
        expect(row).to_have_attribute("data-status", "ready", timeout=180_000)
        expect(row.get_by_test_id("sxwl-ft-export-model")).to_have_text(f"{model_name} v1")
        _shot(page, "finetune-06-exported.png")

        # The new version is in the Models tab.
        panel.get_by_test_id("sxwl-tab-models").click()
        expect(panel.get_by_test_id(f"sxwl-model-row-{model_name}")).to_be_visible()
