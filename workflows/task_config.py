"""Validate a task's ``kind`` and ``config`` (SPEC §2, §10) without touching the database.

``config_problems`` returns ``(path, message)`` pairs, e.g.
``("config.script", "must be a non-empty string")``; an empty list means the config is valid.
Paths start at ``kind`` or ``config`` so a parser can prefix them with the node's location.

Rules, and the decisions taken where the spec is silent:

- ``shell``: exactly one of ``script`` (non-empty string, run by ``/bin/sh -c``) or ``argv``
  (non-empty list of strings, first one non-empty); optional ``cwd`` (non-empty string) and
  ``env`` (object: variable name → string or ``{"secret": string}``). Variable names must be
  non-empty and contain neither ``=`` nor NUL; no string may contain NUL (``exec`` refuses it).
- ``http``: ``method`` one of GET POST PUT PATCH DELETE HEAD OPTIONS, case-insensitive,
  default GET; ``url`` absolute http/https URL with a host, which must not be an ambiguous
  number (see ``url_problem``); ``headers`` (object: header name
  token → string without CR/LF, or ``{"secret": string}``); ``body`` (string sent as is, or a
  JSON object/array sent as JSON); ``expected_status`` (non-empty list of integers 100–599;
  default: any 2xx); ``verify_tls`` (boolean, default true); ``connect_timeout_seconds`` and
  ``read_timeout_seconds`` (numbers > 0).
- ``python``: ``callable`` (a registered name; when ``registered_callables`` is given an
  unknown name is a problem listing close matches or the known names) and ``kwargs`` (a JSON
  object, default ``{}``; finite numbers only).
- Any other key in ``config`` is a problem ("unknown field"), as is an unknown ``kind``.
- A task's ``queue`` must not be one of Baton's own (``is_reserved_queue``): the definition
  parser refuses it.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import string
import unicodedata
from collections.abc import Callable, Collection, Mapping
from urllib.parse import urlsplit

KINDS = ("shell", "http", "python")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

_FIELDS: dict[str, tuple[str, ...]] = {
    "shell": ("script", "argv", "cwd", "env"),
    "http": (
        "method",
        "url",
        "headers",
        "body",
        "expected_status",
        "verify_tls",
        "connect_timeout_seconds",
        "read_timeout_seconds",
    ),
    "python": ("callable", "kwargs"),
}
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # what IDNA reads as a dot
_MAX_LISTED_CALLABLES = 20

Problems = list[tuple[str, str]]


def config_problems(
    kind: str,
    config: object,
    *,
    registered_callables: Collection[str] | None = None,
) -> Problems:
    """Return the problems of ``config`` for a task of ``kind``; empty when it is valid."""
    if kind not in KINDS:
        return [("kind", f"must be one of {', '.join(KINDS)}; got {kind!r}")]
    if not isinstance(config, Mapping):
        return [("config", "must be an object")]
    problems: Problems = []
    allowed = _FIELDS[kind]
    for key in config:
        if key not in allowed:
            problems.append((f"config.{key}", f"unknown field for a {kind} task; allowed: {', '.join(allowed)}"))
    if kind == "shell":
        problems += _shell_problems(config)
    elif kind == "http":
        problems += _http_problems(config)
    else:
        problems += _python_problems(config, registered_callables)
    return problems


def secret_paths(config: object) -> list[tuple[str, ...]]:
    """Return the paths of the ``{"secret": ...}`` values in ``config``, e.g. ``("env", "TOKEN")``."""
    if not isinstance(config, Mapping):
        return []
    paths: list[tuple[str, ...]] = []
    for field in ("env", "headers"):
        mapping = config.get(field)
        if isinstance(mapping, Mapping):
            paths += [(field, str(key)) for key, value in mapping.items() if is_secret(value)]
    return paths


def is_secret(value: object) -> bool:
    """Return whether ``value`` has the shape of a secret reference ``{"secret": ...}``."""
    return isinstance(value, Mapping) and set(value) == {"secret"}


def _shell_problems(config: Mapping[str, object]) -> Problems:
    problems: Problems = []
    has_script, has_argv = "script" in config, "argv" in config
    if has_script == has_argv:
        problems.append(("config", "must have exactly one of 'script' or 'argv'"))
    if has_script:
        script = config["script"]
        if not isinstance(script, str) or not script.strip():
            problems.append(("config.script", "must be a non-empty string"))
        elif "\0" in script:
            problems.append(("config.script", "must not contain a NUL character"))
    if has_argv:
        problems += _argv_problems(config["argv"])
    if "cwd" in config:
        cwd = config["cwd"]
        if not isinstance(cwd, str) or not cwd:
            problems.append(("config.cwd", "must be a non-empty string"))
        elif "\0" in cwd:
            problems.append(("config.cwd", "must not contain a NUL character"))
    if "env" in config:
        problems += _string_map_problems("config.env", config["env"], _env_name_problem)
    return problems


def _argv_problems(argv: object) -> Problems:
    if not isinstance(argv, list) or not argv:
        return [("config.argv", "must be a non-empty list of strings")]
    problems: Problems = []
    for index, item in enumerate(argv):
        if not isinstance(item, str):
            problems.append((f"config.argv[{index}]", "must be a string"))
        elif "\0" in item:
            problems.append((f"config.argv[{index}]", "must not contain a NUL character"))
    if isinstance(argv[0], str) and not argv[0]:
        problems.append(("config.argv[0]", "must be a non-empty string (the program to run)"))
    return problems


def _env_name_problem(name: str) -> str | None:
    if not name or "=" in name or "\0" in name:
        return "must be a non-empty variable name without '=' or NUL"
    return None


def _header_name_problem(name: str) -> str | None:
    if not _HEADER_NAME.match(name):
        return "is not a valid HTTP header name"
    return None


def _string_map_problems(path: str, value: object, name_problem: Callable[[str], str | None]) -> Problems:
    """Check an object of name → string or ``{"secret": string}`` (``env``, ``headers``)."""
    if not isinstance(value, Mapping):
        return [(path, 'must be an object of names to strings or {"secret": string}')]
    problems: Problems = []
    for name, item in value.items():
        item_path = f"{path}.{name}"
        message = name_problem(name) if isinstance(name, str) else "must be a string"
        if message is not None:
            problems.append((item_path, message))
            continue
        if is_secret(item):
            text, where = item["secret"], f"{item_path}.secret"
        else:
            text, where = item, item_path
        if not isinstance(text, str):
            problems.append((where, 'must be a string or {"secret": string}'))
        elif "\0" in text or (path == "config.headers" and ("\r" in text or "\n" in text)):
            problems.append((where, "must not contain NUL, CR or LF characters"))
    return problems


def _http_problems(config: Mapping[str, object]) -> Problems:
    problems: Problems = []
    method = config.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        problems.append(("config.method", f"must be one of {', '.join(HTTP_METHODS)}"))
    if "url" not in config:
        problems.append(("config.url", "is required"))
    else:
        if (message := url_problem(config["url"])) is not None:
            problems.append(("config.url", message))
    if "headers" in config:
        problems += _string_map_problems("config.headers", config["headers"], _header_name_problem)
    if "body" in config and not isinstance(config["body"], (str, dict, list)):
        problems.append(("config.body", "must be a string or a JSON object or array"))
    elif isinstance(config.get("body"), (dict, list)) and not _is_json(config["body"]):
        problems.append(("config.body", "must be valid JSON (string keys, finite numbers)"))
    if "expected_status" in config:
        problems += _expected_status_problems(config["expected_status"])
    if "verify_tls" in config and not isinstance(config["verify_tls"], bool):
        problems.append(("config.verify_tls", "must be true or false"))
    for field in ("connect_timeout_seconds", "read_timeout_seconds"):
        if field in config and not _is_positive_number(config[field]):
            problems.append((f"config.{field}", "must be a number greater than 0"))
    return problems


def url_problem(url: object) -> str | None:
    """Return why ``url`` is not an absolute http(s) URL with an unambiguous host, or ``None``."""
    if not isinstance(url, str) or not url:
        return "must be a non-empty string"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return f"must use http or https, not {parts.scheme or 'no scheme'!r}"
    if not parts.hostname:
        return "must include a host name"
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
            return f"host {host!r} is not a valid IPv6 address"
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
        return (
            f"host {host!r} reads as the number {folded!r} once Unicode is normalised, and resolvers disagree "
            "on such hosts; write the address in ASCII dotted decimal (such as 127.0.0.1) or use a host name"
        )
    return (
        f"host {host!r} is an ambiguous numeric address: resolvers read octal, hexadecimal, zero-padded and "
        "short forms differently; write four decimal numbers without leading zeros (such as 127.0.0.1)"
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
        return [("config.expected_status", "must be a non-empty list of status codes")]
    return [
        (f"config.expected_status[{index}]", "must be an integer from 100 to 599")
        for index, code in enumerate(value)
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599
    ]


def _python_problems(config: Mapping[str, object], registered: Collection[str] | None) -> Problems:
    problems: Problems = []
    name = config.get("callable")
    if not isinstance(name, str) or not name.strip():
        problems.append(("config.callable", "must be a non-empty string (a registered name)"))
    elif registered is not None and name not in registered:
        problems.append(("config.callable", _unknown_callable_message(name, registered)))
    if "kwargs" in config:
        kwargs = config["kwargs"]
        if not isinstance(kwargs, dict):
            problems.append(("config.kwargs", "must be a JSON object"))
        elif not _is_json(kwargs):
            problems.append(("config.kwargs", "must be valid JSON (string keys, finite numbers)"))
    return problems


def _unknown_callable_message(name: str, registered: Collection[str]) -> str:
    known = sorted(registered)
    close = difflib.get_close_matches(name, known, n=3)
    if close:
        return f"unknown callable {name!r}; did you mean {', '.join(close)}?"
    if not known:
        return f"unknown callable {name!r}; no python tasks are registered"
    listed = ", ".join(known[:_MAX_LISTED_CALLABLES])
    more = f" and {len(known) - _MAX_LISTED_CALLABLES} more" if len(known) > _MAX_LISTED_CALLABLES else ""
    return f"unknown callable {name!r}; registered: {listed}{more}"


def _is_positive_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _is_json(value: object) -> bool:
    """Return whether ``value`` is made only of JSON types (with string keys, finite numbers)."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    return False


RESERVED_QUEUE_PREFIX = "baton-"


def is_reserved_queue(name: str) -> bool:
    """Tell whether a queue name belongs to Baton's own machinery (the scheduler tick, the sweep)."""
    return name.startswith(RESERVED_QUEUE_PREFIX)
