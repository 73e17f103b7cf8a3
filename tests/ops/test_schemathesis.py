"""schemathesis against the WSGI app in-process: no 5xx, and every answer as /openapi.json says.

A fresh tenant and an admin token; a bounded, deterministic number of examples per operation.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import bearer, create_tenant, login

MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def fuzz_app(app_factory: Any) -> Any:
    # Rate limits are exercised by their own tests; here they would only turn examples into 429s.
    return app_factory(RATELIMIT_ENABLED=False)


@pytest.fixture
def admin_headers(fuzz_app: Any) -> dict[str, str]:
    create_tenant(fuzz_app, "fuzz", "admin@fuzz.test")
    return bearer(login(fuzz_app.test_client(), "fuzz", "admin@fuzz.test"))


@pytest.fixture
def api_schema(fuzz_app: Any, admin_headers: dict[str, str]) -> Any:
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    loaded.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_description(case: Any, admin_headers: dict[str, str]) -> None:
    """Every documented operation answers without a 5xx and as its description says."""
    # A real WSGI server always sets REMOTE_ADDR (werkzeug's bare Client does not): loopback, as for a local scrape.
    case.call_and_validate(headers=admin_headers, checks=CHECKS, environ_base={"REMOTE_ADDR": "127.0.0.1"})
