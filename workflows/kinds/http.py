"""The ``http`` task kind: one request whose status decides the result (its executor: ``executions.kinds.http``).

Config: ``method`` one of GET POST PUT PATCH DELETE HEAD OPTIONS, case-insensitive, default
GET; ``url`` absolute http/https URL with a host, which must not be an ambiguous number (see
``url_problem``); ``headers`` (object: header name token → string without CR/LF, or
``{"secret": string}``); ``body`` (string sent as is, or a JSON object/array sent as JSON);
``expected_status`` (non-empty list of integers 100–599; default: any 2xx); ``verify_tls``
(boolean, default true); ``connect_timeout_seconds`` and ``read_timeout_seconds`` (numbers > 0);
``outputs`` (object: output name → a JMESPath expression selecting a value from the JSON response
body, e.g. ``{"version": "data.release.tag"}``). ``url``, ``headers`` and ``body`` may hold
references (``workflows.references``); in the URL their values are percent-encoded.
"""

from __future__ import annotations

import ipaddress
import re
import string
import unicodedata
from collections.abc import Mapping
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError

from baton.text import _
from workflows.kinds.declaration import CheckContext, Problems, TaskKind
from workflows.kinds.fields import is_json, is_positive_number, string_map_problems

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # what IDNA reads as a dot


def config_problems(config: Mapping[str, object], context: CheckContext) -> Problems:
    """Return the problems of an http task's config."""
    problems: Problems = []
    method = config.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        problems.append(("config.method", _("must be one of %(methods)s", methods=", ".join(HTTP_METHODS))))
    if "url" not in config:
        problems.append(("config.url", _("is required")))
    elif (message := url_problem(config["url"])) is not None:
        problems.append(("config.url", message))
    if "headers" in config:
        problems += string_map_problems("config.headers", config["headers"], _header_name_problem, forbidden="\0\r\n")
    if "body" in config and not isinstance(config["body"], (str, dict, list)):
        problems.append(("config.body", _("must be a string or a JSON object or array")))
    elif isinstance(config.get("body"), (dict, list)) and not is_json(config["body"]):
        problems.append(("config.body", _("must be valid JSON (string keys, finite numbers)")))
    if "expected_status" in config:
        problems += _expected_status_problems(config["expected_status"])
    if "verify_tls" in config and not isinstance(config["verify_tls"], bool):
        problems.append(("config.verify_tls", _("must be true or false")))
    for field in ("connect_timeout_seconds", "read_timeout_seconds"):
        if field in config and not is_positive_number(config[field]):
            problems.append((f"config.{field}", _("must be a number greater than 0")))
    if "outputs" in config:
        problems += outputs_problems(config["outputs"])
    return problems


def outputs_problems(outputs: object) -> Problems:
    """Return the problems of an http task's ``outputs``: names → JMESPath expressions that compile."""
    if not isinstance(outputs, dict):
        return [("config.outputs", 'must be an object: output name → JMESPath expression, e.g. {"version": "tag"}')]
    problems: Problems = []
    for name, expression in outputs.items():
        path = f"config.outputs.{name}"
        if not isinstance(name, str) or not _OUTPUT_NAME.fullmatch(name):
            problems.append((path, "output names are letters, digits and '_' (at most 64), not starting with a digit"))
        elif not isinstance(expression, str) or not expression.strip():
            problems.append((path, "must be a JMESPath expression (a non-empty string)"))
        else:
            try:
                jmespath.compile(expression)
            except JMESPathError as exc:
                reason = str(exc).splitlines()[0].removeprefix("Invalid jmespath expression: ")
                problems.append((path, f"is not a valid JMESPath expression ({reason})"))
    return problems


def _header_name_problem(name: str) -> str | None:
    if not _HEADER_NAME.match(name):
        return _("is not a valid HTTP header name")
    return None


def url_problem(url: object) -> str | None:
    """Return why ``url`` is not an absolute http(s) URL with an unambiguous host, or ``None``."""
    if not isinstance(url, str) or not url:
        return _("must be a non-empty string")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return _("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return _("is not a valid URL: %(exc)s", exc=exc)
    if parts.scheme.lower() not in ("http", "https"):
        return _("must use http or https, not %(scheme)r", scheme=parts.scheme or "no scheme")
    if not parts.hostname:
        return _("must include a host name")
    return _host_problem(parts.hostname)


def _host_problem(host: str) -> str | None:
    """Return why a URL's host is ambiguous, or ``None``.

    Resolvers disagree on numeric hosts that are not plain dotted decimal: ``0177.0.0.1`` is
    127.0.0.1 for inet_aton and browsers but a host name for others, likewise hexadecimal
    (``0x7f.0.0.1``), zero-padded (``127.000.000.001``), short (``127.1``) and single-number
    (``2130706433``) forms, a trailing dot, and names that become digits only after Unicode
    normalisation (fullwidth ``１２７.０.０.１``, digits of other scripts). A host whose last
    label reads as a number (the WHATWG URL rule) must therefore be a canonical IPv4 address.
    """
    if ":" in host:  # an IPv6 literal; urlsplit removed the brackets
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return _("host %(host)r is not a valid IPv6 address", host=host)
        return None
    folded = unicodedata.normalize("NFKC", host).translate(_FULL_STOPS).lower()
    labels = folded.split(".")
    if len(labels) > 1 and not labels[-1]:
        labels.pop()
    last = labels[-1]
    hexadecimal = last.startswith("0x") and all(c in string.hexdigits for c in last[2:])
    if not (last.isdecimal() or hexadecimal):
        return None
    try:
        canonical = str(ipaddress.IPv4Address(host)) == host
    except ValueError:
        canonical = False
    if canonical:
        return None
    if not host.isascii():
        return _(
            "host %(host)r reads as the number %(folded)r once Unicode is normalised, and resolvers disagree "
            "on such hosts; write the address in ASCII dotted decimal (such as 127.0.0.1) or use a host name",
            host=host,
            folded=folded,
        )
    return _(
        "host %(host)r is an ambiguous numeric address: resolvers read octal, hexadecimal, zero-padded and "
        "short forms differently; write four decimal numbers without leading zeros (such as 127.0.0.1)",
        host=host,
    )


def url_destination(url: object) -> str | None:
    """Return where an http(s) URL sends requests, ``scheme://host:port`` with the default port filled in."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port or _DEFAULT_PORTS[scheme]}"


def _expected_status_problems(value: object) -> Problems:
    if not isinstance(value, list) or not value:
        return [("config.expected_status", _("must be a non-empty list of status codes"))]
    return [
        (f"config.expected_status[{index}]", _("must be an integer from 100 to 599"))
        for index, code in enumerate(value)
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599
    ]


KIND = TaskKind(
    name="http",
    fields=(
        "method",
        "url",
        "headers",
        "body",
        "expected_status",
        "verify_tls",
        "connect_timeout_seconds",
        "read_timeout_seconds",
        "outputs",
    ),
    check=config_problems,
    editor_config={"method": "GET", "url": "https://example.com/", "expected_status": [200]},
    reference_fields={"url": "url", "headers": "text", "body": "typed"},
)
