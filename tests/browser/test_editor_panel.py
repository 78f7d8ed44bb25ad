"""The DAG editor's side panel, keyboard and problem list in a real headless Chromium (no worker)."""

from __future__ import annotations

import json

import pytest

from tests.browser.test_editor_and_batch import edge, node, wait_state
from tests.conftest import example, machine
from workflows.services import workflow_save_definition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_release_pipeline(page):
    """Save the release pipeline and open its editor, checked by the validator."""
    workflow = workflow_save_definition(document=example("release-pipeline.json"), actor=machine()).workflow
    page.goto(f"{page.base}/admin/workflows/workflow/{workflow.pk}/change/")
    wait_state(page, "valid")
    return workflow


def definition(page) -> dict:
    return json.loads(page.input_value("#id_definition"))


def edge_pairs(page) -> set[tuple[str, str, str | None]]:
    return {(e["from"], e["to"], e.get("on")) for e in definition(page)["edges"]}


def test_the_panel_renames_switches_kinds_toggles_core_and_deletes(page):
    open_release_pipeline(page)

    # A taken key is refused on the field, and nothing changes.
    node(page, "unit").locator(".shape").click()
    page.fill("#node-key", "build")
    page.press("#node-key", "Enter")
    assert page.eval_on_selector("#node-key", "input => input.validationMessage") == "key is taken or reserved"
    assert ("unit", "checks", "success") in edge_pairs(page)

    # A rename rewrites the node's edges; a key may be a name of Object's prototype.
    page.fill("#node-key", "constructor")
    page.press("#node-key", "Enter")
    node(page, "constructor").wait_for()
    renamed = {
        ("pull", "constructor", "success"),
        ("constructor", "checks", "success"),
        ("constructor", "notify", "failure"),
    }
    assert renamed <= edge_pairs(page)
    assert not any("unit" in (source, target) for source, target, _ in edge_pairs(page))
    assert node(page, "constructor").get_attribute("data-status") is None  # the editor draws no run status
    assert edge(page, "constructor", "checks").count() == 1
    wait_state(page, "valid")

    # Another kind replaces the config with that kind's defaults.
    node(page, "scan").locator(".shape").click()
    page.select_option("#task-kind", "http")
    scan = next(n for n in definition(page)["nodes"] if n["key"] == "scan")
    assert scan["task"]["kind"] == "http"
    assert scan["task"]["config"] == {"method": "GET", "url": "https://example.com/", "expected_status": [200]}
    assert json.loads(page.input_value("#task-config")) == scan["task"]["config"]

    # "c" on the focused node toggles core, and the panel's checkbox follows.
    node(page, "scan").focus()
    page.keyboard.press("c")
    assert next(n for n in definition(page)["nodes"] if n["key"] == "scan")["core"] is True
    assert page.is_checked("#node-core")

    # "t" on the focused edge switches its trigger.
    edge(page, "pull", "scan").focus()
    page.keyboard.press("t")
    page.wait_for_selector('.dag-edge.on-failure[data-from="pull"][data-to="scan"]')
    assert ("pull", "scan", "failure") in edge_pairs(page)
    assert page.inner_text("#edge-toggle") == "Switch to success"

    # + OR adds a node and selects it; deleting a node takes its edges and shows the workflow's settings.
    page.click("#dag-add-or")
    node(page, "or").wait_for()
    assert page.input_value("#node-key") == "or"
    assert {"key": "or", "type": "or"}.items() <= next(n for n in definition(page)["nodes"] if n["key"] == "or").items()
    node(page, "constructor").locator(".shape").click()
    page.click("#node-delete")
    assert node(page, "constructor").count() == 0
    assert not any("constructor" in (source, target) for source, target, _ in edge_pairs(page))
    assert page.inner_text("#dag-panel h3") == "Workflow"


def test_problems_select_their_node_and_leave_no_stale_tooltip(page):
    open_release_pipeline(page)

    # A second upstream edge into the task `build`: marked, with the message in its tooltip.
    node(page, "scan").locator(".shape").click()
    page.select_option("#connect-target", "build")
    page.click("#connect-button")
    wait_state(page, "invalid")
    assert "⚠" in node(page, "build").locator("title").text_content()
    page.locator("#dag-problems li", has_text="build").first.click()
    assert page.input_value("#node-key") == "build"

    # Fixed: neither the mark nor the message stays.
    edge(page, "scan", "build").focus()
    page.keyboard.press("Delete")
    wait_state(page, "valid")
    assert not node(page, "build").evaluate("n => n.classList.contains('invalid')")
    assert "⚠" not in node(page, "build").locator("title").text_content()

    # Text that is not a JSON object is reported, and the drawing stays.
    page.click("#dag-json summary")
    good = page.input_value("#id_definition")
    page.fill("#id_definition", "[]")
    wait_state(page, "invalid")
    assert page.inner_text("#dag-problems") == "Edit as JSON: the definition must be a JSON object"
    assert node(page, "build").count() == 1
    page.fill("#id_definition", good)
    wait_state(page, "valid")


def test_a_python_task_picks_a_registered_callable_and_fills_its_arguments(page):
    open_release_pipeline(page)
    node(page, "scan").locator(".shape").click()
    page.select_option("#task-kind", "python")
    callables = page.eval_on_selector_all("#task-callable option", "os => os.map(o => o.value)")
    assert {"baton.echo", "baton.sleep", "baton.log"} <= set(callables)
    page.select_option("#task-callable", "baton.log")
    labels = page.eval_on_selector_all("#task-arguments label", "ls => ls.map(l => l.textContent)")
    assert labels == ["message (str)", "level (str)"]
    page.fill("#task-arg-message", "hello from the form")
    page.fill("#task-arg-level", '"warning"')
    scan = next(n for n in definition(page)["nodes"] if n["key"] == "scan")
    assert scan["task"]["config"] == {
        "callable": "baton.log",
        "kwargs": {"message": "hello from the form", "level": "warning"},
    }
    wait_state(page, "valid")
    assert page.locator("#task-extra-args").count() == 0  # baton.log names all it takes

    # A callable taking **kwargs: its named arguments, and a table for the others.
    page.select_option("#task-callable", "baton.echo")
    page.fill("#task-arg-message", "deployed")
    page.click("#task-extra-args-add")
    page.fill("#task-extra-args .pair-key >> nth=0", "ticket")
    page.fill("#task-extra-args .pair-value >> nth=0", "OPS-42")
    page.fill("#task-arg-message", "deployed!")  # a named argument edited after: the others stay
    scan = next(n for n in definition(page)["nodes"] if n["key"] == "scan")
    assert scan["task"]["config"] == {"callable": "baton.echo", "kwargs": {"message": "deployed!", "ticket": "OPS-42"}}
    wait_state(page, "valid")

    # The JSON beside the form is the same config; typed there, the form follows.
    page.click("#task-config-json summary")
    page.fill("#task-config", json.dumps({"callable": "baton.sleep", "kwargs": {"seconds": 0.5}}))
    page.wait_for_function("document.querySelector('#task-callable').value === 'baton.sleep'")
    assert page.input_value("#task-arg-seconds") == "0.5"
