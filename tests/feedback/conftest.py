"""Feedback fixtures: an app with BOUNCE_DOMAIN, the real inbound receiver on a free port (what tests
share beyond fixtures is in rig.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.feedback.rig import (
    BOUNCE_DOMAIN,
    Receiver,
    running_receiver,
)
from tests.helpers import bearer, create_tenant, login


@pytest.fixture
def bounce_app(app_factory: Callable[..., Flask]) -> Flask:
    app = app_factory(BOUNCE_DOMAIN=BOUNCE_DOMAIN)
    create_tenant(app)
    return app


@pytest.fixture
def receiver(bounce_app: Flask) -> Iterator[Receiver]:
    with running_receiver(bounce_app) as running:
        yield running


@pytest.fixture
def admin(bounce_app: Flask) -> tuple[FlaskClient, dict[str, Any]]:
    client = bounce_app.test_client()
    return client, bearer(login(client, "acme", "admin@acme.test"))


