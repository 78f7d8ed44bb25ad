"""Run an ``echo`` task: its text is its output."""

from __future__ import annotations

from typing import Any

from executions.kinds.executor import SUCCEEDED, Outcome, RunContext
from executions.kinds.masking import mask, truncate


def run_echo(config: dict[str, Any], ctx: RunContext) -> Outcome:
    """Print ``config["text"]`` (masked, truncated) and succeed."""
    text = mask(config["text"], ctx.secrets) + "\n"
    output = truncate(text, ctx.output_limit)
    detail = {"duration_seconds": 0.0, "output_bytes": len(text.encode()), "truncated": output != text}
    return Outcome(status=SUCCEEDED, output=output, detail=detail)
