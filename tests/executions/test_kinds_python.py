"""The python executor: registered callables, captured prints, interruption by timeout and cancel."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest

import executions.builtins  # noqa: F401 - registers baton.*
from executions.kinds import Outcome, RunContext, execute
from workflows import registry


def ctx(**overrides: object) -> RunContext:
    values: dict[str, object] = {"timeout": 10.0, "check_interval": 0.05, "kill_grace": 0.5}
    values.update(overrides)
    return RunContext(**values)  # type: ignore[arg-type]


@pytest.fixture
def temporary_tasks() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        registry.unregister(name)


def test_echo_prints_and_returns_the_message() -> None:
    outcome = execute("python", {"callable": "baton.echo", "kwargs": {"message": "hello"}}, ctx())
    assert outcome.status == "succeeded"
    assert outcome.output == 'hello\nreturn value: "hello"\n'
    assert outcome.detail["callable"] == "baton.echo"


def test_noop_returns_null_and_kwargs_default_to_empty() -> None:
    outcome = execute("python", {"callable": "baton.noop"}, ctx())
    assert outcome.status == "succeeded"
    assert outcome.output == "return value: null\n"


def test_fail_fails_with_the_message_and_traceback() -> None:
    outcome = execute("python", {"callable": "baton.fail", "kwargs": {"message": "boom"}}, ctx())
    assert outcome.status == "failed"
    assert outcome.detail["error"] == "RuntimeError: boom"
    assert "Traceback" in outcome.output
    assert outcome.output.rstrip().endswith("RuntimeError: boom")
    assert "kinds/python.py" not in outcome.output


def test_unknown_callable_fails_naming_known_ones() -> None:
    outcome = execute("python", {"callable": "shop.nope"}, ctx())
    assert outcome.status == "failed"
    assert "'shop.nope'" in outcome.detail["error"]
    assert "baton.echo" in outcome.detail["error"]


def test_wrong_kwargs_fail_instead_of_raising() -> None:
    outcome = execute("python", {"callable": "baton.noop", "kwargs": {"unexpected": 1}}, ctx())
    assert outcome.status == "failed"
    assert outcome.detail["error"].startswith("TypeError")


def test_sleep_is_interrupted_by_timeout_in_the_main_thread() -> None:
    assert threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGUSR2)
    started = time.monotonic()
    outcome = execute("python", {"callable": "baton.sleep", "kwargs": {"seconds": 30}}, ctx(timeout=0.5))
    elapsed = time.monotonic() - started
    assert outcome.status == "timed_out"
    assert 0.5 <= elapsed < 1.5
    assert outcome.detail["error"] == "timed out after 0.5s"
    assert signal.getsignal(signal.SIGUSR2) == before


def test_plain_time_sleep_is_interrupted_in_the_main_thread(temporary_tasks: list[str]) -> None:
    @registry.task("tests.blocking-sleep")
    def blocking_sleep() -> None:
        time.sleep(30)

    temporary_tasks.append("tests.blocking-sleep")
    started = time.monotonic()
    outcome = execute("python", {"callable": "tests.blocking-sleep"}, ctx(timeout=0.3))
    assert outcome.status == "timed_out"
    assert time.monotonic() - started < 1.3


def test_sleep_is_interrupted_by_cancel() -> None:
    cancel_at = time.monotonic() + 0.3
    started = time.monotonic()
    outcome = execute(
        "python",
        {"callable": "baton.sleep", "kwargs": {"seconds": 30}},
        ctx(timeout=None, should_cancel=lambda: time.monotonic() >= cancel_at),
    )
    assert outcome.status == "cancelled"
    assert time.monotonic() - started < 1.3


def test_interruption_cannot_be_swallowed_by_except_exception(temporary_tasks: list[str]) -> None:
    @registry.task("tests.stubborn")
    def stubborn() -> str:
        for _ in range(300):
            try:  # noqa: SIM105 - the point: user code that swallows Exception
                time.sleep(0.1)
            except Exception:
                pass
        return "finished"

    temporary_tasks.append("tests.stubborn")
    started = time.monotonic()
    outcome = execute("python", {"callable": "tests.stubborn"}, ctx(timeout=0.3))
    assert outcome.status == "timed_out"
    assert time.monotonic() - started < 1.3


def test_interrupted_outside_the_main_thread_with_an_async_exception() -> None:
    results: list[Outcome] = []
    started = time.monotonic()
    thread = threading.Thread(
        target=lambda: results.append(
            execute("python", {"callable": "baton.sleep", "kwargs": {"seconds": 30}}, ctx(timeout=0.4))
        )
    )
    thread.start()
    thread.join(5)
    assert results[0].status == "timed_out"
    assert time.monotonic() - started < 1.5


def test_quick_callable_is_not_interrupted_afterwards() -> None:
    for _ in range(20):
        outcome = execute("python", {"callable": "baton.sleep", "kwargs": {"seconds": 0.01}}, ctx(timeout=0.02))
        assert outcome.status in {"succeeded", "timed_out"}
    time.sleep(0.2)  # a stray interruption would surface here as TaskInterrupted


def test_prints_are_captured_masked_and_truncated(temporary_tasks: list[str]) -> None:
    @registry.task("tests.chatty")
    def chatty(token: str) -> dict[str, str]:
        import sys

        for index in range(5000):
            print(f"line {index} token={token}")
        print("to stderr", file=sys.stderr)
        return {"token": token}

    temporary_tasks.append("tests.chatty")
    outcome = execute(
        "python",
        {"callable": "tests.chatty", "kwargs": {"token": "s3cret"}},
        ctx(output_limit=300, secrets=("s3cret",)),
    )
    assert outcome.status == "succeeded"
    assert "s3cret" not in outcome.output
    assert outcome.output.startswith("line 0 token=***\n")
    assert outcome.output.endswith('to stderr\nreturn value: {"token": "***"}\n')
    assert outcome.detail["truncated"] is True


def test_non_json_return_value_is_shown_as_repr(temporary_tasks: list[str]) -> None:
    @registry.task("tests.returns-set")
    def returns_set() -> set[int]:
        return {1}

    temporary_tasks.append("tests.returns-set")
    outcome = execute("python", {"callable": "tests.returns-set"}, ctx())
    assert outcome.output == "return value: {1}\n"


def test_secret_in_exception_message_is_masked() -> None:
    outcome = execute(
        "python", {"callable": "baton.fail", "kwargs": {"message": "bad pw hunter2"}}, ctx(secrets=("hunter2",))
    )
    assert outcome.detail["error"] == "RuntimeError: bad pw ***"
    assert "hunter2" not in outcome.output


def test_one_watcher_thread_a_process_watches_every_run_and_a_forked_child_starts_its_own(tmp_path) -> None:
    """A run no longer starts (and joins) a thread of its own; interruption still works after many runs."""
    import os

    for _ in range(30):
        assert execute("python", {"callable": "baton.noop"}, ctx()).status == "succeeded"
    watchers = [t for t in threading.enumerate() if t.name == "baton-python-watcher"]
    assert len(watchers) == 1 and watchers[0].is_alive()
    slow = execute("python", {"callable": "baton.sleep", "kwargs": {"seconds": 5}}, ctx(timeout=0.2))
    assert slow.status == "timed_out"

    # The watcher wakes for a run only if it is due before the watcher's next look: after runs
    # that sleep it for 60 s, a run with a 0.2 s timeout is still stopped on time.
    for _ in range(3):
        assert execute("python", {"callable": "baton.noop"}, ctx(check_interval=60)).status == "succeeded"
    began = time.monotonic()
    slow = execute("python", {"callable": "baton.sleep", "kwargs": {"seconds": 5}}, ctx(timeout=0.2))
    assert slow.status == "timed_out" and time.monotonic() - began < 2

    result = tmp_path / "child"
    pid = os.fork()
    if pid == 0:  # the child: the parent's watcher thread did not come along; a run starts its own
        try:
            outcome = execute("python", {"callable": "baton.sleep", "kwargs": {"seconds": 5}}, ctx(timeout=0.2))
            names = [t.name for t in threading.enumerate() if t.name == "baton-python-watcher"]
            result.write_text(f"{outcome.status} {len(names)}")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert result.read_text() == "timed_out 1"
