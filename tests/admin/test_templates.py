"""Templates over the API: CRUD, preview, 422 template_error with the line, SSTI and DoS refused."""

from __future__ import annotations

import time

import pytest

from tests.fixtures import make_api_key, send
from tests.helpers import bearer

WELCOME = {"subject": "Welcome {{ name }}", "html": "<p>Hi {{ name }}</p>", "text": "Hi {{ name }}",
           "description": "first mail"}


def test_put_get_list_delete(client, acme_seeded):
    created = client.put("/v1/templates/welcome", json=WELCOME, headers=acme_seeded.admin)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["source"] == "tenant" and created.get_json()["description"] == "first mail"
    replaced = client.put("/v1/templates/welcome", json={**WELCOME, "subject": "Hello {{ name }}"},
                          headers=acme_seeded.admin)
    assert replaced.status_code == 200 and replaced.get_json()["subject"] == "Hello {{ name }}"
    got = client.get("/v1/templates/welcome", headers=acme_seeded.admin).get_json()
    assert got["html"] == WELCOME["html"] and got["subject"] == "Hello {{ name }}"
    listed = client.get("/v1/templates", headers=acme_seeded.admin).get_json()
    names = {t["name"]: t["source"] for t in listed["items"]}
    assert names["welcome"] == "tenant" and names["broadcast"] == "builtin"
    assert listed["total"] == len(listed["items"])
    assert client.delete("/v1/templates/welcome", headers=acme_seeded.admin).status_code == 204
    assert client.get("/v1/templates/welcome", headers=acme_seeded.admin).status_code == 404
    assert client.delete("/v1/templates/welcome", headers=acme_seeded.admin).status_code == 404
    changes = client.get("/v1/audit-events?action=template.changed", headers=acme_seeded.admin).get_json()["items"]
    assert [e["details"]["change"] for e in changes] == ["deleted", "replaced", "created"]


def test_preview_renders_with_data_and_escapes_html(client, acme_seeded):
    client.put("/v1/templates/welcome", json=WELCOME, headers=acme_seeded.admin)
    response = client.post("/v1/templates/welcome/preview", json={"data": {"name": "<Ann>"}}, headers=acme_seeded.admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"subject": "Welcome <Ann>", "html": "<p>Hi &lt;Ann&gt;</p>", "text": "Hi <Ann>"}
    assert client.post("/v1/templates/nope/preview", json={"data": {}}, headers=acme_seeded.admin).status_code == 404


def test_syntax_error_is_422_with_the_line(client, acme_seeded):
    response = client.put("/v1/templates/bad", json={"subject": "ok", "html": "<p>\n{% if x %}\nno end"},
                          headers=acme_seeded.admin)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "template_error"
    assert body["errors"][0]["field"] == "html" and "line" in body["errors"][0]["message"]
    assert client.get("/v1/templates/bad", headers=acme_seeded.admin).status_code == 404


def test_a_message_from_a_broken_template_gets_the_same_error_shape(client, acme_seeded):
    """Sending with a template fails like previewing it: template_error, the part as field, the line."""
    client.put(
        "/v1/templates/welcome", json={"subject": "s", "text": "line one\n{{ missing }}"}, headers=acme_seeded.admin
    )
    response = client.post(
        "/v1/messages", json={"to": ["a@example.com"], "template": "welcome"}, headers=acme_seeded.admin
    )
    assert response.status_code == 422 and response.get_json()["code"] == "template_error"
    assert response.get_json()["errors"] == [{"field": "text", "line": 2, "message": response.get_json()["detail"]}]


def test_undefined_variable_is_422_with_the_line(client, acme_seeded):
    client.put(
        "/v1/templates/welcome", json={"subject": "s", "text": "line one\n{{ missing }}"}, headers=acme_seeded.admin
    )
    response = client.post("/v1/templates/welcome/preview", json={"data": {}}, headers=acme_seeded.admin)
    assert response.status_code == 422 and response.get_json()["code"] == "template_error"
    assert response.get_json()["errors"][0]["line"] == 2
    assert "missing" in response.get_json()["detail"]


@pytest.mark.parametrize("payload", [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ ''|attr('__class__') }}",
    "{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ request['__class__'] }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__ }}",
])
def test_ssti_payloads_are_refused_when_saved(client, acme_seeded, payload):
    response = client.put("/v1/templates/evil", json={"subject": "s", "text": payload}, headers=acme_seeded.admin)
    assert response.status_code == 422 and response.get_json()["code"] == "template_error"


@pytest.mark.parametrize("payload", [
    "{{ ''.__class__ }}",  # inline content is checked the same way
    "{{ x.__class__.__mro__ }}",
])
def test_ssti_is_refused_in_messages_and_broadcasts(client, acme_seeded, payload):
    body = {"subject": "s", "text": payload, "audience": {"roles": ["user"]}}
    assert client.post("/v1/broadcasts", json=body, headers=acme_seeded.admin).status_code == 422


@pytest.mark.parametrize("payload", [
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{{ 'x' * 1000000000 }}",
    "{{ 9 ** 999999999 }}",
    "{% for i in range(10000) %}{{ 'y' * 99999 }}{% endfor %}",
    "{% for i in range(100000000) %}{% endfor %}",
])
def test_template_dos_payloads_are_bounded(client, acme_seeded, payload):
    assert client.put(
        "/v1/templates/dos", json={"subject": "s", "text": payload}, headers=acme_seeded.admin
    ).status_code in (200, 201)
    started = time.monotonic()
    response = client.post("/v1/templates/dos/preview", json={"data": {}}, headers=acme_seeded.admin)
    assert response.status_code == 422 and response.get_json()["code"] == "template_error"
    assert time.monotonic() - started < 10


def test_tenant_override_is_for_that_tenant_only(client, acme_seeded, globex_seeded):
    branded = {"subject": "Acme news: {{ subject }}", "text": "ACME {{ body }}"}
    assert client.put("/v1/templates/broadcast", json=branded, headers=acme_seeded.admin).status_code == 201
    assert client.get("/v1/templates/broadcast", headers=acme_seeded.admin).get_json()["source"] == "tenant"
    theirs = client.get("/v1/templates/broadcast", headers=globex_seeded.admin).get_json()
    assert theirs["source"] == "builtin" and "ACME" not in (theirs["text"] or "")
    client.put("/v1/templates/receipt", json={"subject": "Receipt", "text": "x"}, headers=acme_seeded.admin)
    assert client.get("/v1/templates/receipt", headers=globex_seeded.admin).status_code == 404
    assert client.delete("/v1/templates/receipt", headers=globex_seeded.admin).status_code == 404
    assert (
        client.post("/v1/templates/receipt/preview", json={"data": {}}, headers=globex_seeded.admin).status_code == 404
    )
    assert "receipt" not in {
        t["name"] for t in client.get("/v1/templates", headers=globex_seeded.admin).get_json()["items"]
    }
    # and in sending: acme's template is not globex's
    assert send(client, globex_seeded.admin, subject=None, text=None, template="receipt").status_code == 422
    assert send(client, acme_seeded.admin, subject=None, text=None, template="receipt").status_code == 202


def test_users_and_keys_cannot_touch_templates(client, acme_seeded):
    service = bearer(make_api_key(client, acme_seeded.admin)["key"])
    for headers in (acme_seeded.user, service):
        assert client.get("/v1/templates", headers=headers).status_code == 403
        assert client.get("/v1/templates/broadcast", headers=headers).status_code == 403
        assert client.put("/v1/templates/x", json=WELCOME, headers=headers).status_code == 403
        assert client.delete("/v1/templates/x", headers=headers).status_code == 403
        assert client.post("/v1/templates/broadcast/preview", json={"data": {}}, headers=headers).status_code == 403


def test_names_and_bodies_are_validated(client, acme_seeded):
    for name in ("Bad", "-x", "a" * 101, "a.b"):
        assert client.put(f"/v1/templates/{name}", json=WELCOME, headers=acme_seeded.admin).status_code in (404, 422), (
            name
        )
    assert client.put("/v1/templates/x", json={"subject": "s"}, headers=acme_seeded.admin).status_code == 422
    assert (
        client.put("/v1/templates/x", json={**WELCOME, "tenant_id": "t"}, headers=acme_seeded.admin).status_code == 422
    )
    assert client.put("/v1/templates/x", data="{}", headers=acme_seeded.admin).status_code == 415
