"""The error family: each error carries its HTTP status, and the pure cores' errors belong to it."""

from __future__ import annotations

import pytest

from access.http import exception_handler
from baton import errors
from workflows.definition import DefinitionError, Problem
from workflows.quartz import InvalidCronExpression, QuartzCron


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.Invalid("no"), 400, "invalid"),
        (errors.PermissionDenied("no"), 403, "permission_denied"),
        (errors.NotFound("no"), 404, "not_found"),
        (errors.Conflict("no"), 409, "conflict"),
        (errors.TransitionNotPossible("no"), 409, "conflict"),
        (errors.NotRunnable("no"), 409, "conflict"),
    ],
)
def test_the_api_answers_each_error_of_the_family_with_its_own_status(error, status, code):
    response = exception_handler(error, {})
    assert (response.status_code, response.data["code"], response.data["detail"]) == (status, code, "no")


def test_the_pure_cores_errors_belong_to_the_family_and_say_where():
    problem = Problem("nodes[0].key", "is required", nodes=("a",), edges=(("start", "a"),))
    response = exception_handler(DefinitionError([problem]), {})
    assert (response.status_code, response.data["detail"]) == (400, "The definition is not valid.")
    assert response.data["errors"] == [
        {"field": "nodes[0].key", "message": "is required", "nodes": ["a"], "edges": [["start", "a"]]}
    ]
    with pytest.raises(InvalidCronExpression) as caught:
        QuartzCron("61 * * * * ?", "UTC")
    response = exception_handler(caught.value, {})
    assert response.status_code == 400 and response.data["errors"][0]["field"] == "expression"
    fields = exception_handler(errors.Invalid.at({"role": "too high"}), {})
    assert fields.data["errors"] == [{"field": "role", "message": "too high"}]
