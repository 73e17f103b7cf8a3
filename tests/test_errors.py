"""Bad input gets the contract's problem JSON and stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mailer.models import Message, Recipient
from tests.helpers import bearer, create_tenant, login


@pytest.fixture
def token(app, client):
    create_tenant(app)
    return login(client, "acme", "admin@acme.test")


def _count(app, model):
    from mailer.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def assert_problem(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:mailer:problem:{code}"
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_invalid_json_is_400(app, client, token):
    response = client.post("/v1/messages", data="{not json", content_type="application/json", headers=bearer(token))
    assert_problem(response, 400, "invalid_json")
    assert _count(app, Message) == 0


def test_missing_fields_are_422_with_paths(app, client, token):
    response = client.post("/v1/messages", json={"to": ["ann@example.com"], "text": "x"}, headers=bearer(token))
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["field"] == "subject"


def test_bad_address_names_its_index(app, client, token):
    response = client.post(
        "/v1/messages",
        json={"to": ["ann@example.com", "ok@example.com", "not-an-address"], "subject": "s", "text": "x"},
        headers=bearer(token),
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["field"] == "to[2]"
    assert _count(app, Recipient) == 0


@pytest.mark.parametrize("content_type", ["pdf", "application/", "téxt/plain", "text/plain\r\nX-Injected: y"])
def test_a_bad_attachment_type_names_its_index_and_stores_nothing(app, client, token, content_type):
    good = {"filename": "a.txt", "content_type": "Text/Plain", "content": "YQ=="}
    response = client.post("/v1/messages", json={
        "to": ["ann@example.com"], "subject": "s", "text": "x",
        "attachments": [good, {**good, "content_type": content_type}]}, headers=bearer(token))
    body = assert_problem(response, 422, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["attachments[1].content_type"]
    assert _count(app, Message) == 0


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: victim@example.com", "Hi\nX-Evil: 1", "Hi\r"])
def test_crlf_in_subject_is_refused_and_nothing_stored(app, client, token, smtp_server, worker, subject):
    response = client.post("/v1/messages", json={"to": ["a@example.com"], "subject": subject, "text": "x"},
                           headers=bearer(token))
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["field"] == "subject"
    assert _count(app, Message) == 0
    worker()
    assert smtp_server.messages == []


def test_unknown_route_and_method(client):
    assert_problem(client.get("/nope"), 404, "not_found")
    response = client.delete("/healthz")
    assert_problem(response, 405, "method_not_allowed")


def test_server_error_is_problem_without_trace(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    body = assert_problem(response, 500, "internal_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in body["detail"]


def test_oversized_request_and_oversized_message_are_413(app_factory, smtp_server, worker):
    """A request body past the limit is refused before parsing; a built message past MAX_MESSAGE_BYTES too."""
    import base64

    app = app_factory(MAX_MESSAGE_BYTES=200_000)
    client = app.test_client()
    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    huge = client.post("/v1/messages", data=b'{"to": "' + b"x" * 2_000_000 + b'"}',
                       content_type="application/json", headers=bearer(token))
    assert_problem(huge, 413, "payload_too_large")
    attachment = base64.b64encode(b"\0" * 180_000).decode()
    built = client.post("/v1/messages", json={"to": ["a@example.com"], "subject": "s", "text": "x", "attachments": [
        {"filename": "a.bin", "content_type": "application/octet-stream", "content": attachment}]},
        headers=bearer(token))
    assert_problem(built, 413, "payload_too_large")
    assert _count(app, Message) == 0
    worker()
    assert smtp_server.messages == []
