"""schemathesis against the WSGI app in-process: no 5xx, and every answer as /openapi.json says.

A fresh tenant and, for every case, a fresh admin access token: every operation runs as one
pytest item sharing the fixtures, and a fuzzed POST /v1/auth/logout revokes the token it was
sent with, which would leave every later operation answering only 401. A bounded,
deterministic number of examples per operation.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
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

from mailer.extensions import db
from mailer.models import User
from mailer.security.tokens import issue_token
from tests.helpers import bearer, create_tenant, login

MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def fuzz_app(app_factory: Any) -> Any:
    # Rate limits are exercised by their own tests; here they would only turn examples into 429s.
    return app_factory(RATELIMIT_ENABLED=False)


@pytest.fixture
def admin_headers(fuzz_app: Any) -> Callable[[], dict[str, str]]:
    """Headers with a new access token of the tenant's admin (at the user's current token version)."""
    admin_id = uuid.UUID(create_tenant(fuzz_app, "fuzz", "admin@fuzz.test")["admin_id"])
    login(fuzz_app.test_client(), "fuzz", "admin@fuzz.test")  # the real login works for this admin

    def fresh() -> dict[str, str]:
        with fuzz_app.app_context():
            admin = db.session.get(User, admin_id)
            token, _ = issue_token(fuzz_app.config["MAILER"], user_id=admin.id, tenant_id=admin.tenant_id,
                                   role=admin.role, version=admin.token_version)
        return bearer(token)

    return fresh


@pytest.fixture
def answered() -> Any:
    """Statuses seen per operation; afterwards, no operation may have answered only 401.

    A suite where every case is refused at the door checks nothing beyond authentication.
    """
    seen: dict[str, set[int]] = defaultdict(set)
    yield seen
    starved = sorted(label for label, statuses in seen.items() if statuses == {401})
    assert not starved, f"only 401 answers (the token died?): {starved}"


@pytest.fixture
def api_schema(fuzz_app: Any, admin_headers: Callable[[], dict[str, str]]) -> Any:
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    loaded.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_description(
    case: Any, admin_headers: Callable[[], dict[str, str]], answered: dict[str, set[int]]
) -> None:
    """Every documented operation answers without a 5xx and as its description says."""
    # A real WSGI server always sets REMOTE_ADDR (werkzeug's bare Client does not): loopback, as for a local scrape.
    response = case.call_and_validate(headers=admin_headers(), checks=CHECKS,
                                      environ_base={"REMOTE_ADDR": "127.0.0.1"})
    answered[case.operation.label].add(response.status_code)
