"""Run an ``http`` task: one request with httpx, guarded against SSRF.

Output: a line ``> METHOD URL (address IP)``, the status line (``HTTP/1.1 200 OK``), the
response headers, a blank line and the body (masked, then kept head+tail like all output;
at most ``max(4 * output_limit, 1 MiB)`` bytes of body are read, the rest is not downloaded).

SSRF guard, in this order:

1. Only ``http`` and ``https`` URLs.
2. The host is resolved once (``socket.getaddrinfo``; an IP literal is used as is) and every
   resolved address is checked: loopback, link-local (169.254.0.0/16 with the cloud metadata
   address, fe80::/10), unspecified, multicast, private (RFC 1918, fc00::/7), shared address
   space 100.64.0.0/10, reserved, and anything else not globally routable are refused, also
   when embedded in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64 64:ff9b::/96).
   ``ctx.http_allowed_networks`` (setting ``BATON_HTTP_ALLOWED_NETWORKS``) lists CIDRs (a
   bare IP counts as /32 or /128) and exact host names that are allowed anyway.
3. The request connects to the first checked address (then the next ones, on a connection
   error), never to a fresh DNS answer: the URL's host is replaced by the IP, the ``Host``
   header keeps the original name (unless the task sets its own ``Host``), and for https
   the ``sni_hostname`` extension makes httpcore send SNI and verify the certificate against
   the name (``ssl.wrap_socket(server_hostname=...)`` with ``check_hostname``).
4. Redirects are not followed: a 3xx is a status like any other, checked against
   ``expected_status``. Proxy variables from the environment are ignored (``trust_env=False``)
   so the connection really goes to the checked address.

Outputs: with ``outputs`` (name → JMESPath expression), the body (as much as is read) is parsed
as JSON and each expression selects one value; one that selects nothing publishes nothing (a
later reference then takes its default, or fails). A body that is not JSON fails a run that
succeeded. References in the URL are resolved before the guard, so it checks the resolved address.

Other decisions: ``expected_status`` defaults to any 2xx; a string body is sent as is, a JSON
object/array with ``json=``; connect timeout defaults to 10 s and read timeout to 300 s, both
bounded by what is left of the task's timeout; an httpx timeout that hits the task's deadline
is ``timed_out``, one set by the task's own ``*_timeout_seconds`` is ``failed``. The request
runs in a daemon thread; on timeout or cancel Baton closes the client and returns at once (an
abandoned request ends at its own read timeout). Header values marked secret and
``ctx.secrets`` are masked in the output and in every error message.

Connections are kept across the tasks of a worker process (``_Clients``): one ``httpx.Client``
per (scheme, host name, ``verify_tls``), at most ``MAX_CLIENTS`` of them, least recently used
closed first. It stays safe with the guard because a client's pool is keyed by the URL's host,
which is the checked IP: a kept connection is one to that very address and port, opened for
that host name (its TLS identity, SNI and certificate check) with the same ``verify_tls``.
The guard still resolves and checks the name on every task; a new answer means a new
connection. Clients keep no cookies, so nothing of one task's response reaches another's
request. A client whose request Baton abandoned (timeout, cancel) is closed and forgotten.
The TLS contexts (the CA bundle takes tens of milliseconds to load) are built once.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import http.cookiejar
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jmespath

from executions.kinds.executor import (
    FAILED,
    SUCCEEDED,
    TIMED_OUT,
    Outcome,
    RunClock,
    RunContext,
    refused_outputs,
)
from executions.kinds.masking import OutputCollector, live_ticker, mask
from workflows.kinds.fields import is_secret

logger = logging.getLogger(__name__)

# Tests (and only tests) set this to an httpx transport (e.g. ``httpx.MockTransport``) so no
# real connection is made; the SSRF checks still run before it is used.
TRANSPORT: httpx.BaseTransport | None = None

SETTING = "BATON_HTTP_ALLOWED_NETWORKS"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 300.0
MAX_CLIENTS = 16  # clients (each with its pool of connections) kept per worker process
_MIN_BODY_READ = 1 << 20
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """The URL targets an address the SSRF guard does not allow."""


# -- SSRF guard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowList:
    """The parsed ``BATON_HTTP_ALLOWED_NETWORKS``: networks and exact host names."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_normal_host(entry))
        return cls(tuple(networks), frozenset(hosts))

    def allows_host(self, host: str) -> bool:
        return _normal_host(host) in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        candidates = [address]
        embedded = embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
        return any(
            candidate in network
            for candidate in candidates
            for network in self.networks
            if candidate.version == network.version
        )


def _normal_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_reason(address: IPAddress) -> str | None:
    """Return why ``address`` is not a public address (e.g. ``"loopback"``), or ``None``."""
    embedded = embedded_ipv4(address)
    if embedded is not None:
        reason = non_public_reason(embedded)
        if reason is not None:
            return f"{reason}, embedded in IPv6"
    if address in _METADATA:
        return "link-local, cloud metadata service"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared address space", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
    )
    for reason, applies in checks:
        if applies:
            return reason
    return None if address.is_global else "not globally routable"


def resolve(host: str, port: int) -> list[IPAddress]:
    """Return the addresses of ``host`` in resolver order (one lookup; IP literals as is)."""
    if _is_ip(host):
        return [ipaddress.ip_address(host)]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no IPv4 or IPv6 address")
    return addresses


def check_addresses(host: str, addresses: list[IPAddress], allowed: AllowList) -> None:
    """Raise ``Refused`` unless every address of ``host`` is public or explicitly allowed."""
    if allowed.allows_host(host):
        return
    literal = _is_ip(host)
    for address in addresses:
        reason = non_public_reason(address)
        if reason is None or allowed.allows_address(address):
            continue
        cidr = f"{address}/{address.max_prefixlen}"
        alternatives = cidr if literal else f"{cidr} or {host!r}"
        raise Refused(
            f"refused: {address} ({reason}) for host {host!r} is not a public address; "
            f"to allow it, add {alternatives} to {SETTING}"
        )


# -- the request --------------------------------------------------------------------------


@dataclass
class _Result:
    status: str = FAILED
    error: str | None = None
    status_code: int | None = None
    address: str | None = None
    http_version: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    outputs_problem: str | None = None


def run_http(config: dict[str, Any], ctx: RunContext) -> Outcome:
    """Send the request in ``config``, checking the target first, under ``ctx``'s limits."""
    clock = RunClock(ctx)
    headers, header_secrets = _split_headers(config.get("headers") or {})
    secrets = (*ctx.secrets, *header_secrets)
    collector = OutputCollector(secrets, ctx.output_limit)
    result = _Result()
    clients: list[httpx.Client] = []
    worker = threading.Thread(
        target=_request_safely,
        args=(config, headers, ctx, clock, collector, result, clients),
        name="baton-http-request",
        daemon=True,
    )
    worker.start()
    stopped_by = _wait(worker, clock, live_ticker(collector, ctx.live_output))
    error: str | None
    if stopped_by is not None:
        for client in list(clients):
            CLIENTS.discard(client)
            threading.Thread(target=client.close, daemon=True).start()
        status, error = stopped_by, clock.stop_message(stopped_by)
    else:
        status, error = result.status, result.error
    output = collector.getvalue()
    detail: dict[str, Any] = {
        "status_code": result.status_code,
        "http_version": result.http_version,
        "address": result.address,
        "duration_seconds": round(clock.elapsed(), 3),
        "output_bytes": collector.total_bytes,
        "truncated": collector.truncated,
    }
    if status != SUCCEEDED:
        detail["error"] = mask(error or "failed", secrets)
        if not output:
            output = detail["error"]
        elif stopped_by is not None or result.status_code is None:
            output += ("" if output.endswith("\n") else "\n") + f"[baton] {detail['error']}\n"
    outcome = Outcome(status=status, output=output, detail=detail, outputs=result.outputs)
    if status == SUCCEEDED and result.outputs_problem is not None:
        return refused_outputs(outcome, result.outputs_problem)
    return outcome


def _wait(worker: threading.Thread, clock: RunClock, tick: Callable[[], None]) -> str | None:
    """Wait for the request; at each check, hand on what arrived so far (a long response streams)."""
    while True:
        worker.join(clock.next_wait())
        if not worker.is_alive():
            return None
        try:
            tick()
        except Exception:  # the live view is a courtesy: it never fails the request
            logger.exception("could not hand on the live output of an http task")
        reason = clock.check()
        if reason is not None:
            return reason


def _split_headers(headers: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    plain: dict[str, str] = {}
    secrets: list[str] = []
    for name, value in headers.items():
        if is_secret(value):
            value = value["secret"]
            secrets.append(str(value))
        plain[str(name)] = str(value)
    return plain, secrets


def _request_safely(
    config: dict[str, Any],
    headers: dict[str, str],
    ctx: RunContext,
    clock: RunClock,
    collector: OutputCollector,
    result: _Result,
    clients: list[httpx.Client],
) -> None:
    """Run ``_request`` and turn every failure into ``result.error``; never raise."""
    try:
        _request(config, headers, ctx, clock, collector, result, clients)
    except Refused as exc:
        result.error = str(exc)
    except socket.gaierror as exc:
        host = httpx.URL(config["url"]).host
        result.error = f"could not resolve host {host!r}: {exc.strerror or exc}"
    except httpx.TimeoutException as exc:
        remaining = clock.remaining()
        deadline_hit = remaining is not None and remaining <= 0.05
        result.status = TIMED_OUT if deadline_hit else FAILED
        what = type(exc).__name__
        result.error = clock.stop_message(TIMED_OUT) if deadline_hit else f"{what}: {exc or 'timed out'}"
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # keep the worker thread from dying silently
        result.error = f"unexpected error: {type(exc).__name__}: {exc}"


def _request(
    config: dict[str, Any],
    headers: dict[str, str],
    ctx: RunContext,
    clock: RunClock,
    collector: OutputCollector,
    result: _Result,
    clients: list[httpx.Client],
) -> None:
    url = httpx.URL(config["url"])
    if url.scheme not in ("http", "https"):
        raise Refused(f"refused: only http and https URLs are allowed, not {url.scheme!r}")
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = resolve(host, port)
    check_addresses(host, addresses, AllowList.parse(ctx.http_allowed_networks))

    method = str(config.get("method", "GET")).upper()
    if not any(name.lower() == "host" for name in headers):
        headers = {"Host": url.netloc.decode("ascii"), **headers}
    body = config.get("body")
    content = body.encode("utf-8") if isinstance(body, str) else None
    json_body = body if isinstance(body, (dict, list)) else None
    extensions = {"sni_hostname": host} if url.scheme == "https" and not _is_ip(host) else {}
    client = CLIENTS.get(url.scheme, host, bool(config.get("verify_tls", True)))
    clients.append(client)
    with contextlib.ExitStack() as stack:
        if TRANSPORT is not None:  # a test's client is not kept
            stack.enter_context(client)
        response = None
        for index, address in enumerate(addresses):
            request = client.build_request(
                method,
                url.copy_with(host=str(address)),
                headers=headers,
                content=content,
                json=json_body,
                timeout=_timeout(config, clock),
                extensions=extensions,
            )
            collector.write(f"> {method} {url} (address {address})\n")
            result.address = str(address)
            try:
                response = client.send(request, stream=True)
                break
            except httpx.ConnectError as exc:
                if index == len(addresses) - 1:
                    raise
                collector.write(f"  could not connect: {exc}; trying the next address\n")
        assert response is not None
        try:
            _record_response(response, config, ctx, collector, result, method)
        finally:
            response.close()


class _NoCookies(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing: a kept client must not carry one task's cookies to another."""

    def __init__(self) -> None:
        super().__init__(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


@functools.cache
def _tls_context(verify: bool) -> ssl.SSLContext:
    """Return this process's TLS context for ``verify_tls`` (loading the CA bundle once)."""
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class _Clients:
    """The ``httpx.Client`` of each (scheme, host name, verify_tls) of this process, most recent last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str, bool], httpx.Client] = OrderedDict()
        if hasattr(os, "register_at_fork"):  # a forked pool process must not share the parent's sockets
            os.register_at_fork(after_in_child=self._forget_all)

    def get(self, scheme: str, host: str, verify: bool) -> httpx.Client:
        """Return the kept client for this key (a new one for tests that set ``TRANSPORT``)."""
        if TRANSPORT is not None:
            return self._new(verify)
        key = (scheme, _normal_host(host), verify)
        evicted: list[httpx.Client] = []
        with self._lock:
            client = self._clients.pop(key, None) or self._new(verify)
            self._clients[key] = client
            while len(self._clients) > MAX_CLIENTS:
                evicted.append(self._clients.popitem(last=False)[1])
        for old in evicted:
            old.close()
        return client

    def discard(self, client: httpx.Client) -> None:
        """Forget ``client`` (the caller closes it): its request was abandoned."""
        with self._lock:
            for key, kept in list(self._clients.items()):
                if kept is client:
                    del self._clients[key]

    def _forget_all(self) -> None:
        self._lock = threading.Lock()
        self._clients = OrderedDict()

    @staticmethod
    def _new(verify: bool) -> httpx.Client:
        return httpx.Client(
            verify=_tls_context(verify),
            trust_env=False,
            follow_redirects=False,
            cookies=_NoCookies(),
            transport=TRANSPORT,
        )


CLIENTS = _Clients()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _timeout(config: dict[str, Any], clock: RunClock) -> httpx.Timeout:
    connect = float(config.get("connect_timeout_seconds") or DEFAULT_CONNECT_TIMEOUT)
    read = float(config.get("read_timeout_seconds") or DEFAULT_READ_TIMEOUT)
    remaining = clock.remaining()
    if remaining is not None:
        connect, read = min(connect, remaining), min(read, remaining)
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)


def _record_response(
    response: httpx.Response,
    config: dict[str, Any],
    ctx: RunContext,
    collector: OutputCollector,
    result: _Result,
    method: str,
) -> None:
    result.status_code = response.status_code
    result.http_version = response.http_version
    collector.write(f"{response.http_version} {response.status_code} {response.reason_phrase}\n")
    for name, value in response.headers.multi_items():
        collector.write(f"{name}: {value}\n")
    collector.write("\n")
    body = bytearray() if config.get("outputs") else None
    if method != "HEAD":
        _record_body(response, ctx, collector, body)
    if body is not None:
        _select_outputs(bytes(body), config["outputs"], result)
    expected = config.get("expected_status")
    ok = response.status_code in expected if expected else 200 <= response.status_code <= 299
    if ok:
        result.status = SUCCEEDED
    else:
        wanted = ", ".join(map(str, expected)) if expected else "2xx"
        result.error = f"unexpected status {response.status_code} (expected {wanted})"


def _select_outputs(body: bytes, expressions: dict[str, str], result: _Result) -> None:
    """Select each output from the JSON body with its JMESPath expression (compiled by the validator)."""
    try:
        document = json.loads(body)
    except ValueError:
        result.outputs_problem = "the response body is not JSON, so the task's outputs could not be selected"
        return
    for name, expression in expressions.items():
        value = jmespath.search(expression, document)
        if value is not None:
            result.outputs[name] = value


def _record_body(
    response: httpx.Response, ctx: RunContext, collector: OutputCollector, keep: bytearray | None = None
) -> None:
    limit = max(4 * ctx.output_limit, _MIN_BODY_READ)
    decoder = codecs.getincrementaldecoder(_codec(response.encoding))(errors="replace")
    read = 0
    for chunk in response.iter_bytes():
        room = limit - read
        if keep is not None:
            keep += chunk[:room]
        collector.write(decoder.decode(chunk[:room]))
        read += len(chunk)
        if read >= limit:
            collector.write(decoder.decode(b"", final=True))
            collector.write(f"\n[baton] response body not read past {limit} bytes\n")
            return
    collector.write(decoder.decode(b"", final=True))


def _codec(encoding: str | None) -> str:
    try:
        return codecs.lookup(encoding or "utf-8").name
    except LookupError:
        return "utf-8"


__all__ = [
    "SETTING",
    "TRANSPORT",
    "AllowList",
    "Refused",
    "check_addresses",
    "non_public_reason",
    "resolve",
    "run_http",
]
