"""Secret values in task configs (SPEC §10): sealed at rest, masked on the way out.

A definition writes a secret as `{"secret": "value"}`. It is stored sealed,
`{"sealed": "<Fernet token>"}`, keyed by `BATON_SECRET_KEY` (default: `SECRET_KEY`), shown
as `{"secret": "***"}` by every export and response, and unsealed only in the worker that
runs the task. Importing `{"secret": "***"}` keeps the value already stored at that place,
unless the task is an HTTP task whose destination (scheme, host and port of its URL, default
ports filled in) changed: a kept secret would then go to a server its writer never chose, so
the save asks for it again (the rule Grafana and CI systems apply to stored credentials).
A shell task's `env` secrets are kept when its script changes: whoever may change a shell
task may run any code on the worker, which reads the secret just as well (see docs/decisions.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.utils.translation import gettext as _

from workflows.kinds.fields import is_secret
from workflows.kinds.http import url_destination

MASK = "***"


def _fernet() -> Fernet:
    key = os.environ.get("BATON_SECRET_KEY") or settings.SECRET_KEY
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def is_sealed(value: Any) -> bool:
    """Tell whether a config value is a stored secret, `{"sealed": ...}`."""
    return isinstance(value, dict) and set(value) == {"sealed"}


def _walk(value: Any, path: tuple[str | int, ...], leaf: Callable[[Any, tuple], Any]) -> Any:
    if is_secret(value) or is_sealed(value):
        return leaf(value, path)
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k), leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i), leaf) for i, v in enumerate(value)]
    return value


def _at(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if (isinstance(value, dict) and part in value) or (
            isinstance(value, list) and isinstance(part, int) and part < len(value)
        ):
            value = value[part]
        else:
            return None
    return value


def _dotted(prefix: str, path: tuple[str | int, ...]) -> str:
    return prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def seal(config: dict, previous: dict | None, prefix: str) -> tuple[dict, list[tuple[str, str]]]:
    """Seal written secrets; `***` keeps the value stored at the same place in `previous`, at the same destination."""
    problems: list[tuple[str, str]] = []
    moved = _destination_change(config, previous)

    def leaf(value: dict, path: tuple) -> Any:
        if is_sealed(value):
            return value
        if value["secret"] == MASK:
            stored = _at(previous or {}, path)
            if not is_sealed(stored):
                problems.append((_dotted(prefix, path), _("is masked (***) but no secret is stored here to keep")))
            elif moved:
                problems.append((_dotted(prefix, path), moved))
            else:
                return stored
            return value
        if not isinstance(value["secret"], str) or not value["secret"]:
            problems.append((_dotted(prefix, path), _("a secret must be a non-empty string")))
            return value
        return {"sealed": _fernet().encrypt(value["secret"].encode()).decode()}

    return _walk(config, (), leaf), problems


def _destination_change(config: dict, previous: dict | None) -> str | None:
    """Say how the destination of an HTTP task's URL changed from `previous` to `config`, or None if it did not."""
    before = url_destination(previous.get("url")) if isinstance(previous, dict) else None
    after = url_destination(config.get("url")) if isinstance(config, dict) else None
    if before == after:
        return None
    return _("the destination changed from %(before)s to %(after)s: enter this secret again") % {
        "before": before or _("no URL"),
        "after": after or _("no URL"),
    }


def mask(config: Any) -> Any:
    """Replace every stored secret with `{"secret": "***"}`."""
    return _walk(config, (), lambda value, path: {"secret": MASK})


def unseal(config: Any) -> tuple[Any, list[str]]:
    """Return the config with plaintext secrets, and the list of those plaintexts."""
    found: list[str] = []

    def leaf(value: dict, path: tuple) -> Any:
        if is_secret(value):
            plain = value["secret"]
        else:
            try:
                plain = _fernet().decrypt(value["sealed"].encode()).decode()
            except InvalidToken as exc:
                where = _dotted("config", path)
                raise ValueError(f"{where}: the stored secret cannot be read with this key") from exc
        found.append(plain)
        return plain

    return _walk(config, (), leaf), found
