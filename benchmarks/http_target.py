"""The HTTP benchmark's target: `python -m benchmarks.http_target PORT_FILE`.

A threaded HTTP/1.1 server on 127.0.0.1 (a free port, written to PORT_FILE) that answers
every GET with `200 ok` and keeps connections open, so Baton's HTTP nodes and the raw Celery
anchor's requests hit the same local server.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the second waits for the
    # client's delayed ACK (40 ms on Linux), which would swamp everything measured.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: one line per request would be the benchmark's largest cost."""


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_file = Path(sys.argv[1])
    port_file.with_suffix(".tmp").write_text(str(server.server_address[1]))
    port_file.with_suffix(".tmp").rename(port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
