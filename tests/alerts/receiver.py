"""A local HTTP receiver on loopback that keeps what alert channels post to it."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    parsed: list[dict] = field(default_factory=list)  # the JSON bodies


@contextlib.contextmanager
def local_receiver(path: str = "/hook") -> Iterator[Receiver]:
    """Serve on 127.0.0.1 (a free port) for the block; every POST is kept and answered 200."""
    received: list[tuple[dict[str, str], bytes]] = []
    parsed: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            with contextlib.suppress(ValueError):
                parsed.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}", received, parsed)
    finally:
        server.shutdown()
        server.server_close()
