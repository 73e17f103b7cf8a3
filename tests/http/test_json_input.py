"""Request bodies are interoperable JSON or 400 invalid_json: what Python's lenient parser lets through
(NaN, 1e999, lone surrogates, absurd nesting) never reaches a rate-limit key, the database or a mail.

Each case was a 500 (PostgreSQL refusing NaN in a json column, UnicodeEncodeError hashing the
login key or building the Subject header, RecursionError) before bodies were read strictly.
"""

from __future__ import annotations

import pytest

from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant

DEEP = "[" * 5000 + "]" * 5000
NESTED_900 = "[" * 900 + "]" * 900


@pytest.fixture
def admin(app, client):
    create_tenant(app)
    token = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                "password": ADMIN_PASSWORD}).get_json()["access_token"]
    return {**bearer(token), "Content-Type": "application/json"}


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/broadcasts", '{"subject": "s", "text": "t", "data": {"x": NaN}}'),
    ("/v1/broadcasts", '{"subject": "s", "text": "t", "data": {"x": -Infinity}}'),
    ("/v1/broadcasts", '{"subject": "s", "text": "t", "data": {"x": 1e999}}'),
    ("/v1/auth/login", '{"tenant": "\\udc00", "email": "a@b.c", "password": "x"}'),
    ("/v1/auth/forgot-password", '{"tenant": "acme", "email": "ann\\ud800@example.com"}'),
    ("/v1/messages", '{"to": ["a@example.com"], "subject": "\\udc00", "text": "t"}'),
    ("/v1/messages", '{"to": ["a@example.com"], "subject": "s", "text": "t", "metadata": {"\\udfff": "v"}}'),
    ("/v1/auth/login", DEEP),
    ("/v1/broadcasts", '{"subject": "s", "text": "t", "data": {"x": ' + NESTED_900 + "}}"),
])
def test_bodies_python_accepts_but_json_does_not_are_invalid_json(client, admin, path, body):
    response = client.post(path, data=body.encode(), headers=admin)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["code"] == "invalid_json"
    assert response.mimetype == "application/problem+json"


def test_valid_json_with_astral_characters_and_finite_numbers_is_accepted(client, admin):
    """A surrogate *pair* escape is an ordinary character; large finite numbers are fine."""
    body = '{"to": ["a@example.com"], "subject": "Hi \\ud83d\\ude00", "text": "t", "metadata": {"n": "1e308"}}'
    response = client.post("/v1/messages", data=body.encode(), headers=admin)
    assert response.status_code == 202, response.get_json()
    template = {"subject": "{{ big }}", "text": "{{ nested[0][0][0][0] }}"}
    assert client.put("/v1/templates/numbers", headers=admin, json=template).status_code == 201
    preview = client.post("/v1/templates/numbers/preview", headers=admin,
                          data=b'{"data": {"big": 1e308, "nested": [[[["ok"]]]]}}')
    assert preview.status_code == 200, preview.get_json()
    assert preview.get_json()["subject"] == "1e+308" and preview.get_json()["text"] == "ok"
