"""The console in Chinese, in a real Chromium whose language is zh-CN: the scripts' words too.

The server-drawn pages are checked word by word in tests/admin/test_i18n.py; here the editor's,
the drawing's and the batch page's scripts draw in Chinese from the JavaScript catalogue, and the
header's language select switches a user to English and back. With BATON_SCREENSHOTS=1 the pages
are saved to docs/ (*.zh-hans.png) beside the English ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from executions.lifecycle import batch_start
from tests.browser.conftest import batch_settled, screenshot
from tests.browser.test_editor_and_batch import node, wait_state
from tests.conftest import example, machine
from workflows.services import workflow_save_definition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
JS_CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "djangojs.po"


def script_phrases() -> set[str]:
    """Return the English parts of the scripts' msgids (two words or more), placeholders cut out."""
    phrases = set()
    for msgid in re.findall(r'^msgid "(.+)"$', JS_CATALOGUE.read_text(encoding="utf-8"), flags=re.M):
        for part in re.split(r"%\([a-z_]+\)s", msgid):
            part = " ".join(part.split()).strip(" .,:;()—-…→")
            if len(re.findall(r"[A-Za-z]{2,}", part)) >= 2:
                phrases.add(part)
    return phrases


@pytest.fixture
def chinese(browser, live_server):
    """A superuser's page in a browser that asks for zh-CN."""
    get_user_model().objects.create_superuser("li", "", "pw-li-12345")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/")
    assert page.get_attribute("html", "lang") == "zh-hans"
    page.fill("#id_username", "li")
    page.fill("#id_password", "pw-li-12345")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.base = live_server.url
    yield page
    context.close()


def english_in(text: str) -> list[str]:
    return sorted(phrase for phrase in script_phrases() if phrase in text)


def test_the_editor_speaks_chinese(chinese):
    workflow = workflow_save_definition(document=example("release-pipeline.json"), actor=machine()).workflow
    chinese.goto(f"{chinese.base}/admin/workflows/workflow/{workflow.pk}/change/")
    wait_state(chinese, "valid")
    assert chinese.inner_text("#dag-add-task") == "+ 任务"
    assert chinese.inner_text("#dag-json summary") == "以 JSON 编辑"
    assert chinese.inner_text("#dag-panel h3") == "工作流"
    node(chinese, "build").locator(".shape").click()
    assert chinese.inner_text("#dag-panel h3") == "任务节点"
    assert "核心节点" in chinese.inner_text("#dag-panel")
    screenshot(chinese, "editor.zh-hans.png", "#dag-editor")
    assert not english_in(chinese.inner_text("#dag-editor"))
    # A broken edit: the validator's words (a pure core's, translated at the edge) are Chinese too.
    chinese.click("#dag-json summary")
    broken = {**example("release-pipeline.json"), "nodes": [{"key": "a", "type": "or"}], "edges": []}
    chinese.fill("#id_definition", json.dumps(broken))
    wait_state(chinese, "invalid")
    problems = chinese.inner_text("#dag-problems")
    assert "逻辑节点" in problems and "修复之前无法保存" in chinese.inner_text("#dag-status"), problems
    assert not re.search(r"[A-Za-z]{3,} [a-z]{3,} [a-z]{3,}", problems), problems


def test_the_batch_page_speaks_chinese(chinese, worker):
    document = {
        "name": "nightly",
        "team": "platform",
        "nodes": [
            {
                "key": "extract",
                "type": "task",
                "task": {"name": "extract", "kind": "shell", "config": {"script": "echo x"}},
            },
            {"key": "load", "type": "task", "task": {"name": "load", "kind": "shell", "config": {"script": "exit 3"}}},
        ],
        "edges": [{"from": "start", "to": "extract"}, {"from": "extract", "to": "load", "on": "success"}],
    }
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    batch = batch_start(workflow=workflow, actor=machine())
    chinese.goto(f"{chinese.base}/admin/executions/batch/{batch.pk}/change/")
    batch_settled(chinese, "failed")
    assert chinese.inner_text("#batch-status") == "失败"
    node(chinese, "load").locator(".shape").click()
    chinese.wait_for_selector("#node-output-outcome")
    assert chinese.inner_text("#node-output h3") == "节点 load"
    assert chinese.inner_text("#node-output-outcome") == "退出码 3"
    assert chinese.inner_text("#node-output-text") == "（无输出） — 退出码 3"
    assert "重新执行" in chinese.inner_text("#content") and "断点续跑" in chinese.inner_text("#content")
    screenshot(chinese, "batch.zh-hans.png", "#batch-live")
    assert not english_in(chinese.inner_text("#batch-live"))
    chinese.goto(f"{chinese.base}/admin/executions/batch/")
    assert "选择 批次 来查看" in chinese.inner_text("#content") or "批次" in chinese.inner_text("#content h1")
    screenshot(chinese, "batches.zh-hans.png")


def test_the_header_switches_the_language_and_it_sticks(browser, live_server):
    """An English browser, a user who picks 中文 in the header: every later page is Chinese, until switched back."""
    get_user_model().objects.create_superuser("ann", "", "pw-ann-12345")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ann")
    page.fill("#id_password", "pw-ann-12345")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert page.get_attribute("html", "lang") == "en"
    page.select_option("#language-choice", "zh-hans")
    page.wait_for_selector('html[lang="zh-hans"]')
    assert "执行记录" in page.inner_text("#content")
    page.goto(f"{live_server.url}/admin/executions/batch/")
    assert page.get_attribute("html", "lang") == "zh-hans"
    page.select_option("#language-choice", "en")
    page.wait_for_selector('html[lang="en"]')
    assert "Select batch to view" in page.inner_text("#content")
    context.close()
