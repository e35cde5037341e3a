"""The panel's Services tab and the Chat widget in a real browser, against a hub whose platform
builds the tiny local Llama (sxwl-tiny-llama).

An ordinary user deploys the tiny model from the form (told at the field what is missing),
watches it start, opens "Start chat", sends a message and sees the answer stream in through
the gateway, with the curl and Python snippets carrying the chat's key; back in the detail the
requests are counted on that key, a new key shows its secret once and is revoked, the service
is put to sleep and deleted.

Uses the browser fixture and helpers of test_panel.py; screenshots of each step are saved
under test-output/screenshots/.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

# `page` is test_panel.py's browser fixture, shared by importing it.
from tests.e2e.test_panel import (  # noqa: F401
    _evidence_on_failure,
    _open_panel,
    _require_labextension,
    _shot,
    page,
)
from tests.support import TINY_MODEL, Hub, start_tiny_hub, wait_tiny_model

pytestmark = pytest.mark.e2e

# Every text the last answer showed, in order, recorded in the page as it changes.
WATCH_ANSWER = """() => {
  window.sxwlAnswerTexts = [];
  const log = document.querySelector('[data-testid="sxwl-chat-log"]');
  new MutationObserver(() => {
    const answers = log.querySelectorAll('[data-testid="sxwl-chat-assistant"] .sxwl-chat-text');
    if (answers.length) {
      window.sxwlAnswerTexts.push(answers[answers.length - 1].textContent);
    }
  }).observe(log, { subtree: true, childList: true, characterData: true });
}"""


@pytest.fixture(scope="module")
def svc_hub() -> Iterator[Hub]:
    """A hub whose platform builds the tiny model, ready once the model is."""
    with start_tiny_hub("panel-services") as hub:
        wait_tiny_model(hub, "svc-setup")
        yield hub


def _open_tab(page: Page, hub: Hub, user: str) -> Locator:  # noqa: F811
    panel = _open_panel(page, hub, user)
    panel.get_by_test_id("sxwl-tab-services").click()
    expect(panel.get_by_test_id("sxwl-svc-list")).to_be_visible()
    return panel


def test_deploy_from_the_panel_chat_with_a_streamed_answer_and_manage_keys(
    svc_hub: Hub,
    page: Page,  # noqa: F811
) -> None:
    _require_labextension()
    hub = svc_hub
    user = f"svc-{secrets.token_hex(3)}"
    name = f"tiny-{secrets.token_hex(3)}"

    with _evidence_on_failure(page, hub, user, "services"):
        panel = _open_tab(page, hub, user)
        expect(panel.get_by_test_id("sxwl-svc-list")).to_contain_text("No services yet")
        panel.get_by_test_id("sxwl-svc-new").click()
        form = panel.get_by_test_id("sxwl-svc-form")

        # --- the tiny preset model is preselected; a missing name is said at the field -------
        expect(form.get_by_test_id("sxwl-svc-model")).to_have_value(TINY_MODEL, timeout=30_000)
        form.get_by_test_id("sxwl-svc-deploy").click()
        expect(form.get_by_test_id("sxwl-svc-error-name")).to_be_visible()
        # The platform's own checks come back at the field too.
        form.get_by_test_id("sxwl-svc-name").fill(name)
        form.get_by_test_id("sxwl-svc-cpu").fill("-1")
        form.get_by_test_id("sxwl-svc-deploy").click()
        expect(form.get_by_test_id("sxwl-svc-error-resources")).to_be_visible()
        form.get_by_test_id("sxwl-svc-cpu").fill("1")
        _shot(page, "services-01-form.png")
        form.get_by_test_id("sxwl-svc-deploy").click()

        # --- the detail: starting, then running, with its gateway address ----------------------
        detail = panel.locator('[data-testid="sxwl-svc-detail"][data-status]')
        expect(detail).to_be_visible(timeout=30_000)
        expect(detail).to_have_attribute("data-status", "running", timeout=180_000)
        expect(detail.get_by_test_id("sxwl-svc-address")).to_have_text(
            f"{hub.url}/services/sxwl/endpoints/{name}/"
        )
        expect(detail.get_by_test_id("sxwl-svc-model-text")).to_have_text(f"{TINY_MODEL} v1")
        _shot(page, "services-02-running.png")

        # --- Start chat: a main-area tab; the answer streams in ---------------------------------
        detail.get_by_test_id("sxwl-svc-chat").click()
        chat = page.locator('#jp-main-dock-panel [data-testid="sxwl-chat"]')
        expect(chat).to_be_visible(timeout=30_000)
        snippet = chat.get_by_test_id("sxwl-chat-snippet")
        expect(snippet).to_contain_text("from openai import OpenAI", timeout=30_000)
        expect(snippet).to_contain_text(f"/services/sxwl/endpoints/{name}/v1")
        expect(snippet).to_contain_text('api_key="sk-')
        chat.get_by_test_id("sxwl-chat-settings").locator("summary").click()
        chat.get_by_test_id("sxwl-chat-max-tokens").fill("64")
        page.evaluate(WATCH_ANSWER)
        chat.get_by_test_id("sxwl-chat-input").fill("Tell me a long story about the sea.")
        chat.get_by_test_id("sxwl-chat-send").click()
        answer = chat.get_by_test_id("sxwl-chat-assistant").last
        expect(answer.locator(".sxwl-chat-usage")).to_contain_text("answer tokens", timeout=120_000)
        expect(chat).to_have_attribute("data-streaming", "false")
        final = answer.locator(".sxwl-chat-text").inner_text()
        texts = [t for t in page.evaluate("window.sxwlAnswerTexts") if t and t != "…"]
        shown = list(dict.fromkeys(texts))
        assert final.strip() and len(shown) >= 2, f"the answer did not stream in: {shown}"
        assert all(final.startswith(t) for t in shown), shown  # it only ever grew
        expect(chat.get_by_test_id("sxwl-chat-user")).to_have_text(
            "Tell me a long story about the sea."
        )
        chat.get_by_test_id("sxwl-chat-snippet-curl").click()
        expect(snippet).to_contain_text("Authorization: Bearer sk-")
        expect(snippet).to_contain_text("Tell me a long story about the sea.")
        chat.get_by_test_id("sxwl-chat-snippet-signed").click()
        expect(snippet).to_contain_text('"Sign": sign')
        _shot(page, "services-03-chat.png")

        # --- back in the panel: the chat's key with its requests; a new key shown once --------
        keys = detail.get_by_test_id("sxwl-svc-keys")
        chat_key = keys.locator("tr", has_text="chat in JupyterLab")
        expect(chat_key).to_be_visible(timeout=30_000)
        expect(chat_key.locator("td").nth(2)).not_to_have_text("0", timeout=30_000)
        expect(detail.get_by_test_id("sxwl-svc-request-count")).not_to_have_text("0")
        keys.get_by_test_id("sxwl-svc-key-create").click()
        expect(keys.get_by_test_id("sxwl-svc-bearer")).to_have_text(re.compile(r"^sk-"))
        expect(keys.get_by_test_id("sxwl-svc-app-secret")).not_to_be_empty()
        _shot(page, "services-04-new-key.png")
        rows = keys.get_by_test_id("sxwl-svc-key-table").locator("tbody tr")
        expect(rows).to_have_count(2)
        rows.last.get_by_test_id("sxwl-svc-key-revoke").click()
        page.locator(".jp-Dialog button.jp-mod-warn").click()
        expect(rows).to_have_count(1)
        expect(keys.get_by_test_id("sxwl-svc-new-key")).to_have_count(0)

        # --- run records; sleep; delete ---------------------------------------------------------
        events = detail.get_by_test_id("sxwl-svc-events")
        expect(events.locator('[data-event="ready"]')).to_have_count(1)
        detail.get_by_test_id("sxwl-svc-sleep").click()
        expect(detail).to_have_attribute("data-status", "sleeping", timeout=60_000)
        expect(events.locator('[data-event="sleeping"]')).to_have_count(1, timeout=30_000)
        _shot(page, "services-05-sleeping.png")
        detail.get_by_test_id("sxwl-back").click()
        row = panel.locator(f'[data-svc-name="{name}"]')
        badge = row.get_by_test_id("sxwl-svc-status")
        expect(badge).to_have_attribute("data-status", "sleeping")
        # An LLM service sleeps with a standby process, and the list says so.
        expect(badge).to_have_text("sleeping · standby", timeout=30_000)
        row.click()
        detail.get_by_test_id("sxwl-svc-delete").click()
        page.locator(".jp-Dialog button.jp-mod-warn").click()
        expect(panel.get_by_test_id("sxwl-svc-list")).to_be_visible()
        expect(panel.locator(f'[data-svc-name="{name}"]')).to_have_count(0, timeout=30_000)
