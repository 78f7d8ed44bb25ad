"""The values a task publishes for later nodes (`${nodes.KEY.outputs.NAME}`): read, masked, capped.

A shell task writes them to the file named by ``$BATON_OUTPUT``, one per line, as GitHub
Actions' ``$GITHUB_OUTPUT`` reads them::

    version=1.4.2
    notes<<EOF
    first line
    second line
    EOF

``name=value`` takes the rest of the line; ``name<<DELIMITER`` takes the following lines up to
one that is exactly the delimiter (the newline before it is not part of the value). Names are
letters, digits and ``_``, not starting with a digit; a later line for the same name wins; blank
lines are ignored. A python callable publishes the mapping it returns, an http task the values
its ``outputs`` expressions select from the JSON response.

Every published string has the run's secrets masked (``***``), as output text does; the whole,
as JSON, must fit ``ctx.output_values_limit`` bytes, else the attempt fails: a value cut short
would be a wrong value. Pure: no Django import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from baton.text import _
from executions.kinds.masking import mask

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_HEREDOC = re.compile(r"([^=<]*)<<(.+)")


class OutputsProblem(ValueError):
    """Published values Baton cannot keep (the message says which and why)."""


def read_output_file(data: bytes) -> dict[str, str]:
    """Parse what a shell task wrote to ``$BATON_OUTPUT``; raise OutputsProblem naming the line."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index].removesuffix("\r")
        number = index + 1
        index += 1
        if not line.strip():
            continue
        heredoc = _HEREDOC.fullmatch(line)
        if heredoc and "=" not in heredoc.group(1):
            name, delimiter = heredoc.group(1).strip(), heredoc.group(2).strip()
            _check_name(name, number)
            body: list[str] = []
            while index < len(lines) and lines[index].removesuffix("\r") != delimiter:
                body.append(lines[index].removesuffix("\r"))
                index += 1
            if index >= len(lines):
                raise OutputsProblem(
                    _(
                        "$BATON_OUTPUT line %(line)d: no line %(delimiter)r ends the value of %(name)r",
                        line=number,
                        delimiter=delimiter,
                        name=name,
                    )
                )
            index += 1
            values[name] = "\n".join(body)
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise OutputsProblem(
                _(
                    "$BATON_OUTPUT line %(line)d: write name=value or name<<DELIMITER, not %(text)r",
                    line=number,
                    text=line[:80],
                )
            )
        _check_name(name.strip(), number)
        values[name.strip()] = value
    return values


def _check_name(name: str, number: int) -> None:
    if not NAME.fullmatch(name):
        raise OutputsProblem(
            _(
                "$BATON_OUTPUT line %(line)d: %(name)r is not an output name "
                "(letters, digits and '_', at most 64, not starting with a digit)",
                line=number,
                name=name[:80],
            )
        )


def from_mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    """Return a callable's returned mapping as outputs; raise OutputsProblem for a bad name or a non-JSON value."""
    outputs: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise OutputsProblem(
                _("the returned mapping's key %(name)r is not an output name (letters, digits, '_')", name=name)
            )
        try:
            json.dumps(item, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise OutputsProblem(
                _("output %(name)r is not a JSON value (%(error)s)", name=name, error=str(exc))
            ) from exc
        outputs[name] = item
    return outputs


def finish(outputs: Mapping[str, Any], secrets: Iterable[str], limit: int) -> dict[str, Any]:
    """Mask the secrets in every string of the outputs and check their size; raise OutputsProblem."""
    secrets = tuple(secrets)
    masked = {name: _masked(value, secrets) for name, value in outputs.items()}
    size = len(json.dumps(masked, ensure_ascii=False).encode("utf-8", "replace"))
    if size > limit:
        raise OutputsProblem(
            _(
                "the published values take %(size)d bytes as JSON, more than the %(limit)d allowed "
                "(BATON_OUTPUT_VALUES_LIMIT); pass large data through a file or a store, and publish its location",
                size=size,
                limit=limit,
            )
        )
    return masked


def _masked(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, dict):
        return {key: _masked(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item, secrets) for item in value]
    return value
