"""What replies mean in words, and §5's limits on the console's forms (no browser needed)."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import force_locale

from mailer.console.explain import reply_meaning
from tests.helpers import create_tenant


def _words(app: Any, smtp_code: int | None, enhanced: str | None, locale: str = "en") -> str:
    with app.test_request_context(), force_locale(locale):
        return " ".join(str(s) for s in reply_meaning(smtp_code, enhanced))


def test_common_replies_in_words(app: Any) -> None:
    assert "mailbox does not exist" in _words(app, 550, "5.1.1")
    assert "Permanent failure" in _words(app, 550, "5.1.1")
    assert "mailbox is full" in _words(app, 552, "5.2.2")
    assert "not authorized" in _words(app, 550, "5.7.1")
    assert "greylisting" in _words(app, 451, "4.2.0")
    assert "did not answer" in _words(app, 421, "4.4.1")
    assert _words(app, 250, "2.0.0") == "Success: the receiving server accepted it."
    assert "network or routing" in _words(app, 450, "4.4.99")  # an unknown detail: its subject
    assert "mailbox is not available" in _words(app, 550, None)  # no enhanced code: the basic reply
    assert _words(app, None, None) == ""
    assert "邮箱不存在" in _words(app, 550, "5.1.1", "zh_CN")


def test_the_sign_in_form_has_the_login_limits(app_factory: Any) -> None:
    app = app_factory(RATELIMIT_LOGIN_ACCOUNT="3/minute")
    create_tenant(app, "acme")
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "tenant": "acme", "email": "admin@acme.test", "password": "wrong"}
    statuses = [client.post("/console/login", data=form).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = client.post("/console/login", data={**form, "email": "ADMIN@acme.test"})  # the same account
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    body = limited.get_data(as_text=True)
    assert "Too many attempts" in body and 'class="request-id"' in body and limited.mimetype == "text/html"
    assert "default-src 'none'" in limited.headers["Content-Security-Policy"]


def test_the_overview_shows_kept_figures_and_a_job_recounts_stale_ones(app: Any, redis: Any) -> None:
    import json
    import uuid
    from datetime import UTC, datetime, timedelta

    from mailer.notifications.overview import current_overview
    from tests.fixtures import drain

    tenant_id = uuid.UUID(create_tenant(app, "acme")["tenant_id"])
    with app.app_context():
        first = current_overview(tenant_id)  # nothing kept: counted now, then kept
        assert first["windows"]["last_30d"]["total"] == 0 and len(first["days"]) == 30
        stale = {**first, "generated_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}
        stale["windows"]["last_30d"]["total"] = 99  # what a page shows until the recount lands
        redis.set(f"mailer:overview:{tenant_id}", json.dumps(stale))
        assert current_overview(tenant_id)["windows"]["last_30d"]["total"] == 99
        assert current_overview(tenant_id)["windows"]["last_30d"]["total"] == 99
        from mailer.queues import get_queue

        assert get_queue("bulk", redis).count == 1  # one recount queued, not one per view
    drain(app, redis, ("bulk",), scheduled=False)
    with app.app_context():
        assert current_overview(tenant_id)["windows"]["last_30d"]["total"] == 0


def _csrf(client: Any, path: str = "/console/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_each_sign_in_is_a_new_session_and_next_stays_in_the_console(app: Any) -> None:
    from mailer.extensions import db
    from mailer.models import ConsoleSession
    from tests.helpers import ADMIN_PASSWORD

    create_tenant(app, "acme")
    client = app.test_client()
    form = {"tenant": "acme", "email": "admin@acme.test", "password": ADMIN_PASSWORD}
    first = client.post("/console/login", data={**form, "csrf_token": _csrf(client), "next": "//evil.test/x"})
    assert first.status_code == 302 and first.headers["Location"] == "/console"
    cookie = client.get_cookie("__Host-mailer_console")
    assert cookie is not None and cookie.secure and cookie.http_only
    token = _csrf(client, "/console/account")
    second = client.post("/console/login", data={**form, "csrf_token": token, "next": "/console/messages"})
    assert second.headers["Location"] == "/console/messages"
    assert client.get_cookie("__Host-mailer_console").value != cookie.value
    with app.app_context():
        assert len(db.session.query(ConsoleSession).all()) == 1  # the planted or earlier id is gone
