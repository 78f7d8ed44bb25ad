"""Validation of a task's kind and config, one case per rule; and the python-task registry."""

from __future__ import annotations

from typing import Any

import pytest

from workflows import registry
from workflows.kinds import TASK_KINDS
from workflows.kinds.http import url_destination
from workflows.task_config import config_problems


def paths(kind: str, config: object, **kwargs: Any) -> list[str]:
    return [path for path, _ in config_problems(kind, config, **kwargs)]


def test_kinds_are_shell_http_python() -> None:
    assert list(TASK_KINDS) == ["shell", "http", "python"]


def test_unknown_kind_is_a_problem() -> None:
    assert config_problems("ftp", {}) == [("kind", f"must be one of {', '.join(TASK_KINDS)}; got 'ftp'")]


@pytest.mark.parametrize("kind", TASK_KINDS)
def test_config_must_be_an_object(kind: str) -> None:
    assert config_problems(kind, ["script"]) == [("config", "must be an object")]


@pytest.mark.parametrize(
    ("kind", "config"),
    [
        ("shell", {"script": "echo hi"}),
        ("shell", {"argv": ["make", "test", ""], "cwd": "/srv", "env": {"A": "1", "TOKEN": {"secret": "x"}}}),
        ("http", {"url": "https://deploy.example/api"}),
        (
            "http",
            {
                "method": "post",
                "url": "http://example.com:8080/x?y=1",
                "headers": {"Authorization": {"secret": "Bearer x"}, "X-Req": "1"},
                "body": {"a": [1, 2.5, None, True]},
                "expected_status": [200, 202, 302],
                "verify_tls": False,
                "connect_timeout_seconds": 2,
                "read_timeout_seconds": 0.5,
            },
        ),
        ("http", {"url": "http://example.com/", "body": "raw"}),
        ("python", {"callable": "baton.echo", "kwargs": {"message": "hi", "n": [1, {"a": None}]}}),
        ("python", {"callable": "baton.noop"}),
    ],
)
def test_valid_configs_have_no_problems(kind: str, config: dict[str, Any]) -> None:
    assert config_problems(kind, config) == []


@pytest.mark.parametrize(
    ("kind", "config", "expected"),
    [
        (
            "shell",
            {"script": "ls", "colour": "red"},
            ("config.colour", "unknown field for a shell task; allowed: script, argv, cwd, env"),
        ),
        (
            "http",
            {"url": "http://x.example/", "auth": "x"},
            (
                "config.auth",
                "unknown field for a http task; allowed: method, url, headers, body, expected_status, verify_tls, connect_timeout_seconds, read_timeout_seconds, outputs",
            ),
        ),
        (
            "python",
            {"callable": "a.b", "args": []},
            ("config.args", "unknown field for a python task; allowed: callable, kwargs"),
        ),
    ],
)
def test_unknown_fields_are_problems(kind: str, config: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in config_problems(kind, config)


# -- shell ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ("config", "must have exactly one of 'script' or 'argv'")),
        ({"cwd": "/tmp"}, ("config", "must have exactly one of 'script' or 'argv'")),
        ({"script": "ls", "argv": ["ls"]}, ("config", "must have exactly one of 'script' or 'argv'")),
        ({"script": ""}, ("config.script", "must be a non-empty string")),
        ({"script": "  \n"}, ("config.script", "must be a non-empty string")),
        ({"script": ["ls"]}, ("config.script", "must be a non-empty string")),
        ({"script": "ls\0"}, ("config.script", "must not contain a NUL character")),
        ({"argv": []}, ("config.argv", "must be a non-empty list of strings")),
        ({"argv": "ls -l"}, ("config.argv", "must be a non-empty list of strings")),
        ({"argv": ["ls", 3]}, ("config.argv[1]", "must be a string")),
        ({"argv": ["ls", "a\0b"]}, ("config.argv[1]", "must not contain a NUL character")),
        ({"argv": ["", "x"]}, ("config.argv[0]", "must be a non-empty string (the program to run)")),
        ({"script": "ls", "cwd": ""}, ("config.cwd", "must be a non-empty string")),
        ({"script": "ls", "cwd": 5}, ("config.cwd", "must be a non-empty string")),
        (
            {"script": "ls", "env": ["A=1"]},
            ("config.env", 'must be an object of names to strings or {"secret": string}'),
        ),
        ({"script": "ls", "env": {"A": 1}}, ("config.env.A", 'must be a string or {"secret": string}')),
        (
            {"script": "ls", "env": {"A=B": "1"}},
            ("config.env.A=B", "must be a non-empty variable name without '=' or NUL"),
        ),
        ({"script": "ls", "env": {"": "1"}}, ("config.env.", "must be a non-empty variable name without '=' or NUL")),
        (
            {"script": "ls", "env": {"A": {"secret": 3}}},
            ("config.env.A.secret", 'must be a string or {"secret": string}'),
        ),
        (
            {"script": "ls", "env": {"A": {"secret": "x", "note": "y"}}},
            ("config.env.A", 'must be a string or {"secret": string}'),
        ),
        ({"script": "ls", "env": {"A": "a\0"}}, ("config.env.A", "must not contain NUL, CR or LF characters")),
    ],
)
def test_shell_rules(config: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in config_problems("shell", config)


# -- http -------------------------------------------------------------------------------------


def ok_url(**extra: Any) -> dict[str, Any]:
    return {"url": "https://example.com/", **extra}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ("config.url", "is required")),
        ({"url": ""}, ("config.url", "must be a non-empty string")),
        ({"url": 5}, ("config.url", "must be a non-empty string")),
        ({"url": "ftp://example.com/"}, ("config.url", "must use http or https, not 'ftp'")),
        ({"url": "file:///etc/passwd"}, ("config.url", "must use http or https, not 'file'")),
        ({"url": "example.com/path"}, ("config.url", "must use http or https, not 'no scheme'")),
        ({"url": "http:///path"}, ("config.url", "must include a host name")),
        ({"url": "http://exa mple.com/"}, ("config.url", "must not contain spaces or control characters")),
        ({"url": "http://example.com:99999/"}, ("config.url", "is not a valid URL: Port out of range 0-65535")),
        (ok_url(method="FETCH"), ("config.method", "must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS")),
        (ok_url(method=1), ("config.method", "must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS")),
        (ok_url(headers="x"), ("config.headers", 'must be an object of names to strings or {"secret": string}')),
        (ok_url(headers={"Bad Name": "x"}), ("config.headers.Bad Name", "is not a valid HTTP header name")),
        (ok_url(headers={"X": 1}), ("config.headers.X", 'must be a string or {"secret": string}')),
        (ok_url(headers={"X": "a\r\nInjected: 1"}), ("config.headers.X", "must not contain NUL, CR or LF characters")),
        (
            ok_url(headers={"X": {"secret": "a\nb"}}),
            ("config.headers.X.secret", "must not contain NUL, CR or LF characters"),
        ),
        (ok_url(body=3), ("config.body", "must be a string or a JSON object or array")),
        (ok_url(body={"x": float("nan")}), ("config.body", "must be valid JSON (string keys, finite numbers)")),
        (ok_url(expected_status=200), ("config.expected_status", "must be a non-empty list of status codes")),
        (ok_url(expected_status=[]), ("config.expected_status", "must be a non-empty list of status codes")),
        (ok_url(expected_status=[200, 99]), ("config.expected_status[1]", "must be an integer from 100 to 599")),
        (ok_url(expected_status=[600]), ("config.expected_status[0]", "must be an integer from 100 to 599")),
        (ok_url(expected_status=["200"]), ("config.expected_status[0]", "must be an integer from 100 to 599")),
        (ok_url(expected_status=[True]), ("config.expected_status[0]", "must be an integer from 100 to 599")),
        (ok_url(verify_tls="no"), ("config.verify_tls", "must be true or false")),
        (ok_url(connect_timeout_seconds=0), ("config.connect_timeout_seconds", "must be a number greater than 0")),
        (ok_url(read_timeout_seconds="5"), ("config.read_timeout_seconds", "must be a number greater than 0")),
        (ok_url(read_timeout_seconds=True), ("config.read_timeout_seconds", "must be a number greater than 0")),
    ],
)
def test_http_rules(config: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in config_problems("http", config)


AMBIGUOUS = "is an ambiguous numeric address: resolvers read octal, hexadecimal, zero-padded and short forms"


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("0177.0.0.1", f"host '0177.0.0.1' {AMBIGUOUS}"),  # octal
        ("127.000.000.001", f"host '127.000.000.001' {AMBIGUOUS}"),  # zero-padded
        ("0x7f.0.0.1", f"host '0x7f.0.0.1' {AMBIGUOUS}"),  # hexadecimal
        ("0X7F000001", f"host '0x7f000001' {AMBIGUOUS}"),
        ("127.1", f"host '127.1' {AMBIGUOUS}"),  # short
        ("2130706433", f"host '2130706433' {AMBIGUOUS}"),  # one number
        ("127.0.0.1.", f"host '127.0.0.1.' {AMBIGUOUS}"),  # trailing dot
        ("intranet.10", f"host 'intranet.10' {AMBIGUOUS}"),  # a last label that is a number makes it an address
        ("１２７.０.０.１", "host '１２７.０.０.１' reads as the number '127.0.0.1' once Unicode is normalised"),
        ("①②⑦.0.0.1", "host '①②⑦.0.0.1' reads as the number '127.0.0.1' once Unicode is normalised"),
        ("127。0。0。1", "host '127。0。0。1' reads as the number '127.0.0.1' once Unicode is normalised"),
        ("١٢٧.٠.٠.١", "host '١٢٧.٠.٠.١' reads as the number '١٢٧.٠.٠.١' once Unicode is normalised"),
        ("[::ffff:0177.0.0.1]", "is not a valid URL"),
    ],
)
def test_an_ambiguous_numeric_host_is_refused(host: str, message: str) -> None:
    ((path, problem),) = config_problems("http", {"url": f"http://{host}/hook"})
    assert path == "config.url" and problem.startswith(message), problem


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "10.0.0.1:8080", "[::1]", "[fe80::1%25eth0]", "example.com", "1.example.com", "bücher.example"],
)
def test_canonical_addresses_and_host_names_are_fine(host: str) -> None:
    assert config_problems("http", {"url": f"https://{host}/hook"}) == []


@pytest.mark.parametrize(
    ("url", "destination"),
    [
        ("https://Example.COM/a?b=1", "https://example.com:443"),
        ("HTTP://example.com:80/", "http://example.com:80"),
        ("http://example.com:8080/", "http://example.com:8080"),
        ("https://user:pw@[::1]:8443/x", "https://[::1]:8443"),
        ("ftp://example.com/", None),
        ("https://example.com:99999/", None),
        (None, None),
    ],
)
def test_a_url_s_destination_is_scheme_host_and_port(url: object, destination: str | None) -> None:
    assert url_destination(url) == destination


# -- python -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, ("config.callable", "must be a non-empty string (a registered name)")),
        ({"callable": ""}, ("config.callable", "must be a non-empty string (a registered name)")),
        ({"callable": 3}, ("config.callable", "must be a non-empty string (a registered name)")),
        ({"callable": "a.b", "kwargs": []}, ("config.kwargs", "must be a JSON object")),
        (
            {"callable": "a.b", "kwargs": {"when": object()}},
            ("config.kwargs", "must be valid JSON (string keys, finite numbers)"),
        ),
        (
            {"callable": "a.b", "kwargs": {"x": float("inf")}},
            ("config.kwargs", "must be valid JSON (string keys, finite numbers)"),
        ),
    ],
)
def test_python_rules(config: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in config_problems("python", config)


def test_unknown_callable_is_a_problem_only_when_the_registry_is_given() -> None:
    assert config_problems("python", {"callable": "shop.reindex"}) == []
    known = ["baton.echo", "baton.noop", "shop.rebuild"]
    assert config_problems("python", {"callable": "shop.reindex"}, registered_callables=known) == [
        ("config.callable", "unknown callable 'shop.reindex'; did you mean shop.rebuild?")
    ]
    assert config_problems("python", {"callable": "zzz"}, registered_callables=known) == [
        ("config.callable", "unknown callable 'zzz'; registered: baton.echo, baton.noop, shop.rebuild")
    ]
    assert config_problems("python", {"callable": "zzz"}, registered_callables=[]) == [
        ("config.callable", "unknown callable 'zzz'; no python tasks are registered")
    ]
    assert config_problems("python", {"callable": "baton.echo"}, registered_callables=known) == []


# -- registry ---------------------------------------------------------------------------------


def test_registry_registers_under_the_dotted_name_by_default() -> None:
    @registry.task()
    def reindex() -> None: ...

    name = f"{__name__}.test_registry_registers_under_the_dotted_name_by_default.<locals>.reindex"
    try:
        assert registry.get(name) is reindex
        assert name in registry.names()
    finally:
        registry.unregister(name)


def test_registry_accepts_an_explicit_name_and_bare_decorator() -> None:
    @registry.task("tests.explicit")
    def explicit() -> None: ...

    @registry.task
    def bare() -> None: ...

    try:
        assert registry.get("tests.explicit") is explicit
        assert registry.get(f"{bare.__module__}.{bare.__qualname__}") is bare
    finally:
        registry.unregister("tests.explicit")
        registry.unregister(f"{bare.__module__}.{bare.__qualname__}")


def test_registry_refuses_a_second_callable_under_a_taken_name() -> None:
    registry.register(print, "tests.taken")
    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register(len, "tests.taken")
    finally:
        registry.unregister("tests.taken")


def test_registry_get_unknown_lists_known_names() -> None:
    import executions.builtins  # noqa: F401

    with pytest.raises(KeyError, match=r"registered: .*baton\.echo"):
        registry.get("tests.missing")
