"""Row-level access with two tenants seeded: another tenant's rows are 404 by id and absent from lists."""

from __future__ import annotations

import pytest

from tests.fixtures import make_api_key, send
from tests.helpers import bearer


@pytest.fixture
def acme_rows(client, acme_seeded):
    """One of everything in acme: a message, a broadcast, a key, a template."""
    message = send(client, acme_seeded.admin, to=["ann@example.com", "bob@example.com"]).get_json()
    broadcast = client.post("/v1/broadcasts", json={"subject": "s", "text": "t"}, headers=acme_seeded.admin).get_json()
    detail = client.get(f"/v1/messages/{message['id']}", headers=acme_seeded.admin).get_json()
    key = make_api_key(client, acme_seeded.admin)
    client.put("/v1/templates/receipt", json={"subject": "s", "text": "t"}, headers=acme_seeded.admin)
    return {"message": message["id"], "broadcast": broadcast["id"], "recipient": detail["recipients"][0]["id"],
            "key": key["id"], "user": acme_seeded.user_id, "admin": acme_seeded.admin_id}


def test_every_route_with_an_id_is_404_for_another_tenant(client, acme_seeded, globex_seeded, acme_rows):
    r = acme_rows
    other = globex_seeded.admin
    calls = [
        ("get", f"/v1/messages/{r['message']}", None),
        ("get", f"/v1/messages/{r['broadcast']}", None),
        ("get", f"/v1/messages/{r['message']}/recipients", None),
        ("get", f"/v1/messages/{r['message']}/recipients/{r['recipient']}", None),
        ("post", f"/v1/messages/{r['message']}/retry", None),
        ("patch", f"/v1/users/{r['user']}", {"is_active": False}),
        ("patch", f"/v1/users/{r['admin']}", {"role": "user"}),
        ("delete", f"/v1/api-keys/{r['key']}", None),
        ("get", "/v1/templates/receipt", None),
        ("delete", "/v1/templates/receipt", None),
        ("post", "/v1/templates/receipt/preview", {"data": {}}),
    ]
    for method, path, body in calls:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(path, headers=other, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.get_json()["code"] == "not_found"
    # …and nothing changed on acme's side.
    assert client.get(f"/v1/messages/{r['message']}", headers=acme_seeded.admin).status_code == 200
    assert client.get("/v1/auth/me", headers=acme_seeded.user).status_code == 200
    assert client.get("/v1/api-keys", headers=acme_seeded.admin).get_json()["total"] == 1
    assert client.get("/v1/templates/receipt", headers=acme_seeded.admin).status_code == 200


def test_a_recipient_id_of_another_message_is_404(client, acme_seeded, acme_rows):
    path = f"/v1/messages/{acme_rows['broadcast']}/recipients/{acme_rows['recipient']}"
    assert client.get(path, headers=acme_seeded.admin).status_code == 404


def test_lists_and_totals_hold_only_the_callers_tenant(client, acme_seeded, globex_seeded, acme_rows):
    send(client, globex_seeded.admin)
    other = globex_seeded.admin
    messages = client.get("/v1/messages", headers=other).get_json()
    assert messages["total"] == 1 and acme_rows["message"] not in str(messages)
    assert client.get("/v1/messages?kind=broadcast", headers=other).get_json()["total"] == 0
    assert client.get("/v1/users", headers=other).get_json()["total"] == 2
    assert client.get("/v1/api-keys", headers=other).get_json()["total"] == 0
    audit = client.get("/v1/audit-events?per_page=100", headers=other).get_json()
    own = client.get("/v1/audit-events?per_page=100", headers=acme_seeded.admin).get_json()
    assert audit["total"] == len(audit["items"]) and own["total"] == len(own["items"])
    assert not {e["id"] for e in audit["items"]} & {e["id"] for e in own["items"]}
    assert acme_seeded.admin_id not in {e["actor_id"] for e in audit["items"]}
    names = {t["name"] for t in client.get("/v1/templates", headers=other).get_json()["items"]}
    assert "receipt" not in names
    assert client.get("/v1/messages", headers=acme_seeded.admin).get_json()["total"] == 2


def test_users_and_keys_see_only_what_they_created(client, acme_seeded, globex_seeded):
    key = bearer(make_api_key(client, acme_seeded.admin)["key"])
    by_admin = send(client, acme_seeded.admin).get_json()["id"]
    by_user = send(client, acme_seeded.user).get_json()["id"]
    by_key = send(client, key).get_json()["id"]
    for headers, own, others in ((acme_seeded.user, by_user, (by_admin, by_key)), (key, by_key, (by_admin, by_user))):
        listed = client.get("/v1/messages", headers=headers).get_json()
        assert [m["id"] for m in listed["items"]] == [own] and listed["total"] == 1
        for foreign in others:
            assert client.get(f"/v1/messages/{foreign}", headers=headers).status_code == 404
            assert client.get(f"/v1/messages/{foreign}/recipients", headers=headers).status_code == 404
    assert client.get("/v1/messages", headers=acme_seeded.admin).get_json()["total"] == 3


def test_broadcast_audience_never_crosses_tenants(app, client, acme_seeded, globex_seeded, smtp_server, worker):
    response = client.post("/v1/broadcasts", json={"subject": "s", "text": "t"}, headers=globex_seeded.admin)
    assert response.get_json()["recipient_count"] == 2
    worker()
    delivered = {addr for m in smtp_server.messages for addr in m.rcpt_tos}
    assert delivered == {"admin@globex.test", "user@globex.test"}
