"""Bounds on what a sender can make the service store, render or derive (API.md §3), and the
header values that used to be a 500: the four account templates, metadata, data, derived text, U+2028."""

from __future__ import annotations

import time

import pytest

from mailer.smtp.mime import html_to_text

TO = ["ann@example.com"]


@pytest.mark.parametrize("name", ["verification", "password_reset", "password_changed", "account_exists"])
def test_the_account_templates_cannot_be_sent_by_a_caller(client, admin, name):
    """A sender's own reset_url in the tenant's genuine reset mail is refused, in messages and broadcasts."""
    data = {"user": {"email": "victim@ext.test", "name": ""}, "reset_url": "https://evil.test/r",
            "verification_url": "https://evil.test/v", "expires_in_minutes": 60, "expires_in_hours": 24}
    sent = client.post("/v1/messages", json={"to": TO, "template": name, "data": data}, headers=admin)
    assert sent.status_code == 422 and sent.get_json()["code"] == "validation_error"
    assert sent.get_json()["errors"][0]["field"] == "template"
    broadcast = client.post("/v1/broadcasts", json={"template": name, "data": data}, headers=admin)
    assert broadcast.status_code == 422 and broadcast.get_json()["code"] == "validation_error"
    assert client.get("/v1/messages", headers=admin).get_json()["total"] == 0


def test_the_broadcast_template_and_own_templates_can_still_be_sent(client, admin):
    """Only the four account templates are reserved."""
    client.put("/v1/templates/welcome", json={"subject": "Hi", "text": "Hello {{ name }}"}, headers=admin)
    response = client.post("/v1/messages", json={"to": TO, "template": "welcome", "data": {"name": "Ann"}},
                           headers=admin)
    assert response.status_code == 202, response.get_json()


@pytest.mark.parametrize(("metadata", "why"), [
    ({"k": "A" * 1_000_000}, "one 1 MB value"),
    ({f"k{i}": "v" for i in range(21)}, "21 entries"),
    ({f"k{i}": "v" * 250 for i in range(20)}, "20 entries over 4 KiB"),
])
def test_oversized_metadata_is_a_422(client, admin, metadata, why):
    """Metadata is at most 20 string values and 4 KiB as JSON."""
    response = client.post("/v1/messages", json={"to": TO, "subject": "s", "text": "t", "metadata": metadata},
                           headers=admin)
    assert response.status_code == 422, why
    assert response.get_json()["errors"][0]["field"] == "metadata"


def test_metadata_at_its_limits_is_accepted(client, admin):
    metadata = {f"k{i:02d}": "v" * 190 for i in range(20)}  # 20 entries, just under 4 KiB as JSON
    response = client.post("/v1/messages", json={"to": TO, "subject": "s", "text": "t", "metadata": metadata},
                           headers=admin)
    assert response.status_code == 202, response.get_json()


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/broadcasts", "/v1/templates/welcome/preview"])
def test_template_data_over_64_kib_is_a_422(client, admin, path):
    """data is stored (broadcasts) and rendered per recipient: at most 64 KiB as JSON."""
    client.put("/v1/templates/welcome", json={"subject": "Hi", "text": "Hello"}, headers=admin)
    body = {"template": "welcome", "data": {"blob": "x" * (65 * 1024)}}
    if path == "/v1/messages":
        body["to"] = TO
    if path.endswith("preview"):
        body.pop("template")
    response = client.post(path, json=body, headers=admin)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "data"


def test_deriving_text_from_large_html_is_linear():
    """html2text over 10 MB is about 40 s; beyond 64 KiB a linear pass derives the text part."""
    html = "<p>x &amp; y</p>" * 600_000  # 9.6 MB
    started = time.monotonic()
    text = html_to_text(html)
    assert time.monotonic() - started < 10.0
    assert text.startswith("x & y\nx & y\n")


def test_a_large_html_only_message_is_answered_quickly(client, admin):
    """POST /v1/messages with 6 MB of HTML and no text is accepted in seconds, with a derived text part."""
    started = time.monotonic()
    response = client.post("/v1/messages", json={"to": TO, "subject": "big", "html": "<p>x</p>" * 750_000},
                           headers=admin)
    assert response.status_code == 202, response.get_json()
    assert time.monotonic() - started < 15.0


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_line_separator_in_a_header_value_is_a_422(client, admin, separator):
    """str.splitlines() breaks these, and the email package refuses them: 422 naming the field, not a 500."""
    for body, field in (({"subject": f"a{separator}b"}, "subject"),
                        ({"subject": "s", "headers": {"X-Tag": f"a{separator}b"}}, "headers")):
        response = client.post("/v1/messages", json={"to": TO, "text": "t", **body}, headers=admin)
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["errors"][0]["field"].startswith(field)
