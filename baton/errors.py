"""The one error family: every refusal a service or a pure core raises, each with its HTTP status.

Pure: it imports nothing of Baton or Django, so the pure cores (the definition parser, the
Quartz evaluator) raise members of the family too. Each interface maps the family once: the
API answers `http_status` with `summary` and `field_errors()` in its error shape, the admin
shows the message, the CLI prints it and exits 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class BatonError(Exception):
    """A request Baton refuses; its message is shown to the person or integration that made it."""

    http_status = 400
    code = "invalid"
    summary: str | None = None  # the API's `detail` when the message alone is not the point (None: the message)

    @property
    def message(self) -> str:
        """Return the message as raised (a marked `baton.text` message keeps what translating it needs)."""
        return self.args[0] if len(self.args) == 1 and isinstance(self.args[0], str) else str(self)

    def field_errors(self) -> list[dict[str, Any]]:
        """Return the problems at named places of the request, as the API's `errors` list."""
        return []


@dataclass(frozen=True)
class FieldProblem:
    """One problem at one field of a request."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class Invalid(BatonError, ValueError):
    """A request that breaks a rule; `problems` say where (each with a `path` and a `message`)."""

    http_status = 400
    code = "invalid"
    problems: Sequence[Any] = ()

    @classmethod
    def at(cls, fields: dict[str, str]) -> Invalid:
        """Return the error for problems at named fields ({field: message})."""
        error = cls("\n".join(f"{field}: {message}" for field, message in fields.items()))
        error.problems = tuple(FieldProblem(field, message) for field, message in fields.items())
        return error

    def field_errors(self) -> list[dict[str, Any]]:
        errors = []
        for problem in self.problems:
            error: dict[str, Any] = {"field": problem.path, "message": problem.message}
            if hasattr(problem, "nodes"):  # a definition's problem names the nodes and edges to highlight
                error["nodes"] = list(problem.nodes)
                error["edges"] = [list(edge) for edge in problem.edges]
            errors.append(error)
        return errors


class PermissionDenied(BatonError):
    """The actor's role (or permission) in the object's team does not allow the action."""

    http_status = 403
    code = "permission_denied"


class NotFound(BatonError):
    """The request names something that does not exist (or that the actor may not see)."""

    http_status = 404
    code = "not_found"


class Conflict(BatonError):
    """The object's state does not allow the action now."""

    http_status = 409
    code = "conflict"


class TransitionNotPossible(Conflict):
    """The object is no longer in a state that allows this action."""


class NotRunnable(Conflict):
    """The workflow or task cannot start a batch (no saved definition, deleted, part of a workflow)."""
