"""Where a shell or HTTP node's own time goes, step by step, before and after issue 17.

Run in the benchmark phase's process, which has Django, Celery and the database driver
loaded like a worker's pool process (what matters for the cost of starting a child). Each
step is timed alone, `repetitions` times; the "before" column times the mechanism the
executor used before (still reproducible: the fallback paths are kept), the "now" column
the one it uses now. Milliseconds, medians.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import summary

ARGV = ["/bin/sh", "-c", "true"]
SLEEP_10MS = ["/bin/sh", "-c", "exec sleep 0.01"]


def _median_ms(action: Callable[[], object], repetitions: int) -> float:
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return summary(times)["median"]


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return (time.perf_counter() - started) * 1000, value


def _start_old() -> subprocess.Popen[bytes]:
    from executions.kinds import processes

    return subprocess.Popen(
        ARGV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
        preexec_fn=processes._die_with_parent,
    )


def _start_new(argv: list[str] = ARGV) -> subprocess.Popen[bytes]:
    import os

    from executions.kinds import processes

    return processes.spawn(argv, output=subprocess.DEVNULL, cwd=None, env=os.environ)  # type: ignore[arg-type]


def shell_steps(repetitions: int, record: Callable[[], None]) -> dict[str, dict[str, float | None]]:
    """Time each step of a shell node running `true`, the old way and the new."""
    from executions.kinds import RunContext, processes, shell
    from executions.kinds.executor import RunClock

    clock = RunClock(RunContext(timeout=60))
    steps: dict[str, dict[str, list[float]]] = {
        name: {"before": [], "now": []} for name in ("start", "wait", "leftovers")
    }
    # One way after the other: a fork's after-effects (copy-on-write faults in the parent) belong to it.
    for way, start in (("now", _start_new), ("before", _start_old)):
        for _ in range(repetitions):
            spent, process = _timed(start)
            steps["start"][way].append(spent)
            process.wait()
            processes.stop_process_group(process, 1.0)  # also tells the guardian the group is gone
    # Waiting (for a command that takes 10 ms, so the wake-up's lateness shows) and the leftover
    # check, each way, on a child started the same (fast) way.
    for way in ("now", "before"):
        for _ in range(repetitions):
            process = _start_new(SLEEP_10MS)
            if way == "before":
                spent, _ = _timed(lambda p=process: p.wait(timeout=1.0))
            else:
                spent, _ = _timed(lambda p=process: processes.wait_for_exit(p, clock))
            steps["wait"][way].append(spent)
            check = processes.scan_group if way == "before" else processes.group_alive
            spent, _ = _timed(lambda p=process, check=check: check(p.pid))
            steps["leftovers"][way].append(spent)
            processes.stop_process_group(process, 1.0)
    out: dict[str, dict[str, float | None]] = {
        name: {way: summary(values)["median"] for way, values in ways.items()} for name, ways in steps.items()
    }
    out["wait for a 10 ms command"] = out.pop("wait")
    out["leftovers"] = out.pop("leftovers")
    recorded = _median_ms(record, repetitions)
    out["record"] = {"before": recorded, "now": 0.0}  # skipped for a command that ends within RECORD_AFTER
    temp = _median_ms(lambda: tempfile.TemporaryFile(prefix="baton-shell-").close(), repetitions)
    out["temporary file"] = {"before": temp, "now": temp}
    out["run_shell, whole"] = {
        "before": None,
        "now": _median_ms(lambda: shell.run_shell({"script": "true"}, RunContext(timeout=60)), repetitions),
    }
    out["subprocess.run (the raw anchor's call)"] = {
        "before": None,
        "now": _median_ms(lambda: subprocess.run(ARGV, check=True), repetitions),
    }
    return out


def http_steps(url: str, repetitions: int) -> dict[str, dict[str, float | None]]:
    """Time the client set-up and the request of an HTTP node, the old way (a client per task) and the new."""
    import httpx

    from executions.kinds import RunContext, http

    context = http._tls_context(True)

    def fresh_client() -> None:
        httpx.Client(verify=True, trust_env=False, follow_redirects=False).close()

    def fresh_connection() -> None:
        with httpx.Client(verify=context, trust_env=False) as client:
            client.get(url)

    kept = httpx.Client(verify=context, trust_env=False)
    kept.get(url)
    ctx = RunContext(timeout=60, http_allowed_networks=("127.0.0.1/32",))
    out: dict[str, dict[str, float | None]] = {
        "client with its TLS context": {"before": _median_ms(fresh_client, repetitions), "now": 0.0},
        "request": {
            "before": _median_ms(fresh_connection, repetitions),
            "now": _median_ms(lambda: kept.get(url), repetitions),
        },
        "run_http, whole": {
            "before": None,
            "now": _median_ms(lambda: http.run_http({"url": url}, ctx), repetitions),
        },
    }
    kept.close()
    return out
