"""Request bodies are bounded before they are parsed (API.md §1): 64 KiB without a bearer,
1 MiB behind one, the message limit on send endpoints; 413 payload_too_large otherwise."""

from __future__ import annotations

import io
import json
import time

import pytest

from mailer.http.body_limits import AUTHENTICATED_BODY_BYTES, PUBLIC_BODY_BYTES

JSON = {"Content-Type": "application/json"}


def _array(size: int) -> bytes:
    """A JSON array of zeros of about ``size`` bytes: the costliest thing to parse per byte."""
    return b"[" + b"0," * (size // 2 - 1) + b"0]"


@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/auth/register", "/v1/auth/forgot-password",
                                  "/v1/auth/verify-email", "/v1/auth/refresh", "/v1/auth/reset-password"])
def test_a_16_mib_body_to_a_public_endpoint_is_refused_unparsed(client, path):
    """The flood of the review: 16 MiB of JSON gets 413 at once, before the limiter or the parser."""
    started = time.monotonic()
    response = client.post(path, data=_array(16 * 1024 * 1024), headers=JSON)
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
    assert response.mimetype == "application/problem+json"
    assert time.monotonic() - started < 2.0  # parsing it took about 15 s


def test_the_public_limit_is_64_kib(client):
    """Just under the limit is parsed (and refused for its content); just over is 413."""
    under = client.post("/v1/auth/login", data=_array(PUBLIC_BODY_BYTES - 16), headers=JSON)
    assert under.status_code == 422
    over = client.post("/v1/auth/login", data=_array(PUBLIC_BODY_BYTES + 16), headers=JSON)
    assert over.status_code == 413


def test_a_hosted_page_form_is_bounded_like_a_public_endpoint(client):
    """The reset page's form post needs no bearer either."""
    response = client.post("/reset-password", data={"token": "x" * (PUBLIC_BODY_BYTES + 10), "csrf": "a"})
    assert response.status_code == 413


def test_bearer_endpoints_take_up_to_1_mib(client, admin):
    """A template of 0.9 MiB reaches validation; one of 1.1 MiB is refused unread."""
    body = {"subject": "s", "text": "x" * (AUTHENTICATED_BODY_BYTES - 100_000)}
    under = client.put("/v1/templates/big", json=body, headers=admin)
    assert under.status_code != 413
    body["text"] = "x" * (AUTHENTICATED_BODY_BYTES + 100_000)
    over = client.put("/v1/templates/big", json=body, headers=admin)
    assert over.status_code == 413 and over.get_json()["code"] == "payload_too_large"


def test_send_endpoints_follow_the_message_limit(client, admin):
    """A 2 MiB message is accepted: the send endpoints are not held to the 1 MiB limit."""
    body = {"to": ["ann@example.com"], "subject": "big", "text": "x" * (2 * 1024 * 1024)}
    response = client.post("/v1/messages", json=body, headers=admin)
    assert response.status_code == 202, response.get_json()


def test_a_body_without_content_length_is_cut_off_while_reading(client):
    """A chunked upload has no Content-Length to check: reading stops at the limit with a 413."""
    stream = io.BytesIO(json.dumps({"tenant": "acme", "email": "a@b.test", "password": "p" * 200_000}).encode())
    response = client.post("/v1/auth/login", input_stream=stream, headers=JSON,
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
