"""Where each process keeps its Prometheus samples: one folder per service under the metrics folder.

prometheus_client's multiprocess mode has every process write its samples to files in
`PROMETHEUS_MULTIPROC_DIR`; a collector adds them up at scrape time. The client's docs ask for the
folder to be wiped when the service starts. Web and workers may share a host (`make run`), so each
service has its own sub-folder, wiped by that service alone at its start:

- `web`: gunicorn's master (`config/gunicorn.py`, `on_starting`), for all its workers;
- `celery-<node name>`: one Celery worker node (`worker@host`, `control@host`), at `celeryd_init`;
- `cli`: every other process (management commands, `runserver`, tests); wiped with `web`.

A child process inherits its service from the environment (`BATON_METRICS_SERVICE`). The scrape
(`ops.metrics.collect`) reads every sub-folder and labels each sample with its `service`, so a
service that restarts resets only its own series. Imports nothing of Django: gunicorn's config
and the settings use it before Django is set up.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

SERVICE_VARIABLE = "BATON_METRICS_SERVICE"
DEFAULT_SERVICE = "cli"
REPOSITORY = Path(__file__).resolve().parent.parent


def base_directory() -> Path:
    """Return the metrics folder: `BATON_METRICS_DIR`, else `metrics/` in the var folder."""
    explicit = os.environ.get("BATON_METRICS_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("BATON_VAR_DIR") or REPOSITORY / "var") / "metrics"


def service_name(name: str) -> str:
    """Return a folder name for a service (a Celery node name may hold `@` and dots)."""
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", name) or DEFAULT_SERVICE


def join(base: Path | None = None) -> Path:
    """Point this process's samples at its service's folder (inherited, else `cli`), creating it."""
    folder = (base or base_directory()) / service_name(os.environ.get(SERVICE_VARIABLE) or DEFAULT_SERVICE)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder


def start_service(service: str, *, also_wipe: tuple[str, ...] = (), base: Path | None = None) -> Path:
    """Wipe a service's folder (and `also_wipe`'s) at its start and make this process and its children write there.

    Call it before any metric is touched in this process (a metric's file is opened on first use).
    """
    base = base or base_directory()
    for name in (service, *also_wipe):
        shutil.rmtree(base / service_name(name), ignore_errors=True)
    os.environ[SERVICE_VARIABLE] = service_name(service)
    return join(base)


def service_folders(base: Path | None = None) -> list[Path]:
    """Return the folders of every service that wrote samples, in name order."""
    base = base or base_directory()
    if not base.is_dir():
        return []
    return sorted(path for path in base.iterdir() if path.is_dir())
