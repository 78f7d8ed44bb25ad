"""Chinese and English: the main pages in zh-hans leave no Baton string in English; the switch sticks.

Each page is fetched as a zh-CN browser would ask for it (Accept-Language) by a logged-in user.
Its visible text (scripts, styles, <pre>, <textarea> and <code> left out: data, not words) must
show none of the catalogue's English texts, and no run of English words at all beyond the data
the test made and a few names that stay English (see docs/decisions.md, "Chinese and English").
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from baton.text import translated
from executions import lifecycle
from executions.models import Batch
from tests.conftest import machine
from workflows import graph
from workflows.services import task_save, workflow_save_definition

pytestmark = pytest.mark.django_db(transaction=True)  # the recorder gets work on commit

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
# Shown as they are in every language: names of things, formats and the language's own name.
STAYS = {"ID", "English", "JSON", "YAML", "Cron", "SPEC", "START", "AND", "OR", "API", "UTC", "Shell", "Http", "Python"}
# The data this test makes: keys, names and commands are the operator's, not Baton's words.
DATA = {"nightly", "platform", "extract", "load", "report", "root", "fail", "always", "echo", "exit"}
SKIPPED_TAGS = {"script", "style", "pre", "textarea", "code", "noscript", "title"}


class VisibleText(HTMLParser):
    """Collect the text nodes a person reads, and the button and label texts held in attributes.

    Left out: code and data (SKIPPED_TAGS), and what the page itself marks as English (`lang="en"`,
    such as the engine's event messages, kept as written like log lines).
    """

    def __init__(self) -> None:
        super().__init__()
        self.skipping: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in SKIPPED_TAGS or (attributes.get("lang") == "en" and tag != "html"):
            self.skipping.append(tag)
        if not self.skipping:
            if tag == "input" and attributes.get("type") in ("submit", "button") and attributes.get("value"):
                self.texts.append(attributes["value"])
            for name in ("title", "aria-label", "placeholder"):
                if attributes.get(name):
                    self.texts.append(attributes[name])

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.texts.append(" ".join(data.split()))


def visible_texts(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.texts


def catalogue_phrases() -> set[str]:
    """Return the literal English parts of every msgid: placeholders and tags cut out, two words or more."""
    phrases: set[str] = set()
    for msgid in re.findall(r'^msgid "(.+)"$', CATALOGUE.read_text(encoding="utf-8"), flags=re.M):
        text = msgid.replace('\\"', '"').replace("\\n", " ")
        for part in re.split(r"%\([a-z_]+\)[0-9]*[a-zA-Z]|%[sd]|\{\}|<[^>]+>", text):
            part = " ".join(part.split()).strip(" .,:;()—-")
            if len(re.findall(r"[A-Za-z]{2,}", part)) >= 2:
                phrases.add(part)
    return phrases


def catalogue_words() -> set[str]:
    """Return the one-word msgids (labels, statuses, headings): shown alone, they must not stay English."""
    msgids = re.findall(r'^msgid "([A-Za-z][a-z-]+)"$', CATALOGUE.read_text(encoding="utf-8"), flags=re.M)
    stays = {name.lower() for name in STAYS}
    return {msgid.lower() for msgid in msgids if msgid.lower() not in stays and msgid.lower() not in DATA}


def english_left(texts: list[str], data: tuple[str, ...] = ()) -> list[str]:
    """Return the texts that still read as English: a catalogue phrase or word, or two English words in a row."""
    phrases = catalogue_phrases()
    words_of_catalogue = catalogue_words()
    left = []
    for text in texts:
        for value in data:
            text = text.replace(value, " ")
        if text.strip().lower() in words_of_catalogue:
            left.append(text)
            continue
        if _english_run(text) or any(phrase in text for phrase in phrases):
            left.append(text)
    return left


def _english_run(text: str) -> bool:
    """Tell whether `text` holds two English words side by side, the allowed names and the data aside."""
    for match in re.finditer(r"[A-Za-z][A-Za-z'-]*(?:[ ,]+[A-Za-z][A-Za-z'-]*)+", text):
        run = 0
        for word in re.split(r"[ ,]+", match.group()):
            if word in STAYS or word.lower() in DATA or len(word) < 2:
                run = 0
                continue
            run += 1
            if run >= 2:
                return True
    return False


@pytest.fixture
def batch(platform, recorder) -> Batch:
    """A finished batch of workflow `nightly`: `extract` succeeds, `load` fails with exit status 3."""
    document = {
        "name": "nightly",
        "team": "platform",
        "trigger": {"type": "cron", "expression": "0 0 2 * * ?", "timezone": "Asia/Shanghai"},
        "nodes": [
            {
                "key": "extract",
                "type": "task",
                "task": {"name": "extract", "kind": "shell", "config": {"script": "echo"}},
            },
            {
                "key": "load",
                "type": "task",
                "core": True,
                "task": {"name": "load", "kind": "shell", "config": {"script": "exit 3"}},
            },
            {"key": "always", "type": "or"},
            {
                "key": "report",
                "type": "task",
                "task": {"name": "report", "kind": "shell", "config": {"script": "echo"}},
            },
        ],
        "edges": [
            {"from": "start", "to": "extract"},
            {"from": "extract", "to": "load", "on": "success"},
            {"from": "load", "to": "always", "on": "failure"},
            {"from": "extract", "to": "always", "on": "failure"},
            {"from": "always", "to": "report"},
        ],
    }
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    started = lifecycle.batch_start(workflow=workflow, actor=machine())
    recorder.drain()
    return Batch.objects.get(pk=started.pk)


@pytest.fixture
def zh(as_user):
    """The superuser's client, as a zh-CN browser."""
    client = as_user("root")
    client.defaults.update(ZH)
    return client


def pages(batch: Batch) -> dict[str, str]:
    document = {"name": "fail", "team": "platform", "kind": "shell", "config": {"script": "exit 1"}}
    task = task_save(document=document, actor=machine(), create=True)
    return {
        "admin index": reverse("admin:index"),
        "workflow list": reverse("admin:workflows_workflow_changelist"),
        "workflow page (editor)": reverse("admin:workflows_workflow_change", args=[batch.workflow_id]),
        "batch list": reverse("admin:executions_batch_changelist"),
        "batch page": reverse("admin:executions_batch_change", args=[batch.pk]),
        "re-run plan": reverse("admin:executions_batch_rerun", args=[batch.pk]) + "?resume=1",
        "task list": reverse("admin:workflows_task_changelist"),
        "task page": reverse("admin:workflows_task_change", args=[task.pk]),
        "fire list": reverse("admin:executions_fire_changelist"),
    }


def test_main_pages_in_zh_hans_leave_no_baton_string_in_english(zh, as_user, batch):
    english = {}
    for name, url in pages(batch).items():
        response = zh.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        assert '<html lang="zh-hans"' in html, name
        left = english_left(visible_texts(html), data=(batch.pk,))
        if left:
            english[f"{name} ({url})"] = sorted(set(left))
    # A viewer reads the definition instead of editing it: settings, nodes, edges, next fires.
    viewer = as_user("victor")
    html = viewer.get(reverse("admin:workflows_workflow_change", args=[batch.workflow_id]), **ZH).content.decode()
    assert "并行策略" in html and "跳过" in html
    left = english_left(visible_texts(html), data=(batch.pk,))
    if left:
        english["workflow page (viewer)"] = sorted(set(left))
    assert not english, f"English left on zh-hans pages: {english}"


def test_main_pages_show_the_consoles_chinese_terms(zh, batch):
    workflow_page = zh.get(reverse("admin:workflows_workflow_change", args=[batch.workflow_id])).content.decode()
    for term in ("工作流", "立即执行", "停用", "版本", "定义"):
        assert term in workflow_page, term
    assert 'src="/jsi18n/"' in workflow_page  # the editor's script translates with the catalogue
    batch_page = zh.get(reverse("admin:executions_batch_change", args=[batch.pk])).content.decode()
    for term in ("批次", "重新执行", "断点续跑", "失败", "节点输出", "时间线", "退出码 3"):
        assert term in batch_page, term
    index = zh.get(reverse("admin:index")).content.decode()
    for term in ("执行记录", "工作流", "批次", "任务", "团队"):
        assert term in index, term


def test_an_english_browser_still_reads_english(as_user, batch):
    client = as_user("root")
    html = client.get(reverse("admin:executions_batch_change", args=[batch.pk]), HTTP_ACCEPT_LANGUAGE="en-US").content
    text = html.decode()
    assert '<html lang="en"' in text and "Resume from failure" in text and "Node output" in text and "批次" not in text


def test_the_language_switch_sticks_for_the_user(as_user, batch):
    client = as_user("root")
    assert '<html lang="en"' in client.get(reverse("admin:index")).content.decode()
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("admin:index")})
    assert response.status_code == 302 and response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    # The cookie overrides what the browser asks for, on every later page.
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert '<html lang="zh-hans"' in html and "执行记录" in html
    assert 'id="language-select"' in html and 'value="zh-hans" selected' in html
    client.post(reverse("set_language"), {"language": "en", "next": reverse("admin:index")})
    assert '<html lang="en"' in client.get(reverse("admin:index"), **ZH).content.decode()


def test_the_javascript_catalogue_serves_the_editors_and_batch_pages_words(client):
    catalogue = _unescaped(client.get(reverse("baton_javascript_catalog"), **ZH).content.decode())
    for english, chinese in (("Edit as JSON", "以 JSON 编辑"), ("No task node has run yet.", "还没有任务节点运行。")):
        assert f'"{english}": "{chinese}"' in catalogue


def _unescaped(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def test_validators_speak_the_viewers_language(zh, platform):
    """The topology validator's and the cron parser's messages, written in pure code, are translated at the edge."""
    broken = {
        "name": "w",
        "team": "platform",
        "nodes": [{"key": "a", "type": "and"}],
        "edges": [{"from": "start", "to": "a"}],
    }
    body = zh.post(reverse("baton_workflow_validate"), {"definition": broken}, content_type="application/json").json()
    messages = [problem["message"] for problem in body["problems"]]
    assert any("逻辑节点" in message for message in messages), messages
    assert not english_left(messages), messages

    api = APIClient()
    api.force_authenticate(zh.get(reverse("admin:index")).wsgi_request.user)
    answer = api.get("/api/v1/cron-preview/", {"expression": "0 0 25 * * ?"}, **ZH)
    assert answer.status_code == 400
    assert "超出范围" in answer.json()["errors"][0]["message"], answer.json()
    created = api.post("/api/v1/workflows/", broken, format="json", **ZH)
    assert created.status_code == 400 and created.json()["detail"] == "定义无效。", created.json()
    assert all(not english_left([error["message"]]) for error in created.json()["errors"]), created.json()
    english = api.post("/api/v1/workflows/", broken, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "The definition is not valid."


def test_a_pure_core_message_is_english_until_translated_at_the_edge():
    violations = graph.validate(graph.Graph(nodes=[graph.Node(key="a", type="and")], edges=[graph.Edge("start", "a")]))
    message = next(v.message for v in violations if "downstream" in v.message)
    # The pure core speaks English to logs, tests and the CLI, and keeps what a translation needs.
    assert message == "node 'a' (and) has no downstream edge; a logic node needs at least one"
    catalogue = {
        "%(node)s has no downstream edge; a logic node needs at least one": "%(node)s 没有下游连线；逻辑节点至少需要一条",
        "node %(key)r (%(type)s)": "节点 %(key)r（%(type)s）",
    }
    assert (
        translated(message, lambda text: catalogue.get(text, text))
        == "节点 'a'（and） 没有下游连线；逻辑节点至少需要一条"
    )


def test_parameter_and_reference_problems_speak_the_viewers_language(zh, platform):
    """The run context's validators (parameters, references) are pure code too: translated at the edge."""
    task = {
        "name": "say",
        "kind": "shell",
        "config": {"script": "echo ${params.who}", "env": {"N": "${nodes.x.outputs.v}"}},
    }
    document = {
        "name": "w",
        "team": "platform",
        "params": {"count": {"type": "integer", "default": "three"}},
        "nodes": [{"key": "a", "type": "task", "task": task}],
        "edges": [{"from": "start", "to": "a"}],
    }
    api = APIClient()
    api.force_authenticate(zh.get(reverse("admin:index")).wsgi_request.user)
    created = api.post("/api/v1/workflows/", document, format="json", **ZH)
    assert created.status_code == 400, created.json()
    messages = {error["field"]: error["message"] for error in created.json()["errors"]}
    assert "必须是整数" in messages["params.count.default"], messages
    assert "引用永远不会拼接进脚本文本" in messages["nodes[0].task.config.script"], messages
    assert "引用了未知节点 'x'" in messages["nodes[0].task.config.env.N"], messages
    english = api.post("/api/v1/workflows/", document, format="json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert any("names an unknown node 'x'" in error["message"] for error in english["errors"]), english
