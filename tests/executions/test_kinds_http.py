"""The http executor: requests against a loopback server, and the SSRF guard.

No test sends traffic to a non-loopback address: tests that resolve a name to a public
address install an ``httpx.MockTransport`` through ``executions.kinds.http.TRANSPORT``.
"""

from __future__ import annotations

import http.server
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from executions.kinds import RunContext, execute
from executions.kinds import http as http_kind

LOOPBACK = ("127.0.0.0/8",)
SETTING = "BATON_HTTP_ALLOWED_NETWORKS"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/status/"):
            self._reply(int(self.path.rsplit("/", 1)[1]), b"status page")
        elif self.path == "/slow":
            time.sleep(3)
            self._reply(200, b"late")
        elif self.path == "/redirect":
            self._reply(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
        elif self.path == "/drip":  # a long response that arrives a line at a time
            self.send_response(200)
            self.end_headers()
            for number in range(1, 4):
                self.wfile.write(f"line {number}\n".encode())
                self.wfile.flush()
                time.sleep(0.4)
        elif self.path == "/big":
            self._reply(200, b"A" * 5000 + b"B" * 5000)
        else:
            echo = {"host": self.headers.get("Host"), "authorization": self.headers.get("Authorization")}
            self._reply(200, json.dumps(echo).encode(), {"X-Echo-Auth": self.headers.get("Authorization", "")})

    def do_HEAD(self) -> None:
        self._reply(204, b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._reply(201, body, {"X-Content-Type": self.headers.get("Content-Type", "")})

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout tests)

    def log_message(self, *args: Any) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mock_transport(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Answer every request in memory (200 "ok") and record it; nothing leaves the process."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    monkeypatch.setattr(http_kind, "TRANSPORT", httpx.MockTransport(handle))
    return seen


def fake_dns(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> list[str]:
    """Make getaddrinfo return ``answers[n]`` on the n-th call for a name (the last one repeats).

    An IP literal (what the connection itself looks up) is answered as is and not counted.
    """
    calls: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if http_kind._is_ip(host):
            return real(host, port, *args, **kwargs)
        calls.append(host)
        addresses = answers[min(len(calls), len(answers)) - 1]
        result = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            result.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return result

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def ctx(**overrides: object) -> RunContext:
    values: dict[str, object] = {"timeout": 10.0, "check_interval": 0.05, "http_allowed_networks": LOOPBACK}
    values.update(overrides)
    return RunContext(**values)  # type: ignore[arg-type]


# -- requests against the loopback server --------------------------------------------------


def test_get_succeeds_and_captures_status_line_headers_and_body(server: str) -> None:
    outcome = execute("http", {"url": f"{server}/hello"}, ctx())
    assert outcome.status == "succeeded"
    assert outcome.detail["status_code"] == 200
    assert outcome.detail["address"] == "127.0.0.1"
    lines = outcome.output.splitlines()
    assert lines[0] == f"> GET {server}/hello (address 127.0.0.1)"
    assert lines[1] == "HTTP/1.0 200 OK"
    assert "content-length: " in outcome.output.lower()
    body = json.loads(lines[-1])
    assert body["host"] == server.removeprefix("http://")


def test_a_long_response_is_handed_on_while_it_arrives(server: str) -> None:
    seen: list[str] = []
    outcome = execute("http", {"url": f"{server}/drip"}, ctx(live_output=seen.append))
    assert outcome.status == "succeeded" and outcome.output.endswith("line 1\nline 2\nline 3\n")
    # The heartbeat got the head of the body before its end, and each snapshot grew.
    assert any("line 1" in text and "line 3" not in text for text in seen)
    assert all(len(later) > len(earlier) for earlier, later in itertools.pairwise(seen))


def test_unexpected_status_fails_with_the_response_captured(server: str) -> None:
    outcome = execute("http", {"url": f"{server}/status/500"}, ctx())
    assert outcome.status == "failed"
    assert outcome.detail["status_code"] == 500
    assert outcome.detail["error"] == "unexpected status 500 (expected 2xx)"
    assert "HTTP/1.0 500" in outcome.output
    assert outcome.output.endswith("status page")


def test_expected_status_list_is_honoured(server: str) -> None:
    outcome = execute("http", {"url": f"{server}/status/404", "expected_status": [404, 410]}, ctx())
    assert outcome.status == "succeeded"
    outcome = execute("http", {"url": f"{server}/status/200", "expected_status": [201]}, ctx())
    assert outcome.status == "failed"
    assert outcome.detail["error"] == "unexpected status 200 (expected 201)"


def test_redirects_are_not_followed(server: str) -> None:
    outcome = execute("http", {"url": f"{server}/redirect"}, ctx())
    assert outcome.status == "failed"
    assert outcome.detail["status_code"] == 302
    assert "location: http://169.254.169.254/" in outcome.output
    outcome = execute("http", {"url": f"{server}/redirect", "expected_status": [302]}, ctx())
    assert outcome.status == "succeeded"


def test_json_body_is_sent_as_json(server: str) -> None:
    config = {"method": "post", "url": f"{server}/echo", "body": {"a": [1, 2]}}
    outcome = execute("http", config, ctx())
    assert outcome.status == "succeeded"
    assert outcome.detail["status_code"] == 201
    assert "x-content-type: application/json" in outcome.output
    assert json.loads(outcome.output.splitlines()[-1]) == {"a": [1, 2]}


def test_string_body_is_sent_as_is(server: str) -> None:
    config = {
        "method": "POST",
        "url": f"{server}/echo",
        "body": "plain text",
        "headers": {"Content-Type": "text/plain"},
    }
    outcome = execute("http", config, ctx())
    assert outcome.output.endswith("\nplain text")
    assert "x-content-type: text/plain" in outcome.output


def test_head_reads_no_body(server: str) -> None:
    outcome = execute("http", {"method": "HEAD", "url": f"{server}/"}, ctx())
    assert outcome.status == "succeeded"
    assert outcome.detail["status_code"] == 204


def test_secret_header_is_masked_everywhere(server: str) -> None:
    config = {"url": f"{server}/echo", "headers": {"Authorization": {"secret": "Bearer t0ken-xyz"}}}
    outcome = execute("http", config, ctx())
    assert outcome.status == "succeeded"
    assert "t0ken-xyz" not in outcome.output
    assert "x-echo-auth: ***" in outcome.output
    assert json.loads(outcome.output.splitlines()[-1])["authorization"] == "***"


def test_body_is_truncated_head_and_tail(server: str) -> None:
    outcome = execute("http", {"url": f"{server}/big"}, ctx(output_limit=400))
    assert outcome.detail["truncated"] is True
    assert outcome.output.startswith("> GET")
    assert outcome.output.endswith("B" * 100)
    assert "bytes truncated]…" in outcome.output


def test_task_timeout_returns_timed_out_quickly(server: str) -> None:
    started = time.monotonic()
    outcome = execute("http", {"url": f"{server}/slow"}, ctx(timeout=0.5))
    assert outcome.status == "timed_out"
    assert time.monotonic() - started < 1.5
    assert outcome.detail["error"] == "timed out after 0.5s"


def test_read_timeout_from_config_fails(server: str) -> None:
    outcome = execute("http", {"url": f"{server}/slow", "read_timeout_seconds": 0.3}, ctx())
    assert outcome.status == "failed"
    assert "ReadTimeout" in outcome.detail["error"]


def test_cancel_returns_cancelled_quickly(server: str) -> None:
    cancel_at = time.monotonic() + 0.3
    outcome = execute("http", {"url": f"{server}/slow"}, ctx(should_cancel=lambda: time.monotonic() >= cancel_at))
    assert outcome.status == "cancelled"
    assert outcome.detail["duration_seconds"] < 1.3


def test_connection_refused_fails(server: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = execute("http", {"url": f"http://127.0.0.1:{port}/"}, ctx())
    assert outcome.status == "failed"
    assert "ConnectError" in outcome.detail["error"]


def test_localhost_allowed_by_name_connects_to_a_checked_address(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    outcome = execute("http", {"url": f"http://localhost:{port}/"}, ctx(http_allowed_networks=("localhost",)))
    assert outcome.status == "succeeded"
    assert outcome.detail["address"] == "127.0.0.1"
    assert json.loads(outcome.output.splitlines()[-1])["host"] == f"localhost:{port}"


# -- SSRF guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1", "loopback"),
        ("http://localhost/", "127.0.0.1", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local, cloud metadata service"),
        ("http://[::1]/", "::1", "loopback"),
        ("http://[fe80::1]/", "fe80::1", "link-local"),
        ("http://10.0.0.1/", "10.0.0.1", "private"),
        ("http://192.168.1.10/", "192.168.1.10", "private"),
        ("http://172.16.0.1/", "172.16.0.1", "private"),
        ("http://[fd12::1]/", "fd12::1", "private"),
        ("http://100.64.0.1/", "100.64.0.1", "shared address space"),
        ("http://0.0.0.0/", "0.0.0.0", "unspecified"),
        ("http://224.0.0.1/", "224.0.0.1", "multicast"),
        ("http://240.0.0.1/", "240.0.0.1", "private"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1", "loopback, embedded in IPv6"),
        (
            "http://[::ffff:169.254.169.254]/",
            "::ffff:a9fe:a9fe",
            "link-local, cloud metadata service, embedded in IPv6",
        ),
        ("http://[2002:a00:1::]/", "2002:a00:1::", "private, embedded in IPv6"),
        ("http://[64:ff9b::7f00:1]/", "64:ff9b::7f00:1", "loopback, embedded in IPv6"),
    ],
)
def test_non_public_addresses_are_refused_naming_the_setting(
    url: str, address: str, reason: str, mock_transport: list[httpx.Request]
) -> None:
    outcome = execute("http", {"url": url}, ctx(http_allowed_networks=()))
    assert outcome.status == "failed"
    error = outcome.detail["error"]
    assert error.startswith(f"refused: {address} ({reason}) for host ")
    assert f"{address}/" in error
    assert SETTING in error
    assert outcome.output == error
    assert mock_transport == []


@pytest.mark.parametrize("url", ["http://2130706433/", "http://127.1/"])
def test_an_ambiguous_numeric_host_is_invalid_config_and_the_guard_still_refuses_it(
    url: str, mock_transport: list[httpx.Request]
) -> None:
    outcome = execute("http", {"url": url}, ctx(http_allowed_networks=()))
    assert outcome.status == "failed" and "is an ambiguous numeric address" in outcome.detail["error"]
    guarded = http_kind.run_http({"url": url}, ctx(http_allowed_networks=()))  # past the validator, as stored before it
    assert guarded.detail["error"].startswith("refused: 127.0.0.1 (loopback) for host ")
    assert mock_transport == []


def test_refusal_message_offers_the_cidr_and_the_host_name(mock_transport: list[httpx.Request]) -> None:
    outcome = execute("http", {"url": "http://localhost/"}, ctx(http_allowed_networks=()))
    assert outcome.detail["error"] == (
        "refused: 127.0.0.1 (loopback) for host 'localhost' is not a public address; "
        f"to allow it, add 127.0.0.1/32 or 'localhost' to {SETTING}"
    )


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/file", "gopher://127.0.0.1/"])
def test_non_http_schemes_are_refused(url: str, mock_transport: list[httpx.Request]) -> None:
    outcome = execute("http", {"url": url}, ctx())
    assert outcome.status == "failed"
    assert "must use http or https" in outcome.detail["error"]
    assert mock_transport == []


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        (("127.0.0.0/8",), "http://127.0.0.1/"),
        (("localhost",), "http://localhost/"),
        (("LocalHost.",), "http://localhost/"),
        (("127.0.0.1",), "http://[::ffff:127.0.0.1]/"),
        (("::1/128",), "http://[::1]/"),
        (("10.0.0.0/8", "169.254.169.254/32"), "http://169.254.169.254/"),
    ],
)
def test_allowed_networks_let_requests_through(
    allowed: tuple[str, ...], url: str, mock_transport: list[httpx.Request]
) -> None:
    outcome = execute("http", {"url": url}, ctx(http_allowed_networks=allowed))
    assert outcome.status == "succeeded", outcome.output
    assert len(mock_transport) == 1


def test_one_private_address_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch, mock_transport: list[httpx.Request]
) -> None:
    fake_dns(monkeypatch, ["93.184.216.34", "10.1.2.3", "2606:2800:220:1::1"])
    outcome = execute("http", {"url": "https://mixed.example/"}, ctx(http_allowed_networks=()))
    assert outcome.status == "failed"
    assert outcome.detail["error"].startswith("refused: 10.1.2.3 (private) for host 'mixed.example'")
    assert mock_transport == []


def test_connects_to_the_checked_address_not_a_second_lookup(
    monkeypatch: pytest.MonkeyPatch, mock_transport: list[httpx.Request]
) -> None:
    calls = fake_dns(monkeypatch, ["93.184.216.34"], ["127.0.0.1"])
    outcome = execute("http", {"url": "https://rebind.example:8443/path?q=1"}, ctx(http_allowed_networks=()))
    assert outcome.status == "succeeded", outcome.output
    assert calls == ["rebind.example"]
    (request,) = mock_transport
    assert request.url.host == "93.184.216.34"
    assert request.url.port == 8443
    assert request.url.raw_path == b"/path?q=1"
    assert request.headers["Host"] == "rebind.example:8443"
    assert request.extensions["sni_hostname"] == "rebind.example"
    assert outcome.detail["address"] == "93.184.216.34"


def test_public_ipv6_address_is_bracketed_when_connecting(
    monkeypatch: pytest.MonkeyPatch, mock_transport: list[httpx.Request]
) -> None:
    fake_dns(monkeypatch, ["2606:2800:220:1::1"])
    outcome = execute("http", {"url": "http://six.example/"}, ctx(http_allowed_networks=()))
    assert outcome.status == "succeeded", outcome.output
    (request,) = mock_transport
    assert request.url.host == "2606:2800:220:1::1"
    assert request.headers["Host"] == "six.example"
    assert "sni_hostname" not in request.extensions


def test_dns_failure_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    outcome = execute("http", {"url": "http://nowhere.invalid/"}, ctx())
    assert outcome.status == "failed"
    assert outcome.detail["error"] == "could not resolve host 'nowhere.invalid': Name or service not known"


def test_secrets_are_masked_in_refusals(monkeypatch: pytest.MonkeyPatch, mock_transport: list[httpx.Request]) -> None:
    fake_dns(monkeypatch, ["10.9.9.9"])
    outcome = execute("http", {"url": "http://hidden-name.example/"}, ctx(secrets=("hidden-name",)))
    assert "hidden-name" not in outcome.output
    assert "hidden-name" not in outcome.detail["error"]
    assert "'***.example'" in outcome.detail["error"]


# -- connections kept across tasks ------------------------------------------------------------


class KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: answers with the client's port, the Cookie it sent and its own address; sets a cookie."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        seen = {
            "port": self.client_address[1],
            "cookie": self.headers.get("Cookie"),
            "server": self.server.server_address[0],
        }
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Set-Cookie", "session=task-a; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def keepalive_server() -> Iterator[int]:
    httpd = Server(("127.0.0.1", 0), KeepAliveHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _seen(outcome: Any) -> dict[str, Any]:
    assert outcome.status == "succeeded", outcome.output
    return json.loads(outcome.output.splitlines()[-1])


def test_a_second_task_to_the_same_host_reuses_the_connection_without_its_cookies(keepalive_server: int) -> None:
    url = f"http://127.0.0.1:{keepalive_server}/"
    first, second = _seen(execute("http", {"url": url}, ctx())), _seen(execute("http", {"url": url}, ctx()))
    assert second["port"] == first["port"]
    assert second["cookie"] is None


def test_another_host_name_for_the_same_address_gets_its_own_connection(keepalive_server: int) -> None:
    by_ip = _seen(execute("http", {"url": f"http://127.0.0.1:{keepalive_server}/"}, ctx()))
    allowed = ctx(http_allowed_networks=("localhost",))
    by_name = _seen(execute("http", {"url": f"http://localhost:{keepalive_server}/"}, allowed))
    again_by_name = _seen(execute("http", {"url": f"http://localhost:{keepalive_server}/"}, allowed))
    assert by_name["port"] != by_ip["port"]
    assert again_by_name["port"] == by_name["port"]


def test_a_task_that_turns_off_tls_checks_does_not_share_connections_with_one_that_checks(
    keepalive_server: int,
) -> None:
    url = f"http://127.0.0.1:{keepalive_server}/"
    checked = _seen(execute("http", {"url": url}, ctx()))
    unchecked = _seen(execute("http", {"url": url, "verify_tls": False}, ctx()))
    assert unchecked["port"] != checked["port"]


def test_a_new_dns_answer_means_a_connection_to_the_new_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept connections are per address: the one the guard just checked is the one connected to."""
    first = Server(("127.0.0.1", 0), KeepAliveHandler)
    port = first.server_address[1]
    second = Server(("127.0.0.2", port), KeepAliveHandler)
    for httpd in (first, second):
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        calls = fake_dns(monkeypatch, ["127.0.0.1"], ["127.0.0.2"])
        url = f"http://service.test:{port}/"
        one, two = execute("http", {"url": url}, ctx()), execute("http", {"url": url}, ctx())
        assert calls == ["service.test", "service.test"]
        assert (one.detail["address"], two.detail["address"]) == ("127.0.0.1", "127.0.0.2")
        assert (_seen(one)["server"], _seen(two)["server"]) == ("127.0.0.1", "127.0.0.2")
    finally:
        for httpd in (first, second):
            httpd.shutdown()
            httpd.server_close()


def test_a_client_whose_request_was_abandoned_is_not_kept(server: str) -> None:
    cancel_at = time.monotonic() + 0.2
    slow = execute("http", {"url": f"{server}/slow"}, ctx(should_cancel=lambda: time.monotonic() >= cancel_at))
    assert slow.status == "cancelled"
    kept = http_kind.CLIENTS.get("http", "127.0.0.1", True)
    assert not kept.is_closed
    assert execute("http", {"url": f"{server}/status/200"}, ctx()).status == "succeeded"
