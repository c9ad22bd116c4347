"""The running customer service (gunicorn) held to its contract, with a gateway-issued token.

``tests/contract`` fuzzes the app in-process with valid and invalid data; this run
sends fewer, valid generated requests over real HTTP to the real process, so the
server, its workers and gateway-issued tokens are held to the same document. (Invalid
data of any length would also meet gunicorn's request-line limit, answered before
the app with its own 414 page.)
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from customer_service.app import OPENAPI_PATH
from tests.e2e.conftest import Stack

schema = schemathesis.openapi.from_path(OPENAPI_PATH)
schema.config.generation.update(max_examples=10, modes=[GenerationMode.POSITIVE])
# Not the coverage phase: its thousands of boundary cases (every country code, for one) are
# the in-process run's; here a few generated requests hold the real server to the document.
schema.config.phases.update(phases=["examples", "fuzzing"])

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_the_running_service_keeps_its_contract(case: Case[Any], stack: Stack) -> None:
    case.call_and_validate(
        base_url=stack.customer.url, headers=stack.headers("admin"), checks=CHECKS
    )
