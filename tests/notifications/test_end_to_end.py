"""The walking skeleton, as a user drives it: CLI tenant → login → send → worker → SMTP → status."""

from __future__ import annotations

from tests.helpers import bearer, create_tenant, login


def test_admin_sends_a_message_that_really_arrives(app, client, smtp_server, worker):
    """A message posted by a tenant admin reaches the SMTP server once and reads back as sent/250."""
    create_tenant(app, "acme", "admin@acme.test", mail_from="news@acme.test")
    token = login(client, "acme", "admin@acme.test")

    response = client.post(
        "/v1/messages",
        json={"to": ["ann@example.com", {"email": "bob@example.com", "name": "Bob B."}],
              "bcc": ["audit@example.com"], "subject": "Hello Ann", "text": "Plain body", "html": "<p>HTML body</p>"},
        headers=bearer(token),
    )
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert accepted["status"] == "queued"
    assert [r["email"] for r in accepted["recipients"]] == ["ann@example.com", "bob@example.com", "audit@example.com"]

    worker()

    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    assert received.mail_from == "news@acme.test"
    assert received.rcpt_tos == ["ann@example.com", "bob@example.com", "audit@example.com"]
    mail = received.message
    assert mail["Subject"] == "Hello Ann"
    assert mail["From"].addresses[0].addr_spec == "news@acme.test"
    assert "Bcc" not in mail and "audit@example.com" not in received.data.decode()
    assert mail["Message-ID"].endswith("@acme.test>")
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().strip() == "Plain body"
    assert "<p>HTML body</p>" in mail.get_body(("html",)).get_content()

    status = client.get(f"/v1/messages/{accepted['id']}", headers=bearer(token)).get_json()
    assert status["status"] == "sent"
    assert status["counts"]["sent"] == 3
    for recipient in status["recipients"]:
        assert recipient["status"] == "sent"
        assert recipient["smtp_code"] == 250
        assert "OK queued" in recipient["smtp_response"]
        assert recipient["message_id"] == mail["Message-ID"]
        assert recipient["attempts"] == 1


def test_rejected_recipient_fails_alone(app, client, smtp_server, worker):
    """A 550 for one recipient fails only that one, with the server's reply kept."""
    smtp_server.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    message_id = client.post(
        "/v1/messages", json={"to": ["ann@example.com", "gone@example.com"], "subject": "Hi", "text": "x"},
        headers=bearer(token),
    ).get_json()["id"]
    worker()

    body = client.get(f"/v1/messages/{message_id}", headers=bearer(token)).get_json()
    by_email = {r["email"]: r for r in body["recipients"]}
    assert by_email["ann@example.com"]["status"] == "sent"
    assert by_email["gone@example.com"]["status"] == "failed"
    assert by_email["gone@example.com"]["error_code"] == "recipient_rejected"
    assert by_email["gone@example.com"]["smtp_code"] == 550
    assert body["status"] == "partially_failed"
    assert smtp_server.messages[0].rcpt_tos == ["ann@example.com"]


def test_missing_template_and_template_errors_are_422(app, client):
    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    missing = client.post("/v1/messages", json={"to": ["a@example.com"], "template": "nope"}, headers=bearer(token))
    assert missing.status_code == 422 and missing.get_json()["code"] == "validation_error"
    assert missing.get_json()["errors"][0]["field"] == "template"
    stored = client.put("/v1/templates/hello", json={"subject": "Hi {{ name }}", "text": "x"}, headers=bearer(token))
    assert stored.status_code == 201
    unrendered = client.post("/v1/messages", json={"to": ["a@example.com"], "template": "hello"},
                             headers=bearer(token))
    assert unrendered.status_code == 422 and unrendered.get_json()["code"] == "template_error"
    assert unrendered.get_json()["errors"][0]["field"] == "subject" and "name" in unrendered.get_json()["detail"]
    assert client.get("/v1/messages", headers=bearer(token)).get_json()["total"] == 0


def test_messages_are_listed_by_tag_status_and_kind(app, client):
    """?tag= matches a whole tag exactly (no LIKE wildcards leak through), on both databases."""
    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")

    def send(tags):
        body = {"to": ["a@example.com"], "subject": "s", "text": "t", "tags": tags}
        response = client.post("/v1/messages", json=body, headers=bearer(token))
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    receipt = send(["receipt", "q4"])
    percent = send(["100%_off"])
    send(["receipts"])

    def listed(query):
        return [m["id"] for m in client.get(f"/v1/messages?{query}", headers=bearer(token)).get_json()["items"]]

    assert listed("tag=receipt") == [receipt]
    assert listed("tag=100%25_off") == [percent]
    assert listed("tag=100%25") == []
    assert listed("tag=_") == []
    assert len(listed("kind=custom&status=queued")) == 3
    bad = client.post("/v1/messages", json={"to": ["a@example.com"], "subject": "s", "text": "t",
                                            "tags": ['say "hi"']}, headers=bearer(token))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "tags[0]"
