"""The operations endpoints of the web process: `/healthz`, `/readyz` and `/metrics`.

`OperationsMiddleware` stands first in `MIDDLEWARE` and answers these three paths itself, before
any other middleware: a probe or a scrape opens no session, runs no login throttle, is not
redirected to HTTPS (a load balancer and Prometheus talk to the process directly) and is not
refused for a `Host` header outside `ALLOWED_HOSTS` (a kubelet's probe names the pod's address).

- `/healthz`: the process answers; touches nothing else (no database).
- `/readyz`: the database answers a query, the broker accepts a connection and no migration is
  unapplied, each within `BATON_READY_TIMEOUT_SECONDS`; otherwise 503 with a JSON body naming
  what failed (the error's class only: the full error goes to the log, not to whoever asks).
- `/metrics`: Prometheus's text format, every service's samples (`ops.metrics`), for a request
  that carries `Authorization: Bearer <BATON_METRICS_TOKEN>` or comes from an address in
  `BATON_METRICS_ALLOWED_NETWORKS` (loopback by default); 401 or 403 otherwise.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops import metrics

logger = logging.getLogger(__name__)


class OperationsMiddleware:
    """Answer `/healthz`, `/readyz` and `/metrics` before the rest of the middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.routes: dict[str, Callable[[HttpRequest], HttpResponse]] = {
            "/healthz": healthz,
            "/readyz": readyz,
            "/metrics": metrics_view,
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.routes.get(request.path_info.rstrip("/") or "/")
        if view is None:
            return self.get_response(request)
        if request.method not in {"GET", "HEAD"}:
            return JsonResponse(
                {"detail": _("Only GET and HEAD are allowed here.")}, status=405, headers={"Allow": "GET, HEAD"}
            )
        return view(request)


def healthz(request: HttpRequest) -> HttpResponse:
    """Say that the process answers."""
    return JsonResponse({"status": "ok"})


# --- readiness -------------------------------------------------------------------------------------

_migrated = threading.Event()  # once every migration is applied, it stays so for the life of the process


def check_database() -> None:
    """Run a query on a fresh connection of this thread."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def check_migrations() -> None:
    """Raise if a migration of the code is not applied to the database."""
    if _migrated.is_set():
        return
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    finally:
        connection.close()
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5])
        raise UnappliedMigrations(f"{len(plan)} unapplied: {names}")
    _migrated.set()


class UnappliedMigrations(Exception):
    """The database lacks migrations the code has."""


def check_broker() -> None:
    """Open (and close) a connection to the broker, trying once."""
    from celery import current_app

    with current_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=_timeout())


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
}


def _timeout() -> float:
    return settings.BATON_READY_TIMEOUT_SECONDS


def readiness() -> dict[str, str]:
    """Run every check at once, each in a thread of its own; return what failed, by check (empty: ready)."""
    failed: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="baton-readyz")
    try:
        futures = {name: pool.submit(check) for name, check in CHECKS.items()}
        for name, future in futures.items():
            try:
                future.result(timeout=_timeout())
            except FutureTimeout:
                failed[name] = "timeout"
                logger.warning("readiness: %s did not answer within %ss", name, _timeout())
            except Exception as exc:
                failed[name] = type(exc).__name__
                logger.warning("readiness: %s failed: %s", name, exc)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung check must not hold the answer
    if "database" in failed:  # migrations cannot be read without the database: name the cause once
        failed.pop("migrations", None)
    return failed


def readyz(request: HttpRequest) -> HttpResponse:
    """Answer 200 when the database, the broker and the migrations are ready, else 503 naming what failed."""
    failed = readiness()
    if failed:
        body: dict[str, Any] = {"status": "unavailable", "failed": sorted(failed), "errors": failed}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ready", "checks": sorted(CHECKS)})


# --- metrics ---------------------------------------------------------------------------------------


def metrics_allowed(request: HttpRequest) -> bool:
    """Say whether the request may read the metrics: the bearer token, or an allowed address."""
    token = settings.BATON_METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())
    return address_allowed(request.META.get("REMOTE_ADDR", ""), settings.BATON_METRICS_ALLOWED_NETWORKS)


def address_allowed(address: str, networks: tuple[str, ...]) -> bool:
    """Say whether an address lies in one of the networks (CIDRs or single addresses)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            logger.warning("BATON_METRICS_ALLOWED_NETWORKS: %r is not a network; ignored", network)
    return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Serve every service's metrics in Prometheus's text format to an allowed scraper."""
    if not metrics_allowed(request):
        if settings.BATON_METRICS_TOKEN:
            return JsonResponse(
                {"detail": _("A valid bearer token is required.")}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return JsonResponse({"detail": _("Metrics are not served to this address.")}, status=403)
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
