"""/console/webhooks: add (secret shown once), test event to a real receiver, deliveries and their attempts,
replay, on/off, rotate, delete — the rules of /v1/webhooks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser import served
from tests.console.admin import (
    assert_admin_only,
    assert_not_found,
    check_page,
    click,
    fill,
    globex,
    h1,
    notice,
    sign_in,
    submit,
    submit_forged,
)
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import FAST, dispatch, dispatch_until


@pytest.fixture
def live_app(app_factory: Any, browser: Any) -> Iterator[Any]:
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    with served(app_factory, **FAST) as live:
        yield live


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def _add(browser: Any, base: str, receiver: Receiver) -> None:
    browser.get(f"{base}/console/webhooks")
    fill(browser, url=receiver.url, description="CRM sync")
    browser.find_element(By.ID, "event-message.sent").click()
    submit(browser, "/console/webhooks")
    secret = browser.find_element(By.ID, "webhook-secret").text
    receiver.secrets.append(secret)


def test_add_test_replay_rotate_and_delete(live_app: Any, acme: Any, browser: Any, receiver: Receiver,
                                           redis: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/webhooks")
    assert h1(browser) == "Webhooks"
    check_page(browser)
    fill(browser, url=receiver.url)
    submit(browser, "/console/webhooks")  # no event chosen: said in words
    assert "at least one event" in browser.find_element(By.ID, "events-error").text
    _add(browser, base, receiver)
    [secret] = receiver.secrets
    assert secret.startswith("whsec_") and "shown once" in notice(browser)
    check_page(browser)
    submit(browser, "/test")
    assert "test event" in notice(browser)
    [received] = dispatch_until(app, redis, receiver.ok)
    assert received.json["type"] == "webhook.test" and received.verified_by == [secret]
    browser.refresh()
    assert secret not in browser.page_source  # shown once, never again
    row = browser.find_element(By.CSS_SELECTOR, "tbody tr")
    assert "Succeeded" in row.text and "HTTP 200" in row.text
    check_page(browser)
    click(browser, row.find_element(By.CSS_SELECTOR, "button"))
    assert "sent again" in notice(browser)
    dispatch_until(app, redis, lambda: len(receiver.ok()) == 2)
    browser.refresh()
    assert len(browser.find_elements(By.CSS_SELECTOR, "ol.attempts li")) == 2
    endpoint_id = browser.current_url.split("/console/webhooks/")[1].split("?")[0]
    browser.find_element(By.ID, "event-message.failed").click()
    fill(browser, description="")
    submit(browser, f"/console/webhooks/{endpoint_id}")
    assert "saved" in notice(browser)
    with app.app_context():
        from mailer.extensions import db
        from mailer.models.webhook import WebhookEndpoint

        endpoint = db.session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
        assert (endpoint.events, endpoint.description) == (["message.failed", "message.sent"], None)
    submit(browser, "/enabled")
    assert "is off" in notice(browser)
    submit(browser, "/rotate-secret")
    rotated = browser.find_element(By.ID, "webhook-secret").text
    assert rotated.startswith("whsec_") and rotated != secret
    submit(browser, "/delete")
    assert "deleted" in notice(browser)
    with app.app_context():
        from sqlalchemy import select

        from mailer.extensions import db
        from mailer.models import AuditEvent
        from mailer.models.webhook import WebhookEndpoint

        assert db.session.scalars(select(WebhookEndpoint)).all() == []
        audit = str(db.session.scalars(select(AuditEvent.details)).all())
    assert secret not in audit and rotated not in audit


def test_without_csrf_no_test_is_sent(live_app: Any, acme: Any, browser: Any, receiver: Receiver,
                                      redis: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    _add(browser, base, receiver)
    submit_forged(browser, "/test")
    dispatch(app, redis)
    assert receiver.requests == []


def test_another_tenants_endpoint_is_not_found_and_a_user_is_refused(live_app: Any, acme: Any, browser: Any,
                                                                    receiver: Receiver) -> None:
    app, base = live_app
    other = globex(app)
    created = app.test_client().post("/v1/webhooks", json={"url": receiver.url, "events": ["message.sent"]},
                                     headers=other["headers"]).get_json()
    sign_in(browser, base)
    assert_not_found(browser, base, f"/console/webhooks/{created['id']}")
    assert_admin_only(browser, base, "/console/webhooks")
