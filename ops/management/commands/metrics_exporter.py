"""`manage.py metrics_exporter --port N`: serve every service's metrics where no web process runs (a worker host)."""

from __future__ import annotations

import threading

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _
from prometheus_client import start_http_server

from ops import metrics, multiproc


class Command(BaseCommand):
    help = _(
        "Serve the Prometheus metrics of every Baton process on this host (the metrics folder) over HTTP, "
        "for hosts where workers run without the web process."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=9808, help=_("TCP port (default 9808)"))
        parser.add_argument(
            "--addr", default="127.0.0.1", help=_("address to listen on (default 127.0.0.1; 0.0.0.0 for every one)")
        )

    def handle(self, *args, **options) -> None:
        server, _thread = start_http_server(options["port"], addr=options["addr"], registry=metrics.registry())
        self.stdout.write(
            _("serving the metrics of %(folder)s on http://%(addr)s:%(port)s/metrics")
            % {"folder": multiproc.base_directory(), "addr": options["addr"], "port": server.server_port}
        )
        self.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
