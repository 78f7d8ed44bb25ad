"""Fuzz every documented operation in-process (schemathesis over WSGI): no 5xx, responses match the schema.

Runs as a team member authenticated by a token, and as anonymous. Bounded by a few examples
per operation so the whole file stays well under a minute.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from config.wsgi import application
from executions.lifecycle import batch_start
from tests.api.conftest import make_token
from tests.conftest import acting
from workflows.models import Role

pytestmark = pytest.mark.django_db

# The same examples on every run, so a red CI means a change broke something; explore by hand
# with BATON_FUZZ_RANDOM=1 BATON_FUZZ_EXAMPLES=100 (that is how the last two 500s were found).
FUZZ = settings(
    max_examples=int(os.environ.get("BATON_FUZZ_EXAMPLES", "6")),
    derandomize=os.environ.get("BATON_FUZZ_RANDOM") != "1",
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Every default check (server errors, status codes, content types, response schemas and headers,
# unsupported methods, ignored auth, …) except the two that judge meaning rather than shape:
# a schema-valid id that does not exist is rightly a 400, and the definition validator, not
# the schema, decides what a valid workflow is.
SEMANTIC = [schemathesis.checks.positive_data_acceptance, schemathesis.checks.negative_data_rejection]


@pytest.fixture
def keep_test_transaction():
    """Keep Django from closing the test's connection at the end of each WSGI request (as its test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def team_token(workflow, alice, dispatched, platform):
    batch_start(workflow=workflow, actor=acting(alice))
    return make_token(platform, Role.EDITOR, name="fuzz")


# Loaded at collection: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.parametrize()
@FUZZ
def test_api_as_a_team_member(case, team_token, keep_test_transaction):
    case.call_and_validate(headers={"Authorization": f"Bearer {team_token}"}, excluded_checks=SEMANTIC)


@schema.parametrize()
@FUZZ
def test_api_as_anonymous(case, keep_test_transaction):
    response = case.call_and_validate(excluded_checks=SEMANTIC)
    assert response.status_code in (400, 401, 404, 405, 406, 413, 415)
