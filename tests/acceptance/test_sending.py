"""API.md §3 Sending: POST /v1/messages, broadcasts, reading results, templates."""

from __future__ import annotations

import base64

import pytest

from mailer.queues import QUEUE_NAMES, get_queue
from tests.fixtures import make_api_key
from tests.helpers import bearer

RECIPIENT_KEYS = {"id", "email", "status", "error_code", "attempts", "smtp_code", "smtp_response", "message_id",
                  "last_error", "sent_at", "next_attempt_at"}
COUNT_KEYS = {"queued", "sending", "sent", "deferred", "failed"}


def message(client, auth, **extra):
    body = {"to": ["ann@example.com"], "subject": "Hi", "text": "Hello", **extra}
    return client.post("/v1/messages", json=body, headers=auth)


def test_every_documented_field_reaches_the_wire(client, acme, worker, smtp_server):
    pdf = base64.b64encode(b"%PDF-1.4 tiny").decode()
    response = message(
        client, acme.admin,
        to=["ann@example.com", {"email": "bob@example.com", "name": "Bob"}],
        cc=["carol@example.com"], bcc=["dave@example.com"], reply_to="support@example.com",
        attachments=[{"filename": "a.pdf", "content_type": "application/pdf", "content": pdf}],
        headers={"X-Campaign": "q4"}, tags=["receipt"], metadata={"order": "42"},
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert set(body) == {"id", "status", "recipients", "created_at"}
    assert body["status"] == "queued"
    assert body["recipients"] == [{"email": e, "status": "queued"} for e in
                                  ("ann@example.com", "bob@example.com", "carol@example.com", "dave@example.com")]
    worker()
    [mail] = smtp_server.messages
    assert sorted(mail.rcpt_tos) == ["ann@example.com", "bob@example.com", "carol@example.com", "dave@example.com"]
    assert mail.mail_from == "news@acme.test"  # the tenant's configured sender
    sent = mail.message
    assert sent["From"].addresses[0].addr_spec == "news@acme.test"
    assert "Bob <bob@example.com>" in str(sent["To"]) and "carol@example.com" in str(sent["Cc"])
    assert sent["Bcc"] is None and b"dave@example.com" not in mail.data
    assert str(sent["Reply-To"]) == "support@example.com" and sent["X-Campaign"] == "q4"
    [attachment] = list(sent.iter_attachments())
    assert attachment.get_filename() == "a.pdf" and attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1.4 tiny"


def test_with_only_html_a_text_part_is_derived(client, acme, worker, smtp_server):
    response = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Hi",
                                                 "html": "<p>Hello <b>Ann</b></p>"}, headers=acme.admin)
    assert response.status_code == 202
    worker()
    [mail] = smtp_server.messages
    text = mail.message.get_body(("plain",)).get_content()
    assert "Hello" in text and "Ann" in text and "<b>" not in text


def test_the_caller_cannot_choose_the_sender(client, acme):
    for field in ("from", "from_name", "sender", "mail_from"):
        response = message(client, acme.admin, **{field: "ceo@example.com"})
        assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == field


def test_text_html_or_template_is_required(client, acme):
    response = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Hi"}, headers=acme.admin)
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error"


def test_to_cc_bcc_together_at_most_100(client, acme):
    many = [f"u{i}@example.com" for i in range(40)]
    accepted = message(client, acme.admin, to=many[:34], cc=many[34:], bcc=[f"b{i}@example.com" for i in range(60)])
    assert accepted.status_code == 202
    refused = message(client, acme.admin, to=many, cc=[f"c{i}@example.com" for i in range(40)],
                      bcc=[f"b{i}@example.com" for i in range(21)])
    assert refused.status_code == 422


@pytest.mark.parametrize("headers", [{"Subject": "x"}, {"From": "a@example.com"}, {"Campaign": "q4"},
                                     {"X-Evil": "a\r\nBcc: x@example.com"}])
def test_only_x_headers_without_line_breaks(client, acme, headers):
    response = message(client, acme.admin, headers=headers)
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error"


def test_send_at_makes_the_message_scheduled(client, acme):
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = message(client, acme.admin, send_at=soon)
    assert response.status_code == 202 and response.get_json()["status"] == "scheduled"


@pytest.mark.parametrize("bad", [
    {"to": ["a@example.com", "x" * 65 + "@example.com"]},
    {"to": ["a@" + "d" * 250 + ".com"]},
    {"subject": "s" * 999},
    {"reply_to": "not an address"},
    {"attachments": [{"filename": "a.pdf", "content_type": "application/pdf", "content": "***"}]},
    {"template": "no-such-template", "data": {}, "subject": None, "text": None},
    {"template": "broadcast", "data": {}, "subject": None, "text": None},  # undefined variable
    {"tags": ["a\"b"]},
])
def test_any_validation_failure_stores_nothing_and_queues_nothing(client, acme, redis, bad):
    body = {"to": ["ann@example.com"], "subject": "Hi", "text": "Hello", **bad}
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post("/v1/messages", json=body, headers=acme.admin)
    assert 400 <= response.status_code < 500 and response.status_code != 404, response.get_json()
    assert client.get("/v1/messages", headers=acme.admin).get_json()["total"] == 0
    assert all(get_queue(name, redis).count == 0 for name in QUEUE_NAMES)


@pytest.mark.parametrize("filename", ["a\r\n.pdf", "a\nContent-Type: text/html", "../etc/passwd", " "])
def test_an_attachment_filename_is_one_plain_header_value(client, acme, filename):
    pdf = base64.b64encode(b"%PDF").decode()
    response = message(client, acme.admin,
                       attachments=[{"filename": filename, "content_type": "application/pdf", "content": pdf}])
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][0]["field"] == "attachments[0].filename"
    assert client.get("/v1/messages", headers=acme.admin).get_json()["total"] == 0


def test_idempotency_key_replays_the_first_answer_and_conflicts_on_a_new_body(client, acme):
    headers = {**acme.admin, "Idempotency-Key": "order-42"}
    first = message(client, headers)
    again = message(client, headers)
    assert first.status_code == again.status_code == 202 and again.get_json()["id"] == first.get_json()["id"]
    conflict = message(client, headers, subject="Other")
    assert conflict.status_code == 409 and conflict.get_json()["code"] == "idempotency_conflict"


def test_message_detail_has_every_contract_member(client, acme, worker):
    created = message(client, acme.admin, tags=["receipt"], metadata={"order": "42"}).get_json()
    worker()
    response = client.get(f"/v1/messages/{created['id']}", headers=acme.admin)
    body = response.get_json()
    assert {"id", "kind", "subject", "status", "created_by", "created_at", "tags", "metadata", "counts",
            "recipients"} <= set(body)
    assert body["kind"] == "custom" and body["status"] == "sent" and body["subject"] == "Hi"
    assert body["created_by"] == acme.admin_id and body["tags"] == ["receipt"] and body["metadata"] == {"order": "42"}
    assert body["counts"] == {"queued": 0, "sending": 0, "sent": 1, "deferred": 0, "failed": 0, "bounced": 0}
    [recipient] = body["recipients"]
    assert set(recipient) == RECIPIENT_KEYS
    assert recipient["status"] == "sent" and recipient["attempts"] == 1 and recipient["smtp_code"] == 250
    assert recipient["message_id"].startswith("<") and recipient["error_code"] is None


def test_users_and_services_see_what_they_sent_admins_see_the_tenants(client, acme):
    key = bearer(make_api_key(client, acme.admin)["key"])
    by_admin = message(client, acme.admin).get_json()["id"]
    by_user = message(client, acme.user).get_json()["id"]
    by_key = message(client, key).get_json()["id"]

    def seen(headers):
        return {m["id"] for m in client.get("/v1/messages", headers=headers).get_json()["items"]}

    assert seen(acme.admin) == {by_admin, by_user, by_key}
    assert seen(acme.user) == {by_user}
    assert seen(key) == {by_key}
    assert client.get(f"/v1/messages/{by_user}", headers=acme.admin).status_code == 200
    assert client.get(f"/v1/messages/{by_key}", headers=acme.user).status_code == 404


def test_list_filters_by_status_kind_and_tag(client, acme, worker):
    tagged = message(client, acme.admin, tags=["receipt"]).get_json()["id"]
    message(client, acme.admin, tags=["other"])
    worker()
    message(client, acme.admin)  # still queued

    def ids(query):
        response = client.get(f"/v1/messages?{query}", headers=acme.admin)
        assert response.status_code == 200, response.get_json()
        return [m["id"] for m in response.get_json()["items"]]

    assert ids("tag=receipt") == [tagged]
    assert len(ids("status=sent")) == 2 and len(ids("status=queued")) == 1
    assert len(ids("kind=custom")) == 3 and ids("kind=broadcast") == []
    assert client.get("/v1/messages?kind=newsletter", headers=acme.admin).status_code == 422


def test_broadcast_answer_listing_paging_and_audit(client, acme, redis):
    response = client.post("/v1/broadcasts", json={
        "subject": "News", "text": "Hello {{ recipient.email }}",
        "audience": {"roles": ["user", "admin"], "verified_only": True},
    }, headers=acme.admin)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "status", "recipient_count"}
    assert body["status"] == "queued" and body["recipient_count"] == 2
    assert get_queue("bulk", redis).count >= 1 and get_queue("default", redis).count == 0
    [listed] = client.get("/v1/messages?kind=broadcast", headers=acme.admin).get_json()["items"]
    assert listed["id"] == body["id"] and listed["kind"] == "broadcast"
    page = client.get(f"/v1/messages/{body['id']}/recipients?per_page=1", headers=acme.admin).get_json()
    assert set(page) == {"items", "page", "per_page", "total"} and page["total"] == 2 and len(page["items"]) == 1
    assert set(page["items"][0]) >= RECIPIENT_KEYS
    events = client.get("/v1/audit-events?action=broadcast.created", headers=acme.admin).get_json()["items"]
    assert len(events) == 1


def test_broadcasts_are_admin_only(client, acme):
    key = bearer(make_api_key(client, acme.admin)["key"])
    body = {"subject": "News", "text": "Hi", "audience": {"roles": ["user"]}}
    for headers in (acme.user, key):
        response = client.post("/v1/broadcasts", json=body, headers=headers)
        assert response.status_code == 403 and response.get_json()["code"] == "forbidden"


def test_retry_is_admin_only(client, acme):
    sent = message(client, acme.user).get_json()["id"]
    assert client.post(f"/v1/messages/{sent}/retry", headers=acme.user).status_code == 403
    assert client.post(f"/v1/messages/{sent}/retry", headers=acme.admin).status_code in (200, 202)


def test_stats_cover_the_last_24h_and_30_days(client, acme, worker):
    message(client, acme.admin, to=["a@example.com", "b@example.com"])
    worker()
    stats = client.get("/v1/stats", headers=acme.admin)
    assert stats.status_code == 200
    body = stats.get_json()
    for window in ("last_24h", "last_30d"):
        assert body[window]["sent"] == 2


def test_template_crud_bodies_and_preview(client, acme):
    put = client.put("/v1/templates/welcome", json={"subject": "Hi {{ name }}", "html": "<p>{{ name }}</p>",
                                                    "text": "Hi {{ name }}", "description": "greeting"},
                     headers=acme.admin)
    assert put.status_code in (200, 201)
    got = client.get("/v1/templates/welcome", headers=acme.admin).get_json()
    assert {k: got[k] for k in ("subject", "html", "text", "description")} == {
        "subject": "Hi {{ name }}", "html": "<p>{{ name }}</p>", "text": "Hi {{ name }}", "description": "greeting"}
    preview = client.post("/v1/templates/welcome/preview", json={"data": {"name": "<Ann>"}}, headers=acme.admin)
    assert preview.status_code == 200
    assert preview.get_json() == {"subject": "Hi <Ann>", "html": "<p>&lt;Ann&gt;</p>", "text": "Hi <Ann>"}
    names = [t["name"] for t in client.get("/v1/templates", headers=acme.admin).get_json()["items"]]
    assert "welcome" in names
    assert client.delete("/v1/templates/welcome", headers=acme.admin).status_code == 204
    assert client.get("/v1/templates/welcome", headers=acme.admin).status_code == 404


@pytest.mark.parametrize(("name", "expected"), [
    ("verification", "http://mailer.test/verify-email?token="),
    ("password_reset", "http://mailer.test/reset-password?token="),
    ("account_exists", "http://mailer.test/reset-password?token="),
    ("password_changed", "admin@acme.test"),
])
def test_previews_of_auth_mail_see_their_sending_context(client, acme, name, expected):
    """Every template sees tenant and, for auth mail, user; verification adds verification_url and
    expires_in_hours; password_reset adds reset_url and expires_in_minutes; account_exists adds reset_url."""
    response = client.post(f"/v1/templates/{name}/preview", json={"data": {}}, headers=acme.admin)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert expected in body["text"] and "Acme" in body["subject"] + body["text"]


def test_an_auth_mail_override_previews_with_every_documented_variable(client, acme):
    text = ("{{ tenant.name }} {{ tenant.slug }} {{ user.email }} {{ user.name }} "
            "{{ verification_url }} {{ expires_in_hours }}")
    client.put("/v1/templates/verification", json={"subject": "Verify", "text": text}, headers=acme.admin)
    preview = client.post("/v1/templates/verification/preview", json={"data": {}}, headers=acme.admin)
    assert preview.status_code == 200, preview.get_json()
    assert preview.get_json()["text"].startswith("Acme acme admin@acme.test")
    assert preview.get_json()["text"].endswith(" 24")
    client.put("/v1/templates/password_reset", json={"subject": "Reset", "text": "{{ reset_url }} "
                                                     "{{ expires_in_minutes }}"}, headers=acme.admin)
    reset = client.post("/v1/templates/password_reset/preview", json={"data": {}}, headers=acme.admin).get_json()
    assert reset["text"].endswith(" 60") and "/reset-password?token=" in reset["text"]


def test_auth_mail_is_listed_to_admins_by_kind(client, acme, worker):
    client.post("/v1/auth/register", json={"tenant": "acme", "email": "new@example.com", "password": "long enough"})
    client.post("/v1/auth/register", json={"tenant": "acme", "email": acme.user_email, "password": "long enough"})
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": acme.user_email})
    worker()
    for kind in ("verification", "account_exists", "password_reset"):
        items = client.get(f"/v1/messages?kind={kind}", headers=acme.admin).get_json()["items"]
        assert [m["kind"] for m in items] == [kind]
    assert client.get("/v1/messages", headers=acme.user).get_json()["total"] == 0
