"""Gunicorn settings of the web process (`gunicorn -c config/gunicorn.py`), read from the environment.

Each thread holds at most one database connection (Django keeps connections per thread and
reuses them for `CONN_MAX_AGE` seconds), so the web process opens at most
`WEB_CONCURRENCY × WEB_THREADS` connections, however many requests arrive at once: the rest
wait in the listen backlog.
"""

from __future__ import annotations

import os

wsgi_app = "config.wsgi:application"
bind = [f"{os.environ.get('WEB_BIND', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"]  # noqa: S104 (the service's own port)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))  # a request running longer than this is aborted
graceful_timeout = 30
keepalive = 5
# Recycle a worker after this many requests (spread out, so they do not all restart at once).
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
accesslog = "-"
errorlog = "-"
# No control socket: its default path is one per user, which two instances on a host would share.
control_socket_disable = True


def on_starting(server) -> None:
    """Wipe the web's Prometheus folder (and the command-line processes') and make the workers write there."""
    from ops import multiproc

    multiproc.start_service("web", also_wipe=(multiproc.DEFAULT_SERVICE,))


def child_exit(server, worker) -> None:
    """Tell prometheus_client a worker process is gone (its live gauges leave the scrape)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
