"""`make bench`'s CPU reading: what a throughput run's processes used, by process, and its table."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchmarks.common import CPU_GROUPS, CpuReading
from benchmarks.run import _cpu_lines


def test_the_reading_counts_the_workers_main_process_and_not_a_child_gone_before_its_end():
    # This process stands for the worker's main process.
    spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    with CpuReading(os.getpid()) as cpu:
        subprocess.run([sys.executable, "-c", spin], check=True)  # a child that ends before the second reading
        end = time.process_time() + 0.2
        while time.process_time() < end:
            pass
    assert set(cpu.used) == set(CPU_GROUPS)
    assert cpu.used["consumer"] >= 0.15
    assert cpu.used["pool"] < 0.15  # its 0.3 s left with it
    assert cpu.used["bench"] == 0  # this process is the "worker" here, counted once
    assert cpu.per_run(10)["consumer"] == pytest.approx(cpu.used["consumer"] * 100)


def test_a_pool_process_alive_at_both_readings_is_counted_as_the_pool():
    spin = "import sys, time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nsys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE)
    try:
        with CpuReading(os.getpid()) as cpu:
            time.sleep(1.0)
    finally:
        child.communicate(b"")
    assert cpu.used["pool"] >= 0.15


def test_the_table_names_each_process_with_cpu_and_sums_them():
    throughput = {
        "baton_single": {
            "cpu_ms": {"consumer": 1.0, "pool": 2.0, "postgres": 1.0, "redis": 0.2, "rabbitmq": 0.0, "bench": 0.5}
        },
        "baton_wide": {
            "cpu_ms": {"consumer": 1.1, "pool": 2.5, "postgres": 1.2, "redis": 0.2, "rabbitmq": 0.0, "bench": 0.9}
        },
        "raw_late": {
            "cpu_ms": {"consumer": 0.7, "pool": 0.4, "postgres": 0.0, "redis": 0.2, "rabbitmq": 0.0, "bench": 0.4}
        },
    }
    lines = _cpu_lines(throughput, "raw_late")
    table = [line for line in lines if line.startswith("| ")]
    assert table[0] == "| process | Baton, one-node batches | Baton, wide batches | raw Celery |"
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in table[1:]}
    assert not any("RabbitMQ" in title for title in rows)  # nothing used there: no row
    assert rows["PostgreSQL, every backend"] == ["1.00", "1.20", "0.00 |"]
    assert rows["all"] == ["4.70", "5.90", "1.70 |"]
    assert _cpu_lines({**throughput, "raw_late": {"per_second": 1.0}}, "raw_late") == []
