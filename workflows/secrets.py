"""Secret values in task configs (SPEC §10): sealed at rest, masked on the way out.

A definition writes a secret as `{"secret": "value"}`. It is stored sealed,
`{"sealed": "<Fernet token>"}`, keyed by `BATON_SECRET_KEY` (default: `SECRET_KEY`), shown
as `{"secret": "***"}` by every export and response, and unsealed only in the worker that
runs the task. Importing `{"secret": "***"}` keeps the value already stored at that place.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

MASK = "***"


def _fernet() -> Fernet:
    key = os.environ.get("BATON_SECRET_KEY") or settings.SECRET_KEY
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def is_secret(value: Any) -> bool:
    """Tell whether a config value is a written secret, `{"secret": ...}`."""
    return isinstance(value, dict) and set(value) == {"secret"}


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
    """Seal written secrets; `***` keeps the value stored at the same place in `previous`."""
    problems: list[tuple[str, str]] = []

    def leaf(value: dict, path: tuple) -> Any:
        if is_sealed(value):
            return value
        if value["secret"] == MASK:
            stored = _at(previous or {}, path)
            if is_sealed(stored):
                return stored
            problems.append((_dotted(prefix, path), "is masked (***) but no secret is stored here to keep"))
            return value
        if not isinstance(value["secret"], str) or not value["secret"]:
            problems.append((_dotted(prefix, path), "a secret must be a non-empty string"))
            return value
        return {"sealed": _fernet().encrypt(value["secret"].encode()).decode()}

    return _walk(config, (), leaf), problems


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
