"""The DAG editor and the live batch page in a real headless Chromium, with a real Celery worker."""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from executions.models import Batch
from tests.browser.conftest import batch_settled, login, screenshot
from tests.conftest import example, machine
from workflows.models import Team, Workflow
from workflows.services import workflow_save_definition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PlaywrightError = pytest.importorskip("playwright.sync_api").Error

RELEASE = example("release-pipeline.json")
TASKS = [(n["key"], n["task"]["name"], n["task"]["config"]) for n in RELEASE["nodes"] if n["type"] == "task"]


def centre(locator):
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def node(page, key):
    return page.locator(f'#dag-canvas .dag-node[data-key="{key}"]')


def edge(page, source, target):
    return page.locator(f'#dag-canvas .dag-edge[data-from="{source}"][data-to="{target}"]')


def click_edge(page, source, target):
    """Click a point of an edge's curve that no node covers (its bounding box's centre may be off the line)."""
    x, y = (
        edge(page, source, target)
        .locator(".line")
        .evaluate(
            """path => {
            const length = path.getTotalLength();
            for (const t of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
                const point = path.getPointAtLength(length * t);
                const screen = new DOMPoint(point.x, point.y).matrixTransform(path.getScreenCTM());
                if (path.parentNode.contains(document.elementFromPoint(screen.x, screen.y))) return [screen.x, screen.y];
            }
            throw new Error("every point of the edge is covered");
        }"""
        )
    )
    page.mouse.click(x, y)


def drag(page, start, end):
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def connect(page, source, target):
    """Drag from the source's output port onto the target node."""
    drag(page, centre(node(page, source).locator(".dag-port")), centre(node(page, target).locator(".shape")))
    edge(page, source, target).wait_for()


def wait_state(page, state):
    page.wait_for_selector(f'#dag-editor[data-state="{state}"]')


def test_build_the_release_pipeline_by_mouse_save_and_run_it(page, worker):
    Team.objects.create(name="platform")  # teams are made on the team page; the form offers them
    page.goto(f"{page.base}/admin/workflows/workflow/add/")
    wait_state(page, "valid")

    # Start from an empty canvas: the add page's example node goes.
    node(page, "hello").locator(".shape").click()
    page.click("#node-delete")
    page.mouse.click(*centre(page.locator("#dag-canvas")))  # the background: workflow settings
    page.fill("#wf-name", "release-pipeline")
    page.select_option("#id_team", "platform")

    for key, name, config in TASKS:
        page.click("#dag-add-task")
        page.fill("#node-key", key)
        page.press("#node-key", "Enter")
        page.fill("#task-name", name)
        page.fill("#task-script", config["script"])  # the shell form's script editor
        node(page, key).wait_for()
    page.click("#dag-add-and")
    page.fill("#node-key", "checks")
    page.press("#node-key", "Enter")
    node(page, "checks").wait_for()

    # Drag a node: its position lands in the definition.
    def notify_position():
        return next(n for n in json.loads(page.input_value("#id_definition"))["nodes"] if n["key"] == "notify")[
            "position"
        ]

    was = notify_position()
    before = centre(node(page, "notify").locator(".shape"))
    drag(page, before, (before[0] + 30, before[1] + 10))
    now = notify_position()
    assert now["x"] - was["x"] == pytest.approx(30, abs=2) and now["y"] - was["y"] == pytest.approx(10, abs=2)

    for source, target in [
        ("start", "pull"),
        ("pull", "scan"),
        ("pull", "unit"),
        ("scan", "checks"),
        ("unit", "checks"),
        ("checks", "build"),
        ("build", "deploy"),
        ("deploy", "rollback"),
        ("unit", "notify"),
    ]:
        connect(page, source, target)

    # A rule violation: a second upstream edge into the task `build` is highlighted with the message.
    connect(page, "scan", "build")
    wait_state(page, "invalid")
    page.wait_for_selector('#dag-canvas .dag-node[data-key="build"].invalid')
    assert "build" in page.inner_text("#dag-problems")
    assert edge(page, "scan", "build").evaluate("e => e.classList.contains('invalid')")
    screenshot(page, "editor-violation.png", "#dag-editor")
    click_edge(page, "scan", "build")
    page.click("#edge-delete")
    wait_state(page, "valid")

    # Failure edges and the core node.
    for source, target in [("deploy", "rollback"), ("unit", "notify")]:
        click_edge(page, source, target)
        page.click("#edge-toggle")
        page.wait_for_selector(f'.dag-edge.on-failure[data-from="{source}"][data-to="{target}"]')
    node(page, "deploy").locator(".shape").click()
    page.check("#node-core")
    page.click("#dag-layout")
    page.wait_for_function("document.querySelector('#dag-canvas .dag-node[data-key=rollback]') !== null")
    wait_state(page, "valid")
    page.set_viewport_size({"width": 1680, "height": 1000})  # a large screen, and a readable picture for the docs
    page.click("#dag-fit")
    screenshot(page, "editor.png", "#dag-editor")
    page.set_viewport_size({"width": 1366, "height": 900})

    page.click("input[name=_continue]")
    page.wait_for_url("**/change/")
    workflow = Workflow.objects.get(name="release-pipeline")
    saved = workflow.current_version.definition
    assert {(e["from"], e["to"], e.get("on")) for e in saved["edges"]} == {
        (e["from"], e["to"], e.get("on")) for e in RELEASE["edges"]
    }
    assert {(n["key"], n["type"], bool(n.get("core"))) for n in saved["nodes"]} == {
        (n["key"], n["type"], bool(n.get("core"))) for n in RELEASE["nodes"]
    }
    assert all("position" in n for n in saved["nodes"])
    wait_state(page, "valid")  # the saved definition reloads into the editor

    # Run it and watch the nodes change colour to their final states.
    page.click("#run-once")
    page.wait_for_url("**/executions/batch/*/change/")
    seen: set[str] = set()
    deadline = time.monotonic() + 45
    while page.get_attribute("#batch-live", "data-status") == "running" and time.monotonic() < deadline:
        with contextlib.suppress(PlaywrightError):  # the page reloads itself once when the batch ends
            seen.update(
                page.eval_on_selector_all("#dag-canvas .dag-node[data-status]", "ns => ns.map(n => n.dataset.status)")
            )
        time.sleep(0.1)
    batch_settled(page, "succeeded")  # the page as reloaded at the end
    assert page.get_attribute("#batch-live", "data-status") == "succeeded"
    assert seen & {"pending", "queued", "running"}, seen
    page.wait_for_selector('#dag-canvas .dag-node[data-key="deploy"][data-status="succeeded"]')
    final = dict(
        page.eval_on_selector_all(
            "#dag-canvas .dag-node[data-status]", "ns => ns.map(n => [n.dataset.key, n.dataset.status])"
        )
    )
    for key in ("pull", "scan", "unit", "checks", "build", "deploy"):
        assert final[key] == "succeeded", key
    assert final["rollback"] == final["notify"] == "skipped"
    assert page.locator("#batch-timeline .gantt-row .gantt-bar").count() == 5
    node(page, "deploy").locator(".shape").click()
    page.wait_for_selector("#node-output-text")
    assert "deploying" in page.inner_text("#node-output-text")
    assert page.is_visible("#rerun-batch") and not page.is_visible("#stop-batch")
    page.set_viewport_size({"width": 1680, "height": 1000})
    page.click("#dag-fit")
    screenshot(page, "batch.png", "#batch-live")


def test_stop_a_running_batch_from_its_page(page, worker):
    document = example("release-pipeline.json")
    document["nodes"][0]["task"]["config"]["script"] = "echo waiting; sleep 30"
    document["nodes"][0]["task"]["retries"] = 0
    workflow = workflow_save_definition(document=document, actor=machine()).workflow
    page.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    page.click("#run-once")
    page.wait_for_url("**/executions/batch/*/change/")
    page.wait_for_selector('#dag-canvas .dag-node[data-key="pull"][data-status="running"]', timeout=20_000)
    assert page.is_visible("#stop-batch") and not page.is_visible("#rerun-batch")
    started = time.monotonic()
    page.click("#stop-batch")
    assert "pull" in page.inner_text("#stop-running")  # the confirmation names what is running
    page.click("#confirm-stop")
    batch_settled(page, "stopped", timeout=20_000)  # reloaded when it ended
    assert time.monotonic() - started < 15
    page.wait_for_selector('#dag-canvas .dag-node[data-key="pull"][data-status="stopped"]')
    assert page.get_attribute('#dag-canvas .dag-node[data-key="deploy"]', "data-status") == "stopped"
    assert page.is_visible("#rerun-batch") and page.is_visible("#resume-batch") and not page.is_visible("#stop-batch")
    assert Batch.objects.get().status == "stopped"


def test_keyboard_import_json_sync_and_the_viewers_read_only_drawing(page, browser):
    from django.contrib.auth import get_user_model

    from workflows.models import Membership, Role
    from workflows.services import task_save

    workflow = workflow_save_definition(document=example("release-pipeline.json"), actor=machine()).workflow
    task_save(
        document={"team": workflow.team.name, "name": "shop-smoke", "kind": "shell", "config": {"script": "true"}},
        actor=machine(),
    )
    page.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    wait_state(page, "valid")

    # Import the team's standalone task and connect it with the keyboard only.
    page.click("#dag-import-task")
    page.select_option("#import-task-select", "shop-smoke")
    page.click("#import-task-add")
    node(page, "shop-smoke").wait_for()
    node(page, "deploy").focus()
    page.keyboard.press("Enter")
    page.select_option("#connect-target", "shop-smoke")
    page.click("#connect-button")
    edge(page, "deploy", "shop-smoke").wait_for()
    wait_state(page, "valid")
    definition = json.loads(page.input_value("#id_definition"))
    assert {"key": "shop-smoke", "type": "task", "task": "shop-smoke"}.items() <= next(
        n for n in definition["nodes"] if n["key"] == "shop-smoke"
    ).items()

    # Arrow keys move the focused node; Delete removes a focused edge.
    x = next(n for n in definition["nodes"] if n["key"] == "deploy")["position"]["x"]
    node(page, "deploy").focus()
    page.keyboard.press("Shift+ArrowRight")
    moved = json.loads(page.input_value("#id_definition"))
    assert next(n for n in moved["nodes"] if n["key"] == "deploy")["position"]["x"] == x + 40
    edge(page, "deploy", "shop-smoke").focus()
    page.keyboard.press("Delete")
    wait_state(page, "invalid")  # shop-smoke is now unreachable
    assert page.locator('#dag-canvas .dag-node[data-key="shop-smoke"].invalid').count() == 1

    # Edit as JSON: the canvas follows the textarea.
    page.click("#dag-json summary")
    document = json.loads(page.input_value("#id_definition"))
    document["nodes"] = [n for n in document["nodes"] if n["key"] != "shop-smoke"]
    document["nodes"].append({"key": "fan-in", "type": "or"})
    document["edges"] += [{"from": "scan", "to": "fan-in", "on": "failure"}, {"from": "fan-in", "to": "notify"}]
    document["edges"] = [e for e in document["edges"] if e["to"] != "notify" or e["from"] == "fan-in"]
    page.fill("#id_definition", json.dumps(document))
    node(page, "fan-in").wait_for()
    wait_state(page, "valid")
    assert page.locator('#dag-canvas .dag-node[data-key="shop-smoke"]').count() == 0
    page.click("input[name=_continue]")
    page.wait_for_url("**/change/")
    workflow.refresh_from_db()
    assert workflow.current_version.number == 2
    page.click("#version-history a.version-diff")
    assert "added <strong>fan-in</strong>" in page.content()

    # A viewer gets a read-only drawing (large screen).
    viewer = get_user_model().objects.create_user("victor", password="pw-victor-123", is_staff=True)
    Membership.objects.create(team=workflow.team, user=viewer, role=Role.VIEWER)

    other = login(browser, page.base, "victor", "pw-victor-123", viewport=(1920, 1200))
    other.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    other.wait_for_selector('#dag-drawing .dag-node[data-key="fan-in"]')
    assert other.locator("#dag-editor").count() == 0 and other.locator("#dag-drawing .dag-port").count() == 0
    other.context.close()
