"""Give each pytest-xdist process its own broker database and var directory (`make test` runs three).

Loaded with `-p tests.xdist_env`, before Django's settings are read. Every test process starts
its own Celery worker (tests/conftest.py), which must not take the other's messages: a Redis
broker gets the next lower database number per process (15, 14, …), RabbitMQ a virtual host
named after the process (`baton-test-gw0`, …), the embedded broker and
every file Baton keeps (SQLite test database, metrics, archives, cache) a directory of their own.
pytest-django already gives each process its own test database. Without xdist this does nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker:
    _index = int(_worker.removeprefix("gw"))
    _var = Path(os.environ.get("BATON_VAR_DIR") or Path(__file__).resolve().parents[1] / "var")
    os.environ["BATON_VAR_DIR"] = str(_var / f"xdist-{_worker}")
    _broker = os.environ.get("CELERY_BROKER_URL", "")
    _redis = re.fullmatch(r"(rediss?://[^/]*)/(\d+)", _broker)
    if _redis:
        os.environ["CELERY_BROKER_URL"] = f"{_redis[1]}/{int(_redis[2]) - _index}"
    elif _broker.startswith("amqp://"):  # a virtual host of its own: `make test-rabbitmq` makes them
        os.environ["CELERY_BROKER_URL"] = f"{_broker.rstrip('/')}-{_worker}"
    elif _broker and not _broker.startswith("batonfs://"):
        raise RuntimeError(f"run the tests on {_broker.split(':')[0]} without pytest-xdist (-n)")
