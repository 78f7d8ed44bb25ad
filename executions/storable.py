"""Make a task's output, details and published values storable whatever bytes the task printed.

PostgreSQL refuses NUL in text and `\\u0000` in jsonb, no database takes a lone UTF-16
surrogate (a Python str may hold one: a callable's return value, a body decoded by a lenient
codec), and jsonb refuses NaN and ±Infinity. A finish carrying one of them could not be written,
and a finish that cannot be written used to become a "worker lost" retry of a command that had
completed. So every finish passes through `storable` first (`lifecycle.node_run_finish`, on every
database alike): a surrogate pair becomes the character it encodes, NUL and lone surrogates
become U+FFFD (what undecodable bytes already become), a non-finite number becomes its JSON-ish
name (`"NaN"`, `"Infinity"`, `"-Infinity"`), and a `[baton]` line at the end of the output says
how many characters were replaced. Clean text, the usual case, is returned as it is.
`unrecorded` is what a finish records when even that could not be written.

Pure: no Django import.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from executions.kinds import Outcome

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def storable_text(text: str) -> tuple[str, int]:
    """Return `text` with what no database stores replaced, and how many characters were replaced."""
    if _UNSTORABLE.search(text) is None:
        return text, 0
    if _SURROGATE.search(text) is not None:  # join the pairs (a UTF-16 leftover) into their characters
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return _UNSTORABLE.subn(REPLACEMENT, text)


def storable_json(value: Any) -> tuple[Any, int]:
    """Return a JSON value with its strings (keys too) and non-finite numbers made storable, and the count."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ("NaN" if math.isnan(value) else _NON_FINITE[value]), 0
    if isinstance(value, dict):
        replaced, cleaned = 0, {}
        for key, item in value.items():
            key, in_key = storable_text(key) if isinstance(key, str) else (key, 0)
            cleaned[key], in_item = storable_json(item)
            replaced += in_key + in_item
        return cleaned, replaced
    if isinstance(value, list | tuple):
        pairs = [storable_json(item) for item in value]
        return [item for item, _ in pairs], sum(count for _, count in pairs)
    return value, 0


def replacement_note(count: int) -> str:
    """Return the `[baton]` line that says how many characters were replaced."""
    what = "character" if count == 1 else "characters"
    return f"[baton] {count} {what} the database cannot store (NUL, unpaired surrogate) replaced with U+FFFD\n"


def storable(outcome: Outcome) -> Outcome:
    """Return the outcome with its output, detail and published values storable, noting any replacement."""
    output, replaced = storable_text(outcome.output)
    detail, in_detail = storable_json(outcome.detail)
    outputs, in_outputs = storable_json(outcome.outputs)
    replaced += in_detail + in_outputs
    if replaced:
        output += ("" if not output or output.endswith("\n") else "\n") + replacement_note(replaced)
    return replace(outcome, output=output, detail=detail, outputs=outputs)


def unrecorded(outcome: Outcome, error: BaseException) -> Outcome:
    """Return what to record when `outcome` could not be: its status, its numbers and a note saying why."""
    lines = str(error).strip().splitlines()
    reason, _ = storable_text(f"{type(error).__name__}: {lines[0] if lines else ''}"[:300])
    note = f"[baton] the attempt {outcome.status}; its output and details could not be stored ({reason})\n"
    detail: dict[str, Any] = {
        key: value
        for key, value in outcome.detail.items()
        if isinstance(key, str) and (value is None or isinstance(value, bool | int | float))
    }
    detail["record_error"] = reason
    if outcome.status != "succeeded":
        detail["error"] = f"the attempt {outcome.status}; its output could not be stored"
    return Outcome(status=outcome.status, output=note, detail=storable_json(detail)[0])
